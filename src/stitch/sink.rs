//! Where stitched rows go (`Sink`): the class band with names and colours and its probabilities,
//! or float value bands with nodata, each written by a `RowWriter`: an output GeoTIFF created
//! under a temporary name (`file_sink`), memory bands (the lazy reader), or a host's function
//! (`FnRows`, the C API's rows callback).

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::atomic::TempFile;
use crate::card::Task;
use crate::error::{Error, Result};
use crate::options::RunOptions;
use crate::raster::mosaic::{WindowPlacement, WINDOW_METADATA_KEY};
use crate::raster::output::{gtiff_defaults, merged_options, Georef, OutputRaster, WriteOptions, COG_DEFAULTS};
use crate::raster::place::{move_all_into_place, temp_folder};
use crate::raster::space::{compression, PlannedFile};
use crate::resolve::Resolved;
use crate::stitch::accumulate::Rows;
use crate::stitch::segments::{RowBlock, SmallSegments};
use crate::tasks::{class_of, CLASS_NODATA};

/// Where a sink's rows go: an output GeoTIFF, or memory (blocks read on demand).
pub trait RowWriter<T> {
    /// The next `rows` full-width rows starting at row `y0`, one vector per band.
    fn write_rows(&mut self, y0: usize, rows: usize, bands: Vec<Vec<T>>) -> Result<()>;
}

impl<T: gdal::raster::GdalType + Copy> RowWriter<T> for OutputRaster<T> {
    fn write_rows(&mut self, y0: usize, rows: usize, bands: Vec<Vec<T>>) -> Result<()> {
        OutputRaster::write_rows(self, y0, rows, bands)
    }
}

/// Bands held in memory, `[band][row * width + col]`.
#[derive(Debug, Clone, Default)]
pub struct MemoryBands<T> {
    pub bands: Vec<Vec<T>>,
}

impl<T: Copy> RowWriter<T> for MemoryBands<T> {
    fn write_rows(&mut self, _y0: usize, _rows: usize, bands: Vec<Vec<T>>) -> Result<()> {
        if self.bands.is_empty() {
            self.bands = bands;
        } else {
            for (mine, more) in self.bands.iter_mut().zip(bands) {
                mine.extend_from_slice(&more);
            }
        }
        Ok(())
    }
}

/// Where stitched rows go: class and probability rasters (`C`, `F`: files or memory).
pub enum Sink<C = OutputRaster<u8>, F = OutputRaster<f32>> {
    /// Class band (u8) with names and colours; optionally the probabilities beside it.
    Classes {
        classes: C,
        probs: Option<F>,
        /// The probabilities also as bands 2..=1+channels of the class raster, quantised.
        prob_bands: bool,
        channels: usize,
        thresh: Option<f64>,
        nodata: f64,
        /// Pixels per class written so far (for the run summary).
        counts: Vec<u64>,
        /// Small-segment removal of the class band, when asked.
        segments: Option<SmallSegments>,
    },
    /// Float bands, multiplied by `scaling`.
    Values { raster: F, channels: usize, scaling: f64, nodata: f64 },
}

/// Probability bands inside the class raster are bytes (the class band's type, so one GeoTIFF
/// keeps its colour table): p = DN * PROBABILITY_SCALE, DN 0..=250; 255 is nodata as for classes.
pub const PROBABILITY_STEPS: f32 = 250.0;
pub const PROBABILITY_SCALE: f64 = 1.0 / PROBABILITY_STEPS as f64;

fn quantise_probability(p: f32) -> u8 {
    (p.clamp(0.0, 1.0) * PROBABILITY_STEPS).round() as u8
}

/// Pixels with a class: a valid input and a finite model value in every channel. A NaN or an
/// infinity from the model is no class (nodata, never class 0); for values, each non-finite
/// value is nodata on its own.
fn usable(rows: &Rows, channels: usize, n: usize) -> Vec<bool> {
    (0..n).map(|i| rows.valid[i] != 0 && (0..channels).all(|c| rows.values[c * n + i].is_finite())).collect()
}

/// A class band needs 8 bits: its nodata is 255. GeoTIFF's `NBITS=1..7` would store 255 as
/// 1, 3, ... (nodata read back as a class), so it is refused, naming the option.
fn refuse_narrow_bits(opts: &WriteOptions) -> Result<()> {
    for co in &opts.creation_options {
        if let Some((k, v)) = co.split_once('=') {
            if k.trim().eq_ignore_ascii_case("NBITS") && v.trim().parse::<u32>().is_ok_and(|n| n < 8) {
                return Err(Error::invalid(format!(
                    "creation option {co} cannot hold the class band's nodata {CLASS_NODATA}: use NBITS=8 or leave it out"
                )));
            }
        }
    }
    Ok(())
}

/// Which probability outputs a class task writes besides its class band.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProbabilityOutputs {
    /// A float raster beside the output (`<stem>_probabilities.tif`).
    pub separate: bool,
    /// Bands 2..=1+N of the output itself (bytes, scale 1/250).
    pub in_bands: bool,
}

/// The path of the probability raster written beside a class raster.
pub fn probabilities_path(output: &Path) -> PathBuf {
    let stem = output.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    output.with_file_name(format!("{stem}_probabilities.tif"))
}

/// The name of head `r` in its file name and a host's outputs (`OUTPUT_<name>`): the model
/// output's name, its characters other than ASCII letters, digits and `-` as `_`, or its index
/// when no letter or digit is left.
pub fn head_name(r: &Resolved) -> String {
    let clean: String =
        r.output_name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    if clean.chars().any(|c| c.is_ascii_alphanumeric()) {
        clean
    } else {
        r.output_index.to_string()
    }
}

/// The path of the raster of head `r` in a run writing several heads: OUTPUT for the first,
/// `<stem>_<head name><.ext>` for the others.
pub fn head_path(output: &Path, r: &Resolved, first: bool) -> PathBuf {
    if first {
        return output.to_path_buf();
    }
    let stem = output.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let ext = output.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
    output.with_file_name(format!("{stem}_{}{ext}", head_name(r)))
}

impl Sink {
    #[allow(clippy::too_many_arguments)]
    pub fn classes(
        output: &Path,
        grid: &Georef,
        channels: usize,
        names: &[String],
        colours: &std::collections::BTreeMap<usize, [u8; 3]>,
        probabilities: ProbabilityOutputs,
        thresh: Option<f64>,
        nodata: f64,
        opts: &WriteOptions,
    ) -> Result<Sink> {
        refuse_narrow_bits(opts)?;
        // One channel is a sigmoid head: its probability is that of class 1.
        let prob_name = |c: usize| names.get(if channels == 1 { 1 } else { c }).cloned().unwrap_or_default();
        let prob_bands = probabilities.in_bands;
        let mut classes = OutputRaster::<u8>::create(output, grid, 1 + if prob_bands { channels } else { 0 }, opts)?;
        classes.set_nodata(1, CLASS_NODATA as f64)?;
        classes.set_classes(1, names, colours)?;
        classes.set_description(1, "class")?;
        if prob_bands {
            for c in 0..channels {
                classes.set_nodata(c + 2, CLASS_NODATA as f64)?;
                classes.set_scale(c + 2, PROBABILITY_SCALE)?;
                classes.set_description(c + 2, &format!("probability of {}", prob_name(c)))?;
            }
        }
        let probs = if probabilities.separate {
            let mut p = OutputRaster::<f32>::create(&probabilities_path(output), grid, channels, opts)?;
            for c in 0..channels {
                p.set_nodata(c + 1, nodata)?;
                p.set_description(c + 1, &format!("probability of {}", prob_name(c)))?;
            }
            Some(p)
        } else {
            None
        };
        let counts = vec![0; names.len()];
        Ok(Sink::Classes { classes, probs, prob_bands, channels, thresh, nodata, counts, segments: None })
    }

    pub fn values(
        output: &Path,
        grid: &Georef,
        channels: usize,
        scaling: f64,
        nodata: f64,
        opts: &WriteOptions,
    ) -> Result<Sink> {
        let mut raster = OutputRaster::<f32>::create(output, grid, channels, opts)?;
        for c in 0..channels {
            raster.set_nodata(c + 1, nodata)?;
        }
        Ok(Sink::Values { raster, channels, scaling, nodata })
    }

    /// Closes every output, then renames them into place together (all or none: a class
    /// raster does not stay when its probabilities cannot follow); returns their paths.
    pub fn finish(self) -> Result<Vec<PathBuf>> {
        move_all_into_place(self.close()?)
    }

    /// Closes every output, leaving them under their temporary names with their targets, for
    /// a caller moving several sinks' files together.
    pub(crate) fn close(mut self) -> Result<Vec<(TempFile, PathBuf)>> {
        self.end()?;
        let closed = match self {
            Sink::Classes { classes, probs, .. } => {
                let classes = classes.close()?;
                match probs {
                    Some(p) => vec![classes, p.close()?],
                    None => vec![classes],
                }
            }
            Sink::Values { raster, .. } => vec![raster.close()?],
        };
        Ok(closed)
    }

    /// A dataset metadata item on every output raster.
    pub fn set_metadata(&mut self, key: &str, value: &str) -> Result<()> {
        match self {
            Sink::Classes { classes, probs, .. } => {
                classes.set_metadata(key, value)?;
                if let Some(p) = probs {
                    p.set_metadata(key, value)?;
                }
                Ok(())
            }
            Sink::Values { raster, .. } => raster.set_metadata(key, value),
        }
    }
}

impl<C, F> Sink<C, F> {
    /// A class sink over any writers: the class band, then `channels` probability bands when
    /// `prob_bands`; the float probabilities to `probs` when given.
    pub fn class_writers(
        classes: C,
        probs: Option<F>,
        prob_bands: bool,
        channels: usize,
        n_classes: usize,
        thresh: Option<f64>,
        nodata: f64,
    ) -> Self {
        let counts = vec![0; n_classes];
        Sink::Classes { classes, probs, prob_bands, channels, thresh, nodata, counts, segments: None }
    }

    /// A value sink over any writer.
    pub fn value_writer(raster: F, channels: usize, scaling: f64, nodata: f64) -> Self {
        Sink::Values { raster, channels, scaling, nodata }
    }
}

impl Sink<MemoryBands<u8>, MemoryBands<f32>> {
    /// A class sink in memory: the class band, then `channels` probability bands when
    /// `prob_bands` (the bytes a file sink would write).
    pub fn memory_classes(channels: usize, n_classes: usize, prob_bands: bool, thresh: Option<f64>) -> Self {
        Sink::class_writers(MemoryBands::default(), None, prob_bands, channels, n_classes, thresh, 0.0)
    }

    /// A value sink in memory.
    pub fn memory_values(channels: usize, scaling: f64, nodata: f64) -> Self {
        Sink::value_writer(MemoryBands::default(), channels, scaling, nodata)
    }
}

impl<C: RowWriter<u8>, F: RowWriter<f32>> Sink<C, F> {
    pub fn write(&mut self, rows: Rows) -> Result<()> {
        let n = rows.rows * rows.width;
        match self {
            Sink::Classes { classes, probs, prob_bands, channels, thresh, nodata, counts, segments } => {
                let ok = usable(&rows, *channels, n);
                let cls: Vec<u8> = (0..n)
                    .map(|i| {
                        if !ok[i] {
                            CLASS_NODATA
                        } else {
                            class_of((0..*channels).map(|c| rows.values[c * n + i]), *channels, *thresh)
                        }
                    })
                    .collect();
                let mut bands = vec![cls];
                if *prob_bands {
                    bands.extend((0..*channels).map(|c| {
                        (0..n)
                            .map(|i| if !ok[i] { CLASS_NODATA } else { quantise_probability(rows.values[c * n + i]) })
                            .collect()
                    }));
                }
                let block = match segments {
                    Some(f) => f.push(rows.y0, rows.rows, bands),
                    None => Some((rows.y0, rows.rows, bands)),
                };
                if let Some(block) = block {
                    write_classes(classes, counts, block)?;
                }
                if let Some(p) = probs {
                    let bands = (0..*channels)
                        .map(|c| (0..n).map(|i| if !ok[i] { *nodata as f32 } else { rows.values[c * n + i] }).collect())
                        .collect();
                    p.write_rows(rows.y0, rows.rows, bands)?;
                }
            }
            Sink::Values { raster, channels, scaling, nodata } => {
                let bands = (0..*channels)
                    .map(|c| {
                        (0..n)
                            .map(|i| {
                                let v = rows.values[c * n + i];
                                if rows.valid[i] == 0 || !v.is_finite() {
                                    *nodata as f32
                                } else if *scaling == 1.0 {
                                    v
                                } else {
                                    (v as f64 * *scaling) as f32
                                }
                            })
                            .collect()
                    })
                    .collect();
                raster.write_rows(rows.y0, rows.rows, bands)?;
            }
        }
        Ok(())
    }

    /// Removes small segments from the class band (Deepness's `seg_small_segment` of `size`)
    /// of an output `width` pixels wide whose rows start at `first`; no-op for values.
    pub fn remove_small_segments(&mut self, size: usize, width: usize, first: usize) {
        if let Sink::Classes { segments, counts, .. } = self {
            *segments = (size > 1).then(|| SmallSegments::new(size, width, counts.len(), first));
        }
    }

    /// The rows a filter still holds, once the last rows have been written.
    pub fn end(&mut self) -> Result<()> {
        if let Sink::Classes { classes, counts, segments: Some(f), .. } = self {
            if let Some(block) = f.finish() {
                write_classes(classes, counts, block)?;
            }
        }
        Ok(())
    }

    /// Pixels per class id so far (class tasks only).
    pub fn class_counts(&self) -> Option<&[u64]> {
        match self {
            Sink::Classes { counts, .. } => Some(counts),
            Sink::Values { .. } => None,
        }
    }

    /// Takes the writers back (memory sinks).
    pub fn into_writers(self) -> (Option<C>, Option<F>) {
        match self {
            Sink::Classes { classes, probs, .. } => (Some(classes), probs),
            Sink::Values { raster, .. } => (None, Some(raster)),
        }
    }
}

/// Final class rows (band 0: classes; then the probability bands) to their writer, counted.
fn write_classes<C: RowWriter<u8>>(classes: &mut C, counts: &mut [u64], (y0, rows, bands): RowBlock) -> Result<()> {
    for c in &bands[0] {
        if let Some(n) = counts.get_mut(*c as usize) {
            *n += 1;
        }
    }
    classes.write_rows(y0, rows, bands)
}

/// The output rasters of a run at `output` (class raster, and the probabilities when asked),
/// created under temporary names; a window's placement is recorded in them.
pub(crate) fn file_sink(
    r: &Resolved,
    grid: &Georef,
    window: Option<&WindowPlacement>,
    output: &Path,
    opts: &RunOptions,
) -> Result<Sink> {
    let mut sink = match r.task {
        Task::Detection => return Err(Error::invalid("detections are merged into a vector layer, not stitched into rows: run them with `rastrum run` (or rastrum_run)")),
        Task::Segmentation | Task::Classification => Sink::classes(
            output,
            grid,
            r.out_channels,
            &r.class_names,
            &r.card.class_colors,
            ProbabilityOutputs { separate: opts.probabilities, in_bands: opts.probability_bands },
            r.seg_thresh,
            r.output_nodata,
            &opts.write,
        )?,
        Task::Regression | Task::SuperResolution => {
            Sink::values(output, grid, r.out_channels, r.reg_output_scaling, r.output_nodata, &opts.write)?
        }
    };
    // Windows are refused with the filter (`Plan`): the rows start at the output's top.
    sink.remove_small_segments(r.small_segment, grid.width, 0);
    if let Some(w) = window {
        let json = serde_json::to_string(w).map_err(|e| Error::Internal(e.to_string()))?;
        sink.set_metadata(WINDOW_METADATA_KEY, &json)?;
    }
    Ok(sink)
}

/// The files `file_sink` will write, with their pixels' size uncompressed and their
/// compression, for the check of the disk space before a run (`raster::space::check_space`).
/// With COG output the intermediate GeoTIFF (our defaults) is there at the same time.
pub(crate) fn planned_files(r: &Resolved, grid: &Georef, output: &Path, opts: &RunOptions) -> Result<Vec<PlannedFile>> {
    let pixels = (grid.width as u64).saturating_mul(grid.height as u64);
    let channels = r.out_channels as u64;
    let rasters: Vec<(PathBuf, u64, usize)> = match r.task {
        // A vector layer: its size follows the objects found, not the raster.
        Task::Detection => Vec::new(),
        Task::Segmentation | Task::Classification => {
            let bands = 1 + if opts.probability_bands { r.out_channels } else { 0 };
            let mut v = vec![(output.to_path_buf(), pixels.saturating_mul(bands as u64), bands)];
            if opts.probabilities {
                v.push((probabilities_path(output), pixels.saturating_mul(channels * 4), r.out_channels));
            }
            v
        }
        Task::Regression | Task::SuperResolution => {
            vec![(output.to_path_buf(), pixels.saturating_mul(channels * 4), r.out_channels)]
        }
    };
    let mut files = Vec::new();
    for (target, uncompressed, bands) in rasters {
        let folder = temp_folder(&target);
        let user = &opts.write.creation_options;
        if opts.write.cog {
            let cog = merged_options(user, COG_DEFAULTS)?;
            let gtiff = merged_options(&[], gtiff_defaults(bands))?;
            for co in [cog, gtiff] {
                let compress = compression(&co);
                files.push(PlannedFile { folder: folder.clone(), target: target.clone(), uncompressed, compress });
            }
        } else {
            let compress = compression(&merged_options(user, gtiff_defaults(bands))?);
            files.push(PlannedFile { folder, target, uncompressed, compress });
        }
    }
    Ok(files)
}

/// Rows handed to a host: which raster (0: the output, 1: the probability raster beside it),
/// the first row, the row count, and the bands `[band][row * width + col]`.
pub struct RowsOut<'a> {
    pub raster: usize,
    pub y0: usize,
    pub rows: usize,
    pub bands: BandsOut<'a>,
}

/// Bands of finished rows, in the output's data type.
pub enum BandsOut<'a> {
    U8(&'a [Vec<u8>]),
    F32(&'a [Vec<f32>]),
}

/// The host's function receiving finished rows; an error stops the stitching.
pub type RowsFn = Box<dyn FnMut(RowsOut) -> Result<()>>;

/// A `RowWriter` calling the host's function (shared by the class and probability writers).
pub(crate) struct FnRows<T> {
    pub(crate) raster: usize,
    pub(crate) f: Rc<RefCell<RowsFn>>,
    pub(crate) wrap: fn(&[Vec<T>]) -> BandsOut<'_>,
}

impl<T> RowWriter<T> for FnRows<T> {
    fn write_rows(&mut self, y0: usize, rows: usize, bands: Vec<Vec<T>>) -> Result<()> {
        let mut f = self.f.try_borrow_mut().map_err(|_| Error::Internal("the rows function re-entered".into()))?;
        f(RowsOut { raster: self.raster, y0, rows, bands: (self.wrap)(&bands) })
    }
}
