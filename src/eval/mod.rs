//! `rastrum eval`: a prediction raster scored against a reference raster, in bounded memory.
//!
//! Three kinds of scores: `classes` (confusion matrix, per-class precision / recall / F1, macro
//! and weighted F1, overall accuracy, Cohen's kappa; optionally a confusion PNG), `values`
//! (MAE, RMSE, bias, totals, and errors of sums over N x N blocks) and `image` (PSNR and SSIM,
//! for super-resolution). The reference is put on the prediction's grid first (`grid`); pixels
//! that are nodata (or NaN) in either raster, or outside the reference, are left out and
//! counted. Both rasters are read in row strips and scored by streaming accumulators
//! (`crate::metrics`), so any raster size fits in memory.

mod grid;
mod score;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use gdal::raster::GdalDataType;
use gdal::Dataset;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::grammar;
use crate::metrics::RegressionScores;
use crate::raster::{input, output};

/// What is compared: class ids, continuous values, or images (super-resolution).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EvalKind {
    Classes,
    Values,
    Image,
}

impl FromStr for EvalKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "classes" => Ok(EvalKind::Classes),
            "values" => Ok(EvalKind::Values),
            "image" => Ok(EvalKind::Image),
            other => Err(Error::invalid(format!("unknown kind '{other}': expected classes, values or image"))),
        }
    }
}

impl fmt::Display for EvalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EvalKind::Classes => "classes",
            EvalKind::Values => "values",
            EvalKind::Image => "image",
        })
    }
}

/// Options of one evaluation; `Default` is what `rastrum eval PRED REF` does without flags.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalOptions {
    /// None: classes when both bands have integer data types, else values.
    pub kind: Option<EvalKind>,
    /// 1-based band of the prediction.
    pub pred_band: usize,
    /// 1-based band of the reference.
    pub ref_band: usize,
    /// Class values left out wherever either raster has them (classes only).
    pub ignore: Vec<i64>,
    /// Also score the sums over `block` x `block` pixel blocks of the prediction grid (values).
    pub block: Option<usize>,
    /// PSNR / SSIM data range (image); None: the reference's valid max - min.
    pub data_range: Option<f64>,
    /// GDAL resampling onto the prediction grid; None: mode for classes, average otherwise.
    pub resampling: Option<String>,
    /// Write the confusion matrix figure here (classes).
    pub confusion_png: Option<PathBuf>,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            kind: None,
            pred_band: 1,
            ref_band: 1,
            ignore: Vec::new(),
            block: None,
            data_range: None,
            resampling: None,
            confusion_png: None,
        }
    }
}

impl EvalOptions {
    /// Every key `set` accepts (`-` and `_` are the same): the long names of `rastrum eval`'s flags.
    pub const KEYS: &'static [&'static str] =
        &["kind", "pred_band", "ref_band", "ignore", "block", "data_range", "resampling", "confusion_png"];

    /// Sets one option from text, as the C API does: `ignore` appends (one value or a
    /// comma-separated list); unknown keys and bad values are errors naming them.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        // One key grammar (`grammar::key`); messages use this module's underscore spelling.
        let k = grammar::key(key).replace('-', "_");
        let v = value.trim();
        let positive = |what: &str| -> Result<usize> {
            v.parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| Error::invalid(format!("option '{k}': expected {what}, found '{value}'")))
        };
        match k.as_str() {
            "kind" => {
                self.kind = match v {
                    "" | "auto" => None,
                    other => Some(other.parse().map_err(|e: Error| {
                        Error::invalid(format!(
                            "option 'kind': {}",
                            e.to_string().trim_start_matches("invalid argument: ")
                        ))
                    })?),
                }
            }
            "pred_band" => self.pred_band = positive("a 1-based band number")?,
            "ref_band" => self.ref_band = positive("a 1-based band number")?,
            "ignore" => {
                for part in v.split(',') {
                    let n = part.trim().parse::<i64>().map_err(|_| {
                        Error::invalid(format!("option 'ignore': expected integer class values, found '{value}'"))
                    })?;
                    self.ignore.push(n);
                }
            }
            "block" => self.block = Some(positive("a block size in pixels (a positive integer)")?),
            "data_range" => {
                self.data_range = Some(v.parse::<f64>().map_err(|_| {
                    Error::invalid(format!("option 'data_range': expected a positive number, found '{value}'"))
                })?)
            }
            "resampling" => self.resampling = if v.is_empty() { None } else { Some(v.to_string()) },
            "confusion_png" => self.confusion_png = if v.is_empty() { None } else { Some(PathBuf::from(value)) },
            _ => {
                return Err(Error::invalid(format!(
                    "unknown eval option '{key}': expected one of {}",
                    Self::KEYS.join(", ")
                )))
            }
        }
        Ok(())
    }

    fn check(&self, kind: EvalKind) -> Result<()> {
        if self.pred_band == 0 || self.ref_band == 0 {
            return Err(Error::invalid("bands are numbered from 1"));
        }
        if let Some(r) = self.data_range {
            if !(r.is_finite() && r > 0.0) {
                return Err(Error::invalid(format!("the data range must be a positive number, found {r}")));
            }
        }
        if self.block == Some(0) {
            return Err(Error::invalid("the block size must be at least 1 pixel"));
        }
        let only = |set: bool, flag: &str, k: EvalKind| -> Result<()> {
            if set && kind != k {
                return Err(Error::invalid(format!(
                    "{flag} applies to kind {k}, but this evaluation is of kind {kind}"
                )));
            }
            Ok(())
        };
        only(!self.ignore.is_empty(), "ignore", EvalKind::Classes)?;
        only(self.confusion_png.is_some(), "confusion_png", EvalKind::Classes)?;
        only(self.block.is_some(), "block", EvalKind::Values)?;
        only(self.data_range.is_some(), "data_range", EvalKind::Image)?;
        Ok(())
    }
}

/// Everything `rastrum eval --json` prints (see docs/eval.md for the schema).
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub prediction: PathBuf,
    pub reference: PathBuf,
    pub pred_band: usize,
    pub ref_band: usize,
    pub kind: EvalKind,
    /// Why this kind: "asked", or the data types that chose it.
    pub kind_from: String,
    /// Size of the prediction grid, on which everything is compared.
    pub width: usize,
    pub height: usize,
    /// How the grids were matched, in words.
    pub grid: String,
    /// How the reference was resampled onto the prediction grid (None: it was not).
    pub resampled: Option<String>,
    pub nodata: NodataValues,
    pub pixels: PixelCounts,
    pub classes: Option<ClassReport>,
    pub values: Option<ValueReport>,
    pub image: Option<ImageReport>,
}

/// GDAL nodata values of the two bands (NaN is always nodata as well).
#[derive(Debug, Clone, Serialize)]
pub struct NodataValues {
    pub prediction: Option<f64>,
    pub reference: Option<f64>,
}

/// What happened to each pixel of the prediction grid: `total = compared + ignored`, and
/// `ignored = nodata_prediction + nodata_reference + ignored_class` (a pixel counts once, in
/// that order).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PixelCounts {
    pub total: u64,
    pub compared: u64,
    pub ignored: u64,
    /// Nodata or NaN in the prediction.
    pub nodata_prediction: u64,
    /// Nodata or NaN in the reference, or outside it.
    pub nodata_reference: u64,
    /// An `ignore` class value in either raster.
    pub ignored_class: u64,
}

/// Scores of a class comparison. `confusion[i][j]` counts the pixels whose reference is
/// `values[i]` and whose prediction is `values[j]`.
#[derive(Debug, Clone, Serialize)]
pub struct ClassReport {
    /// Class values found in either raster, ascending (the matrix order).
    pub values: Vec<i64>,
    /// Class names: GDAL category names of the prediction (else the reference), else the value.
    pub names: Vec<String>,
    pub confusion: Vec<Vec<u64>>,
    pub per_class: Vec<ClassRow>,
    pub overall_accuracy: f64,
    pub macro_f1: f64,
    pub weighted_f1: f64,
    pub kappa: f64,
    /// The figure written, when asked.
    pub confusion_png: Option<PathBuf>,
}

impl ClassReport {
    /// "value name" per class ("value" alone when the class has no name of its own).
    pub fn labels(&self) -> Vec<String> {
        self.values
            .iter()
            .zip(&self.names)
            .map(|(v, n)| if *n == v.to_string() { n.clone() } else { format!("{v} {n}") })
            .collect()
    }
}

/// Scores of one class.
#[derive(Debug, Clone, Serialize)]
pub struct ClassRow {
    pub value: i64,
    pub name: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Reference pixels of this class.
    pub support: u64,
    /// Prediction pixels of this class.
    pub predicted: u64,
}

/// Errors of a value comparison (per pixel), the totals, and per-block sums when asked.
#[derive(Debug, Clone, Serialize)]
pub struct ValueReport {
    #[serde(flatten)]
    pub errors: RegressionScores,
    pub total: Total,
    pub blocks: Option<BlockReport>,
}

/// Sum of the prediction against the sum of the reference, over the compared pixels.
#[derive(Debug, Clone, Serialize)]
pub struct Total {
    pub predicted: f64,
    pub reference: f64,
    /// predicted - reference.
    pub difference: f64,
    /// difference / reference (None when the reference sums to 0).
    pub relative_error: Option<f64>,
}

/// Errors of the sums over `size` x `size` blocks of the prediction grid (blocks with at least
/// one compared pixel, sums over the compared pixels; edge blocks may be smaller).
#[derive(Debug, Clone, Serialize)]
pub struct BlockReport {
    pub size: usize,
    #[serde(flatten)]
    pub errors: RegressionScores,
}

/// Image quality scores (super-resolution).
#[derive(Debug, Clone, Serialize)]
pub struct ImageReport {
    /// Peak signal-to-noise ratio in dB (null in JSON when infinite: identical images).
    pub psnr: f64,
    /// Mean SSIM over the 11 x 11 windows that hold compared pixels only (null: no such window).
    pub ssim: f64,
    pub ssim_windows: u64,
    pub data_range: f64,
    /// "given", or "reference min..max" when taken from the reference's compared pixels.
    pub data_range_from: String,
    pub mse: f64,
    pub mae: f64,
}

/// One band of a raster, read in row strips; knows which values are nodata.
pub(crate) struct Strips<'a> {
    path: &'a Path,
    band: gdal::raster::RasterBand<'a>,
    index: usize,
    nodata: Option<f64>,
    width: usize,
}

impl<'a> Strips<'a> {
    fn new(path: &'a Path, ds: &'a Dataset, index: usize) -> Result<Strips<'a>> {
        let band = ds.rasterband(index).map_err(|e| Error::raster(path, format!("band {index}: {e}")))?;
        let nodata = band.no_data_value();
        Ok(Strips { path, band, index, nodata, width: ds.raster_size().0 })
    }

    /// Rows `y0 .. y0 + rows`, as f64.
    fn read(&self, y0: usize, rows: usize) -> Result<Vec<f64>> {
        let w = self.width;
        let mut out = vec![0f64; w * rows];
        self.band.read_into_slice::<f64>((0, y0 as isize), (w, rows), (w, rows), &mut out, None).map_err(|e| {
            Error::raster(self.path, format!("reading band {} rows {y0}..{}: {e}", self.index, y0 + rows))
        })?;
        Ok(out)
    }

    #[inline]
    fn valid(&self, v: f64) -> bool {
        v.is_finite() && self.nodata != Some(v)
    }
}

fn open_band(path: &Path, ds: &Dataset, band: usize) -> Result<GdalDataType> {
    let count = ds.raster_count();
    if band == 0 || band > count {
        return Err(Error::raster(
            path,
            format!("band {band} is out of range: the raster has {count} band(s), numbered from 1"),
        ));
    }
    let b = ds.rasterband(band).map_err(|e| Error::raster(path, format!("band {band}: {e}")))?;
    let t = b.band_type();
    if t == GdalDataType::Unknown || !(t.is_integer() || t.is_floating()) {
        return Err(Error::raster(path, format!("band {band} has data type {}, which cannot be scored", t.name())));
    }
    Ok(t)
}

/// Scores `prediction` against `reference` (any GDAL rasters) with `opts`; writes the
/// confusion figure when asked. Errors name the file, band or option at fault.
pub fn evaluate(prediction: &Path, reference: &Path, opts: &EvalOptions) -> Result<EvalReport> {
    let pds = input::open(prediction)?;
    let rds = input::open(reference)?;
    let ptype = open_band(prediction, &pds, opts.pred_band)?;
    let rtype = open_band(reference, &rds, opts.ref_band)?;
    let (kind, kind_from) = match opts.kind {
        Some(k) => (k, "asked".to_string()),
        None => {
            let types = format!("{} / {}", ptype.name(), rtype.name());
            if ptype.is_integer() && rtype.is_integer() {
                (EvalKind::Classes, format!("auto: integer data types ({types})"))
            } else {
                (EvalKind::Values, format!("auto: not both integer data types ({types})"))
            }
        }
    };
    opts.check(kind)?;
    if let Some(png) = &opts.confusion_png {
        let mut inputs = vec![("the prediction", prediction.to_path_buf()), ("the reference", reference.to_path_buf())];
        inputs.extend(output::dataset_files("a file of the prediction", &pds));
        inputs.extend(output::dataset_files("a file of the reference", &rds));
        output::check_output(png, &inputs)?;
    }
    let alg =
        opts.resampling.clone().unwrap_or_else(|| if kind == EvalKind::Classes { "mode" } else { "average" }.into());
    let pred_band = grid::Band { path: prediction, ds: &pds, band: opts.pred_band };
    let ref_band = grid::Band { path: reference, ds: &rds, band: opts.ref_band };
    let matched = grid::match_grids(&pred_band, &ref_band, &alg)?;

    let pred = Strips::new(prediction, &pds, opts.pred_band)?;
    let original_ref = Strips::new(reference, &rds, opts.ref_band)?;
    let refs = match &matched.warped {
        Some(w) => Strips::new(reference, &w.warped, 1)?,
        None => Strips::new(reference, &rds, opts.ref_band)?,
    };
    let (width, height) = pds.raster_size();
    let mut report = EvalReport {
        prediction: prediction.to_path_buf(),
        reference: reference.to_path_buf(),
        pred_band: opts.pred_band,
        ref_band: opts.ref_band,
        kind,
        kind_from,
        width,
        height,
        grid: matched.grid.clone(),
        resampled: matched.resampled.clone(),
        nodata: NodataValues { prediction: pred.nodata, reference: original_ref.nodata },
        pixels: PixelCounts { total: (width * height) as u64, ..Default::default() },
        classes: None,
        values: None,
        image: None,
    };
    let grid = score::Dims { width, height };
    match kind {
        EvalKind::Classes => {
            let mut c = score::classes(&pred, &refs, grid, &opts.ignore, &mut report.pixels)?;
            c.names = score::class_names(&c.values, &pred, &original_ref);
            if let Some(png) = &opts.confusion_png {
                let title = format!("{} vs reference", prediction.file_name().unwrap_or_default().to_string_lossy());
                crate::plot::confusion(png, &c.confusion, &c.labels(), &title)?;
                c.confusion_png = Some(png.clone());
            }
            for (row, name) in c.per_class.iter_mut().zip(&c.names) {
                row.name = name.clone();
            }
            report.classes = Some(c);
        }
        EvalKind::Values => report.values = Some(score::values(&pred, &refs, grid, opts.block, &mut report.pixels)?),
        EvalKind::Image => report.image = Some(score::image(&pred, &refs, grid, opts.data_range, &mut report.pixels)?),
    }
    report.pixels.ignored = report.pixels.total - report.pixels.compared;
    Ok(report)
}
