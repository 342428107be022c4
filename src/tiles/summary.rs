//! What `rastrum tiles` wrote (also `tiles.json` in the output folder): per frame, per zoom, the
//! animation and the viewer page; read by the page it writes.

use std::path::PathBuf;

use serde::Serialize;

use crate::tiles::mercator::TileRange;

/// Tiles of one zoom of one frame.
#[derive(Debug, Clone, Serialize)]
pub struct ZoomCount {
    pub z: u8,
    /// Tiles covering the bounds.
    pub covering: usize,
    /// Tiles written (those with at least one visible pixel).
    pub written: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct FrameSummary {
    pub label: String,
    pub input: PathBuf,
    /// Folder of the frame's pyramid inside the output ("" for a single input).
    pub path: String,
    pub bounds_lonlat: [f64; 4],
    pub tiles_written: usize,
    pub zooms: Vec<ZoomCount>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GifSummary {
    pub file: String,
    pub zoom: u8,
    pub width: usize,
    pub height: usize,
    /// The animation's extent in EPSG:3857 metres (aligned to the zoom's pixel grid).
    pub bounds_metres: [f64; 4],
    pub frames: usize,
}

/// What `render` wrote; also `tiles.json` in the output folder.
#[derive(Debug, Clone, Serialize)]
pub struct TilesSummary {
    pub outdir: PathBuf,
    pub crs: String,
    pub tile_size: usize,
    /// `[min, max]`.
    pub zoom: [u8; 2],
    /// Union of the frames' bounds, `[west, south, east, north]` degrees.
    pub bounds_lonlat: [f64; 4],
    /// The same in EPSG:3857 metres, `[xmin, ymin, xmax, ymax]`.
    pub bounds_metres: [f64; 4],
    /// Tile URL relative to the output folder (`{frame}` is a frame's path).
    pub url_template: String,
    /// ramp, rgb or palette.
    pub mode: String,
    pub bands: Vec<usize>,
    pub ramp: Option<String>,
    /// Value range per drawn band (empty for a colour table).
    pub range: Vec<[f64; 2]>,
    pub resampling: String,
    pub tile_ranges: Vec<TileRange>,
    pub frames: Vec<FrameSummary>,
    pub tiles_written: usize,
    pub animation: GifSummary,
    pub page: String,
    pub seconds: f64,
}
