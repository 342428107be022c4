//! A run's plan on its own: the tiles over a raster (given by its size, or opened through GDAL)
//! with each tile's input window, padding and output region, and the reader that fills one tile.
//! The engine's run, `layout` and the lazy reader build their tiles through `Plan`, and the C
//! API hands the same `Plan` to hosts that run their own inference (`rastrum_plan_*`).

pub(crate) mod sanity;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use gdal::Dataset;
use serde::Serialize;

use crate::card::{Redistribute, StitchMode, Task};
use crate::error::{Error, Result};
use crate::grid::{Axis, AxisTile, TileGrid, TileWindow};
use crate::inference::Model;
use crate::options::{Resolution, RunOptions};
use crate::raster::input::{self, InputRaster, Preprocess, RasterInfo, TileData};
use crate::raster::mask::Mask;
use crate::raster::mosaic::WindowPlacement;
use crate::raster::output::Georef;
use crate::raster::resample;
use crate::resolve::{resolve_heads, resolve_without_model, tile_grid, OutputKind, Resolved};

/// The tile grid and output of a run, without running it: what a scheduler needs to split the
/// run into windows.
#[derive(Debug, Clone, Serialize)]
pub struct Layout {
    pub task: Task,
    pub tile_size: usize,
    /// Output size of the whole run.
    pub width: usize,
    pub height: usize,
    pub tile_columns: usize,
    pub tile_rows: usize,
    /// Output pixels `[start, end)` each tile column / row owns (windows partition the output).
    pub columns: Vec<[usize; 2]>,
    pub rows: Vec<[usize; 2]>,
    pub geo_transform: Option<[f64; 6]>,
    pub projection: String,
    /// The line `rastrum run` prints before its first tile ([`Plan::describe`]), for hosts' logs.
    pub grid: String,
    /// What the input check before the first batch finds wrong (see `sanity`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The tile grid and output size of a run of `model` over `input`, without running it.
pub fn layout(model: &Model, input: &Path, opts: &RunOptions) -> Result<Layout> {
    let whole = RunOptions { window: None, ..opts.clone() };
    let p = Plan::open(input, Some(model), &whole)?;
    let spans = |axis: &Axis| (0..axis.tiles.len()).map(|k| tiles_cover(&p.r, axis, k, k + 1).into()).collect();
    Ok(Layout {
        task: p.r.task,
        tile_size: p.r.tile_size,
        width: p.grid.width,
        height: p.grid.height,
        tile_columns: p.tiles.x.tiles.len(),
        tile_rows: p.tiles.y.tiles.len(),
        columns: spans(&p.tiles.x),
        rows: spans(&p.tiles.y),
        geo_transform: p.grid.geo_transform,
        projection: p.grid.projection.clone(),
        grid: p.describe(),
        warnings: sanity::check_inputs(&p)?.into_iter().collect(),
    })
}

/// The tiles of one run over one raster, in plan order: row-major, tile row 0 left to right,
/// then tile row 1, ... (index = row x columns + column).
pub struct Plan {
    /// The first (often only) head the run writes.
    pub(crate) r: Resolved,
    /// The other heads written in the same pass (`all-outputs`), on `r`'s tile grid.
    pub(crate) other_heads: Vec<Resolved>,
    pub(crate) tiles: TileGrid,
    /// The output grid: the whole output's, or with a window the window's, georeferenced at its
    /// corner.
    pub(crate) grid: Georef,
    /// The output rectangle stitched, `[x, y, width, height]` in the whole output.
    pub(crate) rect: [usize; 4],
    pub(crate) window: Option<WindowPlacement>,
    /// Tile columns and rows of the whole raster's plan.
    pub(crate) tile_grid: [usize; 2],
    /// The raster tiled (after `extent` and resampling).
    pub(crate) info: RasterInfo,
    pub(crate) resampled: bool,
    pub(crate) options: RunOptions,
    /// What a run found wrong before its first batch (`run`'s input check).
    pub(crate) warnings: Vec<String>,
    source: Option<Source>,
}

/// The raster of a plan opened from a path.
struct Source {
    path: PathBuf,
    /// The reader, and the datasets its dataset is a view of, newest first (a tuple and a Vec
    /// drop in order, and each view must close before the dataset it reads).
    reader: Mutex<(InputRaster, Vec<Dataset>)>,
}

/// One tile of a plan: where its input comes from and where its output goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PlanTile {
    pub index: usize,
    pub column: usize,
    pub row: usize,
    /// Input pixel of the tile's top-left corner (negative where the tile starts before the
    /// raster); the tile is `size` x `size` input pixels.
    pub x: i64,
    pub y: i64,
    pub size: usize,
    /// Pixels of the tile outside the raster on each side (left, top, right, bottom): the
    /// reader fills them by mirroring, and they are never valid.
    pub padding: [usize; 4],
    /// The part of the tile inside the raster, `[x, y, width, height]` in input pixels.
    pub read: [usize; 4],
    /// The output pixels this tile writes, `[x, y, width, height]` in the plan's output
    /// (`blend`: with a weight, shared with its neighbours; `crop`: alone).
    pub output: [usize; 4],
    /// Output pixel of the top-left corner of the tile's model output (pixel tasks; negative
    /// before the output's start), or the tile's cell on the stride grid (per-tile tasks).
    pub output_origin: [i64; 2],
}

impl Plan {
    /// Plans `input` (any GDAL raster) with `opts` and, when given, `model`'s card and shapes
    /// (without one, the options declare the shapes: see `resolve_without_model`). The
    /// `extent` and `resolution` options crop and resample the input as a run does, and `window`
    /// narrows the plan to that block of the tile grid.
    pub fn open(input: &Path, model: Option<&Model>, opts: &RunOptions) -> Result<Plan> {
        Plan::from_dataset(input, input::open(input)?, model, opts)
    }

    /// `open` with the input already opened (`input` names it in messages).
    pub(crate) fn from_dataset(input: &Path, ds: Dataset, model: Option<&Model>, opts: &RunOptions) -> Result<Plan> {
        let bands = input::info(&ds).band_count;
        let (heads, r) = match model {
            Some(m) => {
                let mut heads = resolve_heads(m, opts, Some(bands))?;
                let r = heads.remove(0);
                (heads, r)
            }
            None => (Vec::new(), resolve_without_model(opts, Some(bands))?),
        };
        // The extent, then the model's resolution when asked and meaningful.
        let mut sources = Vec::new();
        let ds = match opts.extent {
            Some(extent) => {
                let cropped = resample::crop(&ds, input, extent)?;
                sources.insert(0, ds);
                cropped
            }
            None => ds,
        };
        let mut resampled = false;
        let ds = match r.resolution_cm {
            Some(cm) => match resample::metric_resolution(&ds) {
                Some(res) if (res - cm / 100.0).abs() / (cm / 100.0) > 0.01 => {
                    check_resampling(input, &ds, res, cm, &r, opts.resolution_limit)?;
                    resampled = true;
                    let warped = resample::resample(&ds, input, cm / 100.0, &opts.resampling)?;
                    sources.insert(0, ds);
                    warped
                }
                _ => ds,
            },
            None => ds,
        };
        // Pixels of an extent reaching past the raster hold no data.
        let footprint = opts.extent.and(sources.last()).and_then(|source| resample::footprint(source, &ds));
        let info = input::info(&ds);
        let pre =
            Preprocess { scale: r.scale.clone(), offset: r.offset.clone(), mean: r.mean.clone(), std: r.std.clone() };
        let weight_band = (r.redistribute == Redistribute::Weight).then_some(r.weight_band).flatten();
        let mut reader = InputRaster::new(input, ds, &r.bands, r.nodata, weight_band, pre)?;
        reader.pad_mode = r.pad_mode;
        reader.footprint = footprint;
        let source = Source { path: input.to_path_buf(), reader: Mutex::new((reader, sources)) };
        Plan::build(r, heads, info, opts, resampled, Some(source))
    }

    /// Plans a `width` x `height` raster of `bands` bands that the host reads itself (no
    /// georeferencing until `set_georeference`). Options that need the raster (extent,
    /// resolution, mask) are refused.
    pub fn new(width: usize, height: usize, bands: usize, model: Option<&Model>, opts: &RunOptions) -> Result<Plan> {
        if opts.extent.is_some() || opts.mask.is_some() || matches!(opts.resolution, Resolution::Cm(_)) {
            return Err(Error::invalid(
                "options 'extent', 'resolution' and 'mask' need the raster itself: plan it from its path",
            ));
        }
        if width == 0 || height == 0 || bands == 0 {
            return Err(Error::invalid(format!(
                "a raster of {width} x {height} pixels and {bands} band(s) cannot be tiled"
            )));
        }
        let (mut heads, mut r) = match model {
            Some(m) => {
                let mut heads = resolve_heads(m, opts, Some(bands))?;
                let r = heads.remove(0);
                (heads, r)
            }
            None => (Vec::new(), resolve_without_model(opts, Some(bands))?),
        };
        for &b in r.bands.iter().chain(r.weight_band.iter()) {
            if b > bands {
                return Err(Error::invalid(format!(
                    "band {b} is out of range: the raster has {bands} band(s), numbered from 1"
                )));
            }
        }
        // No resampling without the raster.
        r.resolution_cm = None;
        for h in &mut heads {
            h.resolution_cm = None;
        }
        let info = RasterInfo { width, height, band_count: bands, ..Default::default() };
        Plan::build(r, heads, info, opts, false, None)
    }

    fn build(
        r: Resolved,
        other_heads: Vec<Resolved>,
        info: RasterInfo,
        opts: &RunOptions,
        resampled: bool,
        source: Option<Source>,
    ) -> Result<Plan> {
        let (tiles, grid) = tile_grid(&r, &info)?;
        for h in &other_heads {
            check_same_grid(&r, h, &tiles, &info)?;
        }
        let tile_grid = [tiles.x.tiles.len(), tiles.y.tiles.len()];
        let rect = [0, 0, grid.width, grid.height];
        let options = opts.clone();
        let warnings = Vec::new();
        let mut p = Plan {
            r,
            other_heads,
            tiles,
            grid,
            rect,
            window: None,
            tile_grid,
            info,
            resampled,
            options,
            warnings,
            source,
        };
        if let Some(w) = &opts.window {
            if p.r.small_segment > 1 {
                // A window's median would miss the rows and columns of its neighbours.
                return Err(Error::invalid(
                    "small-segment removal filters the whole class map: run it without 'window' (or set small-segment 0)",
                ));
            }
            p.narrow(w)?;
        }
        Ok(p)
    }

    /// Narrows the plan to one window of its tile grid: the tiles it needs, and its output
    /// grid (georeferenced at the window's corner).
    fn narrow(&mut self, w: &TileWindow) -> Result<()> {
        let r = &self.r;
        let (sub, [x, y, width, height]) =
            self.tiles.window(w, |t| tile_region(r, t), |a, k0, k1| tiles_cover(r, a, k0, k1))?;
        if width == 0 || height == 0 {
            return Err(Error::invalid(format!(
                "window {},{},{},{} owns no output pixels (its tiles' share of the output is empty)",
                w.col, w.row, w.cols, w.rows
            )));
        }
        self.window = Some(WindowPlacement {
            tiles: *w,
            x,
            y,
            raster_width: self.grid.width,
            raster_height: self.grid.height,
            geo_transform: self.grid.geo_transform,
        });
        self.tiles = sub;
        self.grid = self.grid.window(x, y, width, height);
        self.rect = [x, y, width, height];
        Ok(())
    }

    /// Georeferences a plan made from a size (the output's geotransform follows, divided by the
    /// scale factor for super-resolution).
    pub fn set_georeference(&mut self, geo_transform: [f64; 6], projection: &str) -> Result<()> {
        if self.source.is_some() {
            return Err(Error::invalid("the plan's georeferencing comes from its raster"));
        }
        if geo_transform.iter().any(|v| !v.is_finite()) {
            return Err(Error::invalid(format!("geotransform {geo_transform:?} is not finite")));
        }
        let mut info = self.info.clone();
        info.geo_transform = Some(geo_transform);
        info.projection = projection.to_string();
        *self = Plan::build(self.r.clone(), self.other_heads.clone(), info, &self.options, false, None)?;
        Ok(())
    }

    /// The settings the plan resolved (task, tile size, output shape, stitching, ...).
    pub fn resolved(&self) -> &Resolved {
        &self.r
    }

    /// The output grid (the window's with a window).
    pub fn grid(&self) -> &Georef {
        &self.grid
    }

    /// The raster tiled: width, height, bands (after `extent` and resampling).
    pub fn raster(&self) -> &RasterInfo {
        &self.info
    }

    pub fn count(&self) -> usize {
        self.tiles.count()
    }

    /// Tile columns and rows of this plan (the window's with a window).
    pub fn columns_rows(&self) -> [usize; 2] {
        [self.tiles.x.tiles.len(), self.tiles.y.tiles.len()]
    }

    /// One line for people, before any tile runs: the processing grid (after any extent and
    /// resampling), its tiles and the output, e.g. `627 x 603 px (30 m pixels) -> 3 x 3 = 9
    /// tiles of 256 px, output 627 x 603 px`; a window adds its place in the whole output.
    pub fn describe(&self) -> String {
        let [cols, rows] = self.columns_rows();
        let mut line = format!(
            "{} x {} px ({}) -> {cols} x {rows} = {} tiles of {} px, output {} x {} px",
            self.info.width,
            self.info.height,
            pixel_size(&self.info),
            self.count(),
            self.r.tile_size,
            self.grid.width,
            self.grid.height
        );
        if let Some(w) = &self.window {
            line += &format!(" at ({}, {}) of the whole {} x {} px", w.x, w.y, w.raster_width, w.raster_height);
        }
        line
    }

    /// Every head the run writes, the first (`r`) first.
    pub(crate) fn heads(&self) -> impl Iterator<Item = &Resolved> {
        std::iter::once(&self.r).chain(&self.other_heads)
    }

    /// What the run found wrong before its first batch (the input check), to say before it.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Tile `index` (plan order).
    pub fn tile(&self, index: usize) -> Result<PlanTile> {
        self.check_index(index)?;
        let (row, column) = self.tiles.position(index);
        let (tx, ty) = (&self.tiles.x.tiles[column], &self.tiles.y.tiles[row]);
        let size = self.r.tile_size;
        let (w, h) = (self.info.width as i64, self.info.height as i64);
        let span = |start: i64, len: i64| {
            let (a, b) = (start.max(0), (start + size as i64).min(len));
            (
                (start.max(0) - start) as usize,
                (start + size as i64 - b).max(0) as usize,
                a as usize,
                (b - a).max(0) as usize,
            )
        };
        let (pl, pr, rx, rw) = span(tx.start, w);
        let (pt, pb, ry, rh) = span(ty.start, h);
        // Output region, clipped to the plan's output rectangle and made relative to it.
        let [ox, oy, ow, oh] = self.rect;
        let clip = |(a, b): (usize, usize), o: usize, n: usize| {
            let (a, b) = (a.max(o), b.min(o + n));
            (a.saturating_sub(o), b.saturating_sub(a))
        };
        let (x0, xw) = clip(tile_region(&self.r, tx), ox, ow);
        let (y0, yh) = clip(tile_region(&self.r, ty), oy, oh);
        Ok(PlanTile {
            index,
            column,
            row,
            x: tx.start,
            y: ty.start,
            size,
            padding: [pl, pt, pr, pb],
            read: [rx, ry, rw, rh],
            output: [x0, y0, xw, yh],
            output_origin: [tx.out_origin - ox as i64, ty.out_origin - oy as i64],
        })
    }

    fn check_index(&self, index: usize) -> Result<()> {
        if index >= self.count() {
            return Err(Error::invalid(format!("tile {index} is outside the plan's {} tiles", self.count())));
        }
        Ok(())
    }

    /// Reads tile `index` as the engine feeds it to the model: the selected bands scaled and
    /// standardised, `[bands, size, size]`, mirrored past the raster's edges, invalid pixels 0;
    /// its validity (1 = inside the raster and valid) and, for redistribution by weight, the
    /// weight band. Plans opened from a path only.
    pub fn read_tile(&self, index: usize) -> Result<TileData> {
        self.check_index(index)?;
        let (row, column) = self.tiles.position(index);
        let (x, y) = (self.tiles.x.tiles[column].start, self.tiles.y.tiles[row].start);
        self.with_reader(|reader| {
            let mask = self.options.mask.as_deref().map(|m| Mask::open(m, &reader.info)).transpose()?;
            reader.read_tile(x, y, self.r.tile_size, mask.as_ref())
        })
    }

    /// The input's path (plans opened from a path).
    pub fn input(&self) -> Option<&Path> {
        self.source.as_ref().map(|s| s.path.as_path())
    }

    /// Runs `f` with the reader (plans opened from a path): the engine's reader stage.
    pub(crate) fn with_reader<T>(&self, f: impl FnOnce(&InputRaster) -> Result<T>) -> Result<T> {
        let source = self
            .source
            .as_ref()
            .ok_or_else(|| Error::invalid("this plan was made from a raster size: the host reads its tiles itself"))?;
        let guard = source.reader.lock().map_err(|_| Error::Internal("a reader panicked".into()))?;
        f(&guard.0)
    }

    /// The reader and the datasets it views, for a caller that keeps them (the lazy reader).
    pub(crate) fn into_reader(self) -> Result<(Plan, (InputRaster, Vec<Dataset>))> {
        let Plan { r, other_heads, tiles, grid, rect, window, tile_grid, info, resampled, options, warnings, source } =
            self;
        let source = source.ok_or_else(|| Error::Internal("a plan without a raster was read".into()))?;
        let reader = source.reader.into_inner().map_err(|_| Error::Internal("a reader panicked".into()))?;
        let plan = Plan {
            r,
            other_heads,
            tiles,
            grid,
            rect,
            window,
            tile_grid,
            info,
            resampled,
            options,
            warnings,
            source: None,
        };
        Ok((plan, reader))
    }
}

/// Heads written in one pass share the tiles and the output grid: a head whose output needs
/// another grid (another size, crop or scale) is run on its own.
fn check_same_grid(first: &Resolved, head: &Resolved, tiles: &TileGrid, info: &RasterInfo) -> Result<()> {
    let (own, _) = tile_grid(head, info)?;
    if own.x == tiles.x && own.y == tiles.y && head.output_kind == first.output_kind {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "output '{}' ({:?}, {} px per tile) needs another tile grid than output '{}' ({:?}, {} px per tile): \
         run each on its own with 'output-index'",
        head.output_name, head.output_kind, head.out_size, first.output_name, first.output_kind, first.out_size
    )))
}

/// Which pixels of tile `index` of `tiles` lie inside a raster of `size` (1 = inside).
pub(crate) fn inside_mask(tiles: &TileGrid, index: usize, size: [usize; 2]) -> Vec<u8> {
    let (row, column) = tiles.position(index);
    let t = tiles.tile;
    let span = |start: i64, len: usize| (0..t).map(move |i| (0..len as i64).contains(&(start + i as i64)));
    let rows: Vec<bool> = span(tiles.y.tiles[row].start, size[1]).collect();
    let cols: Vec<bool> = span(tiles.x.tiles[column].start, size[0]).collect();
    rows.iter().flat_map(|r| cols.iter().map(move |c| (*r && *c) as u8)).collect()
}

/// The output interval a tile writes to, for choosing the tiles a window needs.
pub(crate) fn tile_region(r: &Resolved, t: &AxisTile) -> (usize, usize) {
    match (r.output_kind, r.redistribute, r.stitch) {
        // A detection window needs every tile whose boxes can meet boxes it owns: those within
        // an overlap of it (objects are smaller than the overlap).
        (OutputKind::Detections, _, _) => {
            let reach = (r.overlap + r.tile_size) as i64;
            ((t.start - r.overlap as i64).max(0) as usize, (t.start + reach).max(0) as usize)
        }
        (OutputKind::Pixels, _, StitchMode::Blend) => t.valid,
        (OutputKind::Pixels, _, StitchMode::Crop) => t.own,
        (OutputKind::PerTile, Redistribute::None, _) => t.own,
        // Redistribution writes the tile's own input pixels.
        (OutputKind::PerTile, _, _) => (t.start as usize, t.start as usize + r.tile_size),
    }
}

/// The output pixels tiles `k0..k1` of an axis own: windows of the tile grid partition the output.
pub(crate) fn tiles_cover(r: &Resolved, axis: &Axis, k0: usize, k1: usize) -> (usize, usize) {
    match (r.output_kind, r.redistribute) {
        (OutputKind::Pixels | OutputKind::Detections, _) => (axis.tiles[k0].own.0, axis.tiles[k1 - 1].own.1),
        (OutputKind::PerTile, Redistribute::None) => (k0, k1),
        (OutputKind::PerTile, _) => (k0 * r.tile_size, (k1 * r.tile_size).min(axis.out_len)),
    }
}

/// A raster's pixel size with its unit, for people: `30 m pixels`, `0.00025° pixels`, or
/// `no geotransform`.
fn pixel_size(info: &RasterInfo) -> String {
    let Some(g) = info.geo_transform else { return "no geotransform".into() };
    let size = (g[1] * g[1] + g[4] * g[4]).sqrt();
    // Six decimals, trailing zeros dropped: 30 m stays "30", a degree pixel keeps its digits.
    let number = format!("{size:.6}").trim_end_matches('0').trim_end_matches('.').to_string();
    let unit = match gdal::spatial_ref::SpatialRef::from_wkt(&info.projection) {
        Ok(srs) if srs.is_geographic() => "°",
        Ok(srs) if srs.is_projected() && (srs.linear_units() - 1.0).abs() < 1e-9 => " m",
        Ok(srs) if srs.is_projected() => " map unit",
        // No CRS: the size is in whatever units the geotransform has.
        _ => "",
    };
    format!("{number}{unit} pixels")
}

/// Refuses to resample by more than `limit` either way, before any pixel is read: a 5.5 cm card
/// on a 30 m raster resamples by x545 into hundreds of thousands of tiles (Deepness shows its
/// processing resolution in its dialog; a run says so here, with the ways out).
fn check_resampling(input: &Path, ds: &Dataset, res_m: f64, cm: f64, r: &Resolved, limit: f64) -> Result<()> {
    let factor = res_m / (cm / 100.0);
    if factor <= limit && factor >= 1.0 / limit {
        return Ok(());
    }
    let (w, h) = ds.raster_size();
    let (nw, nh) = ((w as f64 * factor).round().max(1.0), (h as f64 * factor).round().max(1.0));
    let step = r.tile_size.saturating_sub(2 * r.margin + r.overlap).max(1) as f64;
    let tiles = (nw / step).ceil() * (nh / step).ceil();
    Err(Error::raster(
        input,
        format!(
            "the model card's resolution is {cm} cm per pixel and the raster's {:.4}: resampling by x{factor:.4} \
             (past the limit of {limit} either way) would make a {nw} x {nh} raster of about {tiles} tiles; \
             run at the raster's own resolution (--resolution native), choose one (--resolution CM), \
             or raise the limit (--resolution-limit {})",
            res_m * 100.0,
            factor.max(1.0 / factor).ceil()
        ),
    ))
}
