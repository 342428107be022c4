//! `rastrum tiles INPUT... OUTDIR`: XYZ (Web Mercator) tile pyramids, one per input (frames in
//! time order), with a viewer page, an animated GIF and tiles.json. The flags are the option
//! names of `rastrum::tiles::TilesOptions::set` (the C API's keys), parsed by the same code.

use std::path::PathBuf;

use clap::Args;
use rastrum::tiles::TilesOptions;
use rastrum::Error;

#[derive(Args)]
pub struct TilesArgs {
    /// Input rasters (frames in time order), then the output folder.
    #[arg(value_name = "INPUT... OUTDIR", required = true, num_args = 2..)]
    pub paths: Vec<PathBuf>,
    /// Zoom levels MIN-MAX or Z, 0..24 (default: the raster's resolution and the four above).
    #[arg(long)]
    pub zoom: Option<String>,
    /// 1-based bands: one (colour ramp, or the band's colour table) or three (R,G,B).
    #[arg(long)]
    pub bands: Option<String>,
    /// Colour ramp of one-band rasters: gray, viridis, magma, inferno, plasma, cividis, turbo,
    /// spectral, rdylgn, blues, greens.
    #[arg(long)]
    pub ramp: Option<String>,
    /// Value range MIN,MAX of the ramp or stretch (default: 2-98 % of the first frame, per band).
    #[arg(long, allow_hyphen_values = true)]
    pub range: Option<String>,
    /// GDAL resampling (default: nearest for a colour table, else bilinear).
    #[arg(long)]
    pub resampling: Option<String>,
    /// Frame names, comma-separated, one per input (default: the file names without extension).
    #[arg(long)]
    pub labels: Option<String>,
    /// Zoom of animation.gif (default: the deepest whose image fits in 1024 px).
    #[arg(long)]
    pub gif_zoom: Option<String>,
    /// Warping threads (default: the number of cores, at most 8).
    #[arg(long)]
    pub threads: Option<String>,
    /// Replace OUTDIR if it exists and is not empty.
    #[arg(long)]
    pub overwrite: bool,
    /// Print tiles.json's summary on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(a: TilesArgs) -> rastrum::Result<()> {
    let Some((outdir, inputs)) = a.paths.split_last() else {
        return Err(Error::invalid("tiles: give INPUT... OUTDIR"));
    };
    let mut opts = TilesOptions { overwrite: a.overwrite, ..Default::default() };
    let flags = [
        ("zoom", &a.zoom),
        ("bands", &a.bands),
        ("ramp", &a.ramp),
        ("range", &a.range),
        ("resampling", &a.resampling),
        ("labels", &a.labels),
        ("gif-zoom", &a.gif_zoom),
        ("threads", &a.threads),
    ];
    for (key, value) in flags {
        if let Some(v) = value {
            opts.set(key, v).map_err(|e| Error::invalid(format!("--{key}: {e}")))?;
        }
    }
    let summary =
        crate::progress_bar::with_bar(a.quiet, |progress| rastrum::tiles::render(inputs, outdir, &opts, progress));
    let s = summary?;
    if a.json {
        out!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
    } else if !a.quiet {
        eprintln!(
            "rastrum: {} frame(s), zoom {}-{}, {} tiles written ({}), {:.2} s",
            s.frames.len(),
            s.zoom[0],
            s.zoom[1],
            s.tiles_written,
            s.mode,
            s.seconds
        );
        let url = std::fs::canonicalize(outdir).unwrap_or_else(|_| outdir.clone());
        let frame = if s.frames.len() > 1 { "<frame>/" } else { "" };
        eprintln!("rastrum: XYZ URL file://{}/{frame}{{z}}/{{x}}/{{y}}.png", url.display());
        eprintln!("rastrum: viewer {}/index.html, animation {}/animation.gif", url.display(), url.display());
    }
    Ok(())
}
