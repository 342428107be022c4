//! One training job end to end, as `rastrum-train train` runs it: open the data, split it,
//! train (per fold for k-fold, then a final model on all examples), evaluate, compare with the
//! random-forest baseline, and write the output folder:
//!
//! - `model.onnx`: the network with its card (docs/model-card.md), provenance included;
//! - `report.json`: metrics per fold (and mean / std over folds), the baseline's, the history;
//! - `log.csv` or `log.jsonl` (and `log-fold<k>.*` per fold): one row per epoch;
//! - `curves.png`, `confusion.png`: training curves; the validation confusion matrix;
//! - `checkpoints/`: safetensors of the last and best epochs and the resume state.

use std::path::{Path, PathBuf};

use rastrum::{Error, Redistribute, Result};
use serde_json::{json, Value};
use tch::Device;

use crate::arch::{self, ResNetDepth};
use crate::baseline::{self, RandomForest};
use crate::card::{card, CardSpec};
use crate::data::folders::ChipFolders;
use crate::data::raster::{ChipFilter, ChipTarget, Labels, RasterChips};
use crate::data::so2sat::{So2Sat, So2SatSource};
use crate::data::split::{splits, Split, Strategy};
use crate::data::sr::SrPairs;
use crate::data::stats::{self, BandStats};
use crate::data::{Dataset, Target};
use crate::fit::{fit, FitConfig, History};
use crate::graph::Net;
use crate::report::{across_folds, evaluate, Report};
use crate::torch::TchNet;
use crate::{export, plot};

/// Where the examples come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Chips on a grid over `image`, with labels from a band or another raster.
    Raster { image: PathBuf, labels: Labels, target: ChipTarget, chip: usize, stride: usize, filter: ChipFilter },
    /// One folder per class of GeoTIFF chips (EuroSAT).
    Folders { root: PathBuf },
    /// So2Sat LCZ42 HDF5.
    So2Sat { file: PathBuf, source: So2SatSource },
    /// Super-resolution pairs area-averaged from one raster by `factor`.
    SrHigh { high: PathBuf, factor: usize, chip: usize, stride: usize },
    /// Super-resolution pairs from a low- and a high-resolution raster.
    SrPaired { low: PathBuf, high: PathBuf, chip: usize, stride: usize },
}

/// The architectures, with their size options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arch {
    Population,
    Unet { depth: usize, width: i64 },
    ResNet18 { width: i64 },
    ResNet50 { width: i64 },
    SqueezeNet,
    SpectrumNet,
    Espcn,
    SrResNet { blocks: usize, width: i64 },
}

impl Arch {
    pub const NAMES: &'static [&'static str] =
        &["population", "unet", "resnet18", "resnet50", "squeezenet", "spectrumnet", "espcn", "srresnet"];

    /// The architecture `name` with default sizes, `width` / `depth` / `blocks` when given.
    pub fn parse(name: &str, width: Option<i64>, depth: Option<usize>) -> Result<Arch> {
        Ok(match name {
            "population" => Arch::Population,
            "unet" => Arch::Unet { depth: depth.unwrap_or(4), width: width.unwrap_or(32) },
            "resnet18" => Arch::ResNet18 { width: width.unwrap_or(64) },
            "resnet50" => Arch::ResNet50 { width: width.unwrap_or(64) },
            "squeezenet" => Arch::SqueezeNet,
            "spectrumnet" => Arch::SpectrumNet,
            "espcn" => Arch::Espcn,
            "srresnet" => Arch::SrResNet { blocks: depth.unwrap_or(16), width: width.unwrap_or(64) },
            other => {
                return Err(Error::invalid(format!(
                    "unknown architecture {other:?}: expected one of {}",
                    Arch::NAMES.join(", ")
                )))
            }
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Arch::Population => "population",
            Arch::Unet { .. } => "unet",
            Arch::ResNet18 { .. } => "resnet18",
            Arch::ResNet50 { .. } => "resnet50",
            Arch::SqueezeNet => "squeezenet",
            Arch::SpectrumNet => "spectrumnet",
            Arch::Espcn => "espcn",
            Arch::SrResNet { .. } => "srresnet",
        }
    }

    /// The network for inputs of `shape` and `target`, or an error when they do not fit.
    pub fn build(&self, shape: [usize; 3], target: Target) -> Result<Net> {
        let [c, h, w] = shape.map(|v| v as i64);
        let gives = match target {
            Target::Class { classes } => format!("one of {classes} classes per chip"),
            Target::PixelClass { classes } => format!("one of {classes} classes per pixel"),
            Target::Value { len } => format!("{len} value(s) per chip"),
            Target::Image { scale, .. } => format!("super-resolution pairs (x{scale})"),
        };
        let mismatch = |wants: &str| {
            Error::invalid(format!("architecture {} needs {wants}, but the data gives {gives}", self.name()))
        };
        Ok(match (*self, target) {
            (Arch::Population, Target::Value { len: 1 }) => {
                if h != w || h % 8 != 0 {
                    return Err(Error::invalid(format!(
                        "the population CNN needs square chips, a multiple of 8: {h}x{w}"
                    )));
                }
                arch::population_cnn(c, h)
            }
            (Arch::Population, _) => return Err(mismatch("one value per chip (--target sum)")),
            (Arch::Unet { depth, width }, Target::PixelClass { classes }) => {
                let m = 1 << (depth - 1);
                if h % m != 0 || w % m != 0 {
                    return Err(Error::invalid(format!("a U-Net of depth {depth} needs chip sides divisible by {m}")));
                }
                arch::unet(c, classes as i64, depth, width)
            }
            (Arch::Unet { .. }, _) => return Err(mismatch("per-pixel classes (--target pixel)")),
            (Arch::ResNet18 { width }, Target::Class { classes }) => {
                arch::resnet(c, classes as i64, ResNetDepth::R18, h, width)
            }
            (Arch::ResNet50 { width }, Target::Class { classes }) => {
                arch::resnet(c, classes as i64, ResNetDepth::R50, h, width)
            }
            (Arch::SqueezeNet, Target::Class { classes }) => arch::squeezenet(c, classes as i64, false),
            (Arch::SpectrumNet, Target::Class { classes }) => arch::squeezenet(c, classes as i64, true),
            (Arch::ResNet18 { .. } | Arch::ResNet50 { .. } | Arch::SqueezeNet | Arch::SpectrumNet, _) => {
                return Err(mismatch("one class per chip"))
            }
            (Arch::Espcn, Target::Image { channels, scale }) if channels as i64 == c => arch::espcn(c, scale as i64),
            (Arch::SrResNet { blocks, width }, Target::Image { channels, scale }) if channels as i64 == c => {
                arch::srresnet(c, scale as i64, blocks, width)
            }
            (Arch::Espcn | Arch::SrResNet { .. }, _) => return Err(mismatch("super-resolution pairs")),
        })
    }
}

/// A training job.
#[derive(Debug, Clone)]
pub struct Job {
    pub source: Source,
    /// 1-based bands (empty: all).
    pub bands: Vec<usize>,
    pub scale: Vec<f64>,
    pub offset: Vec<f64>,
    /// Declared classes and their names (empty: counted / from the source).
    pub classes: Option<usize>,
    pub class_names: Vec<String>,
    pub arch: Arch,
    pub fit: FitConfig,
    pub split: Strategy,
    pub split_seed: u64,
    /// "auto": inverse class frequency of the training split.
    pub class_weights: Option<ClassWeights>,
    /// Multiply float targets by this while training (None: 1 / std of the training targets).
    pub target_scale: Option<f64>,
    pub tile_size: Option<usize>,
    pub margin: Option<usize>,
    pub redistribute: Option<(Redistribute, Option<usize>)>,
    /// Trees of the random-forest baseline (per-chip classes only).
    pub baseline_trees: Option<u16>,
    pub device: Device,
    pub out: PathBuf,
    /// Examples used for band statistics and class counts, at most.
    pub stats_examples: usize,
    /// Per-epoch logs as JSON lines (`log.jsonl`) instead of CSV (`log.csv`).
    pub json_log: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ClassWeights {
    Auto,
    Given(Vec<f64>),
}

/// What a job produced.
pub struct Outcome {
    pub model: PathBuf,
    pub folds: Vec<Report>,
    pub summary: Vec<(&'static str, f64, f64)>,
    pub baseline: Vec<Report>,
    pub history: History,
    pub report: Value,
}

/// Opens the job's data source.
pub fn open(job: &Job) -> Result<Box<dyn Dataset>> {
    let (b, s, o) = (&job.bands[..], &job.scale[..], &job.offset[..]);
    Ok(match &job.source {
        Source::Raster { image, labels, target, chip, stride, filter } => {
            let target = match *target {
                ChipTarget::PixelClass(None) => ChipTarget::PixelClass(job.classes),
                ChipTarget::Majority(None) => ChipTarget::Majority(job.classes),
                t => t,
            };
            // Default: every band but the label band.
            let mut bands = all_bands(image, b)?;
            if let (Labels::Band(l), true) = (labels, b.is_empty()) {
                bands.retain(|x| x != l);
            }
            Box::new(RasterChips::grid(image, &bands, s, o, labels.clone(), target, *chip, *stride, *filter)?)
        }
        Source::Folders { root } => Box::new(ChipFolders::open(root, b, s, o)?),
        Source::So2Sat { file, source } => Box::new(So2Sat::open(file, *source, b, s, o, job.classes)?),
        Source::SrHigh { high, factor, chip, stride } => {
            Box::new(SrPairs::from_high(high, &all_bands(high, b)?, s, o, *factor, *chip, *stride, 1.0)?)
        }
        Source::SrPaired { low, high, chip, stride } => {
            Box::new(SrPairs::paired(low, high, &all_bands(high, b)?, s, o, *chip, *stride, 1.0)?)
        }
    })
}

/// `bands`, or every band of `raster` when none were chosen.
fn all_bands(raster: &Path, bands: &[usize]) -> Result<Vec<usize>> {
    if !bands.is_empty() {
        return Ok(bands.to_vec());
    }
    let ds = rastrum::raster::input::open(raster)?;
    Ok((1..=ds.raster_count()).collect())
}

/// The class names: given ones first, then the source's, then "class k".
fn class_names(job: &Job, data: &dyn Dataset) -> Vec<String> {
    let Some(classes) = data.target().classes() else { return vec![] };
    let from_source = data.class_names();
    (0..classes)
        .map(|i| {
            job.class_names
                .get(i)
                .or(from_source.get(i))
                .filter(|n| !n.is_empty())
                .cloned()
                .unwrap_or_else(|| format!("class {i}"))
        })
        .collect()
}

/// Float targets of the training split scaled to about unit standard deviation (by a round
/// power of ten, so the card's output scaling reads well); class targets are not scaled.
fn auto_target_scale(data: &dyn Dataset, train: &[usize], max_examples: usize) -> Result<f64> {
    if data.target().classes().is_some() {
        return Ok(1.0);
    }
    let step = train.len().div_ceil(max_examples.max(1)).max(1);
    let (mut n, mut s, mut ss) = (0f64, 0f64, 0f64);
    for &i in train.iter().step_by(step) {
        for &v in data.example(i)?.y.iter().filter(|v| v.is_finite()) {
            let v = v as f64;
            (n, s, ss) = (n + 1.0, s + v, ss + v * v);
        }
    }
    let std = if n > 1.0 { (ss / n - (s / n).powi(2)).max(0.0).sqrt() } else { 0.0 };
    // Near unit scale, where freshly initialised layers put their outputs.
    Ok(if std > 0.0 && std.is_finite() { 10f64.powf(-std.log10().round()) } else { 1.0 })
}

/// A split's trained network, band statistics, target scale and history.
struct Trained {
    net: TchNet,
    stats: BandStats,
    target_scale: f64,
    history: History,
}

fn train_split(job: &Job, data: &dyn Dataset, split: &Split, fit_cfg: &FitConfig) -> Result<Trained> {
    let stats = BandStats::compute(data, &split.train, job.stats_examples)?;
    let target_scale = match job.target_scale {
        Some(s) => s,
        None => auto_target_scale(data, &split.train, job.stats_examples)?,
    };
    let mut cfg = fit_cfg.clone();
    cfg.target_scale = target_scale;
    cfg.class_weights = match &job.class_weights {
        None => None,
        Some(ClassWeights::Given(w)) => {
            let classes = data.target().classes().unwrap_or(0);
            if w.len() != classes {
                return Err(Error::invalid(format!("{} class weights given for {classes} classes", w.len())));
            }
            Some(w.clone())
        }
        Some(ClassWeights::Auto) => {
            Some(stats::class_weights(&stats::class_counts(data, &split.train, job.stats_examples)?))
        }
    };
    tch::manual_seed(fit_cfg.seed);
    let net = TchNet::new(job.arch.build(data.input_shape(), data.target())?, job.device);
    let history = fit(&net, data, &split.train, &split.val, &stats, &cfg)?;
    Ok(Trained { net, stats, target_scale, history })
}

/// The random-forest baseline on per-band chip features (per-chip classes only).
fn baseline_report(data: &dyn Dataset, split: &Split, trees: u16, seed: u64) -> Result<Option<Report>> {
    let Target::Class { classes } = data.target() else { return Ok(None) };
    let feats = |idx: &[usize]| -> Result<(Vec<Vec<f32>>, Vec<usize>)> {
        let mut f = Vec::with_capacity(idx.len());
        let mut y = Vec::with_capacity(idx.len());
        for &i in idx {
            let ex = data.example(i)?;
            f.push(baseline::features(&ex.x, data.input_shape()));
            y.push(ex.y[0] as usize);
        }
        Ok((f, y))
    };
    let (fx, fy) = feats(&split.train)?;
    let (vx, vy) = feats(&split.val)?;
    let forest = RandomForest::fit(&fx, &fy, trees, seed)?;
    let mut confusion = rastrum::metrics::Confusion::new(classes);
    for (t, p) in vy.iter().zip(forest.predict(&vx)?) {
        confusion.add(*t, p.min(classes - 1));
    }
    let class_names =
        (0..classes).map(|i| data.class_names().get(i).cloned().unwrap_or(format!("class {i}"))).collect();
    Ok(Some(Report::Classes { class_names, scores: confusion.scores(), confusion }))
}

/// The files a job reads, named for messages: its rasters with their own files (a VRT's
/// sources through GDAL's file list), or its HDF5 file. Chip folders are left out: the job
/// writes fixed names in its folder, never into class folders.
fn input_files(job: &Job) -> Vec<(&'static str, PathBuf)> {
    let files: Vec<(&'static str, &PathBuf)> = match &job.source {
        Source::Raster { image, labels, .. } => match labels {
            Labels::Raster(label, _) => vec![("the image raster", image), ("the label raster", label)],
            Labels::Band(_) => vec![("the image raster", image)],
        },
        Source::Folders { .. } => Vec::new(),
        Source::So2Sat { file, .. } => vec![("the So2Sat file", file)],
        Source::SrHigh { high, .. } => vec![("the high-resolution raster", high)],
        Source::SrPaired { low, high, .. } => {
            vec![("the low-resolution raster", low), ("the high-resolution raster", high)]
        }
    };
    let mut inputs = Vec::new();
    for (what, path) in files {
        inputs.push((what, path.clone()));
        if let Ok(ds) = gdal::Dataset::open(path) {
            inputs.extend(rastrum::raster::output::dataset_files(what, &ds));
        }
    }
    inputs
}

/// Rastrum's output policy before any training: no file the job will write in its folder (the
/// fold-tagged ones included) may be one of its inputs (compared by device and inode) or a
/// device, FIFO or socket. Hours of training must not end by replacing the training data.
fn check_outputs(job: &Job) -> Result<()> {
    let folds = match &job.split {
        Strategy::KFold { k } | Strategy::BlockFolds { k, .. } => *k,
        _ => 1,
    };
    let mut names = vec!["model.onnx".to_string(), "report.json".to_string(), "confusion.png".to_string()];
    for tag in std::iter::once(String::new()).chain((1..=folds).map(|f| format!("-fold{f}"))) {
        names.push(format!("log{tag}.{}", log_ext(job)));
        names.push(format!("curves{tag}.png"));
    }
    let inputs = input_files(job);
    for name in names {
        let output = job.out.join(name);
        rastrum::atomic::refuse_special(&output)?;
        rastrum::raster::output::refuse_inputs(&output, &inputs)?;
    }
    Ok(())
}

/// Runs the job; writes the output folder (see the module docs).
pub fn run(job: &Job) -> Result<Outcome> {
    check_outputs(job)?;
    std::fs::create_dir_all(&job.out).map_err(|e| Error::io(&job.out, format!("creating the output folder: {e}")))?;
    let data = open(job)?;
    let data = data.as_ref();
    let names = class_names(job, data);
    let folds = splits(data, job.split, job.split_seed)?;
    let k = folds.len();

    let (mut reports, mut baselines, mut histories) = (Vec::new(), Vec::new(), Vec::new());
    let mut last: Option<Trained> = None;
    for (f, split) in folds.iter().enumerate() {
        if split.train.is_empty() || split.val.is_empty() {
            return Err(Error::invalid(format!(
                "split {} has {} training and {} validation examples: both sides need some",
                f + 1,
                split.train.len(),
                split.val.len()
            )));
        }
        let tag = if k > 1 { format!("-fold{}", f + 1) } else { String::new() };
        let mut cfg = job.fit.clone();
        cfg.checkpoints = Some(job.out.join(format!("checkpoints{tag}")));
        cfg.log = Some(job.out.join(format!("log{tag}.{}", log_ext(job))));
        if k > 1 {
            eprintln!("fold {}/{k}: {} training, {} validation examples", f + 1, split.train.len(), split.val.len());
        }
        let trained = train_split(job, data, split, &cfg)?;
        let report =
            evaluate(&trained.net, data, &split.val, &trained.stats, trained.target_scale, job.fit.batch_size)?;
        eprintln!("validation{tag}: {}", report.summary());
        if let Some(trees) = job.baseline_trees {
            if let Some(b) = baseline_report(data, split, trees, job.split_seed)? {
                eprintln!("random forest{tag}: {}", b.summary());
                baselines.push(b);
            }
        }
        plot_curves(&job.out.join(format!("curves{tag}.png")), &trained.history)?;
        reports.push(report);
        histories.push(trained.history.clone());
        last = Some(trained);
    }

    // k-fold: the final model learns from every example, for the folds' mean best epoch.
    let final_model = if k > 1 {
        let epochs = (histories.iter().map(|h| h.best_epoch.max(1)).sum::<usize>() as f64 / k as f64).round() as usize;
        eprintln!("final model: all {} examples, {epochs} epochs", data.len());
        let all = Split { train: (0..data.len()).collect(), val: vec![] };
        let mut cfg = job.fit.clone();
        cfg.epochs = epochs.max(1);
        cfg.checkpoints = Some(job.out.join("checkpoints"));
        cfg.log = Some(job.out.join(format!("log.{}", log_ext(job))));
        let trained = train_split(job, data, &all, &cfg)?;
        plot_curves(&job.out.join("curves.png"), &trained.history)?;
        trained
    } else {
        last.ok_or_else(|| Error::Internal("no split was trained".into()))?
    };

    let summary = across_folds(&reports);
    if k > 1 {
        let line: Vec<String> = summary.iter().map(|(n, m, s)| format!("{n} {m:.4} ({s:.4})")).collect();
        eprintln!("{k}-fold mean (std): {}", line.join(", "));
    }
    if let Some(Report::Classes { confusion, .. }) = reports.first() {
        // Over all folds: every example validated once.
        let mut total = confusion.counts.clone();
        for r in &reports[1..] {
            if let Report::Classes { confusion, .. } = r {
                for (row, other) in total.iter_mut().zip(&confusion.counts) {
                    for (a, b) in row.iter_mut().zip(other) {
                        *a += b;
                    }
                }
            }
        }
        plot::confusion(&job.out.join("confusion.png"), &total, &names, "validation confusion matrix")?;
    }

    let per_fold: Vec<Value> = reports.iter().map(Report::to_json).collect();
    let summary_json: Value = summary
        .iter()
        .map(|(n, m, s)| (n.to_string(), json!({ "mean": m, "std": s })))
        .collect::<serde_json::Map<_, _>>()
        .into();
    let provenance = json!({
        "trainer": format!("rastrum-train {}", env!("CARGO_PKG_VERSION")),
        "architecture": final_model.net.net.name,
        "data": data.describe(),
        "band_names": data.input_spec().band_names,
        "band_statistics_examples": final_model.stats.examples,
        "split": format!("{:?}", job.split),
        "folds": k,
        "hyperparameters": {
            "epochs": job.fit.epochs, "batch_size": job.fit.batch_size, "learning_rate": job.fit.learning_rate,
            "weight_decay": job.fit.weight_decay, "seed": job.fit.seed,
            "augment": { "flips": job.fit.augment.flips, "rot90": job.fit.augment.rot90 },
            "class_weights": job.class_weights.is_some(), "early_stopping": job.fit.early_stopping,
        },
        "epochs_run": final_model.history.epochs.len(),
        "best_epoch": final_model.history.best_epoch,
        "validation": if k > 1 { summary_json.clone() } else { headline_json(&reports[0]) },
    });
    let tile_size = job.tile_size.unwrap_or(data.input_shape()[1]);
    let entries = card(&CardSpec {
        input: &data.input_spec(),
        stats: &final_model.stats,
        target: data.target(),
        tile_size,
        class_names: &names,
        target_scale: final_model.target_scale,
        redistribute: job.redistribute,
        margin: job.margin,
        provenance,
    });
    let model = job.out.join("model.onnx");
    export::export(&final_model.net.net, &final_model.net.values(), &entries, &model)?;

    let report = json!({
        "folds": per_fold,
        "mean_std": summary_json,
        "random_forest": baselines.iter().map(Report::to_json).collect::<Vec<_>>(),
        "history": final_model.history,
        "model": model.display().to_string(),
    });
    crate::atomic::write_text(
        &job.out.join("report.json"),
        &serde_json::to_string_pretty(&report).unwrap_or_default(),
    )?;
    Ok(Outcome { model, folds: reports, summary, baseline: baselines, history: final_model.history, report })
}

fn log_ext(job: &Job) -> &'static str {
    if job.json_log {
        "jsonl"
    } else {
        "csv"
    }
}

fn headline_json(r: &Report) -> Value {
    r.headline().into_iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>().into()
}

/// Loss curves (and the validation metric when there is one) as a PNG.
fn plot_curves(path: &Path, h: &History) -> Result<()> {
    let train: Vec<f64> = h.epochs.iter().map(|e| e.train_loss).collect();
    let val: Vec<f64> = h.epochs.iter().map(|e| e.val_loss.unwrap_or(f64::NAN)).collect();
    let metric: Vec<f64> = h.epochs.iter().map(|e| e.val_metric.unwrap_or(f64::NAN)).collect();
    let losses = [("train", &train[..]), ("validation", &val[..])];
    let metrics = [(h.metric.as_str(), &metric[..])];
    let mut panels = vec![plot::Panel { title: "loss", y_label: "loss", series: &losses }];
    if metric.iter().any(|v| v.is_finite()) {
        panels.push(plot::Panel { title: "validation", y_label: &h.metric, series: &metrics });
    }
    plot::curves(path, "training", "epoch", &panels)
}
