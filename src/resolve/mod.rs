//! What a run actually uses: the options resolved against the model card and the model's real
//! tensor shapes (one probe batch), or against declared shapes for hosts without a model
//! (`resolve_without_model`), and the tile grid that follows over a raster (`tile_grid`).

use std::path::Path;

use serde::Serialize;

use crate::card::{Activation, Card, Redistribute, StitchMode, Task};
use crate::error::{Error, Result};
use crate::grid::{pixel_axis, tile_axis, GridMode, PadMode, PixelGeometry, TileGrid};
use crate::inference::{default_batch, Model};
use crate::memory;
use crate::options::{Resolution, RunOptions};
use crate::raster::input::RasterInfo;
use crate::raster::output::Georef;

mod classes;
mod detection;
mod heads;
use classes::class_head;
mod probe;
use detection::detecting;
pub use detection::Detecting;
use heads::chosen_output;
pub use heads::resolve_heads;
use probe::probe;

/// How the model's output maps onto the raster.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    /// `[n, channels, h, w]` per tile.
    Pixels,
    /// `[n, channels]` per tile.
    PerTile,
    /// `[n, a, c]`: a detector's boxes per tile (`detection` says how to read them).
    Detections,
}

/// The settings a run actually uses, after card, overrides and the model's shapes.
#[derive(Debug, Clone, Serialize)]
pub struct Resolved {
    pub task: Task,
    pub output_kind: OutputKind,
    pub output_index: usize,
    pub output_name: String,
    pub tile_size: usize,
    pub bands: Vec<usize>,
    pub scale: Vec<f64>,
    pub offset: Vec<f64>,
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
    pub nodata: Option<f64>,
    pub overlap: usize,
    pub margin: usize,
    pub stitch: StitchMode,
    pub grid: GridMode,
    pub pad: usize,
    pub pad_mode: PadMode,
    pub batch: usize,
    pub static_batch: bool,
    /// Why the run goes on at batch 1: the graph failed at the batch chosen (a `Reshape` to a
    /// fixed batch of 1 inside a graph declaring a dynamic batch, as some exports have).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_fallback: Option<String>,
    pub activation: Activation,
    /// Why that activation (`rastrum info` shows it).
    pub activation_reason: String,
    pub out_channels: usize,
    pub out_size: usize,
    pub scale_factor: usize,
    pub model_crop: usize,
    pub redistribute: Redistribute,
    pub weight_band: Option<usize>,
    pub class_names: Vec<String>,
    pub seg_thresh: Option<f64>,
    pub reg_output_scaling: f64,
    pub output_nodata: f64,
    pub resolution_cm: Option<f64>,
    /// Deepness's small-segment removal: the class map's median window (0 or 1: none).
    pub small_segment: usize,
    /// Detection: how the boxes are read and merged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detection: Option<Detecting>,
    pub card: Card,
}

impl Resolved {
    /// The values of one tile's model output.
    pub fn values_per_tile(&self) -> usize {
        match &self.detection {
            Some(d) => d.dims[0] * d.dims[1],
            None => self.out_channels * self.out_size * self.out_size,
        }
    }
}

/// One value per band from a list given for `n` bands: none (`default` for every band), one
/// value for all, or one per band. Shared with the trainer.
pub fn per_band(what: &str, v: Option<Vec<f64>>, n: usize, default: f64) -> Result<Vec<f64>> {
    match v {
        None => Ok(vec![default; n]),
        Some(v) if v.len() == 1 => Ok(vec![v[0]; n]),
        Some(v) if v.len() == n => Ok(v),
        Some(v) => {
            Err(Error::invalid(format!("{what} has {} values for {n} bands: give one value or one per band", v.len())))
        }
    }
}

fn dim(d: i64) -> Option<usize> {
    (d > 0).then_some(d as usize)
}

/// What the model's tensors fix (or, without a model, what the caller declares): the rest of a
/// run's settings follow from these, the card and the options (`settle`).
struct Shape<'a> {
    /// The model file, named in errors about its shapes; None: the shape the options declare.
    source: Option<&'a Path>,
    tile: usize,
    bands: Vec<usize>,
    batch: usize,
    static_batch: bool,
    batch_fallback: Option<String>,
    output_index: usize,
    output_name: String,
    kind: OutputKind,
    out_channels: usize,
    out_size: usize,
    /// A detector's boxes come as `[N, 4]` without a batch axis: one tile per call, a number
    /// of boxes that changes from tile to tile.
    unbatched: bool,
    /// The output shape, for messages.
    shown: String,
    /// Every output's probed shape by index (the chosen one's emptied): a detector's mask
    /// prototypes are another output.
    other_outputs: Vec<Vec<usize>>,
    /// Every output's name by index.
    output_names: Vec<String>,
}

impl Shape<'_> {
    /// A card error found against the model: names the model file as well as the key.
    fn about_card(&self, e: Error) -> Error {
        match e {
            Error::InvalidArgument(m) => self.error(m),
            other => other,
        }
    }

    /// An error about the shape: the model's, or the options' without a model.
    fn error(&self, msg: String) -> Error {
        match self.source {
            Some(p) => Error::model(p, msg),
            None => Error::invalid(msg),
        }
    }
}

fn card_with_overrides(mut card: Card, opts: &RunOptions) -> Result<Card> {
    for (k, v) in &opts.card_overrides {
        card.apply(k, v)?;
    }
    Ok(card)
}

/// Resolves options against the card and the model's shapes; runs one probe batch of zeros to
/// learn the real output shape.
pub fn resolve(model: &Model, opts: &RunOptions, raster_bands: Option<usize>) -> Result<Resolved> {
    let card = card_with_overrides(model.card()?, opts)?;
    let input = model_input(model, opts, &card, raster_bands)?;
    let output_index = chosen_output(model, opts, &card)?;
    let shape = probe(model, opts, input, output_index, detects(&card, opts))?;
    settle(card, opts, shape)
}

/// Whether the run detects objects (asked, or a Deepness `Detector` card): the probe then reads
/// the output as boxes.
fn detects(card: &Card, opts: &RunOptions) -> bool {
    opts.task.or(card.task) == Some(Task::Detection)
}

/// What the model's input tensor and the options fix: tile size, bands, batch.
#[derive(Clone)]
struct Input {
    tile: usize,
    bands: Vec<usize>,
    batch: usize,
    static_batch: bool,
}

fn model_input(model: &Model, opts: &RunOptions, card: &Card, raster_bands: Option<usize>) -> Result<Input> {
    let shape = &model.input.shape;
    let (in_batch, in_c, in_h, in_w) = (dim(shape[0]), dim(shape[1]), dim(shape[2]), dim(shape[3]));
    if let (Some(h), Some(w)) = (in_h, in_w) {
        if h != w {
            return Err(Error::model(&model.path, format!("input is {h}x{w}; Rastrum runs square tiles")));
        }
    }
    let tile = match (in_h.or(in_w), opts.tile_size) {
        (Some(fixed), Some(asked)) if fixed != asked => {
            return Err(Error::invalid(format!(
                "tile size {asked} asked, but the model's input is fixed at {fixed}x{fixed}"
            )))
        }
        (Some(fixed), _) => fixed,
        (None, asked) => asked.or(card.tile_size).unwrap_or(256),
    };
    check_tile(tile)?;
    let bands = model_bands(opts, card, in_c, raster_bands)?;
    let (batch, static_batch) = match (in_batch, opts.batch) {
        (Some(b), Some(asked)) if b != asked => {
            return Err(Error::invalid(format!("batch {asked} asked, but the model's batch is fixed at {b}")))
        }
        (Some(b), _) => (b, true),
        (None, asked) => (asked.unwrap_or_else(|| default_batch(&model.provider, bands.len(), tile)), false),
    };
    if !(1..=4096).contains(&batch) {
        return Err(Error::invalid(format!("batch must be in 1..=4096, found {batch}")));
    }
    // The inputs alone, before the probe runs a batch: the outputs are checked once known.
    check_batches(batch, static_batch, tile, bands.len() * tile * tile)?;
    Ok(Input { tile, bands, batch, static_batch })
}

/// The bands feeding the model. Without a choice the first bands do (RGB of an RGBA or RGBN
/// raster, as Deepness does); a raster with too few bands is named.
fn model_bands(opts: &RunOptions, card: &Card, in_c: Option<usize>, raster_bands: Option<usize>) -> Result<Vec<usize>> {
    let bands = match opts.bands.clone().or(card.bands.clone()) {
        Some(b) => b,
        None => {
            if let (Some(c), Some(n)) = (in_c, raster_bands) {
                if n < c {
                    return Err(Error::invalid(format!(
                        "channel count mismatch: the model takes {c} channel(s) but the raster has {n} band(s)"
                    )));
                }
            }
            (1..=in_c.or(raster_bands).unwrap_or(1)).collect()
        }
    };
    if let Some(c) = in_c {
        if c != bands.len() {
            return Err(Error::invalid(format!(
                "channel count mismatch: the model takes {c} channel(s) but {} band(s) are selected ({})",
                bands.len(),
                bands.iter().map(|b| b.to_string()).collect::<Vec<_>>().join(",")
            )));
        }
    }
    Ok(bands)
}

/// Resolves options without a model, for hosts that run their own inference: the tile size
/// must be given; the output is `output-channels` (default 1) by `output-size` pixels square
/// (default: the tile size times the scale factor), or one value per tile when `output-size` is
/// 1 or the task is per tile (classification, regression redistributed over the tile).
pub fn resolve_without_model(opts: &RunOptions, raster_bands: Option<usize>) -> Result<Resolved> {
    let card = card_with_overrides(Card::default(), opts)?;
    let tile = opts.tile_size.or(card.tile_size).ok_or_else(|| {
        Error::invalid("option 'tile-size' is required without a model (the input size of the host's model)")
    })?;
    check_tile(tile)?;
    let bands = opts.bands.clone().or(card.bands.clone()).unwrap_or_else(|| (1..=raster_bands.unwrap_or(1)).collect());
    let out_channels = opts.output_channels.unwrap_or(1);
    let task = opts.task.or(card.task);
    let per_tile = match opts.output_size {
        Some(n) => n == 1 && tile > 1,
        None => {
            task == Some(Task::Classification)
                || (task == Some(Task::Regression)
                    && opts.redistribute.or(card.redistribute).is_some_and(|r| r != Redistribute::None))
        }
    };
    let (kind, out_size) = if per_tile {
        (OutputKind::PerTile, 1)
    } else {
        (OutputKind::Pixels, opts.output_size.unwrap_or(tile * opts.scale_factor.or(card.scale_factor).unwrap_or(1)))
    };
    if out_channels == 0 || out_size == 0 {
        return Err(Error::invalid("options 'output-channels' and 'output-size' must be at least 1"));
    }
    let shown = match kind {
        OutputKind::PerTile => format!("[n, {out_channels}]"),
        OutputKind::Pixels | OutputKind::Detections => format!("[n, {out_channels}, {out_size}, {out_size}]"),
    };
    let shape = Shape {
        source: None,
        tile,
        bands,
        batch: 1,
        static_batch: false,
        batch_fallback: None,
        output_index: 0,
        output_name: String::new(),
        kind,
        out_channels,
        out_size,
        unbatched: false,
        shown,
        other_outputs: Vec::new(),
        output_names: Vec::new(),
    };
    settle(card, opts, shape)
}

/// Batches a run holds at once: one being read, one queued for the model, one in it, one queued
/// for the writer and one being stitched (`run`'s two channels hold one batch each).
const BATCHES_IN_FLIGHT: usize = 5;

/// Refuses a batch geometry whose batches in flight (`per_tile` f32 values per tile, input and
/// output) would not fit in memory, naming the options that lower it.
fn check_batches(batch: usize, static_batch: bool, tile: usize, per_tile: usize) -> Result<()> {
    let change = if static_batch {
        format!("lower 'tile-size' (the model's batch is fixed at {batch})")
    } else {
        "lower 'batch' or 'tile-size'".to_string()
    };
    memory::check(
        memory::product(&[BATCHES_IN_FLIGHT, batch, per_tile, 4]),
        &format!("running batches of {batch} tile(s) of {tile} x {tile} pixels ({BATCHES_IN_FLIGHT} in flight)"),
        &change,
    )
}

fn check_tile(tile: usize) -> Result<()> {
    if !(1..=16384).contains(&tile) {
        return Err(Error::invalid(format!("tile size must be in 1..=16384, found {tile}")));
    }
    Ok(())
}

/// The small-segment window: the option's, else the card's for segmentation (Deepness applies it
/// to segmentors only); asked for another task, an error.
fn small_segment(card: &Card, opts: &RunOptions, task: Task) -> Result<usize> {
    match (opts.small_segment, task) {
        (Some(px), Task::Segmentation) => Ok(px),
        (Some(px), _) if px > 1 => {
            Err(Error::invalid(format!("option 'small-segment' filters segmentation class maps, not {task} outputs")))
        }
        (Some(_), _) => Ok(0),
        (None, Task::Segmentation) => match card.seg_small_segment.unwrap_or(0) {
            px if px > 1001 => Err(Error::invalid(format!(
                "model card key 'seg_small_segment': expected a window size in pixels, 0 to 1001, found {px}"
            ))),
            px => Ok(px),
        },
        (None, _) => Ok(0),
    }
}

/// The settings that follow from the tensors' shape, the card and the options: preprocessing,
/// task, scale and crop, tiling and stitching, activation and classes.
fn settle(card: Card, opts: &RunOptions, s: Shape) -> Result<Resolved> {
    let (tile, kind) = (s.tile, s.kind);
    let bands = s.bands.clone();
    let [scale, offset, mean, std] = preprocessing(&card, opts, &bands)?;
    let task = task_of(&card, opts, &s)?;
    let (scale_factor, model_crop, out_size) = output_scale(&card, opts, task, &s)?;
    let (redistribute, weight_band) = redistribution(&card, opts, task, kind)?;
    let t = tiling(&card, opts, kind, tile, redistribute)?;
    let detection = if kind == OutputKind::Detections { Some(detecting(&card, opts, &s)?) } else { None };
    let (activation, activation_reason, class_names) = match &detection {
        Some(d) => (Activation::None, "a detector's scores are kept as they are".to_string(), d.names(&card, &s)?),
        None => class_head(&card, opts, task, &s)?,
    };
    let out_channels = detection.as_ref().map_or(s.out_channels, |d| d.classes);
    let per_tile = bands.len() * tile * tile
        + detection.as_ref().map_or(out_channels * out_size * out_size, |d| d.dims[0] * d.dims[1]);
    check_batches(s.batch, s.static_batch, tile, per_tile)?;
    let small_segment = small_segment(&card, opts, task)?;
    Ok(Resolved {
        small_segment,
        detection,
        task,
        output_kind: kind,
        output_index: s.output_index,
        output_name: s.output_name,
        tile_size: tile,
        bands,
        scale,
        offset,
        mean,
        std,
        nodata: opts.nodata.or(card.nodata),
        overlap: t.overlap,
        margin: t.margin,
        stitch: t.stitch,
        grid: t.grid,
        pad: t.pad,
        pad_mode: t.pad_mode,
        batch: s.batch,
        static_batch: s.static_batch,
        batch_fallback: s.batch_fallback.clone(),
        activation,
        activation_reason,
        out_channels,
        out_size,
        scale_factor,
        model_crop,
        redistribute,
        weight_band,
        class_names,
        seg_thresh: card.seg_thresh,
        reg_output_scaling: card.reg_output_scaling.unwrap_or(1.0),
        output_nodata: opts.output_nodata.or(card.output_nodata).unwrap_or(-9999.0),
        resolution_cm: match opts.resolution {
            Resolution::FromCard => card.resolution_cm,
            Resolution::Native => None,
            Resolution::Cm(cm) => Some(cm),
        },
        card,
    })
}

/// Per-band scale, offset, mean and std, checked.
fn preprocessing(card: &Card, opts: &RunOptions, bands: &[usize]) -> Result<[Vec<f64>; 4]> {
    if bands.is_empty() || bands.contains(&0) {
        return Err(Error::invalid("bands are numbered from 1"));
    }
    let nb = bands.len();
    let default_scale = if card.is_deepness() && card.scale.is_none() { 1.0 / 255.0 } else { 1.0 };
    let scale = per_band("scale", opts.scale.clone().or(card.scale.clone()), nb, default_scale)?;
    let offset = per_band("offset", opts.offset.clone().or(card.offset.clone()), nb, 0.0)?;
    let mean = per_band("mean", opts.mean.clone().or(card.mean.clone()), nb, 0.0)?;
    let std = per_band("std", opts.std.clone().or(card.std.clone()), nb, 1.0)?;
    if let Some(s) = std.iter().find(|s| **s == 0.0 || !s.is_finite()) {
        return Err(Error::invalid(format!("std must be finite and non-zero, found {s}")));
    }
    if scale.iter().chain(&offset).chain(&mean).any(|v| !v.is_finite()) {
        return Err(Error::invalid("scale, offset and mean must be finite"));
    }
    if let Some(b) = scale.iter().position(|s| *s == 0.0) {
        return Err(Error::invalid(format!("scale 0 for band {}: every pixel would become the offset", bands[b])));
    }
    Ok([scale, offset, mean, std])
}

/// The task: asked, from the card, else from the output shape; checked against the shape.
fn task_of(card: &Card, opts: &RunOptions, s: &Shape) -> Result<Task> {
    let (kind, oshape) = (s.kind, &s.shown);
    if opts.task.or(card.task).is_none() {
        card.check_model_type().map_err(|e| s.about_card(e))?;
    }
    let task = opts.task.or(card.task).unwrap_or(match kind {
        OutputKind::PerTile => Task::Classification,
        OutputKind::Detections => Task::Detection,
        OutputKind::Pixels if s.out_size > s.tile => Task::SuperResolution,
        OutputKind::Pixels => Task::Segmentation,
    });
    match (task, kind) {
        (Task::Classification, OutputKind::Pixels) => Err(
            s.error(format!("classification needs one value per class and tile, but the output is per pixel {oshape}"))
        ),
        (Task::Segmentation | Task::SuperResolution, OutputKind::PerTile) => {
            Err(s.error(format!("{task} needs per-pixel outputs, but the output is per tile {oshape}")))
        }
        (Task::Detection, OutputKind::Detections) => Ok(task),
        (Task::Detection, _) | (_, OutputKind::Detections) => {
            Err(s.error(format!("{task} of a {kind:?} output {oshape} is not defined")))
        }
        _ => Ok(task),
    }
}

/// Output scale and the model's own crop, from the real output size: (scale factor, crop per
/// side in input pixels, output size).
fn output_scale(card: &Card, opts: &RunOptions, task: Task, s: &Shape) -> Result<(usize, usize, usize)> {
    let (tile, out_size) = (s.tile, s.out_size);
    let scale_factor = opts
        .scale_factor
        .or(card.scale_factor)
        .unwrap_or(if task == Task::SuperResolution && out_size % tile == 0 { out_size / tile } else { 1 });
    if scale_factor == 0 {
        return Err(Error::invalid("scale factor must be at least 1"));
    }
    if task != Task::SuperResolution && scale_factor != 1 {
        return Err(Error::invalid(format!(
            "scale factor {scale_factor} applies to super_resolution only, not {task}"
        )));
    }
    match s.kind {
        OutputKind::PerTile => return Ok((scale_factor, 0, 1)),
        // Boxes are in the tile's pixels: the output grid is the input's.
        OutputKind::Detections => return Ok((1, 0, tile)),
        OutputKind::Pixels => {}
    }
    if out_size % scale_factor != 0 || out_size / scale_factor > tile || (tile - out_size / scale_factor) % 2 != 0 {
        return Err(s.error(format!(
            "output size {out_size} does not fit a {tile}-pixel tile at scale {scale_factor} (expected the input size times the scale, or a centred crop of it)"
        )));
    }
    Ok((scale_factor, (tile - out_size / scale_factor) / 2, out_size))
}

/// Per-tile regression spread over the tile's pixels, and the band that weights it.
fn redistribution(
    card: &Card,
    opts: &RunOptions,
    task: Task,
    kind: OutputKind,
) -> Result<(Redistribute, Option<usize>)> {
    let redistribute = match (task, kind) {
        (Task::Regression, OutputKind::PerTile) => {
            opts.redistribute.or(card.redistribute).unwrap_or(Redistribute::None)
        }
        _ => Redistribute::None,
    };
    let weight_band = opts.weight_band.or(card.weight_band);
    if weight_band == Some(0) {
        return Err(Error::invalid("weight band 0: bands are numbered from 1"));
    }
    if redistribute == Redistribute::Weight && weight_band.is_none() {
        return Err(Error::invalid(
            "redistribution by weight needs a weight band (--weight-band / rastrum_weight_band)",
        ));
    }
    Ok((redistribute, weight_band))
}

/// Tile placement and stitching.
struct Tiling {
    overlap: usize,
    margin: usize,
    stitch: StitchMode,
    grid: GridMode,
    pad: usize,
    pad_mode: PadMode,
}

fn tiling(card: &Card, opts: &RunOptions, kind: OutputKind, tile: usize, redistribute: Redistribute) -> Result<Tiling> {
    let default_overlap = match kind {
        OutputKind::PerTile => 0,
        // Deepness (and GeoDeep) truncate: 10 % of 256 is 25 pixels. A pixel more would shift
        // every tile, and models with strided stages are not shift-invariant.
        OutputKind::Pixels | OutputKind::Detections => {
            card.overlap_percent.map_or(tile / 8, |p| (tile as f64 * p / 100.0).floor() as usize)
        }
    };
    let overlap = opts.overlap.or(card.overlap).unwrap_or(default_overlap);
    if kind == OutputKind::PerTile && (overlap >= tile) {
        return Err(Error::invalid(format!("overlap {overlap} must be smaller than the tile size {tile}")));
    }
    if redistribute != Redistribute::None && overlap != 0 {
        return Err(Error::invalid("redistribution spreads each tile over its own pixels: overlap must be 0"));
    }
    let t = Tiling {
        overlap,
        margin: opts.margin.or(card.margin).unwrap_or(0),
        stitch: opts.stitch.or(card.stitch).unwrap_or(StitchMode::Blend),
        grid: opts.grid.or(card.grid).unwrap_or_default(),
        pad: opts.pad.or(card.pad).unwrap_or(0),
        pad_mode: opts.pad_mode.or(card.pad_mode).unwrap_or_default(),
    };
    if kind == OutputKind::PerTile && (t.grid != GridMode::Fit || t.pad != 0) {
        return Err(Error::invalid("--grid and --pad apply to per-pixel outputs, not to per-tile ones"));
    }
    Ok(t)
}

/// The tile grid and output georeferencing of a resolved run over a raster.
pub fn tile_grid(r: &Resolved, info: &RasterInfo) -> Result<(TileGrid, Georef)> {
    let t = r.tile_size;
    // Output pixel u is input pixel offset + step * u on each axis.
    let (plan, offset, step) = match (r.output_kind, r.redistribute) {
        (OutputKind::Pixels | OutputKind::Detections, _) => {
            let g = PixelGeometry {
                tile: t,
                crop: r.model_crop,
                scale: r.scale_factor,
                margin: r.margin,
                pad: r.pad,
                grid: r.grid,
                overlap: r.overlap,
            };
            let plan = TileGrid { tile: t, x: pixel_axis(info.width, g)?, y: pixel_axis(info.height, g)? };
            (plan, 0.0, 1.0 / r.scale_factor as f64)
        }
        (OutputKind::PerTile, Redistribute::None) => {
            let stride = t - r.overlap;
            let plan =
                TileGrid { tile: t, x: tile_axis(info.width, t, stride)?, y: tile_axis(info.height, t, stride)? };
            // Each cell is the stride x stride block centred on its tile.
            (plan, (t - stride) as f64 / 2.0, stride as f64)
        }
        (OutputKind::PerTile, _) => {
            let mut plan = TileGrid { tile: t, x: tile_axis(info.width, t, t)?, y: tile_axis(info.height, t, t)? };
            plan.x.out_len = info.width;
            plan.y.out_len = info.height;
            (plan, 0.0, 1.0)
        }
    };
    let grid = Georef::mapped(info, plan.x.out_len, plan.y.out_len, [offset; 2], [step; 2]);
    Ok((plan, grid))
}
