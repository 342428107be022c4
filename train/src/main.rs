//! `rastrum-train`: trains one of Rastrum's architectures on GeoTIFFs (or So2Sat HDF5) and
//! writes an ONNX model carrying its card, ready for `rastrum run`, QGIS, C or Python hosts.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use rastrum::Redistribute;
use rastrum_train::batch::Augment;
use rastrum_train::data::parse_bands;
use rastrum_train::data::raster::{ChipFilter, ChipTarget, Labels};
use rastrum_train::data::so2sat::So2SatSource;
use rastrum_train::data::split::Strategy;
use rastrum_train::detector_job::{self, DetectorJob};
use rastrum_train::fit::FitConfig;
use rastrum_train::job::{self, Arch, ClassWeights, Job, Source};

#[derive(Parser)]
#[command(name = "rastrum-train", version, about = "Train Rastrum's architectures and export ONNX with the model card")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model and write OUT/model.onnx, report.json, logs, plots and checkpoints.
    Train(Box<TrainArgs>),
    /// Train the YOLO-style detector on generated tiles with planted objects, run it with
    /// `rastrum run` over a larger held-out scene, and report recall and precision: writes
    /// OUT/model.onnx, scene.tif, detections.gpkg and report.json.
    Detector(DetectorArgs),
    /// List the architectures and the targets they learn.
    Archs,
}

#[derive(Args)]
struct DetectorArgs {
    /// Output folder.
    #[arg(long, short)]
    out: PathBuf,
    /// Training tiles (each with one to four objects and as many distractors).
    #[arg(long, default_value_t = 800)]
    tiles: usize,
    /// Tile side in pixels (the model's fixed input).
    #[arg(long, default_value_t = 64)]
    tile_size: usize,
    /// Channels at the first level of the encoder.
    #[arg(long, default_value_t = 16)]
    width: i64,
    /// Encoder levels: the head's cells are 2^(levels - 1) pixels.
    #[arg(long, default_value_t = 3)]
    levels: usize,
    /// Smallest and largest side of a planted object, pixels.
    #[arg(long, default_value_t = 6)]
    min_side: usize,
    #[arg(long, default_value_t = 14)]
    max_side: usize,
    /// Side of the held-out scene, pixels.
    #[arg(long, default_value_t = 320)]
    scene_size: usize,
    #[arg(long, default_value_t = 20)]
    epochs: usize,
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    #[arg(long, default_value_t = 2e-3)]
    lr: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    device: DeviceArg,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum TargetArg {
    /// Sum of the label over each chip (population per tile).
    Sum,
    /// The label of every pixel (segmentation).
    Pixel,
    /// The majority label of each chip (chip classification).
    Majority,
}

#[derive(Clone, Copy, ValueEnum)]
enum SplitArg {
    Random,
    Kfold,
    Blocks,
    BlockFolds,
}

#[derive(Clone, Copy, ValueEnum)]
enum DeviceArg {
    /// CUDA when libtorch sees a GPU, else CPU.
    Auto,
    Cpu,
    Cuda,
}

#[derive(Clone, Copy, PartialEq, ValueEnum)]
enum LogFormat {
    Csv,
    Jsonl,
}

#[derive(Clone, Copy, ValueEnum)]
enum RedistributeArg {
    None,
    Uniform,
    Weight,
}

#[derive(Args)]
struct TrainArgs {
    /// Output folder.
    #[arg(long, short)]
    out: PathBuf,
    /// Architecture: population, unet, resnet18, resnet50, squeezenet, spectrumnet, espcn, srresnet.
    #[arg(long)]
    arch: String,
    /// Channels at the first level (U-Net, ResNet, SRResNet).
    #[arg(long)]
    width: Option<i64>,
    /// U-Net levels, or SRResNet residual blocks.
    #[arg(long)]
    depth: Option<usize>,

    #[command(flatten)]
    data: DataArgs,

    /// Input bands (1-based), e.g. "1-4,8"; default: all (but --label-band).
    #[arg(long)]
    bands: Option<String>,
    /// Input scale: x = raw * scale + offset (one value or one per band, comma-separated).
    #[arg(long, value_delimiter = ',')]
    scale: Vec<f64>,
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    offset: Vec<f64>,
    /// Number of classes (default: counted from the labels, or the source's).
    #[arg(long)]
    classes: Option<usize>,
    /// Class names, comma-separated, in class id order.
    #[arg(long, value_delimiter = ',')]
    class_names: Vec<String>,

    #[arg(long, default_value_t = 20)]
    epochs: usize,
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    #[arg(long, default_value_t = 0.0)]
    weight_decay: f64,
    /// ReduceLROnPlateau factor, patience (epochs) and minimum rate.
    #[arg(long, default_value_t = 0.5)]
    lr_factor: f64,
    #[arg(long, default_value_t = 3)]
    lr_patience: usize,
    #[arg(long, default_value_t = 1e-6)]
    min_lr: f64,
    /// Stop after this many epochs without a better validation loss.
    #[arg(long)]
    early_stopping: Option<usize>,
    /// Random flips (horizontal, and vertical through rot90).
    #[arg(long)]
    flips: bool,
    /// Random quarter turns.
    #[arg(long)]
    rot90: bool,
    /// "auto" (inverse class frequency of the training split) or one weight per class.
    #[arg(long)]
    class_weights: Option<String>,
    #[arg(long, default_value_t = 0)]
    seed: i64,

    #[arg(long, value_enum, default_value_t = SplitArg::Random)]
    split: SplitArg,
    /// Validation fraction (random and blocks splits).
    #[arg(long, default_value_t = 0.2)]
    val_fraction: f64,
    /// Folds (kfold and block-folds splits).
    #[arg(long, default_value_t = 5)]
    folds: usize,
    /// Spatial block side in pixels (blocks and block-folds splits).
    #[arg(long, default_value_t = 256)]
    block: usize,

    /// Multiply float targets by this while training (default: automatic, undone by the card).
    #[arg(long)]
    target_scale: Option<f64>,
    /// Inference tile size written into the card (default: the chip size).
    #[arg(long)]
    tile_size: Option<usize>,
    /// Context margin written into the card (pixels dropped at tile sides facing a neighbour).
    #[arg(long)]
    margin: Option<usize>,
    /// Per-tile regression: spread the tile value over its pixels at run time.
    #[arg(long, value_enum)]
    redistribute: Option<RedistributeArg>,
    /// 1-based raster band weighting the redistribution (w = exp(L / max L) - 1).
    #[arg(long)]
    weight_band: Option<usize>,
    /// Also train a random forest of this many trees on per-band chip statistics (chip classes).
    #[arg(long)]
    baseline_trees: Option<u16>,
    /// Continue an interrupted run from OUT/checkpoints.
    #[arg(long)]
    resume: bool,
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    device: DeviceArg,
    /// CPU threads for libtorch (default: libtorch's choice).
    #[arg(long)]
    threads: Option<i32>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Per-epoch log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Csv)]
    log_format: LogFormat,
}

#[derive(Args)]
#[group(required = true, multiple = false)]
struct SourceArgs {
    /// Image raster whose chips are the inputs (labels: --labels or --label-band).
    #[arg(long)]
    raster: Option<PathBuf>,
    /// Folder of class folders of GeoTIFF chips (EuroSAT layout).
    #[arg(long)]
    chip_folders: Option<PathBuf>,
    /// So2Sat LCZ42 HDF5 file.
    #[arg(long)]
    so2sat: Option<PathBuf>,
    /// High-resolution raster for super-resolution pairs (low resolution: --sr-low, or the
    /// area average by --factor).
    #[arg(long)]
    sr_high: Option<PathBuf>,
}

#[derive(Args)]
struct DataArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Label raster (same size as --raster).
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Band of the label raster, or of --raster itself when --labels is not given.
    #[arg(long)]
    label_band: Option<usize>,
    #[arg(long, value_enum)]
    target: Option<TargetArg>,
    /// Chip side in (input) pixels.
    #[arg(long, default_value_t = 32)]
    chip: usize,
    /// Grid stride in pixels (default: the chip size).
    #[arg(long)]
    stride: Option<usize>,
    /// Keep only chips whose label sum exceeds this.
    #[arg(long, allow_hyphen_values = true)]
    min_label_sum: Option<f64>,
    /// Keep only chips with at least this fraction of labelled pixels.
    #[arg(long, default_value_t = 0.5)]
    min_labelled: f64,
    /// So2Sat stack: sen2, sen1 or both.
    #[arg(long, default_value = "sen2")]
    so2sat_source: String,
    /// Low-resolution raster paired with --sr-high.
    #[arg(long)]
    sr_low: Option<PathBuf>,
    /// Super-resolution factor when the low resolution is made by area averaging.
    #[arg(long, default_value_t = 3)]
    factor: usize,
}

fn source(d: &DataArgs) -> rastrum::Result<Source> {
    let stride = d.stride.unwrap_or(d.chip);
    let s = &d.source;
    if let Some(image) = &s.raster {
        let labels = match (&d.labels, d.label_band) {
            (Some(p), b) => Labels::Raster(p.clone(), b.unwrap_or(1)),
            (None, Some(b)) => Labels::Band(b),
            (None, None) => return Err(rastrum::Error::invalid("--raster needs --labels FILE or --label-band N")),
        };
        let target = match d.target {
            Some(TargetArg::Sum) => ChipTarget::Sum,
            Some(TargetArg::Pixel) => ChipTarget::PixelClass(None),
            Some(TargetArg::Majority) => ChipTarget::Majority(None),
            None => return Err(rastrum::Error::invalid("--raster needs --target sum, pixel or majority")),
        };
        let filter = ChipFilter { min_label_sum: d.min_label_sum, min_labelled: d.min_labelled };
        return Ok(Source::Raster { image: image.clone(), labels, target, chip: d.chip, stride, filter });
    }
    if let Some(root) = &s.chip_folders {
        return Ok(Source::Folders { root: root.clone() });
    }
    if let Some(file) = &s.so2sat {
        return Ok(Source::So2Sat { file: file.clone(), source: So2SatSource::parse(&d.so2sat_source)? });
    }
    let high = s.sr_high.clone().ok_or_else(|| rastrum::Error::invalid("no data source given"))?;
    Ok(match &d.sr_low {
        Some(low) => Source::SrPaired { low: low.clone(), high, chip: d.chip, stride },
        None => Source::SrHigh { high, factor: d.factor, chip: d.chip, stride },
    })
}

fn device(arg: DeviceArg) -> rastrum::Result<tch::Device> {
    Ok(match arg {
        DeviceArg::Auto => tch::Device::cuda_if_available(),
        DeviceArg::Cpu => tch::Device::Cpu,
        DeviceArg::Cuda if tch::Cuda::is_available() => tch::Device::Cuda(0),
        DeviceArg::Cuda => return Err(rastrum::Error::invalid("--device cuda: libtorch sees no CUDA device")),
    })
}

fn detector_job(a: &DetectorArgs) -> rastrum::Result<DetectorJob> {
    Ok(DetectorJob {
        out: a.out.clone(),
        tiles: a.tiles,
        tile_size: a.tile_size,
        width: a.width,
        levels: a.levels,
        sides: (a.min_side, a.max_side),
        scene_size: a.scene_size,
        seed: a.seed,
        fit: FitConfig {
            epochs: a.epochs,
            batch_size: a.batch_size,
            learning_rate: a.lr,
            seed: a.seed as i64,
            progress: !a.quiet,
            ..Default::default()
        },
        device: device(a.device)?,
        threads: None,
    })
}

fn job(a: &TrainArgs) -> rastrum::Result<Job> {
    let split = match a.split {
        SplitArg::Random => Strategy::Random { val_fraction: a.val_fraction },
        SplitArg::Kfold => Strategy::KFold { k: a.folds },
        SplitArg::Blocks => Strategy::Blocks { block: a.block, val_fraction: a.val_fraction },
        SplitArg::BlockFolds => Strategy::BlockFolds { block: a.block, k: a.folds },
    };
    let class_weights = match a.class_weights.as_deref() {
        None => None,
        Some("auto") => Some(ClassWeights::Auto),
        Some(list) => Some(ClassWeights::Given(
            list.split(',')
                .map(|v| v.trim().parse::<f64>())
                .collect::<Result<_, _>>()
                .map_err(|_| rastrum::Error::invalid(format!("--class-weights {list:?}: \"auto\" or numbers")))?,
        )),
    };
    let device = device(a.device)?;
    let redistribute = a.redistribute.map(|r| {
        let mode = match r {
            RedistributeArg::None => Redistribute::None,
            RedistributeArg::Uniform => Redistribute::Uniform,
            RedistributeArg::Weight => Redistribute::Weight,
        };
        (mode, a.weight_band)
    });
    if matches!(a.redistribute, Some(RedistributeArg::Weight)) && a.weight_band.is_none() {
        return Err(rastrum::Error::invalid("--redistribute weight needs --weight-band"));
    }
    Ok(Job {
        source: source(&a.data)?,
        bands: a.bands.as_deref().map(parse_bands).transpose()?.unwrap_or_default(),
        scale: a.scale.clone(),
        offset: a.offset.clone(),
        classes: a.classes,
        class_names: a.class_names.clone(),
        arch: Arch::parse(&a.arch, a.width, a.depth)?,
        fit: FitConfig {
            epochs: a.epochs,
            batch_size: a.batch_size,
            learning_rate: a.lr,
            weight_decay: a.weight_decay,
            factor: a.lr_factor,
            patience: a.lr_patience,
            min_lr: a.min_lr,
            seed: a.seed,
            augment: Augment { flips: a.flips, rot90: a.rot90 },
            class_weights: None,
            early_stopping: a.early_stopping,
            checkpoints: None,
            resume: a.resume,
            progress: !a.quiet,
            log: None,
            target_scale: 1.0,
        },
        split,
        split_seed: a.seed as u64,
        class_weights,
        target_scale: a.target_scale,
        tile_size: a.tile_size,
        margin: a.margin,
        redistribute,
        baseline_trees: a.baseline_trees,
        device,
        out: a.out.clone(),
        stats_examples: 10_000,
        json_log: a.log_format == LogFormat::Jsonl,
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Ctrl-C, `kill` or a closed terminal: the temporary files being written (model,
    // checkpoints, plots) are removed and the program exits with status 128 + the signal.
    if let Err(e) = rastrum::atomic::remove_temporaries_on_signals("rastrum-train") {
        eprintln!("rastrum-train: warning: {e}: an interrupted run may leave temporary files");
    }
    match cli.command {
        Command::Archs => {
            for (name, what) in [
                ("population", "one value per chip (--target sum): the night-lights population CNN"),
                ("unet", "per-pixel classes (--target pixel); --depth levels, --width channels"),
                ("resnet18", "one class per chip; --width channels of the first stage"),
                ("resnet50", "one class per chip (bottleneck blocks); --width"),
                ("squeezenet", "one class per chip (fire modules)"),
                ("spectrumnet", "one class per chip (fire modules, spectral 1x1 first)"),
                ("espcn", "super-resolution (sub-pixel convolution)"),
                ("srresnet", "super-resolution (residual blocks); --depth blocks, --width"),
                ("yolo", "objects (boxes and classes): `rastrum-train detector`, on planted scenes"),
            ] {
                println!("{name:12} {what}");
            }
            ExitCode::SUCCESS
        }
        Command::Detector(args) => match detector_job(&args).and_then(|j| detector_job::run(&j)) {
            Ok(o) => {
                let s = o.score;
                println!(
                    "{}: {} of {} planted objects found, {} boxes: recall {:.3}, precision {:.3} (IoU >= 0.5)",
                    o.model.display(),
                    s.right,
                    s.planted,
                    s.found,
                    s.recall,
                    s.precision
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("rastrum-train: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Train(args) => {
            if let Some(t) = args.threads {
                tch::set_num_threads(t);
            }
            match job(&args).and_then(|j| job::run(&j)) {
                Ok(outcome) => {
                    println!("{}", outcome.model.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("rastrum-train: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
