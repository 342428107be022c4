//! `rastrum`: the command line over the engine, for GDAL-style scripts. Errors go to stderr with
//! a non-zero exit; `--json` puts a machine-readable summary on stdout; a progress bar is drawn
//! only when stderr is a terminal.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use rastrum::card::{self, Redistribute, Task};
use rastrum::inference::{Device, Model, SessionOptions};
use rastrum::raster::output::WriteOptions;
use rastrum::raster::stack::StackBand;
use rastrum::resolve::resolve_heads;
use rastrum::stitch::sink::head_name;
use rastrum::Error;
use rastrum::RunOptions;

/// `println!` for everything the CLI prints on stdout: a reader that stops early (`rastrum info
/// --json m | head`) ends the program quietly with status 141, as a Unix tool killed by SIGPIPE
/// does, instead of a panic; any other write error is reported and exits with status 1.
macro_rules! out {
    ($($arg:tt)*) => { $crate::stdout_line(format_args!($($arg)*)) };
}

fn stdout_line(args: std::fmt::Arguments) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|()| stdout.write_all(b"\n")).and_then(|()| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(141);
        }
        eprintln!("rastrum: error: writing to standard output: {e}");
        std::process::exit(1);
    }
}

mod card_cmd;
mod eval_cmd;
mod progress_bar;
mod run_options;
mod tiles_cmd;

#[derive(Parser)]
#[command(name = "rastrum", version, about = "Tiled ONNX inference over georeferenced rasters")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the resolved model card, the model's inputs and outputs, and the bound provider.
    Info(InfoArgs),
    /// Show or write a model's card (its metadata_props), every other byte of the model kept.
    Card(card_cmd::CardArgs),
    /// Run a model over a raster and write the stitched, georeferenced result.
    Run(Box<RunArgs>),
    /// Join the outputs of `run --window` runs into one raster (a VRT over them, or a GeoTIFF).
    Assemble(AssembleArgs),
    /// Write a PNG quicklook: the input's RGB beside a class raster's colours.
    Quicklook(QuicklookArgs),
    /// Stack bands of several files into one raster (a VRT), in the model's channel order.
    Stack(StackArgs),
    /// Score a prediction raster against a reference raster (classes, values or images).
    Eval(eval_cmd::EvalArgs),
    /// Render rasters as an XYZ (Web Mercator, z/x/y.png) tile pyramid, one per frame.
    Tiles(tiles_cmd::TilesArgs),
}

#[derive(Args)]
struct ModelArgs {
    /// Execution provider: cpu, cuda or tensorrt.
    #[arg(long, default_value = "cpu")]
    device: Device,
    /// Fall back to the CPU when the requested provider cannot be bound.
    #[arg(long)]
    allow_fallback: bool,
    /// Intra-op threads of ONNX Runtime (default: the number of cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Override a model card key: KEY=VALUE, VALUE as JSON text (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

#[derive(Args)]
struct InfoArgs {
    model: PathBuf,
    #[command(flatten)]
    model_args: ModelArgs,
    /// Tile size to resolve the card with (for models with dynamic height and width).
    #[arg(long)]
    tile_size: Option<usize>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct RunArgs {
    model: PathBuf,
    input: PathBuf,
    output: PathBuf,
    #[command(flatten)]
    model_args: ModelArgs,
    #[command(flatten)]
    options: run_options::RunOptionArgs,
    /// Print the tile grid and output size as JSON and write nothing.
    #[arg(long)]
    plan: bool,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    json: bool,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Args)]
struct AssembleArgs {
    /// The raster to write: `.vrt` references the windows; otherwise a GeoTIFF holding them.
    output: PathBuf,
    /// The window files (together they must cover the whole output once).
    #[arg(required = true)]
    windows: Vec<PathBuf>,
    /// GDAL creation option KEY=VALUE (repeatable; GeoTIFF outputs).
    #[arg(long = "co", value_name = "KEY=VALUE")]
    co: Vec<String>,
    /// Write a Cloud Optimized GeoTIFF.
    #[arg(long)]
    cog: bool,
}

#[derive(Args)]
struct StackArgs {
    /// The VRT to write.
    output: PathBuf,
    /// The bands in channel order: FILE (its band 1) or FILE:N. The first file gives the grid;
    /// the others are placed by their georeference (same CRS).
    #[arg(required = true)]
    bands: Vec<String>,
    /// GDAL resampling of bands of another resolution: nearest, bilinear, cubic, average...
    #[arg(long, default_value = "nearest")]
    resampling: String,
}

#[derive(Args)]
struct QuicklookArgs {
    /// Raster whose bands give the RGB background.
    input: PathBuf,
    /// PNG to write.
    output: PathBuf,
    /// 1-based red, green, blue bands of the input.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    rgb: Vec<usize>,
    /// Class raster (a `rastrum run` output) shown beside the RGB.
    #[arg(long)]
    classes: Option<PathBuf>,
}

fn session_options(a: &ModelArgs) -> SessionOptions {
    SessionOptions { device: a.device, allow_fallback: a.allow_fallback, threads: a.threads, ort_lib: None }
}

fn overrides(a: &ModelArgs) -> rastrum::Result<Vec<(String, String)>> {
    a.set.iter().map(|s| card::parse_override(s)).collect()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Ctrl-C, `kill` or a closed terminal while an output is being written: its temporary files
    // and staging folders are removed and the program exits with status 128 + the signal.
    if let Err(e) = rastrum::atomic::remove_temporaries_on_signals("rastrum") {
        eprintln!("rastrum: warning: {e}: an interrupted run may leave temporary files");
    }
    let result = match cli.command {
        Command::Info(a) => info(a),
        Command::Card(a) => card_cmd::run(a),
        Command::Run(a) => run(*a),
        Command::Assemble(a) => rastrum::raster::mosaic::assemble(
            &a.windows,
            &a.output,
            &WriteOptions { creation_options: a.co, cog: a.cog },
        )
        .map(|p| eprintln!("rastrum: wrote {}", p.display())),
        Command::Quicklook(a) => rastrum::raster::quicklook::write(&a.input, &a.output, &a.rgb, a.classes.as_deref()),
        Command::Stack(a) => stack(a),
        Command::Eval(a) => eval_cmd::run(a),
        Command::Tiles(a) => tiles_cmd::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rastrum: error: {e}");
            ExitCode::from(match e {
                Error::Cancelled => 130,
                Error::InvalidArgument(_) => 2,
                _ => 1,
            })
        }
    }
}

fn info(a: InfoArgs) -> rastrum::Result<()> {
    let model = Model::load(&a.model, &session_options(&a.model_args))?;
    let opts = RunOptions { tile_size: a.tile_size, card_overrides: overrides(&a.model_args)?, ..Default::default() };
    // Every head a run writes (one unless the card names several or `all-outputs` is set).
    let heads = resolve_heads(&model, &opts, None);
    if a.json {
        let v = serde_json::json!({
            "model": model.path,
            "provider": model.provider,
            "inputs": [model.input.clone()],
            "outputs": model.outputs,
            "metadata": model.metadata,
            "resolved": heads.as_ref().ok().map(|h| &h[0]),
            "heads": heads.as_ref().ok().filter(|h| h.len() > 1),
            "error": heads.as_ref().err().map(|e| e.to_string()),
        });
        out!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return heads.map(|_| ());
    }
    out!("model      {}", model.path.display());
    out!("provider   {}", model.provider);
    out!("input      {} {} {:?}", model.input.name, model.input.dtype, model.input.shape);
    for (i, o) in model.outputs.iter().enumerate() {
        out!("output {i}   {} {} {:?} (declared)", o.name, o.dtype, o.shape);
    }
    if model.metadata.is_empty() {
        out!("card       (no metadata_props: defaults apply)");
    }
    for (k, v) in &model.metadata {
        out!("card       {k} = {v}");
    }
    let heads = heads?;
    let r = &heads[0];
    out!("resolved:");
    out!("  task           {} ({:?} output '{}', {} channel(s))", r.task, r.output_kind, r.output_name, r.out_channels);
    out!(
        "  tile size      {} (model output {} px, crop {}, scale x{})",
        r.tile_size,
        r.out_size,
        r.model_crop,
        r.scale_factor
    );
    out!("  bands          {:?}", r.bands);
    out!("  scale/offset   {:?} / {:?}", r.scale, r.offset);
    out!("  mean/std       {:?} / {:?}", r.mean, r.std);
    out!("  overlap/margin {} / {} px, stitch {:?}", r.overlap, r.margin, r.stitch);
    out!("  grid/pad       {:?} / {} px ({:?})", r.grid, r.pad, r.pad_mode);
    out!("  batch          {}{}", r.batch, if r.static_batch { " (fixed by the model)" } else { "" });
    if let Some(why) = &r.batch_fallback {
        out!("                 ({why})");
    }
    out!("  activation     {} ({})", r.activation, r.activation_reason);
    if matches!(r.task, Task::Segmentation | Task::Classification) {
        out!("  classes        {}", r.class_names.join(", "));
    }
    if r.redistribute != Redistribute::None {
        out!("  redistribute   {} (weight band {:?})", r.redistribute, r.weight_band);
    }
    if let Some(cm) = r.resolution_cm {
        out!("  resolution     {cm} cm/px");
    }
    for (k, h) in heads.iter().enumerate().filter(|_| heads.len() > 1) {
        let file = if k == 0 { "OUTPUT".to_string() } else { format!("OUTPUT_{}", head_name(h)) };
        out!("  head {k}         output '{}' -> {file} ({})", h.output_name, h.class_names.join(", "));
    }
    Ok(())
}

fn stack(a: StackArgs) -> rastrum::Result<()> {
    let bands: Vec<StackBand> = a.bands.iter().map(|s| StackBand::parse(s)).collect::<rastrum::Result<_>>()?;
    let (w, h) = rastrum::raster::stack::stack(&bands, &a.output, &a.resampling)?;
    eprintln!("rastrum: wrote {} ({w} x {h} px, {} bands)", a.output.display(), bands.len());
    Ok(())
}

fn run(a: RunArgs) -> rastrum::Result<()> {
    // Bound GDAL's block cache unless the user chose one: memory must not grow with the raster.
    if std::env::var_os("GDAL_CACHEMAX").is_none() {
        let _ = gdal::config::set_config_option("GDAL_CACHEMAX", "64");
    }
    let mut opts = RunOptions { card_overrides: overrides(&a.model_args)?, ..Default::default() };
    for (key, value) in &a.options.0 {
        opts.set(key, value)?;
    }
    let model = Model::load(&a.model, &session_options(&a.model_args))?;
    if a.plan {
        let layout = rastrum::plan::layout(&model, &a.input, &opts)?;
        out!("{}", serde_json::to_string_pretty(&layout).unwrap_or_default());
        return Ok(());
    }
    // The grid and tile count, before the first tile: a wrong resolution or tile size shows now.
    // The bar has not drawn yet (it draws on its first move, after the first batch), so a plain
    // line does not tear it.
    let mut on_plan = |plan: &rastrum::plan::Plan| {
        if !a.quiet && !a.json {
            eprintln!("rastrum: {}", plan.describe());
        }
        // Said before the wait, with --json too (the summary carries them as well); -q silences.
        for w in plan.warnings().iter().filter(|_| !a.quiet) {
            eprintln!("rastrum: warning: {w}");
        }
    };
    let summary = progress_bar::with_bar(a.quiet, |progress| {
        rastrum::run_planned(&model, &a.input, &a.output, &opts, &mut on_plan, progress)
    });
    let summary = summary?;
    if let (Some(why), false) = (&summary.batch_fallback, a.quiet) {
        eprintln!("rastrum: {why}");
    }
    if a.json {
        out!("{}", serde_json::to_string_pretty(&summary).unwrap_or_default());
    } else if !a.quiet {
        eprintln!(
            "rastrum: {} on {} ({}x{} -> {}x{}{}): {} tiles run, {} skipped (all nodata), {:.2} s, {:.2} Mpx/s, provider {}",
            summary.task,
            a.input.display(),
            summary.input_width,
            summary.input_height,
            summary.width,
            summary.height,
            if summary.resampled { ", resampled" } else { "" },
            summary.tiles_run,
            summary.tiles_skipped,
            summary.seconds,
            summary.megapixels_per_second,
            summary.provider
        );
        for o in &summary.outputs {
            eprintln!("rastrum: wrote {}", o.display());
        }
    }
    Ok(())
}
