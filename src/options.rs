//! Every option of a run, settable by name from text (`RunOptions::set`: the one parser behind
//! the CLI, the C API, Python and QGIS) or as fields from Rust. `None` means: from the card,
//! else from the model, else the default (`resolve`).

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::card::{Activation, Duplicates, Metric, OutputSelector, Redistribute, StitchMode, Task};
use crate::error::{Error, Result};
use crate::grammar;
use crate::grid::{GridMode, PadMode, TileWindow};
use crate::raster::output::WriteOptions;

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
    /// Every output head of the model, one raster each (`OUTPUT`, `OUTPUT_<head>`), in one pass.
    /// Without it, a card naming several heads runs them all and any other model its first.
    pub all_outputs: bool,
    pub activation: Option<Activation>,
    pub redistribute: Option<Redistribute>,
    pub weight_band: Option<usize>,
    pub scale_factor: Option<usize>,
    /// The model's output channels and output tile size: checked against a model, declared by
    /// hosts that plan and stitch without one (`resolve_without_model`).
    pub output_channels: Option<usize>,
    pub output_size: Option<usize>,
    pub output_nodata: Option<f64>,
    /// Deepness's small-segment removal: the size of the class map's median filter.
    pub small_segment: Option<usize>,
    /// Detection: the minimum score (card `det_conf`), the overlap above which a box is a
    /// duplicate (card `det_iou_thresh`), how overlap is measured, and whether classes merge.
    pub det_conf: Option<f64>,
    pub det_iou_thresh: Option<f64>,
    pub det_metric: Option<Metric>,
    pub det_class_agnostic: bool,
    pub det_duplicates: Option<Duplicates>,
    /// Class tasks: the class raster also as polygons in this vector file, simplified by
    /// `vector_simplify` map units when given.
    pub vector: Option<PathBuf>,
    pub vector_simplify: Option<f64>,
    /// Inputs that look off (the sanity check before the first batch) are an error, not a warning.
    pub strict: bool,
    pub resolution: Resolution,
    /// The largest factor by which the card's `resolution` may resample the input, either way.
    pub resolution_limit: f64,
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
            all_outputs: false,
            activation: None,
            redistribute: None,
            weight_band: None,
            scale_factor: None,
            output_channels: None,
            output_size: None,
            output_nodata: None,
            small_segment: None,
            det_conf: None,
            det_iou_thresh: None,
            det_metric: None,
            det_class_agnostic: false,
            det_duplicates: None,
            vector: None,
            vector_simplify: None,
            strict: false,
            resolution: Resolution::FromCard,
            resolution_limit: 4.0,
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

/// How an option takes its value on the command line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arity {
    /// `--key VALUE`.
    Value,
    /// `--key` alone means true (`set(key, "true")`).
    Flag,
    /// `--key VALUE`, repeatable: each value appends.
    Repeated,
}

/// One run option: its key (the `rastrum run` flag without `--`, the C API's and Python's key),
/// how the command line takes it, and what it means. The CLI builds its flags from this table
/// and hands their text to `RunOptions::set`, so an option is declared here once.
#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    pub key: &'static str,
    pub value_name: &'static str,
    pub arity: Arity,
    pub help: &'static str,
}

const fn spec(key: &'static str, value_name: &'static str, arity: Arity, help: &'static str) -> OptionSpec {
    OptionSpec { key, value_name, arity, help }
}

use Arity::{Flag, Repeated, Value};

/// Every run option, in the order `rastrum run --help` lists them.
pub const OPTIONS: [OptionSpec; 45] = [
    spec("task", "TASK", Value, "segmentation, classification (per tile), regression or super_resolution"),
    spec("bands", "4,3,2", Value, "1-based input bands, in model channel order"),
    spec("scale", "S", Value, "input scale, one value or one per band: x = raw * scale + offset"),
    spec("offset", "O", Value, "input offset, one value or one per band"),
    spec("mean", "M", Value, "standardisation mean, one value or one per band (after scale and offset)"),
    spec("std", "D", Value, "standardisation std, one value or one per band"),
    spec("nodata", "V", Value, "input nodata value, replacing the raster's"),
    spec(
        "tile-size",
        "N",
        Value,
        "model input size in pixels (models with a fixed height and width accept only their own)",
    ),
    spec("overlap", "PX", Value, "overlap between tiles, in input pixels"),
    spec("margin", "PX", Value, "context margin cropped from tile sides facing a neighbour, in input pixels"),
    spec("stitch", "MODE", Value, "blend (weighted, seam-free) or crop (each pixel from one tile)"),
    spec(
        "grid",
        "MODE",
        Value,
        "tile placement: fit (last tile clamped to the raster's end) or lattice (tile k at k x stride - pad)",
    ),
    spec("pad", "PX", Value, "mirrored context added around the raster before tiling, in input pixels"),
    spec(
        "pad-mode",
        "MODE",
        Value,
        "mirroring outside the raster: reflect (edge pixel not repeated) or symmetric (repeated)",
    ),
    spec("batch", "N", Value, "tiles per model call"),
    spec("probabilities", "", Flag, "also write per-class probabilities to OUTPUT_probabilities.tif"),
    spec(
        "probability-bands",
        "",
        Flag,
        "also write the per-class probabilities as bands 2..=1+N of OUTPUT (bytes, scale 1/250)",
    ),
    spec("output-name", "NAME", Value, "model output to use, by name"),
    spec("output-index", "I", Value, "model output to use, by 0-based index"),
    spec(
        "all-outputs",
        "",
        Flag,
        "every model output, one raster each: OUTPUT for the first, OUTPUT_<name> for the others (the default for cards naming several heads)",
    ),
    spec("activation", "ACT", Value, "class head: softmax, sigmoid or none"),
    spec("redistribute", "RULE", Value, "per-tile regression: none (stride grid), uniform or weight"),
    spec("weight-band", "N", Value, "1-based band whose values weight the redistribution (w = exp(L / max L) - 1)"),
    spec("scale-factor", "K", Value, "output scale of super-resolution models"),
    spec(
        "output-channels",
        "N",
        Value,
        "the output channels the model must have (hosts planning without a model declare it)",
    ),
    spec("output-size", "PX", Value, "the output tile size the model must have, in pixels (1: one value per tile)"),
    spec("output-nodata", "V", Value, "nodata value of float outputs"),
    spec("det-conf", "P", Value, "detection: minimum score of a box, 0 to 1 (card det_conf; default 0.3)"),
    spec(
        "det-iou-thresh",
        "T",
        Value,
        "detection: overlap above which the lower-scoring of two boxes is dropped (card det_iou_thresh; default 0.5)",
    ),
    spec("det-metric", "M", Value, "detection: overlap of two boxes as iou (over their union) or ios (over the smaller)"),
    spec("det-class-agnostic", "", Flag, "detection: boxes of different classes suppress each other too"),
    spec(
        "det-duplicates",
        "RULE",
        Value,
        "detection: nms (a duplicate is dropped) or nmm (merged: the winning box grows to cover it)",
    ),
    spec(
        "vector",
        "PATH",
        Value,
        "class tasks: also the class raster's polygons, with class names, in this vector file (.gpkg, .fgb, ...)",
    ),
    spec("vector-simplify", "TOL", Value, "simplify those polygons by this many map units (topology preserved)"),
    spec("strict", "", Flag, "inputs that look off before the first batch (raw values into a scaled model) are an error"),
    spec(
        "small-segment",
        "PX",
        Value,
        "segmentation: remove segments smaller than this, a median of the class map over a PX window (0: off)",
    ),
    spec(
        "resolution",
        "CM|native",
        Value,
        "resample the input to this resolution (cm per pixel), or 'native' to never resample",
    ),
    spec(
        "resolution-limit",
        "F",
        Value,
        "the largest factor the card's resolution may resample the input by, up or down (default 4)",
    ),
    spec("resampling", "ALG", Value, "GDAL resampling used with resolution (average, bilinear, cubic, mode, ...)"),
    spec("co", "KEY=VALUE", Repeated, "GDAL creation option (repeatable)"),
    spec("cog", "", Flag, "write a Cloud Optimized GeoTIFF"),
    spec("set", "KEY=VALUE", Repeated, "override a model card key, VALUE as JSON text (repeatable)"),
    spec("mask", "PATH", Value, "process only the inside of this polygon layer (any OGR source) or raster (non-zero)"),
    spec(
        "extent",
        "XMIN,YMIN,XMAX,YMAX",
        Value,
        "process only this extent, in the input's CRS (outside the raster: nodata)",
    ),
    spec(
        "window",
        "COL,ROW,COLS,ROWS",
        Value,
        "write only this block of the tile grid, with the bytes of a whole run there",
    ),
];

impl RunOptions {
    /// Every option name `set` accepts: the keys of `OPTIONS`.
    pub const KEYS: [&'static str; OPTIONS.len()] = {
        let mut keys = [""; OPTIONS.len()];
        let mut i = 0;
        while i < keys.len() {
            keys[i] = OPTIONS[i].key;
            i += 1;
        }
        keys
    };

    /// Sets one option from text, by the name of its `rastrum run` flag (`tile-size`, `bands`,
    /// ...): the one parser behind the C API and the Python binding. `co` and `set` append.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let k = grammar::key(key);
        match k.as_str() {
            "task" => self.task = Some(grammar::named(&k, value)?),
            "bands" => self.bands = Some(grammar::list(&k, value)?),
            "scale" => self.scale = Some(grammar::list(&k, value)?),
            "offset" => self.offset = Some(grammar::list(&k, value)?),
            "mean" => self.mean = Some(grammar::list(&k, value)?),
            "std" => self.std = Some(grammar::list(&k, value)?),
            "nodata" => self.nodata = Some(grammar::number(&k, value, "a number")?),
            "tile-size" => self.tile_size = Some(grammar::number(&k, value, "a positive integer")?),
            "overlap" => self.overlap = Some(grammar::number(&k, value, "a non-negative integer")?),
            "margin" => self.margin = Some(grammar::number(&k, value, "a non-negative integer")?),
            "stitch" => self.stitch = Some(grammar::named(&k, value)?),
            "grid" => self.grid = Some(grammar::named(&k, value)?),
            "pad" => self.pad = Some(grammar::number(&k, value, "a non-negative integer")?),
            "pad-mode" => self.pad_mode = Some(grammar::named(&k, value)?),
            "batch" => self.batch = Some(grammar::number(&k, value, "a positive integer")?),
            "probabilities" => self.probabilities = grammar::boolean(&k, value)?,
            "probability-bands" => self.probability_bands = grammar::boolean(&k, value)?,
            "output-name" => self.output = Some(OutputSelector::Name(value.to_string())),
            "output-index" => self.output = Some(OutputSelector::Index(grammar::number(&k, value, "a 0-based index")?)),
            "all-outputs" => self.all_outputs = grammar::boolean(&k, value)?,
            "activation" => self.activation = Some(grammar::named(&k, value)?),
            "redistribute" => self.redistribute = Some(grammar::named(&k, value)?),
            "weight-band" => self.weight_band = Some(grammar::number(&k, value, "a 1-based band number")?),
            "scale-factor" => self.scale_factor = Some(grammar::number(&k, value, "a positive integer")?),
            "output-channels" => self.output_channels = Some(grammar::number(&k, value, "a positive integer")?),
            "output-size" => self.output_size = Some(grammar::number(&k, value, "a positive integer (pixels)")?),
            "output-nodata" => self.output_nodata = Some(grammar::number(&k, value, "a number")?),
            "det-conf" => self.det_conf = Some(fraction(&k, value)?),
            "det-iou-thresh" => self.det_iou_thresh = Some(fraction(&k, value)?),
            "det-metric" => self.det_metric = Some(grammar::named(&k, value)?),
            "det-class-agnostic" => self.det_class_agnostic = grammar::boolean(&k, value)?,
            "det-duplicates" => self.det_duplicates = Some(grammar::named(&k, value)?),
            "vector" => self.vector = Some(PathBuf::from(value)),
            "strict" => self.strict = grammar::boolean(&k, value)?,
            "vector-simplify" => self.vector_simplify = Some(grammar::number(&k, value, "a tolerance in map units")?),
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
            "small-segment" => {
                let px: usize = grammar::number(&k, value, "a window size in pixels, 0 to 1001")?;
                if px > 1001 {
                    return Err(Error::invalid(format!(
                        "option 'small-segment': expected a window size in pixels, 0 to 1001, found '{value}'"
                    )));
                }
                self.small_segment = Some(px);
            }
            "resolution-limit" => {
                let f: f64 = grammar::number(&k, value, "a factor of at least 1")?;
                if !(f >= 1.0 && f.is_finite()) {
                    return Err(Error::invalid(format!(
                        "option 'resolution-limit': expected a factor of at least 1, found '{value}'"
                    )));
                }
                self.resolution_limit = f;
            }
            "resampling" => self.resampling = value.trim().to_string(),
            "co" => {
                if !value.contains('=') {
                    return Err(Error::invalid(format!("option 'co': expected KEY=VALUE, found '{value}'")));
                }
                self.write.creation_options.push(value.to_string())
            }
            "cog" => self.write.cog = grammar::boolean(&k, value)?,
            "set" => self.card_overrides.push(crate::card::parse_override(value)?),
            "mask" => self.mask = (!value.trim().is_empty()).then(|| PathBuf::from(value)),
            "window" => self.window = (!value.trim().is_empty()).then(|| grammar::named(&k, value)).transpose()?,
            "extent" => {
                let v: Vec<f64> = grammar::list(&k, value)?;
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

/// A number from 0 to 1 (a score or an overlap).
fn fraction(key: &str, value: &str) -> Result<f64> {
    let x: f64 = grammar::number(key, value, "a number from 0 to 1")?;
    if !(0.0..=1.0).contains(&x) {
        return Err(Error::invalid(format!("option '{key}': expected a number from 0 to 1, found {value}")));
    }
    Ok(x)
}
