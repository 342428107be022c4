//! XYZ tile pyramids (`rastrum tiles`): rasters warped by GDAL to Web Mercator, coloured (ramp,
//! RGB stretch or colour table), cut into 256 px `z/x/y.png` tiles that QGIS's XYZ layer and
//! Leaflet read; a time series becomes one pyramid per frame, a viewer page with a time slider
//! and an animated GIF.
//!
//! - `mercator`: the tile grid (bounds, lon/lat to tile, tiles covering a raster);
//! - `colour`: ramps and the rules from values to RGBA;
//! - `render`: a frame's source and its GDAL warps;
//! - `options`: the options, settable by name (CLI and C API);
//! - `pyramid`: the whole run: checks, tiles on worker threads, outputs, atomic move;
//! - `summary`: what a run wrote (`tiles.json`);
//! - `page`: the HTML viewer; `anim`: the GIF.

pub mod anim;
pub mod colour;
pub mod mercator;
pub mod options;
pub mod page;
pub mod pyramid;
pub mod render;
pub mod summary;

pub use colour::Ramp;
pub use options::{parse_zoom, TilesOptions};
pub use pyramid::render;
pub use summary::{FrameSummary, TilesSummary};
