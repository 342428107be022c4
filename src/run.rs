//! One run: resolve the options against the model card and the model's real shapes, plan the
//! tiles, then read, infer and write concurrently. The reader and writer run on their own threads
//! with bounded queues (one batch each) between them and the inference on the calling thread,
//! which also reports progress, so memory is bounded by the queues and the stitching window.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::card::{Activation, Card, OutputSelector, Redistribute, StitchMode, Task};
use crate::error::{Error, Result};
use crate::inference::Model;
use crate::plan::{tiles_cover, Plan};
use crate::raster::input::{self, InputRaster, RasterInfo, TileData};
use crate::raster::mask::Mask;
use crate::raster::output::{check_destination, Grid, WriteOptions};
use crate::stitching::{file_sink, Stitching};
use crate::tasks::{activate, probabilities_path};
use crate::tiling::{pixel_axis, tile_axis, Axis, GridMode, PadMode, PixelGeometry, TilePlan, TileWindow};

/// Resampling of the input to the model's ground resolution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Resolution {
    /// Follow the card's `resolution` when the input is in a metric CRS.
    FromCard,
    /// Never resample.
    Native,
    /// Resample to this many centimetres per pixel.
    Cm(f64),
}

/// Every option of a run. `None` means: from the card, else from the model, else the default.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub task: Option<Task>,
    pub bands: Option<Vec<usize>>,
    pub scale: Option<Vec<f64>>,
    pub offset: Option<Vec<f64>>,
    pub mean: Option<Vec<f64>>,
    pub std: Option<Vec<f64>>,
    pub nodata: Option<f64>,
    pub tile_size: Option<usize>,
    pub overlap: Option<usize>,
    pub margin: Option<usize>,
    pub stitch: Option<StitchMode>,
    pub grid: Option<GridMode>,
    pub pad: Option<usize>,
    pub pad_mode: Option<PadMode>,
    pub batch: Option<usize>,
    pub probabilities: bool,
    /// Class tasks: the probabilities also as bands 2..=1+N of the output (bytes, scale 1/250).
    pub probability_bands: bool,
    pub output: Option<OutputSelector>,
    pub activation: Option<Activation>,
    pub redistribute: Option<Redistribute>,
    pub weight_band: Option<usize>,
    pub scale_factor: Option<usize>,
    /// The model's output channels and output tile size: checked against a model, declared by
    /// hosts that plan and stitch without one (`resolve_without_model`).
    pub output_channels: Option<usize>,
    pub output_size: Option<usize>,
    pub output_nodata: Option<f64>,
    pub resolution: Resolution,
    pub resampling: String,
    pub write: WriteOptions,
    /// Raw card overrides `KEY=VALUE` (JSON text), applied before the typed options above.
    pub card_overrides: Vec<(String, String)>,
    /// Set from any thread to cancel the run (checked after every batch).
    pub cancel: Option<Arc<AtomicBool>>,
    /// Only the inside of this polygon layer or raster (non-zero) is processed.
    pub mask: Option<PathBuf>,
    /// Only this part of the input is processed: xmin, ymin, xmax, ymax in the input's CRS.
    pub extent: Option<[f64; 4]>,
    /// Only this block of the tile grid is written (scale-out): the same bytes as that part of
    /// a whole run, with the halo read and the neighbouring tiles blended in.
    pub window: Option<TileWindow>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            task: None,
            bands: None,
            scale: None,
            offset: None,
            mean: None,
            std: None,
            nodata: None,
            tile_size: None,
            overlap: None,
            margin: None,
            stitch: None,
            grid: None,
            pad: None,
            pad_mode: None,
            batch: None,
            probabilities: false,
            probability_bands: false,
            output: None,
            activation: None,
            redistribute: None,
            weight_band: None,
            scale_factor: None,
            output_channels: None,
            output_size: None,
            output_nodata: None,
            resolution: Resolution::FromCard,
            resampling: "average".into(),
            write: WriteOptions::default(),
            card_overrides: Vec::new(),
            cancel: None,
            mask: None,
            extent: None,
            window: None,
        }
    }
}

fn parse_list<T: std::str::FromStr>(key: &str, value: &str) -> Result<Vec<T>> {
    value.split(',').map(|v| v.trim().parse::<T>()).collect::<std::result::Result<Vec<T>, _>>().map_err(|_| {
        Error::invalid(format!("option '{key}': expected a comma-separated list of numbers, found '{value}'"))
    })
}

fn parse_one<T: std::str::FromStr>(key: &str, value: &str, what: &str) -> Result<T> {
    value.trim().parse::<T>().map_err(|_| Error::invalid(format!("option '{key}': expected {what}, found '{value}'")))
}

fn parse_named<T: std::str::FromStr<Err = Error>>(key: &str, value: &str) -> Result<T> {
    value.parse::<T>().map_err(|e| {
        Error::invalid(format!("option '{key}': {}", e.to_string().trim_start_matches("invalid argument: ")))
    })
}

fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(Error::invalid(format!("option '{key}': expected true or false, found '{value}'"))),
    }
}

impl RunOptions {
    /// Every option name `set` accepts: the long names of `rastrum run`'s options.
    pub const KEYS: &'static [&'static str] = &[
        "task",
        "bands",
        "scale",
        "offset",
        "mean",
        "std",
        "nodata",
        "tile-size",
        "overlap",
        "margin",
        "stitch",
        "grid",
        "pad",
        "pad-mode",
        "batch",
        "probabilities",
        "probability-bands",
        "output-name",
        "output-index",
        "activation",
        "redistribute",
        "weight-band",
        "scale-factor",
        "output-channels",
        "output-size",
        "output-nodata",
        "resolution",
        "resampling",
        "co",
        "cog",
        "set",
        "mask",
        "extent",
        "window",
    ];

    /// Sets one option from text, by the name of its `rastrum run` flag (`tile-size`, `bands`,
    /// ...): the one parser behind the C API and the Python binding. `co` and `set` append.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let k = key.trim().trim_start_matches("--").replace('_', "-");
        match k.as_str() {
            "task" => self.task = Some(parse_named(&k, value)?),
            "bands" => self.bands = Some(parse_list(&k, value)?),
            "scale" => self.scale = Some(parse_list(&k, value)?),
            "offset" => self.offset = Some(parse_list(&k, value)?),
            "mean" => self.mean = Some(parse_list(&k, value)?),
            "std" => self.std = Some(parse_list(&k, value)?),
            "nodata" => self.nodata = Some(parse_one(&k, value, "a number")?),
            "tile-size" => self.tile_size = Some(parse_one(&k, value, "a positive integer")?),
            "overlap" => self.overlap = Some(parse_one(&k, value, "a non-negative integer")?),
            "margin" => self.margin = Some(parse_one(&k, value, "a non-negative integer")?),
            "stitch" => self.stitch = Some(parse_named(&k, value)?),
            "grid" => self.grid = Some(parse_named(&k, value)?),
            "pad" => self.pad = Some(parse_one(&k, value, "a non-negative integer")?),
            "pad-mode" => self.pad_mode = Some(parse_named(&k, value)?),
            "batch" => self.batch = Some(parse_one(&k, value, "a positive integer")?),
            "probabilities" => self.probabilities = parse_bool(&k, value)?,
            "probability-bands" => self.probability_bands = parse_bool(&k, value)?,
            "output-name" => self.output = Some(OutputSelector::Name(value.to_string())),
            "output-index" => self.output = Some(OutputSelector::Index(parse_one(&k, value, "a 0-based index")?)),
            "activation" => self.activation = Some(parse_named(&k, value)?),
            "redistribute" => self.redistribute = Some(parse_named(&k, value)?),
            "weight-band" => self.weight_band = Some(parse_one(&k, value, "a 1-based band number")?),
            "scale-factor" => self.scale_factor = Some(parse_one(&k, value, "a positive integer")?),
            "output-channels" => self.output_channels = Some(parse_one(&k, value, "a positive integer")?),
            "output-size" => self.output_size = Some(parse_one(&k, value, "a positive integer (pixels)")?),
            "output-nodata" => self.output_nodata = Some(parse_one(&k, value, "a number")?),
            "resolution" => {
                self.resolution = match value.trim() {
                    "native" => Resolution::Native,
                    "card" | "" => Resolution::FromCard,
                    cm => Resolution::Cm(cm.parse::<f64>().ok().filter(|v| *v > 0.0 && v.is_finite()).ok_or_else(
                        || {
                            Error::invalid(format!(
                                "option 'resolution': expected centimetres per pixel or 'native', found '{cm}'"
                            ))
                        },
                    )?),
                }
            }
            "resampling" => self.resampling = value.trim().to_string(),
            "co" => {
                if !value.contains('=') {
                    return Err(Error::invalid(format!("option 'co': expected KEY=VALUE, found '{value}'")));
                }
                self.write.creation_options.push(value.to_string())
            }
            "cog" => self.write.cog = parse_bool(&k, value)?,
            "set" => self.card_overrides.push(crate::card::parse_override(value)?),
            "mask" => self.mask = (!value.trim().is_empty()).then(|| PathBuf::from(value)),
            "window" => self.window = (!value.trim().is_empty()).then(|| parse_named(&k, value)).transpose()?,
            "extent" => {
                let v: Vec<f64> = parse_list(&k, value)?;
                self.extent = Some(v.try_into().map_err(|_| {
                    Error::invalid(format!("option 'extent': expected xmin,ymin,xmax,ymax, found '{value}'"))
                })?);
            }
            _ => {
                return Err(Error::invalid(format!(
                    "unknown option '{key}': expected one of {}",
                    Self::KEYS.join(", ")
                )))
            }
        }
        Ok(())
    }
}

/// How the model's output maps onto the raster.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    /// `[n, channels, h, w]` per tile.
    Pixels,
    /// `[n, channels]` per tile.
    PerTile,
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
    pub activation: Activation,
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
    pub card: Card,
}

/// What a finished run reports.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub outputs: Vec<PathBuf>,
    pub task: Task,
    pub provider: String,
    pub tiles_total: usize,
    pub tiles_run: usize,
    pub tiles_skipped: usize,
    pub seconds: f64,
    pub width: usize,
    pub height: usize,
    pub input_width: usize,
    pub input_height: usize,
    pub resampled: bool,
    pub tile_size: usize,
    pub overlap: usize,
    pub margin: usize,
    pub stitch: StitchMode,
    pub batch: usize,
    pub megapixels_per_second: f64,
    /// Output pixels per class name (class tasks).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub class_counts: BTreeMap<String, u64>,
    /// Tile columns and rows of the whole raster's plan.
    pub tile_grid: [usize; 2],
    /// Where a window run's output sits in the whole output (`width` x `height` above are the
    /// window's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowPlacement>,
}

/// The dataset metadata item of a window's output that records its placement (JSON).
pub const WINDOW_METADATA_KEY: &str = "RASTRUM_WINDOW";

/// A window's place in the whole output.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct WindowPlacement {
    pub tiles: TileWindow,
    /// Output pixel of the window's top-left corner.
    pub x: usize,
    pub y: usize,
    /// The whole output's size and geotransform (recorded exactly, for joining the windows).
    pub raster_width: usize,
    pub raster_height: usize,
    pub geo_transform: Option<[f64; 6]>,
}

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
}

fn per_band(what: &str, v: Option<Vec<f64>>, n: usize, default: f64) -> Result<Vec<f64>> {
    match v {
        None => Ok(vec![default; n]),
        Some(v) if v.len() == 1 => Ok(vec![v[0]; n]),
        Some(v) if v.len() == n => Ok(v),
        Some(v) => Err(Error::invalid(format!(
            "{what} has {} values but {n} bands are selected: give one value or one per band",
            v.len()
        ))),
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
    output_index: usize,
    output_name: String,
    kind: OutputKind,
    out_channels: usize,
    out_size: usize,
    /// The output shape, for messages.
    shown: String,
}

impl Shape<'_> {
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

    // Without a band choice the first bands feed the model (RGB of an RGBA or RGBN raster, as
    // Deepness does); a raster with too few bands is named.
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
    let nb = bands.len();

    let (batch, static_batch) = match (in_batch, opts.batch) {
        (Some(b), Some(asked)) if b != asked => {
            return Err(Error::invalid(format!("batch {asked} asked, but the model's batch is fixed at {b}")))
        }
        (Some(b), _) => (b, true),
        (None, asked) => (asked.unwrap_or_else(|| default_batch(&model.provider, nb, tile)), false),
    };
    if !(1..=4096).contains(&batch) {
        return Err(Error::invalid(format!("batch must be in 1..=4096, found {batch}")));
    }

    let output_index = match opts.output.clone().or(card.output.clone()) {
        None => 0,
        Some(OutputSelector::Index(i)) if i < model.outputs.len() => i,
        Some(OutputSelector::Index(i)) => {
            return Err(Error::invalid(format!(
                "output index {i} asked, but the model has {} output(s)",
                model.outputs.len()
            )))
        }
        Some(OutputSelector::Name(n)) => model.output_index(&n)?,
    };

    // The probe: real output shapes, whatever the file declares.
    let probe_n = if static_batch { batch } else { 1 };
    let zeros = vec![0f32; probe_n * nb * tile * tile];
    let out = model.run(&zeros, [probe_n, nb, tile, tile], output_index)?;
    let oshape = out.shape.clone();
    let bad_shape = || {
        Error::model(
            &model.path,
            format!("output '{}' has shape {oshape:?} for a {tile}x{tile} tile; expected [n, classes], [n, channels, h, w] or [n, h, w]", model.outputs[output_index].name),
        )
    };
    if oshape.first() != Some(&probe_n) {
        return Err(bad_shape());
    }
    let (kind, out_channels, out_size) = match oshape.len() {
        1 => (OutputKind::PerTile, 1, 1),
        2 => (OutputKind::PerTile, oshape[1], 1),
        3 if oshape[1] == oshape[2] => (OutputKind::Pixels, 1, oshape[1]),
        4 if oshape[2] == oshape[3] && oshape[2] == 1 && tile > 1 => (OutputKind::PerTile, oshape[1], 1),
        4 if oshape[2] == oshape[3] => (OutputKind::Pixels, oshape[1], oshape[2]),
        _ => return Err(bad_shape()),
    };
    if out_channels == 0 || out_size == 0 {
        return Err(bad_shape());
    }
    // The declared output shape (for a plan without a model) must be the model's when given.
    for (key, asked, real) in
        [("output-channels", opts.output_channels, out_channels), ("output-size", opts.output_size, out_size)]
    {
        if asked.is_some_and(|a| a != real) {
            return Err(Error::invalid(format!(
                "option '{key}' is {}, but the model's output '{}' has {real}",
                asked.unwrap_or_default(),
                model.outputs[output_index].name
            )));
        }
    }
    let shape = Shape {
        source: Some(&model.path),
        tile,
        bands,
        batch,
        static_batch,
        output_index,
        output_name: model.outputs[output_index].name.clone(),
        kind,
        out_channels,
        out_size,
        shown: format!("{oshape:?}"),
    };
    settle(card, opts, shape)
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
        OutputKind::Pixels => format!("[n, {out_channels}, {out_size}, {out_size}]"),
    };
    let shape = Shape {
        source: None,
        tile,
        bands,
        batch: 1,
        static_batch: false,
        output_index: 0,
        output_name: String::new(),
        kind,
        out_channels,
        out_size,
        shown,
    };
    settle(card, opts, shape)
}

fn check_tile(tile: usize) -> Result<()> {
    if !(1..=16384).contains(&tile) {
        return Err(Error::invalid(format!("tile size must be in 1..=16384, found {tile}")));
    }
    Ok(())
}

/// The settings that follow from the tensors' shape, the card and the options: preprocessing,
/// task, scale and crop, tiling and stitching, activation and classes.
fn settle(card: Card, opts: &RunOptions, s: Shape) -> Result<Resolved> {
    let (tile, kind, out_channels, oshape) = (s.tile, s.kind, s.out_channels, &s.shown);
    let bands = s.bands.clone();
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

    let out_size = s.out_size;
    let task = opts.task.or(card.task).unwrap_or(match kind {
        OutputKind::PerTile => Task::Classification,
        OutputKind::Pixels if out_size > tile => Task::SuperResolution,
        OutputKind::Pixels => Task::Segmentation,
    });
    match (task, kind) {
        (Task::Classification, OutputKind::Pixels) => {
            return Err(s.error(format!(
                "classification needs one value per class and tile, but the output is per pixel {oshape}"
            )))
        }
        (Task::Segmentation | Task::SuperResolution, OutputKind::PerTile) => {
            return Err(s.error(format!("{task} needs per-pixel outputs, but the output is per tile {oshape}")))
        }
        _ => {}
    }

    // Output scale and the model's own crop, from the real output size.
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
    let (model_crop, out_size) = if kind == OutputKind::Pixels {
        if out_size % scale_factor != 0 || out_size / scale_factor > tile || (tile - out_size / scale_factor) % 2 != 0 {
            return Err(s.error(format!(
                "output size {out_size} does not fit a {tile}-pixel tile at scale {scale_factor} (expected the input size times the scale, or a centred crop of it)"
            )));
        }
        ((tile - out_size / scale_factor) / 2, out_size)
    } else {
        (0, 1)
    };
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

    let default_overlap = match kind {
        OutputKind::PerTile => 0,
        // Deepness (and GeoDeep) truncate: 10 % of 256 is 25 pixels. A pixel more would shift
        // every tile, and models with strided stages are not shift-invariant.
        OutputKind::Pixels => card.overlap_percent.map_or(tile / 8, |p| (tile as f64 * p / 100.0).floor() as usize),
    };
    let overlap = opts.overlap.or(card.overlap).unwrap_or(default_overlap);
    let margin = opts.margin.or(card.margin).unwrap_or(0);
    if kind == OutputKind::PerTile && (overlap >= tile) {
        return Err(Error::invalid(format!("overlap {overlap} must be smaller than the tile size {tile}")));
    }
    if redistribute != Redistribute::None && overlap != 0 {
        return Err(Error::invalid("redistribution spreads each tile over its own pixels: overlap must be 0"));
    }
    let stitch = opts.stitch.or(card.stitch).unwrap_or(StitchMode::Blend);
    let grid = opts.grid.or(card.grid).unwrap_or_default();
    let pad = opts.pad.or(card.pad).unwrap_or(0);
    let pad_mode = opts.pad_mode.or(card.pad_mode).unwrap_or_default();
    if kind == OutputKind::PerTile && (grid != GridMode::Fit || pad != 0) {
        return Err(Error::invalid("--grid and --pad apply to per-pixel outputs, not to per-tile ones"));
    }

    let is_class = matches!(task, Task::Segmentation | Task::Classification);
    let activation = if is_class {
        opts.activation.or(card.activation).unwrap_or(if card.is_deepness() {
            Activation::None
        } else if out_channels == 1 {
            Activation::Sigmoid
        } else {
            Activation::Softmax
        })
    } else {
        opts.activation.or(card.activation).unwrap_or(Activation::None)
    };
    let n_classes = if out_channels == 1 { 2 } else { out_channels };
    if is_class && n_classes > 255 {
        return Err(s.error(format!("{n_classes} classes do not fit a u8 class band (at most 255)")));
    }
    let class_names = (0..n_classes).map(|c| card.class_name(c)).collect();

    Ok(Resolved {
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
        overlap,
        margin,
        stitch,
        grid,
        pad,
        pad_mode,
        batch: s.batch,
        static_batch: s.static_batch,
        activation,
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

/// Tiles per model call when neither the model nor the user fixes it. On the CPU a batch of 4
/// keeps ONNX Runtime's threads busy without growing its activations; a GPU gains from larger
/// batches (fewer launches and copies): as many tiles as fit 256 MiB of input, at most 32.
pub fn default_batch(provider: &str, channels: usize, tile: usize) -> usize {
    if provider.starts_with("cuda") || provider.starts_with("tensorrt") {
        let per_tile = (channels * tile * tile * 4).max(1);
        let fit = (256usize << 20) / per_tile;
        let mut b = 1;
        while b * 2 <= fit.min(32) {
            b *= 2;
        }
        b
    } else {
        4
    }
}

/// The tile plan and output grid of a resolved run over a raster.
pub fn plan(r: &Resolved, info: &RasterInfo) -> Result<(TilePlan, Grid)> {
    let t = r.tile_size;
    let (plan, gt) = match (r.output_kind, r.redistribute) {
        (OutputKind::Pixels, _) => {
            let g = PixelGeometry {
                tile: t,
                crop: r.model_crop,
                scale: r.scale_factor,
                margin: r.margin,
                pad: r.pad,
                grid: r.grid,
                overlap: r.overlap,
            };
            let plan = TilePlan { tile: t, x: pixel_axis(info.width, g)?, y: pixel_axis(info.height, g)? };
            let s = r.scale_factor as f64;
            let gt = info.geo_transform.map(|g| [g[0], g[1] / s, g[2] / s, g[3], g[4] / s, g[5] / s]);
            (plan, gt)
        }
        (OutputKind::PerTile, Redistribute::None) => {
            let stride = t - r.overlap;
            let plan =
                TilePlan { tile: t, x: tile_axis(info.width, t, stride)?, y: tile_axis(info.height, t, stride)? };
            // Each cell is the stride x stride block centred on its tile.
            let (d, s) = ((t - stride) as f64 / 2.0, stride as f64);
            let gt = info.geo_transform.map(|g| {
                [g[0] + d * g[1] + d * g[2], g[1] * s, g[2] * s, g[3] + d * g[4] + d * g[5], g[4] * s, g[5] * s]
            });
            (plan, gt)
        }
        (OutputKind::PerTile, _) => {
            let plan = TilePlan { tile: t, x: tile_axis(info.width, t, t)?, y: tile_axis(info.height, t, t)? };
            let mut plan = plan;
            plan.x.out_len = info.width;
            plan.y.out_len = info.height;
            (plan, info.geo_transform)
        }
    };
    let grid =
        Grid { width: plan.x.out_len, height: plan.y.out_len, geo_transform: gt, projection: info.projection.clone() };
    Ok((plan, grid))
}

/// Progress: fraction done and a message; return false to cancel.
pub type Progress<'a> = &'a mut dyn FnMut(f64, &str) -> bool;

/// Tiles on their way through the pipeline. The reader packs the pixels of the tiles to run into
/// `input` (the model's batch tensor) and keeps only what the writer needs per tile (validity,
/// weights); the model stage swaps `input` for the batch's output. Packing and unpacking thus
/// happen on the reader's and writer's threads, off the model's.
struct Batch {
    /// (tile index, tile) in plan order; `None`: skipped (all nodata), not in `values`.
    tiles: Vec<(usize, Option<TileData>)>,
    /// Input `[n, c, h, w]` of the tiles to run (zero-padded to a fixed batch), then their output.
    values: Vec<f32>,
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
    })
}

/// Runs `model` over `input`, writing `output` (and, for classes with `probabilities`, the
/// probability raster beside it). On error or cancel no output file is left. With a window, only
/// that block of the tile grid is written, with the bytes a whole run gives there.
pub fn run(model: &Model, input: &Path, output: &Path, opts: &RunOptions, progress: Progress) -> Result<RunSummary> {
    let started = Instant::now();
    if opts.cancel.as_ref().is_some_and(|c| c.load(Ordering::SeqCst)) {
        return Err(Error::Cancelled);
    }
    let ds = input::open(input)?;
    let source_info = input::info(&ds);
    check_destination(output, input)?;
    let plan = Plan::from_dataset(input, ds, Some(model), opts)?;
    let r = &plan.r;
    if (opts.probabilities || opts.probability_bands) && r.task != Task::Segmentation && r.task != Task::Classification
    {
        return Err(Error::invalid(format!(
            "probabilities are written for segmentation and classification only, not for {}",
            r.task
        )));
    }
    if opts.probabilities {
        check_destination(&probabilities_path(output), input)?;
    }
    // Opened here to report a bad mask before anything is written; the reader thread opens its
    // own (OGR geometries may not cross threads).
    if let Some(m) = opts.mask.as_deref() {
        Mask::open(m, &plan.info)?;
    }

    let total = plan.count();
    let cancel = AtomicBool::new(false);
    // One batch waiting on each side of the model: enough to hide I/O, and memory stays at a
    // handful of batches whatever the raster's size.
    let (batch_tx, batch_rx) = sync_channel::<Result<Batch>>(1);
    let (done_tx, done_rx) = sync_channel::<Batch>(1);
    let (mut tiles_run, mut tiles_skipped) = (0usize, 0usize);

    let (outputs, counts) = std::thread::scope(|scope| -> Result<(Vec<PathBuf>, Vec<u64>)> {
        let (mask, plan_ref, cancel_ref) = (opts.mask.as_deref(), &plan, &cancel);
        let reader_handle = scope.spawn(move || {
            plan_ref.with_reader(|reader| match mask.map(|m| Mask::open(m, &reader.info)).transpose() {
                Ok(mask) => read_tiles(reader, mask.as_ref(), plan_ref, cancel_ref, batch_tx),
                Err(e) => {
                    let _ = batch_tx.send(Err(e));
                    Ok(())
                }
            })
        });
        let writer_handle = scope.spawn(move || write_tiles(plan_ref, output, done_rx));

        let mut result: Result<()> = Ok(());
        let mut seen = 0usize;
        let mut done_tx = Some(done_tx);
        for msg in batch_rx.iter() {
            let batch = match msg {
                Ok(b) => b,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            let done = match infer_batch(model, r, batch) {
                Ok(d) => d,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            seen += done.tiles.len();
            tiles_run += done.tiles.iter().filter(|(_, t)| t.is_some()).count();
            tiles_skipped += done.tiles.iter().filter(|(_, t)| t.is_none()).count();
            if done_tx.as_ref().map(|tx| tx.send(done)).is_none_or(|s| s.is_err()) {
                // The writer stopped: its own error is reported below.
                break;
            }
            let frac = seen as f64 / total as f64;
            let cancelled = opts.cancel.as_ref().is_some_and(|c| c.load(Ordering::SeqCst));
            if cancelled || !progress(frac, &format!("{seen} of {total} tiles")) {
                result = Err(Error::Cancelled);
                break;
            }
        }
        if result.is_err() {
            cancel.store(true, Ordering::SeqCst);
            done_tx = None; // the writer sees an unfinished stream and deletes its outputs
        }
        drop(batch_rx);
        drop(done_tx);
        let read = reader_handle.join().map_err(|_| Error::Internal("the reader thread panicked".into()))?;
        let written = writer_handle.join().map_err(|_| Error::Internal("the writer thread panicked".into()))?;
        result?;
        read?;
        let outputs = written?;
        if seen != total {
            return Err(Error::Internal(format!("{seen} of {total} tiles were processed")));
        }
        Ok(outputs)
    })?;

    let seconds = started.elapsed().as_secs_f64();
    Ok(RunSummary {
        outputs,
        task: r.task,
        provider: model.provider.clone(),
        tiles_total: total,
        tiles_run,
        tiles_skipped,
        seconds,
        width: plan.grid.width,
        height: plan.grid.height,
        input_width: source_info.width,
        input_height: source_info.height,
        resampled: plan.resampled,
        tile_size: r.tile_size,
        overlap: r.overlap,
        margin: r.margin,
        stitch: r.stitch,
        batch: r.batch,
        megapixels_per_second: (plan.info.width * plan.info.height) as f64 / 1e6 / seconds.max(1e-9),
        class_counts: counts.iter().enumerate().map(|(c, n)| (r.class_names[c].clone(), *n)).collect(),
        tile_grid: plan.tile_grid,
        window: plan.window.clone(),
    })
}

/// Reader stage: tiles in plan order, all-nodata tiles marked skipped, grouped so that each
/// batch holds up to `r.batch` tiles to run, packed into the model's input tensor.
fn read_tiles(
    reader: &InputRaster,
    mask: Option<&Mask>,
    plan: &Plan,
    cancel: &AtomicBool,
    tx: SyncSender<Result<Batch>>,
) -> Result<()> {
    let (r, plan) = (&plan.r, &plan.tiles);
    let per_in = r.bands.len() * r.tile_size * r.tile_size;
    let new_batch = || Batch { tiles: Vec::new(), values: Vec::with_capacity(r.batch * per_in) };
    let mut current = new_batch();
    let mut to_run = 0;
    for i in 0..plan.count() {
        if cancel.load(Ordering::Relaxed) {
            return Ok(());
        }
        let (row, col) = plan.position(i);
        let (tx_, ty_) = (&plan.x.tiles[col], &plan.y.tiles[row]);
        let mut tile = match reader.read_tile(tx_.start, ty_.start, plan.tile, mask) {
            Ok(t) => t,
            Err(e) => {
                let _ = tx.send(Err(e));
                return Ok(());
            }
        };
        if tile.any_valid {
            to_run += 1;
            current.values.extend_from_slice(&std::mem::take(&mut tile.data));
            current.tiles.push((i, Some(tile)));
        } else {
            current.tiles.push((i, None));
        }
        if to_run == r.batch || i + 1 == plan.count() {
            if to_run > 0 && r.static_batch {
                current.values.resize(r.batch * per_in, 0.0);
            }
            if tx.send(Ok(std::mem::replace(&mut current, new_batch()))).is_err() {
                return Ok(());
            }
            to_run = 0;
        }
    }
    Ok(())
}

/// Inference stage: one model call per batch; the batch's input becomes its output.
fn infer_batch(model: &Model, r: &Resolved, mut batch: Batch) -> Result<Batch> {
    let n_run = batch.tiles.iter().filter(|(_, t)| t.is_some()).count();
    if n_run == 0 {
        batch.values = Vec::new();
        return Ok(batch);
    }
    let n = if r.static_batch { r.batch } else { n_run };
    let out = model.run(&batch.values, [n, r.bands.len(), r.tile_size, r.tile_size], r.output_index)?;
    let per_out = r.out_channels * r.out_size * r.out_size;
    if out.shape.first() != Some(&n) || out.data.len() != n * per_out {
        return Err(Error::model(
            &model.path,
            format!("output shape changed between batches: {:?}, expected {} values per tile", out.shape, per_out),
        ));
    }
    batch.values = out.data;
    Ok(batch)
}

/// Writer stage: activation, stitching, and rows to the output rasters. Outputs are renamed into
/// place only when every tile has arrived; otherwise they are deleted on drop. A window's
/// placement is recorded in the files.
fn write_tiles(plan: &Plan, output: &Path, rx: Receiver<Batch>) -> Result<(Vec<PathBuf>, Vec<u64>)> {
    let r = &plan.r;
    let sink = file_sink(r, &plan.grid, plan.window.as_ref(), output, &plan.options)?;
    let mut stitching = Stitching::new(Cow::Borrowed(r), Cow::Borrowed(&plan.tiles), plan.rect, sink);
    let per_out = (r.out_channels * r.out_size * r.out_size).max(1);
    for Batch { tiles, mut values } in rx.iter() {
        // The batch output, tile by tile, in the order of the tiles that ran.
        let mut outputs = values.chunks_exact_mut(per_out);
        for (index, tile) in tiles {
            match tile.as_ref() {
                Some(tile) => {
                    let values =
                        outputs.next().ok_or_else(|| Error::Internal(format!("no model output for tile {index}")))?;
                    activate(values, r.out_channels, r.activation);
                    stitching.add(index, Some((values, tile)))?;
                }
                None => stitching.add(index, None)?,
            }
        }
    }
    if !stitching.complete() {
        // Cancelled or failed upstream: dropping the sink deletes the temporary files.
        return Err(Error::Cancelled);
    }
    let sink = stitching.sink;
    let counts = sink.class_counts().map(<[u64]>::to_vec).unwrap_or_default();
    Ok((sink.finish()?, counts))
}

#[cfg(test)]
mod tests {
    use super::default_batch;

    #[test]
    fn default_batch_is_larger_on_a_gpu_and_bounded_by_its_input_size() {
        assert_eq!(default_batch("cpu", 6, 256), 4);
        assert_eq!(default_batch("cpu (fallback: no GPU)", 6, 256), 4);
        // 6 x 256 x 256 floats = 1.5 MiB per tile: the cap of 32 applies.
        assert_eq!(default_batch("cuda", 6, 256), 32);
        // 14 x 1024 x 1024 floats = 56 MiB per tile: 4 fit in 256 MiB.
        assert_eq!(default_batch("tensorrt", 14, 1024), 4);
        // One tile larger than the budget still runs, alone.
        assert_eq!(default_batch("cuda", 64, 4096), 1);
    }
}
