//! `rastrum tiles`: rasters (frames of a time series, in order) to XYZ pyramids, one per frame,
//! plus `index.html` (a self-contained viewer with a time slider), `animation.gif` and
//! `tiles.json`. Everything is written into a temporary sibling folder that is renamed into
//! place at the end, so the output folder appears complete or not at all (also on cancel).
//! Tiles are warped on worker threads (each with its own GDAL datasets), progress is reported on
//! the calling thread.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use gdal::raster::{GdalDataType, ResampleAlg};
use gdal::Dataset;

use crate::atomic::Registration;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::raster::input::open;
use crate::raster::output::dataset_files;
use crate::raster::resample::warp_resampling;
use crate::tiles::anim::Animation;
use crate::tiles::colour::{percentile_range, Colouring};
use crate::tiles::mercator::{self, Tile, TileRange, HALF_WORLD, MAX_ZOOM, TILE_SIZE};
use crate::tiles::options::TilesOptions;
use crate::tiles::page;
use crate::tiles::render::Source;
use crate::tiles::summary::{FrameSummary, GifSummary, TilesSummary, ZoomCount};

/// Side of the decimated read that the automatic range is computed from.
const RANGE_SAMPLE: usize = 1024;
/// Largest side of the animation when its zoom is chosen automatically, and when it is given.
const GIF_AUTO_SIDE: usize = 1024;
const GIF_MAX_SIDE: usize = 2048;

/// A frame as checked before anything is written.
struct Frame {
    label: String,
    input: PathBuf,
    bounds: [f64; 4],
    colouring: Colouring,
}

/// How every frame is drawn: the bands, the colouring mode, GDAL's resampling and the value range
/// of each drawn band (from the first frame, or given).
struct Style {
    bands: Vec<usize>,
    mode: &'static str,
    resampling: &'static str,
    ranges: Vec<(f64, f64)>,
}

/// Renders `inputs` (frames in time order) into `outdir`; see the module docs and docs/tiles.md.
pub fn render(inputs: &[PathBuf], outdir: &Path, opts: &TilesOptions, progress: Progress) -> Result<TilesSummary> {
    let started = Instant::now();
    if inputs.is_empty() {
        return Err(Error::invalid("tiles: no input raster given"));
    }
    check_outdir(outdir, inputs, opts.overwrite)?;
    let style = style_of(&inputs[0], opts)?;
    let frames = checked_frames(inputs, opts, &style)?;
    let bounds_lonlat = frames.iter().skip(1).fold(frames[0].bounds, |a, f| {
        [a[0].min(f.bounds[0]), a[1].min(f.bounds[1]), a[2].max(f.bounds[2]), a[3].max(f.bounds[3])]
    });
    let bounds_metres = mercator::lonlat_bounds_to_metres(bounds_lonlat);
    let (zmin, zmax) = match opts.zoom {
        Some(z) => z,
        None => auto_zoom(&inputs[0], bounds_metres)?,
    };
    let ranges_by_zoom: Vec<TileRange> = (zmin..=zmax).map(|z| TileRange::covering(bounds_metres, z)).collect();
    let gif_zoom = gif_zoom(opts.gif_zoom, bounds_metres, zmax)?;

    let single = frames.len() == 1;
    let staging = Staging::create(outdir)?;
    let frame_dirs: Vec<PathBuf> =
        frames.iter().map(|f| if single { staging.path.clone() } else { staging.path.join(&f.label) }).collect();
    if !single {
        // Made here, so that the tiles' folders are only ever made below existing ones.
        for (f, dir) in frames.iter().zip(&frame_dirs) {
            create_below(&staging.path, std::slice::from_ref(&f.label)).map_err(|e| Error::io(dir, e))?;
        }
    }
    let per_frame: usize = ranges_by_zoom.iter().map(TileRange::count).sum();
    let total = per_frame * frames.len();
    let (bands, resampling) = (&style.bands, style.resampling);
    let written = draw_tiles(&frames, &frame_dirs, &ranges_by_zoom, bands, resampling, opts.threads, total, progress)?;
    let animation = write_animation(&staging.path, &frames, &style, bounds_metres, gif_zoom, progress)?;

    let summary = TilesSummary {
        outdir: outdir.to_path_buf(),
        crs: "EPSG:3857".into(),
        tile_size: TILE_SIZE,
        zoom: [zmin, zmax],
        bounds_lonlat,
        bounds_metres,
        url_template: if single { "{z}/{x}/{y}.png".into() } else { "{frame}/{z}/{x}/{y}.png".into() },
        mode: style.mode.into(),
        bands: style.bands.clone(),
        ramp: (style.mode == "ramp").then(|| opts.ramp.name().to_string()),
        range: style.ranges.iter().map(|r| [r.0, r.1]).collect(),
        resampling: resampling.into(),
        tile_ranges: ranges_by_zoom.clone(),
        tiles_written: written.iter().flatten().sum(),
        frames: frame_summaries(&frames, &written, &ranges_by_zoom),
        animation,
        page: "index.html".into(),
        seconds: started.elapsed().as_secs_f64(),
    };
    let start_zoom = gif_zoom.clamp(zmin, zmax);
    write_file(&staging.path.join("index.html"), page::html(&summary, start_zoom).as_bytes())?;
    let json = serde_json::to_string_pretty(&summary).map_err(|e| Error::Internal(e.to_string()))?;
    write_file(&staging.path.join("tiles.json"), json.as_bytes())?;
    if !progress(0.99, "moving the pyramid into place") {
        return Err(Error::Cancelled);
    }
    staging.finish(outdir, opts.overwrite)?;
    progress(1.0, "done");
    Ok(summary)
}

/// The style of the pyramid, from the first frame and the options.
fn style_of(first_path: &Path, opts: &TilesOptions) -> Result<Style> {
    let first = open(first_path)?;
    if let Some(b) = opts.bands.iter().flatten().find(|b| **b > first.raster_count()) {
        let n = first.raster_count();
        return Err(Error::raster(first_path, format!("band {b} was asked for, the raster has {n} band(s)")));
    }
    let bands = opts.bands.clone().unwrap_or_else(|| if first.raster_count() >= 3 { vec![1, 2, 3] } else { vec![1] });
    let palette = bands.len() == 1 && opts.range.is_none() && palette_of(&first, bands[0]).is_some();
    let mode = match (bands.len(), palette) {
        (3, _) => "rgb",
        (_, true) => "palette",
        _ => "ramp",
    };
    let resampling = warp_resampling(opts.resampling.as_deref().unwrap_or(if palette { "near" } else { "bilinear" }))?;
    let ranges: Vec<(f64, f64)> = match (mode, opts.range) {
        ("palette", _) => Vec::new(),
        (_, Some(r)) => vec![r; bands.len()],
        _ => bands.iter().map(|b| auto_range(&first, first_path, *b)).collect::<Result<_>>()?,
    };
    Ok(Style { bands, mode, resampling, ranges })
}

/// Every frame opened and checked against the style before anything is written.
fn checked_frames(inputs: &[PathBuf], opts: &TilesOptions, style: &Style) -> Result<Vec<Frame>> {
    let labels = labels(inputs, opts.labels.as_deref())?;
    let (bands, ranges) = (&style.bands, &style.ranges);
    let mut frames = Vec::new();
    for (input, label) in inputs.iter().zip(labels) {
        let ds = open(input)?;
        let count = ds.raster_count();
        if let Some(b) = bands.iter().find(|b| **b > count) {
            return Err(Error::raster(input, format!("band {b} was asked for, the raster has {count} band(s)")));
        }
        let bounds = mercator::raster_bounds_lonlat(&ds, input)?;
        let colouring = match style.mode {
            "rgb" => Colouring::Rgb { ranges: [ranges[0], ranges[1], ranges[2]] },
            "ramp" => Colouring::Ramp { table: opts.ramp.table(), range: ranges[0] },
            _ => Colouring::Palette {
                entries: palette_of(&ds, bands[0]).ok_or_else(|| {
                    Error::raster(input, format!("band {} has no colour table, unlike the first frame's", bands[0]))
                })?,
            },
        };
        frames.push(Frame { label, input: input.clone(), bounds, colouring });
    }
    Ok(frames)
}

/// The animation's zoom: the one given (refused when too large), else the deepest zoom whose
/// image fits GIF_AUTO_SIDE.
fn gif_zoom(given: Option<u8>, bounds_metres: [f64; 4], zmax: u8) -> Result<u8> {
    match given {
        Some(z) => {
            let (w, h, _) = pixel_box(bounds_metres, z);
            if w.max(h) > GIF_MAX_SIDE {
                return Err(Error::invalid(format!(
                    "gif-zoom {z}: the animation would be {w}x{h} px, more than {GIF_MAX_SIDE} px on a side"
                )));
            }
            Ok(z)
        }
        None => Ok((0..=zmax)
            .rev()
            .find(|z| {
                let (w, h, _) = pixel_box(bounds_metres, *z);
                w.max(h) <= GIF_AUTO_SIDE
            })
            .unwrap_or(0)),
    }
}

/// The animation, warped over the whole extent at one zoom with the tiles' rules.
fn write_animation(
    dir: &Path,
    frames: &[Frame],
    style: &Style,
    bounds_metres: [f64; 4],
    zoom: u8,
    progress: Progress,
) -> Result<GifSummary> {
    let (gw, gh, gif_bounds) = pixel_box(bounds_metres, zoom);
    let mut anim = Animation::create(&dir.join("animation.gif"), gw, gh)?;
    for (i, f) in frames.iter().enumerate() {
        if !progress(0.9 + 0.09 * i as f64 / frames.len() as f64, &format!("animation frame {}", f.label)) {
            return Err(Error::Cancelled);
        }
        let src = Source::open(&f.input, &style.bands)?;
        let rgba = src.render(gif_bounds, gw, gh, style.resampling, &f.colouring)?;
        anim.add(rgba.as_deref(), &f.label)?;
    }
    anim.finish()?;
    Ok(GifSummary {
        file: "animation.gif".into(),
        zoom,
        width: gw,
        height: gh,
        bounds_metres: gif_bounds,
        frames: frames.len(),
    })
}

fn frame_summaries(frames: &[Frame], written: &[Vec<usize>], ranges_by_zoom: &[TileRange]) -> Vec<FrameSummary> {
    let single = frames.len() == 1;
    frames
        .iter()
        .zip(written)
        .map(|(f, w)| FrameSummary {
            label: f.label.clone(),
            input: f.input.clone(),
            path: if single { String::new() } else { f.label.clone() },
            bounds_lonlat: f.bounds,
            tiles_written: w.iter().sum(),
            zooms: ranges_by_zoom
                .iter()
                .zip(w)
                .map(|(r, n)| ZoomCount { z: r.z, covering: r.count(), written: *n })
                .collect(),
        })
        .collect()
}

/// Renders every tile of every frame; returns the tiles written per frame and zoom.
#[allow(clippy::too_many_arguments)]
fn draw_tiles(
    frames: &[Frame],
    dirs: &[PathBuf],
    ranges: &[TileRange],
    bands: &[usize],
    resampling: &str,
    threads: Option<usize>,
    total: usize,
    progress: Progress,
) -> Result<Vec<Vec<usize>>> {
    let per_frame = total / frames.len().max(1);
    let job = |j: usize| -> (usize, usize, Tile) {
        let (f, mut r) = (j / per_frame, j % per_frame);
        for (zi, range) in ranges.iter().enumerate() {
            if r < range.count() {
                return (f, zi, range.nth(r));
            }
            r -= range.count();
        }
        (f, 0, ranges[0].nth(0))
    };
    let workers = threads
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(8))
        .clamp(1, total.max(1));
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let mut written = vec![vec![0usize; ranges.len()]; frames.len()];
    let (tx, rx) = mpsc::channel::<Result<(usize, usize, bool)>>();
    let mut failure: Option<Error> = None;
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let tx = tx.clone();
            let (next, stop, job) = (&next, &stop, &job);
            scope.spawn(move || {
                // Jobs run frame after frame: one open source per worker at a time.
                let mut source: Option<(usize, Source)> = None;
                loop {
                    let j = next.fetch_add(1, Ordering::SeqCst);
                    if j >= total || stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let (f, zi, tile) = job(j);
                    let result = (|| -> Result<bool> {
                        if source.as_ref().is_none_or(|(open, _)| *open != f) {
                            source = None;
                            source = Some((f, Source::open(&frames[f].input, bands)?));
                        }
                        let src = &source.as_ref().ok_or_else(|| Error::Internal("source not opened".into()))?.1;
                        let rgba =
                            src.render(tile.bounds_metres(), TILE_SIZE, TILE_SIZE, resampling, &frames[f].colouring)?;
                        match rgba {
                            None => Ok(false),
                            Some(px) => write_tile(&dirs[f], tile, &px).map(|_| true),
                        }
                    })();
                    if tx.send(result.map(|w| (f, zi, w))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut done = 0usize;
        for msg in rx {
            match msg {
                Ok((f, zi, w)) => {
                    done += 1;
                    written[f][zi] += w as usize;
                    let label = &frames[f].label;
                    let msg = format!("zoom {} of frame {label}: {done}/{total} tiles", ranges[zi].z);
                    if failure.is_none() && !progress(0.9 * done as f64 / total.max(1) as f64, &msg) {
                        failure = Some(Error::Cancelled);
                        stop.store(true, Ordering::SeqCst);
                    }
                }
                Err(e) => {
                    if failure.is_none() {
                        failure = Some(e);
                    }
                    stop.store(true, Ordering::SeqCst);
                }
            }
        }
    });
    match failure {
        Some(e) => Err(e),
        None => Ok(written),
    }
}

/// Writes a tile under `dir` (the staging folder or a frame's folder in it, which exists).
fn write_tile(dir: &Path, t: Tile, rgba: &[u8]) -> Result<()> {
    let folder = dir.join(t.z.to_string()).join(t.x.to_string());
    create_below(dir, &[t.z.to_string(), t.x.to_string()]).map_err(|e| Error::io(&folder, e))?;
    let path = folder.join(format!("{}.png", t.y));
    let file = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), TILE_SIZE as u32, TILE_SIZE as u32);
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().map_err(|e| Error::io(&path, e))?;
    w.write_image_data(rgba).map_err(|e| Error::io(&path, e))?;
    w.finish().map_err(|e| Error::io(&path, e))
}

/// Creates the folders `names` one below the other under `root`, never `root` itself (unlike
/// `create_dir_all`): once an interrupt has removed the staging folder, a tile still being
/// written fails instead of bringing the folder back.
fn create_below(root: &Path, names: &[String]) -> std::io::Result<()> {
    let mut folder = root.to_path_buf();
    for name in names {
        folder.push(name);
        match std::fs::create_dir(&folder) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e))
}

/// The pixel grid of zoom `z` over `bounds`: width, height and the grid-aligned box.
fn pixel_box(bounds: [f64; 4], z: u8) -> (usize, usize, [f64; 4]) {
    let res = mercator::resolution(z);
    let px0 = ((bounds[0] + HALF_WORLD) / res).floor();
    let px1 = ((bounds[2] + HALF_WORLD) / res).ceil().max(px0 + 1.0);
    let py0 = ((HALF_WORLD - bounds[3]) / res).floor();
    let py1 = ((HALF_WORLD - bounds[1]) / res).ceil().max(py0 + 1.0);
    let b = [-HALF_WORLD + px0 * res, HALF_WORLD - py1 * res, -HALF_WORLD + px1 * res, HALF_WORLD - py0 * res];
    ((px1 - px0) as usize, (py1 - py0) as usize, b)
}

/// The zoom whose pixels are as fine as the raster's (or the first finer), and the four above.
fn auto_zoom(path: &Path, bounds: [f64; 4]) -> Result<(u8, u8)> {
    let ds = open(path)?;
    let (w, h) = ds.raster_size();
    let res = ((bounds[2] - bounds[0]) / w as f64).min((bounds[3] - bounds[1]) / h as f64);
    if !(res.is_finite() && res > 0.0) {
        return Err(Error::raster(path, "cannot derive a zoom from its pixel size: give --zoom"));
    }
    let z = (2.0 * HALF_WORLD / TILE_SIZE as f64 / res).log2().ceil().clamp(0.0, MAX_ZOOM as f64) as u8;
    Ok((z.saturating_sub(4), z))
}

/// The colour table of a Byte band as RGBA entries.
fn palette_of(ds: &Dataset, band: usize) -> Option<Vec<Option<[u8; 4]>>> {
    let b = ds.rasterband(band).ok()?;
    if b.band_type() != GdalDataType::UInt8 {
        return None;
    }
    let table = b.color_table()?;
    let entries = (0..table.entry_count().min(256))
        .map(|i| table.entry_as_rgb(i).map(|e| [e.r, e.g, e.b, e.a].map(|c| c.clamp(0, 255) as u8)))
        .collect();
    Some(entries)
}

/// The 2 and 98 % percentiles of a band's valid pixels, from a read decimated (nearest) to at
/// most 1024 px on the long side: GDAL takes it from overviews when the raster has them.
fn auto_range(ds: &Dataset, path: &Path, band: usize) -> Result<(f64, f64)> {
    let (w, h) = ds.raster_size();
    let f = (w.max(h) as f64 / RANGE_SAMPLE as f64).max(1.0);
    let (sw, sh) = (((w as f64 / f).round() as usize).max(1), ((h as f64 / f).round() as usize).max(1));
    let err = |e: gdal::errors::GdalError| Error::raster(path, format!("band {band}: {e}"));
    let b = ds.rasterband(band).map_err(err)?;
    let nn = Some(ResampleAlg::NearestNeighbour);
    let values = b.read_as::<f64>((0, 0), (w, h), (sw, sh), nn).map_err(err)?.into_shape_and_vec().1;
    let mask = b.open_mask_band().map_err(err)?;
    let valid = mask.read_as::<u8>((0, 0), (w, h), (sw, sh), nn).map_err(err)?.into_shape_and_vec().1;
    let mut v: Vec<f64> = values.into_iter().zip(valid).filter(|(_, m)| *m > 0).map(|(v, _)| v).collect();
    percentile_range(&mut v, 2.0, 98.0)
        .ok_or_else(|| Error::raster(path, format!("band {band} has no valid pixel to take a colour range from")))
}

/// Frame labels: given (checked) or the file stems (made folder-safe).
fn labels(inputs: &[PathBuf], given: Option<&[String]>) -> Result<Vec<String>> {
    let labels: Vec<String> = match given {
        Some(l) => {
            if l.len() != inputs.len() {
                return Err(Error::invalid(format!("labels: {} given for {} input(s)", l.len(), inputs.len())));
            }
            l.to_vec()
        }
        None => inputs
            .iter()
            .map(|p| {
                let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                let s: String = stem.chars().map(|c| if ok_char(c) { c } else { '_' }).collect();
                s.trim_start_matches('.').to_string()
            })
            .collect(),
    };
    for (i, l) in labels.iter().enumerate() {
        if l.is_empty()
            || l.starts_with('.')
            || !l.chars().all(ok_char)
            || ["index.html", "tiles.json", "animation.gif"].contains(&l.as_str())
        {
            return Err(Error::invalid(format!(
                "label '{l}' (frame {}): labels are folder names of letters, digits, '.', '_' and '-', not starting with '.'",
                i + 1
            )));
        }
        if labels[..i].contains(l) {
            return Err(Error::invalid(format!("label '{l}' is used by two frames: give --labels")));
        }
    }
    Ok(labels)
}

fn ok_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// The output folder may be new, empty, or (with overwrite) replaced; never the inputs' folder.
fn check_outdir(outdir: &Path, inputs: &[PathBuf], overwrite: bool) -> Result<()> {
    if outdir.as_os_str().is_empty() {
        return Err(Error::invalid("the output folder path is empty"));
    }
    if outdir.exists() && !outdir.is_dir() {
        return Err(Error::io(outdir, "the output exists and is not a folder"));
    }
    let parent = parent_dir(outdir);
    if !parent.is_dir() {
        return Err(Error::io(outdir, format!("its parent folder {} does not exist", parent.display())));
    }
    if outdir.is_dir() {
        let non_empty = std::fs::read_dir(outdir).map_err(|e| Error::io(outdir, e))?.next().is_some();
        if non_empty && !overwrite {
            return Err(Error::io(outdir, "the output folder exists and is not empty (use --overwrite to replace it)"));
        }
        // Every file the inputs read, a VRT's sources included: --overwrite replaces the folder.
        let out = std::fs::canonicalize(outdir).map_err(|e| Error::io(outdir, e))?;
        for i in inputs {
            let mut files = vec![i.clone()];
            if let Ok(ds) = open(i) {
                files.extend(dataset_files("", &ds).into_iter().map(|(_, p)| p));
            }
            if let Some(f) = files.iter().find(|f| std::fs::canonicalize(f).is_ok_and(|p| p.starts_with(&out))) {
                let of = if f == i { String::new() } else { format!(" ({} reads it)", i.display()) };
                return Err(Error::io(
                    outdir,
                    format!("the output folder holds the input {}{of}: refusing to replace it", f.display()),
                ));
            }
        }
    }
    Ok(())
}

fn parent_dir(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The hidden sibling folder the pyramid is built in; removed on drop unless moved into place,
/// and registered meanwhile so that an interrupted program removes it
/// (`atomic::remove_temporaries_on_signals`).
struct Staging {
    path: PathBuf,
    done: bool,
    _live: Registration,
}

impl Staging {
    fn create(outdir: &Path) -> Result<Staging> {
        let name = outdir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "tiles".into());
        let path = crate::atomic::temp_name_in(&parent_dir(outdir), &name, "", "");
        let live = Registration::folder(&path);
        std::fs::create_dir(&path).map_err(|e| Error::io(&path, format!("cannot create the staging folder: {e}")))?;
        Ok(Staging { path, done: false, _live: live })
    }

    /// Renames the staging folder to `outdir`, replacing an existing one (moved aside first, so
    /// that the old pyramid is only deleted once the new one is in place). A signal waits for
    /// the renames; the old pyramid, once aside, is registered for removal.
    fn finish(mut self, outdir: &Path, overwrite: bool) -> Result<()> {
        let aside = PathBuf::from(format!("{}.old", self.path.display()));
        let old = crate::atomic::uninterrupted(|| -> Result<Option<Registration>> {
            let mut old = None;
            if outdir.is_dir() {
                let non_empty = std::fs::read_dir(outdir).map_err(|e| Error::io(outdir, e))?.next().is_some();
                if non_empty && !overwrite {
                    return Err(Error::io(outdir, "the output folder was filled while the pyramid was drawn"));
                }
                std::fs::rename(outdir, &aside)
                    .map_err(|e| Error::io(outdir, format!("cannot move the old folder aside: {e}")))?;
                old = Some(Registration::folder(&aside));
            }
            if let Err(e) = std::fs::rename(&self.path, outdir) {
                if old.take().is_some() {
                    let _ = std::fs::rename(&aside, outdir);
                }
                return Err(Error::io(outdir, format!("cannot move the finished pyramid into place: {e}")));
            }
            self.done = true;
            Ok(old)
        })?;
        if let Some(_registered) = old {
            let _ = std::fs::remove_dir_all(&aside);
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
