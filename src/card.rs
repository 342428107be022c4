//! The model card: the contract between trainer, runtime and hosts, read from the ONNX
//! `metadata_props`. Deepness's keys are read as Deepness writes them (so its zoo runs unchanged);
//! what Deepness cannot express lives under `rastrum_*` keys. Every value is JSON text; every key
//! can be overridden (`--set KEY=VALUE`, the typed CLI flags, the C API). The keys are documented
//! in docs/model-card.md: keep that file and `KEYS` below in step.

pub mod edits;
mod ultralytics;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
pub use crate::grid::{GridMode, PadMode, TileWindow};

/// What a model's output means, and so how tiles are stitched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Per-pixel classes: class band (u8) plus optional probability bands.
    Segmentation,
    /// One class per tile, written on the stride grid.
    Classification,
    /// Per-pixel values, or one value per tile (optionally redistributed over the tile's pixels).
    Regression,
    /// Per-pixel values on a grid `scale_factor` times finer.
    SuperResolution,
    /// Objects: boxes with a class and a score, decoded per tile, merged across tiles and
    /// written as polygons (`detect`).
    Detection,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StitchMode {
    Blend,
    Crop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Softmax,
    Sigmoid,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Redistribute {
    /// Per-tile values written on the stride grid.
    None,
    /// The tile value spread evenly over the tile's valid pixels.
    Uniform,
    /// The tile value spread by w = exp(L / max L) - 1 of a weight band (night lights).
    Weight,
}

macro_rules! named_enum {
    ($t:ty, $what:literal, [$($name:literal => $v:path),+ $(,)?]) => {
        impl FromStr for $t {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
                    $($name => Ok($v),)+
                    other => Err(Error::invalid(format!(
                        concat!("unknown ", $what, " '{}': expected one of {}"),
                        other,
                        [$($name),+].join(", ")
                    ))),
                }
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let name = match self { $($v => $name,)+ };
                f.write_str(name)
            }
        }
    };
}

/// How duplicate detections are measured: intersection over union, or over the smaller box
/// (SAHI's IOS, for a small box inside a large one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Iou,
    Ios,
}

named_enum!(Metric, "overlap metric", ["iou" => Metric::Iou, "ios" => Metric::Ios]);

/// What happens to a duplicate detection: dropped (non-maximum suppression), or merged into the
/// box that wins over it, which grows to cover both (SAHI's non-maximum merging).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Duplicates {
    Nms,
    Nmm,
}

named_enum!(Duplicates, "duplicate rule", ["nms" => Duplicates::Nms, "nmm" => Duplicates::Nmm]);
named_enum!(Task, "task", [
    "segmentation" => Task::Segmentation,
    "classification" => Task::Classification,
    "regression" => Task::Regression,
    "super_resolution" => Task::SuperResolution,
    "detection" => Task::Detection,
]);
named_enum!(StitchMode, "stitch mode", ["blend" => StitchMode::Blend, "crop" => StitchMode::Crop]);
named_enum!(GridMode, "tile grid", ["fit" => GridMode::Fit, "lattice" => GridMode::Lattice]);
named_enum!(PadMode, "padding mode", ["reflect" => PadMode::Reflect, "symmetric" => PadMode::Symmetric]);
named_enum!(Activation, "activation", [
    "softmax" => Activation::Softmax,
    "sigmoid" => Activation::Sigmoid,
    "none" => Activation::None,
]);
named_enum!(Redistribute, "redistribution", [
    "none" => Redistribute::None,
    "uniform" => Redistribute::Uniform,
    "weight" => Redistribute::Weight,
]);

/// Every key the runtime understands, with a one-line meaning (printed by `rastrum info`).
pub const KEYS: &[(&str, &str)] = &[
    ("model_type", "Deepness/GeoDeep: \"Segmentor\", \"Regressor\", \"Superresolution\" (or \"Classifier\"), any case"),
    (
        "class_names",
        "Deepness/GeoDeep: {\"0\": \"name\", ...}, a list of names, or a list of such objects, one per output",
    ),
    ("names", "Deepness: older spelling of class_names (class_names wins when both are present)"),
    ("resolution", "Deepness: ground resolution the model expects, cm per pixel"),
    ("tile_size", "Deepness: tile size in pixels"),
    ("tiles_size", "GeoDeep's spelling of tile_size"),
    ("tiles_overlap", "Deepness: overlap between tiles, percent of the tile size"),
    ("standardization_mean", "Deepness: per-band mean, applied after scaling"),
    ("standardization_std", "Deepness: per-band std, applied after scaling"),
    ("seg_thresh", "Deepness: minimum winning probability, else class 0"),
    ("seg_small_segment", "Deepness/GeoDeep: small-segment removal, the class map's median window in pixels"),
    ("reg_output_scaling", "Deepness: factor applied to regression outputs"),
    ("det_conf", "Deepness/GeoDeep detectors: minimum confidence of a detection (default 0.3)"),
    ("det_iou_thresh", "Deepness/GeoDeep detectors: overlap above which non-maximum suppression drops a box (default 0.5)"),
    ("det_type", "Deepness/GeoDeep detectors: the output format, e.g. \"YOLO_v5_or_v7_default\", \"YOLO_Ultralytics\" (see docs/detection.md)"),
    ("rastrum_class_colors", "class colours {\"0\": \"#rrggbb\", ...} for the colour table"),
    ("rastrum_task", "segmentation | classification | regression | super_resolution"),
    ("rastrum_bands", "1-based input bands, e.g. [4, 3, 2]"),
    ("rastrum_scale", "per-band (or one) input scale: x = raw * scale + offset"),
    ("rastrum_offset", "per-band (or one) input offset"),
    ("rastrum_nodata", "input nodata value, overriding the raster's"),
    ("rastrum_margin", "context margin in input pixels, cropped from tile edges"),
    ("rastrum_overlap", "overlap between tiles in input pixels (wins over tiles_overlap)"),
    ("rastrum_stitch", "blend | crop"),
    ("rastrum_grid", "fit (tiles clamped to the raster) | lattice (tiles at k x stride - pad)"),
    ("rastrum_pad", "mirrored context in input pixels added around the raster before tiling"),
    ("rastrum_pad_mode", "reflect (edge pixel not repeated) | symmetric (repeated), outside the raster"),
    ("rastrum_activation", "softmax | sigmoid | none, applied to class outputs"),
    ("rastrum_scale_factor", "integer output scale for super-resolution"),
    ("rastrum_redistribute", "none | uniform | weight, for per-tile regression"),
    ("rastrum_weight_band", "1-based input band giving the redistribution weight"),
    ("rastrum_output", "model output to use: its name or 0-based index"),
    ("rastrum_output_nodata", "nodata value written into float outputs"),
    ("rastrum_training", "training provenance written by rastrum-train (informational)"),
];

/// The resolved card. `None` means "not said": the run falls back to the model's shapes and
/// documented defaults.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Card {
    pub model_type: Option<String>,
    pub task: Option<Task>,
    /// Class names per output head (head i names the channels of output i); one head names
    /// the classes of whichever output is run.
    pub class_names: Vec<BTreeMap<usize, String>>,
    pub class_colors: BTreeMap<usize, [u8; 3]>,
    pub resolution_cm: Option<f64>,
    pub tile_size: Option<usize>,
    pub overlap_percent: Option<f64>,
    pub overlap: Option<usize>,
    pub margin: Option<usize>,
    pub mean: Option<Vec<f64>>,
    pub std: Option<Vec<f64>>,
    pub scale: Option<Vec<f64>>,
    pub offset: Option<Vec<f64>>,
    pub nodata: Option<f64>,
    pub bands: Option<Vec<usize>>,
    pub seg_thresh: Option<f64>,
    pub reg_output_scaling: Option<f64>,
    pub seg_small_segment: Option<usize>,
    pub det_conf: Option<f64>,
    pub det_iou_thresh: Option<f64>,
    pub det_type: Option<String>,
    pub scale_factor: Option<usize>,
    pub redistribute: Option<Redistribute>,
    pub weight_band: Option<usize>,
    pub activation: Option<Activation>,
    pub stitch: Option<StitchMode>,
    pub grid: Option<GridMode>,
    pub pad: Option<usize>,
    pub pad_mode: Option<PadMode>,
    pub output: Option<OutputSelector>,
    pub output_nodata: Option<f64>,
    /// Keys present in the metadata that the runtime does not read (kept for `info`).
    pub other: BTreeMap<String, String>,
}

/// Which model output carries the result.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum OutputSelector {
    Index(usize),
    Name(String),
}

impl Card {
    /// Parses a metadata map (key -> JSON text). Unknown keys are kept, wrong types are errors
    /// that name the key, the expected type and what was found.
    pub fn from_metadata(map: &BTreeMap<String, String>) -> Result<Card> {
        let mut card = Card::default();
        // An Ultralytics export's own keys, read as the card keys they mean.
        let translated: BTreeMap<String, String> = if ultralytics::is_export(map) {
            ultralytics::card_keys(map).into_iter().collect()
        } else {
            BTreeMap::new()
        };
        for (key, raw) in &translated {
            card.apply(key, raw)?;
        }
        for (key, raw) in map {
            if key == "names" && translated.contains_key("class_names") {
                card.other.insert(key.clone(), raw.clone());
                continue;
            }
            // Deepness reads `class_names` first and `names` only when it is absent.
            if key == "names" && map.contains_key("class_names") {
                card.other.insert(key.clone(), raw.clone());
                continue;
            }
            card.apply(key, raw)?;
        }
        Ok(card)
    }

    /// Sets one key from its JSON text (a bare word is taken as a string).
    pub fn apply(&mut self, key: &str, raw: &str) -> Result<()> {
        let v = parse_json_lenient(raw);
        let k = KeyValue { key, raw, v: &v };
        match key {
            "model_type" => {
                let s = k.string()?;
                self.model_type = Some(s.clone());
                if let Some(task) = deepness_task(&s) {
                    self.task.get_or_insert(task);
                }
            }
            "class_names" | "names" => self.class_names = k.class_heads()?,
            "rastrum_class_colors" => {
                self.class_colors = k
                    .class_names()?
                    .into_iter()
                    .map(|(c, hex)| {
                        parse_hex_colour(&hex).map(|rgb| (c, rgb)).ok_or_else(|| k.wrong("colours as \"#rrggbb\""))
                    })
                    .collect::<Result<_>>()?
            }
            "resolution" => self.resolution_cm = Some(k.positive_f64()?),
            "tiles_size" | "tile_size" => self.tile_size = Some(k.positive_usize()?),
            "tiles_overlap" => {
                let p = k.f64()?;
                if !(0.0..100.0).contains(&p) {
                    return Err(k.wrong("a percentage in [0, 100)"));
                }
                self.overlap_percent = Some(p);
            }
            "standardization_mean" => self.mean = Some(k.f64_list()?),
            "standardization_std" => {
                let std = k.f64_list()?;
                if std.iter().any(|s| *s == 0.0 || !s.is_finite()) {
                    return Err(k.wrong("finite non-zero standard deviations"));
                }
                self.std = Some(std);
            }
            "seg_thresh" => self.seg_thresh = Some(k.f64()?),
            "reg_output_scaling" => self.reg_output_scaling = Some(k.f64()?),
            "seg_small_segment" => self.seg_small_segment = Some(k.usize()?),
            "det_conf" => self.det_conf = Some(k.fraction()?),
            "det_iou_thresh" => self.det_iou_thresh = Some(k.fraction()?),
            "det_type" => self.det_type = Some(k.string()?),
            "rastrum_task" => self.task = Some(k.parsed()?),
            "rastrum_bands" => {
                let bands = k.usize_list()?;
                if bands.is_empty() || bands.contains(&0) {
                    return Err(k.wrong("a non-empty list of 1-based band numbers"));
                }
                self.bands = Some(bands);
            }
            "rastrum_scale" => self.scale = Some(k.f64_list()?),
            "rastrum_offset" => self.offset = Some(k.f64_list()?),
            "rastrum_nodata" => self.nodata = Some(k.f64()?),
            "rastrum_margin" => self.margin = Some(k.usize()?),
            "rastrum_overlap" => self.overlap = Some(k.usize()?),
            "rastrum_stitch" => self.stitch = Some(k.parsed()?),
            "rastrum_grid" => self.grid = Some(k.parsed()?),
            "rastrum_pad" => self.pad = Some(k.usize()?),
            "rastrum_pad_mode" => self.pad_mode = Some(k.parsed()?),
            "rastrum_activation" => self.activation = Some(k.parsed()?),
            "rastrum_scale_factor" => self.scale_factor = Some(k.positive_usize()?),
            "rastrum_redistribute" => self.redistribute = Some(k.parsed()?),
            "rastrum_weight_band" => self.weight_band = Some(k.positive_usize()?),
            "rastrum_output" => {
                self.output = Some(match &v {
                    Value::Number(n) => {
                        OutputSelector::Index(n.as_u64().ok_or_else(|| k.wrong("a 0-based index or a name"))? as usize)
                    }
                    Value::String(s) => OutputSelector::Name(s.clone()),
                    _ => return Err(k.wrong("a 0-based index or a name")),
                })
            }
            "rastrum_output_nodata" => self.output_nodata = Some(k.f64()?),
            other => {
                self.other.insert(other.to_string(), raw.to_string());
            }
        }
        Ok(())
    }

    /// True when the card comes from Deepness conventions (inputs divided by 255 by default).
    pub fn is_deepness(&self) -> bool {
        self.model_type.is_some()
    }

    /// The class names of output `output`: head `output` of a list of heads, the only head of a
    /// single one (whichever output runs). A list too short for the output is an error.
    pub fn head_names(&self, output: usize) -> Result<BTreeMap<usize, String>> {
        match self.class_names.len() {
            0 => Ok(BTreeMap::new()),
            1 => Ok(self.class_names[0].clone()),
            n => self.class_names.get(output).cloned().ok_or_else(|| {
                Error::invalid(format!(
                    "model card key 'class_names': names {n} output heads, but output {output} is run (head i names output i)"
                ))
            }),
        }
    }

    /// Checks `model_type` names a kind of model Rastrum runs (called when no task is asked:
    /// an explicit task runs the output as that task whatever the card says).
    pub fn check_model_type(&self) -> Result<()> {
        let Some(t) = &self.model_type else { return Ok(()) };
        if deepness_task(t).is_some() {
            return Ok(());
        }
        let runs = "Rastrum runs Segmentor, Regressor, Superresolution, Classifier and Detector models";
        match t.to_ascii_lowercase().as_str() {
            "recognition" => Err(Error::invalid(format!(
                "model card key 'model_type': '{t}' models (image recognition by embedding) are not run by Rastrum \
                 yet; {runs} (option 'task' runs the output as one of those)"
            ))),
            _ => Err(Error::invalid(format!("model card key 'model_type': unknown type '{t}'; {runs}"))),
        }
    }
}

fn parse_hex_colour(s: &str) -> Option<[u8; 3]> {
    let h = s.trim().strip_prefix('#')?;
    if h.len() != 6 {
        return None;
    }
    let v = u32::from_str_radix(h, 16).ok()?;
    Some([(v >> 16) as u8, (v >> 8) as u8, v as u8])
}

fn deepness_task(model_type: &str) -> Option<Task> {
    match model_type.to_ascii_lowercase().as_str() {
        "segmentor" => Some(Task::Segmentation),
        "regressor" => Some(Task::Regression),
        "superresolution" => Some(Task::SuperResolution),
        // Deepness's "Recognition" compares embeddings with a query image: not a classifier.
        "classifier" => Some(Task::Classification),
        "detector" => Some(Task::Detection),
        _ => None,
    }
}

fn parse_json_lenient(raw: &str) -> Value {
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.trim().to_string()))
}

/// One key being parsed: typed accessors whose errors name the key and what was found.
struct KeyValue<'a> {
    key: &'a str,
    raw: &'a str,
    v: &'a Value,
}

impl KeyValue<'_> {
    fn wrong(&self, expected: &str) -> Error {
        Error::invalid(format!("model card key '{}': expected {expected}, found {}", self.key, truncate(self.raw, 80)))
    }
    fn string(&self) -> Result<String> {
        match self.v {
            Value::String(s) => Ok(s.clone()),
            _ => Err(self.wrong("a string")),
        }
    }
    fn parsed<T: FromStr<Err = Error>>(&self) -> Result<T> {
        self.string()?
            .parse()
            .map_err(|e: Error| Error::invalid(format!("model card key '{}': {}", self.key, strip_prefix(&e))))
    }
    fn f64(&self) -> Result<f64> {
        let x = match self.v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        x.filter(|x| x.is_finite()).ok_or_else(|| self.wrong("a number"))
    }
    fn fraction(&self) -> Result<f64> {
        self.f64().ok().filter(|x| (0.0..=1.0).contains(x)).ok_or_else(|| self.wrong("a number in [0, 1]"))
    }
    fn positive_f64(&self) -> Result<f64> {
        self.f64().ok().filter(|x| *x > 0.0).ok_or_else(|| self.wrong("a positive number"))
    }
    fn usize(&self) -> Result<usize> {
        let x = self.f64().map_err(|_| self.wrong("a non-negative integer"))?;
        if x < 0.0 || x.fract() != 0.0 || x > 1e9 {
            return Err(self.wrong("a non-negative integer"));
        }
        Ok(x as usize)
    }
    fn positive_usize(&self) -> Result<usize> {
        self.usize().ok().filter(|x| *x > 0).ok_or_else(|| self.wrong("a positive integer"))
    }
    fn f64_list(&self) -> Result<Vec<f64>> {
        let items = match self.v {
            Value::Array(a) => a.clone(),
            Value::Number(_) => vec![self.v.clone()],
            _ => return Err(self.wrong("a list of numbers")),
        };
        // Deepness converts each item with float(): numbers written as strings count.
        items
            .iter()
            .map(|x| match x {
                Value::String(s) => s.trim().parse::<f64>().ok(),
                x => x.as_f64(),
            })
            .map(|x| x.filter(|x| x.is_finite()))
            .collect::<Option<Vec<f64>>>()
            .ok_or_else(|| self.wrong("a list of numbers"))
    }
    fn usize_list(&self) -> Result<Vec<usize>> {
        let list = self.f64_list().map_err(|_| self.wrong("a list of integers"))?;
        list.iter()
            .map(|x| (*x >= 0.0 && x.fract() == 0.0).then_some(*x as usize))
            .collect::<Option<Vec<usize>>>()
            .ok_or_else(|| self.wrong("a list of integers"))
    }
    /// Class names as Deepness writes them: one object, a list of names, or a list of objects
    /// (one per output head).
    fn class_heads(&self) -> Result<Vec<BTreeMap<usize, String>>> {
        let expected = "an object {\"0\": \"name\", ...}, a list of names, or a list of such objects (one per output)";
        match self.v {
            Value::Array(a) if !a.is_empty() && a.iter().all(Value::is_object) => {
                a.iter().map(|head| self.index_map(head, expected)).collect()
            }
            v => Ok(vec![self.index_map(v, expected)?]),
        }
    }
    fn class_names(&self) -> Result<BTreeMap<usize, String>> {
        self.index_map(self.v, "an object {\"0\": \"name\", ...} or a list of names")
    }
    fn index_map(&self, v: &Value, expected: &str) -> Result<BTreeMap<usize, String>> {
        match v {
            Value::Object(m) => m
                .iter()
                .map(|(k, v)| {
                    let idx = k.trim().parse::<usize>().map_err(|_| self.wrong(expected))?;
                    let name = v.as_str().ok_or_else(|| self.wrong(expected))?;
                    Ok((idx, name.to_string()))
                })
                .collect(),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, v)| Ok((i, v.as_str().ok_or_else(|| self.wrong(expected))?.to_string())))
                .collect(),
            _ => Err(self.wrong(expected)),
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        format!("'{s}'")
    } else {
        format!("'{}...'", s.chars().take(n).collect::<String>())
    }
}

fn strip_prefix(e: &Error) -> String {
    match e {
        Error::InvalidArgument(m) => m.clone(),
        other => other.to_string(),
    }
}

/// Parses a `KEY=VALUE` override as given on the command line.
pub fn parse_override(s: &str) -> Result<(String, String)> {
    let (k, v) = s.split_once('=').ok_or_else(|| Error::invalid(format!("expected KEY=VALUE, found '{s}'")))?;
    if k.trim().is_empty() {
        return Err(Error::invalid(format!("expected KEY=VALUE, found '{s}'")));
    }
    Ok((k.trim().to_string(), v.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn reads_deepness_keys_as_deepness_writes_them() {
        let card = Card::from_metadata(&map(&[
            ("model_type", "\"Segmentor\""),
            ("class_names", "{\"0\": \"background\", \"1\": \"road\"}"),
            ("resolution", "20"),
            ("tiles_size", "512"),
            ("tiles_overlap", "15"),
            ("standardization_mean", "[0.485, 0.456, 0.406]"),
            ("standardization_std", "[0.229, 0.224, 0.225]"),
            ("seg_thresh", "0.5"),
        ]))
        .unwrap();
        assert_eq!(card.task, Some(Task::Segmentation));
        assert_eq!(card.head_names(0).unwrap().get(&1).map(String::as_str), Some("road"));
        assert_eq!(card.tile_size, Some(512));
        assert_eq!(card.overlap_percent, Some(15.0));
        assert_eq!(card.mean.as_ref().unwrap().len(), 3);
        assert!(card.is_deepness());
    }

    #[test]
    fn rastrum_task_wins_over_model_type_in_either_order() {
        let card =
            Card::from_metadata(&map(&[("model_type", "\"Regressor\""), ("rastrum_task", "\"super_resolution\"")]))
                .unwrap();
        assert_eq!(card.task, Some(Task::SuperResolution));
    }

    #[test]
    fn wrong_types_name_the_key_and_the_value() {
        let err = Card::from_metadata(&map(&[("tiles_size", "\"big\"")])).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("tiles_size") && msg.contains("big"), "{msg}");
        let err = Card::from_metadata(&map(&[("rastrum_bands", "[1, 0]")])).unwrap_err();
        assert!(err.to_string().contains("rastrum_bands"));
        let err = Card::from_metadata(&map(&[("rastrum_task", "\"detect\"")])).unwrap_err();
        assert!(err.to_string().contains("detect") && err.to_string().contains("segmentation"));
        let err = Card::from_metadata(&map(&[("standardization_std", "[1, 0]")])).unwrap_err();
        assert!(err.to_string().contains("standardization_std"));
    }

    #[test]
    fn class_colours_are_hex_triplets() {
        let mut card = Card::default();
        card.apply("rastrum_class_colors", r##"{"0": "#ff8000", "2": "#000000"}"##).unwrap();
        assert_eq!(card.class_colors.get(&0), Some(&[255, 128, 0]));
        let err = card.apply("rastrum_class_colors", r#"{"0": "orange"}"#).unwrap_err().to_string();
        assert!(err.contains("rastrum_class_colors") && err.contains("#rrggbb"), "{err}");
    }

    #[test]
    fn bare_words_and_scalars_are_accepted() {
        let mut card = Card::default();
        card.apply("rastrum_stitch", "crop").unwrap();
        card.apply("rastrum_scale", "0.0001").unwrap();
        card.apply("rastrum_output", "1").unwrap();
        assert_eq!(card.stitch, Some(StitchMode::Crop));
        assert_eq!(card.scale, Some(vec![0.0001]));
        assert_eq!(card.output, Some(OutputSelector::Index(1)));
    }

    #[test]
    fn every_known_key_is_documented() {
        let doc = include_str!("../docs/model-card.md");
        for (key, _) in KEYS {
            assert!(doc.contains(&format!("`{key}`")), "docs/model-card.md lacks `{key}`");
        }
    }
}
