//! Writing output GeoTIFFs so that they appear complete or not at all: the raster is written to
//! a hidden temporary name in the target folder (`crate::atomic`) and renamed when finished;
//! dropping an unfinished `OutputRaster` (error, cancel, panic) deletes the temporary file.

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use gdal::raster::{Buffer, ColorEntry, ColorTable, GdalType, PaletteInterpretation, RasterCreationOptions};
use gdal::spatial_ref::SpatialRef;
use gdal::{Dataset, DriverManager, Metadata};

use crate::atomic::{parent_dir, TempFile};
use crate::error::{Error, Result};
use crate::raster::gdal::{error_counter, file_list, last_error_message, last_error_type, set_category_names};
use crate::raster::info::{Control, RasterInfo};
pub use crate::raster::place::is_vsi;
use crate::raster::place::{check_class_names, move_all_into_place, temp_file, AUX};
use crate::raster::space::explain;

/// Where and how outputs are written.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// GDAL creation options `KEY=VALUE`, over the defaults (tiled, DEFLATE, BIGTIFF=IF_SAFER,
    /// NUM_THREADS=ALL_CPUS).
    pub creation_options: Vec<String>,
    /// Convert to a Cloud Optimized GeoTIFF before the final rename.
    pub cog: bool,
}

/// Georeferencing of an output grid.
#[derive(Debug, Clone)]
pub struct Georef {
    pub width: usize,
    pub height: usize,
    pub geo_transform: Option<[f64; 6]>,
    pub projection: String,
    /// The input's GCPs and RPCs, mapped onto this grid.
    pub control: Control,
}

/// GDAL's grid for a raster without geotransform nor GCPs/RPCs: pixel corner (x, y) at (x, y).
/// Private: cbindgen would put a public constant into the C header.
const PIXEL_GRID: [f64; 6] = [0.0, 1.0, 0.0, 0.0, 0.0, 1.0];

impl Georef {
    /// The `width` x `height` output grid whose pixel `u` is `input`'s pixel `offset + step * u`
    /// on each axis (x, y): its geotransform, CRS, GCPs and RPCs follow from the input's.
    ///
    /// An input with neither geotransform nor GCPs/RPCs stands on GDAL's pixel grid: an output
    /// on another grid (super-resolution, a per-tile grid, a window away from the corner) gets
    /// the geotransform derived from it, so that it still lines up with its input in GDAL. An
    /// output on the very same pixel grid stays without one, as its input: then it also lines
    /// up in QGIS, which shows a raster without geotransform on (0, 1, 0, 0, 0, -1) instead.
    /// GCPs or RPCs win: such an input never gets a geotransform (they are mapped instead).
    pub fn mapped(input: &RasterInfo, width: usize, height: usize, offset: [f64; 2], step: [f64; 2]) -> Georef {
        let ([ox, oy], [sx, sy]) = (offset, step);
        let same_grid = offset == [0.0, 0.0] && step == [1.0, 1.0];
        let base = input.geo_transform.or((input.control.is_empty() && !same_grid).then_some(PIXEL_GRID));
        let geo_transform = base.map(|g| {
            [g[0] + ox * g[1] + oy * g[2], g[1] * sx, g[2] * sy, g[3] + ox * g[4] + oy * g[5], g[4] * sx, g[5] * sy]
        });
        let control = input.control.mapped(offset, step);
        Georef { width, height, geo_transform, projection: input.projection.clone(), control }
    }

    /// The `width` x `height` part of this grid starting at its pixel (`x`, `y`).
    pub fn window(&self, x: usize, y: usize, width: usize, height: usize) -> Georef {
        let info = RasterInfo {
            geo_transform: self.geo_transform,
            projection: self.projection.clone(),
            control: self.control.clone(),
            ..Default::default()
        };
        Georef::mapped(&info, width, height, [x as f64, y as f64], [1.0, 1.0])
    }
}

/// The one output policy, for every command (`run`, `assemble`, `quicklook`, `eval`'s figure,
/// the C API's stitcher, the trainer; `tiles` applies the same to its folder), checked before
/// any work: the output may not be an empty path, a path spelled as a folder (ending in `/`), an
/// existing folder, a device, FIFO or socket, a path in a missing or read-only folder, or any
/// input of the command (`inputs`: what it is, for the message, and its path; compared by
/// device and inode, so that links, `..` and a VRT's sources are caught: list a dataset's files
/// with [`dataset_files`]). On a `/vsi` path only the upload can tell, but the input's own path.
pub fn check_output(output: &Path, inputs: &[(&str, PathBuf)]) -> Result<()> {
    if output.as_os_str().is_empty() {
        return Err(Error::invalid("the output path is empty"));
    }
    if spelled_as_folder(output) {
        return Err(Error::io(output, "the output path ends in '/': it names a folder, not a file"));
    }
    if is_vsi(output) {
        return match inputs.iter().find(|(_, p)| p == output) {
            Some((what, _)) => Err(Error::io(output, format!("output path is {what}: refusing to overwrite an input"))),
            None => Ok(()),
        };
    }
    if output.is_dir() {
        return Err(Error::io(output, "output path is a directory"));
    }
    crate::atomic::refuse_special(output)?;
    let parent = parent_dir(output);
    if !parent.is_dir() {
        return Err(Error::io(output, format!("output folder {} does not exist", parent.display())));
    }
    refuse_inputs(output, inputs)?;
    let meta = std::fs::metadata(&parent).map_err(|e| Error::io(&parent, e))?;
    if meta.permissions().readonly() {
        return Err(Error::io(output, format!("output folder {} is not writable", parent.display())));
    }
    Ok(())
}

/// A path whose spelling names a folder: ending in `/`, `/.` or `/..`, or `.` or `..` itself
/// (`Path` drops a trailing `/`, so `out.tif/` would otherwise be written as `out.tif` and only
/// its final rename fail, after the whole run).
fn spelled_as_folder(p: &Path) -> bool {
    let b = p.as_os_str().as_bytes();
    b.ends_with(b"/") || b.ends_with(b"/.") || b.ends_with(b"/..") || b == b"." || b == b".."
}

/// [`check_output`] for an output whose only input is the raster `input`.
pub fn check_destination(output: &Path, input: &Path) -> Result<()> {
    check_output(output, &[("the input raster", input.to_path_buf())])
}

/// The files of a dataset as inputs named `what`: its own files and, for a VRT, its sources
/// (GDAL's file list).
pub fn dataset_files<'a>(what: &'a str, ds: &Dataset) -> Vec<(&'a str, PathBuf)> {
    file_list(ds).into_iter().map(|p| (what, p)).collect()
}

/// Refuses an output path that is one of the inputs (`what`, `path`), compared by device and
/// inode, so that links, `..` and a VRT's sources are caught: the model, the mask, a source
/// file of an input VRT. A missing output file cannot be an input.
pub fn refuse_inputs(output: &Path, inputs: &[(&str, PathBuf)]) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let Ok(out) = std::fs::metadata(output) else { return Ok(()) };
    for (what, path) in inputs {
        if let Ok(m) = std::fs::metadata(path) {
            if (m.dev(), m.ino()) == (out.dev(), out.ino()) {
                return Err(Error::io(
                    output,
                    format!("output path is {what} ({}): refusing to overwrite an input", path.display()),
                ));
            }
        }
    }
    Ok(())
}

/// Our GeoTIFF creation defaults. Several bands are values, never an RGB picture (GDAL's
/// default for 3 or 4 bytes). Blocks are compressed by GDAL's worker threads, off the writer's.
pub(crate) fn gtiff_defaults(bands: usize) -> &'static [&'static str] {
    if bands > 1 {
        &["TILED=YES", "COMPRESS=DEFLATE", "BIGTIFF=IF_SAFER", "NUM_THREADS=ALL_CPUS", "PHOTOMETRIC=MINISBLACK"]
    } else {
        &["TILED=YES", "COMPRESS=DEFLATE", "BIGTIFF=IF_SAFER", "NUM_THREADS=ALL_CPUS"]
    }
}

/// Our COG creation defaults.
pub(crate) const COG_DEFAULTS: &[&str] = &["COMPRESS=DEFLATE", "BIGTIFF=IF_SAFER", "NUM_THREADS=ALL_CPUS"];

/// Creation options with our defaults, user keys replacing defaults of the same name.
pub(crate) fn merged_options(user: &[String], defaults: &[&str]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for u in user {
        let (k, _) =
            u.split_once('=').ok_or_else(|| Error::invalid(format!("creation option '{u}' is not KEY=VALUE")))?;
        if k.trim().is_empty() {
            return Err(Error::invalid(format!("creation option '{u}' is not KEY=VALUE")));
        }
    }
    for d in defaults {
        let key = d.split('=').next().unwrap_or_default().to_ascii_uppercase();
        if !user.iter().any(|u| u.split('=').next().unwrap_or_default().trim().to_ascii_uppercase() == key) {
            out.push(d.to_string());
        }
    }
    out.extend(user.iter().cloned());
    Ok(out)
}

/// One output GeoTIFF under construction. Rows arrive top to bottom and are buffered up to the
/// next block-row boundary, so that every (compressed) block is written once, whole.
pub struct OutputRaster<T: GdalType + Copy> {
    target: PathBuf,
    /// The file being written; None once handed to `move_into_place`.
    temp: Option<TempFile>,
    ds: Option<Dataset>,
    cog: bool,
    cog_options: Vec<String>,
    pub width: usize,
    pub height: usize,
    block_rows: usize,
    /// Buffered rows per band, starting at `pending_y0`.
    pending: Vec<Vec<T>>,
    pending_y0: usize,
    /// GDAL's error counter on this thread at the last check.
    errors_seen: u32,
    /// Class names given per band, checked in the finished file (they go to the sidecar).
    class_names: Vec<(usize, Vec<String>)>,
}

/// GCPs (with their CRS) and RPCs onto a new raster.
/// A geotransform wins: GeoTIFF holds GCPs only in its place.
fn write_control(ds: &mut Dataset, c: &Control, has_transform: bool) -> gdal::errors::Result<()> {
    if !c.gcps.is_empty() && !has_transform {
        let srs = match c.gcp_projection.as_str() {
            "" => SpatialRef::new()?,
            wkt => SpatialRef::from_wkt(wkt)?,
        };
        ds.set_gcps(c.gcps.clone(), &srs)?;
    }
    for kv in &c.rpc {
        if let Some((key, value)) = kv.split_once('=') {
            ds.set_metadata_item(key, value, "RPC")?;
        }
    }
    Ok(())
}

impl<T: GdalType + Copy> OutputRaster<T> {
    pub fn create(target: &Path, grid: &Georef, bands: usize, opts: &WriteOptions) -> Result<OutputRaster<T>> {
        let driver =
            DriverManager::get_driver_by_name("GTiff").map_err(|e| Error::Internal(format!("GTiff driver: {e}")))?;
        let temp = temp_file(target, "", "tif");
        // With --cog the user's options go to the COG driver; the intermediate file uses ours.
        let (gtiff_user, cog_options) = if opts.cog {
            (Vec::new(), merged_options(&opts.creation_options, COG_DEFAULTS)?)
        } else {
            (opts.creation_options.clone(), Vec::new())
        };
        let co = merged_options(&gtiff_user, gtiff_defaults(bands))?;
        let co = RasterCreationOptions::from_iter(co.iter().map(String::as_str));
        let mut ds = driver
            .create_with_band_type_with_options::<T, _>(temp.path(), grid.width, grid.height, bands, &co)
            .map_err(|e| Error::io(target, format!("cannot create the output: {e}")))?;
        if let Some(gt) = grid.geo_transform {
            ds.set_geo_transform(&gt).map_err(|e| Error::io(target, format!("setting the geotransform: {e}")))?;
        }
        if !grid.projection.is_empty() {
            ds.set_projection(&grid.projection).map_err(|e| Error::io(target, format!("setting the CRS: {e}")))?;
        }
        write_control(&mut ds, &grid.control, grid.geo_transform.is_some())
            .map_err(|e| Error::io(target, format!("setting the GCPs or RPCs: {e}")))?;
        let block_rows = ds.rasterband(1).map(|b| b.block_size().1).unwrap_or(1).max(1);
        Ok(OutputRaster {
            target: target.to_path_buf(),
            temp: Some(temp),
            ds: Some(ds),
            cog: opts.cog,
            cog_options,
            width: grid.width,
            height: grid.height,
            block_rows,
            pending: vec![Vec::new(); bands],
            pending_y0: 0,
            errors_seen: error_counter(),
            class_names: Vec::new(),
        })
    }

    fn ds(&mut self) -> Result<&mut Dataset> {
        self.ds.as_mut().ok_or_else(|| Error::Internal("output already closed".into()))
    }

    fn with_band<R>(
        &mut self,
        band: usize,
        f: impl FnOnce(&mut gdal::raster::RasterBand) -> gdal::errors::Result<R>,
    ) -> Result<R> {
        let target = self.target.clone();
        let ds = self.ds()?;
        let mut b = ds.rasterband(band).map_err(|e| Error::io(&target, format!("band {band}: {e}")))?;
        f(&mut b).map_err(|e| Error::io(&target, format!("writing band {band}: {e}")))
    }

    pub fn set_nodata(&mut self, band: usize, value: f64) -> Result<()> {
        self.with_band(band, |b| b.set_no_data_value(Some(value)))
    }

    /// GDAL's band scale: value = DN * scale (quantised probabilities).
    pub fn set_scale(&mut self, band: usize, scale: f64) -> Result<()> {
        self.with_band(band, |b| b.set_scale(scale))
    }

    pub fn set_description(&mut self, band: usize, text: &str) -> Result<()> {
        use gdal::Metadata;
        self.with_band(band, |b| b.set_description(text))
    }

    /// A dataset metadata item (default domain).
    pub fn set_metadata(&mut self, key: &str, value: &str) -> Result<()> {
        use gdal::Metadata;
        let target = self.target.clone();
        self.ds()?.set_metadata_item(key, value, "").map_err(|e| Error::io(&target, format!("metadata {key}: {e}")))
    }

    /// Class names as GDAL category names, and a colour table (the given colours, else a
    /// fixed palette), on a class band; the table only in a single-band file.
    pub fn set_classes(&mut self, band: usize, names: &[String], colours: &BTreeMap<usize, [u8; 3]>) -> Result<()> {
        let mut table = ColorTable::new(PaletteInterpretation::Rgba);
        for (i, _) in names.iter().enumerate() {
            let (r, g, b) =
                colours.get(&i).map_or_else(|| class_colour(i), |c| (c[0] as i16, c[1] as i16, c[2] as i16));
            table.set_color_entry(i as u16, &ColorEntry::rgba(r, g, b, 255));
        }
        // A TIFF palette belongs to single-sample files: with probability bands beside the
        // class band only the names are kept (GDAL would refuse the table).
        if self.pending.len() == 1 {
            self.with_band(band, |b| {
                b.set_color_table(&table);
                Ok(())
            })?;
        }
        let target = self.target.clone();
        let ds = self.ds()?;
        let mut b = ds.rasterband(band).map_err(|e| Error::io(&target, format!("band {band}: {e}")))?;
        set_category_names(&mut b, names).map_err(|_| Error::io(&target, "cannot set the class names"))?;
        self.class_names.retain(|(b, _)| *b != band);
        self.class_names.push((band, names.iter().map(|n| n.replace('\0', " ")).collect()));
        Ok(())
    }

    /// Takes the next `rows` full-width rows (they must start at row `y0`, right below the
    /// previous ones), one vector per band.
    pub fn write_rows(&mut self, y0: usize, rows: usize, bands: Vec<Vec<T>>) -> Result<()> {
        let buffered = self.pending[0].len() / self.width.max(1);
        if y0 != self.pending_y0 + buffered || bands.len() != self.pending.len() {
            return Err(Error::Internal(format!("rows {y0}.. arrived out of order for {}", self.target.display())));
        }
        for (p, b) in self.pending.iter_mut().zip(bands) {
            debug_assert_eq!(b.len(), rows * self.width);
            p.extend_from_slice(&b);
        }
        let end = y0 + rows;
        // Write everything up to the last complete block row (or the raster's end).
        let flush_to = if end == self.height { end } else { end / self.block_rows * self.block_rows };
        if flush_to > self.pending_y0 {
            self.flush(flush_to)?;
        }
        Ok(())
    }

    fn flush(&mut self, to: usize) -> Result<()> {
        let (y0, width) = (self.pending_y0, self.width);
        let n = to - y0;
        for band in 0..self.pending.len() {
            let rest = self.pending[band].split_off(n * width);
            let data = std::mem::replace(&mut self.pending[band], rest);
            let mut buf = Buffer::new((width, n), data);
            self.with_band(band + 1, |b| b.write((0, y0 as isize), (width, n), &mut buf))?;
            self.check_gdal("writing")?;
        }
        self.pending_y0 = to;
        Ok(())
    }

    /// GDAL reports failed writes of cached blocks (a full disk, a file size limit) only as an
    /// error on this thread, not through RasterIO's or GDALClose's return: check for one since
    /// the last check.
    fn check_gdal(&mut self, what: &str) -> Result<()> {
        let file = self.temp.as_ref().map_or(self.target.clone(), |t| t.path().to_path_buf());
        self.check_gdal_on(what, &file)
    }

    /// [`Self::check_gdal`] for a write of `file`, whose cause is looked for there.
    fn check_gdal_on(&mut self, what: &str, file: &Path) -> Result<()> {
        let (count, kind) = (error_counter(), last_error_type());
        let seen = std::mem::replace(&mut self.errors_seen, count);
        if count != seen && kind >= gdal_sys::CPLErr::CE_Failure {
            let msg = explain(file, &last_error_message());
            return Err(Error::io(&self.target, format!("{what} failed: {msg}")));
        }
        Ok(())
    }

    /// Closes the dataset, converts to COG if asked, and renames into place.
    pub fn finish(self) -> Result<PathBuf> {
        let mut placed = move_all_into_place(vec![self.close()?])?;
        placed.pop().ok_or_else(|| Error::Internal("no output was moved".into()))
    }

    /// Closes the dataset, converts to COG if asked and checks the sidecar: the finished file
    /// under its temporary name, and where it goes, for [`move_all_into_place`].
    pub(crate) fn close(mut self) -> Result<(TempFile, PathBuf)> {
        if self.pending_y0 != self.height || !self.pending[0].is_empty() {
            return Err(Error::Internal(format!(
                "{}: {} of {} rows were written",
                self.target.display(),
                self.pending_y0,
                self.height
            )));
        }
        let ds = self.ds.take().ok_or_else(|| Error::Internal("output already closed".into()))?;
        let closed = ds.close();
        self.check_gdal("writing the last blocks")?;
        let mut temp = self.temp.take().ok_or_else(|| Error::Internal("output already closed".into()))?;
        closed.map_err(|e| {
            Error::io(&self.target, format!("closing the output: {}", explain(temp.path(), &e.to_string())))
        })?;
        if self.cog {
            let cog_temp = temp_file(&self.target, "-cog", "tif").with_sidecar(".ovr.tmp");
            (|| -> Result<()> {
                let src = Dataset::open(temp.path()).map_err(|e| Error::io(&self.target, e))?;
                let driver = DriverManager::get_driver_by_name("COG").map_err(|e| Error::io(&self.target, e))?;
                let co = RasterCreationOptions::from_iter(self.cog_options.iter().map(String::as_str));
                let failed = |e: gdal::errors::GdalError| {
                    Error::io(&self.target, format!("writing the COG: {}", explain(cog_temp.path(), &e.to_string())))
                };
                src.create_copy(&driver, cog_temp.path(), &co).and_then(|out| out.close()).map_err(failed)
            })()?;
            self.check_gdal_on("writing the COG", cog_temp.path())?;
            // The GeoTIFF it was made from is removed here.
            temp = cog_temp;
        }
        let aux = temp.sidecar(AUX);
        check_class_names(temp.path(), &self.target, &self.class_names, || explain(&aux, &last_error_message()))?;
        Ok((temp, std::mem::take(&mut self.target)))
    }
}

impl<T: GdalType + Copy> Drop for OutputRaster<T> {
    fn drop(&mut self) {
        // Closed before its unfinished file (and sidecar) is removed.
        drop(self.ds.take());
        drop(self.temp.take());
    }
}

/// A fixed, distinguishable palette for class ids (first entries from ColorBrewer Set1/Set3).
pub fn class_colour(i: usize) -> (i16, i16, i16) {
    const P: [(i16, i16, i16); 12] = [
        (31, 120, 180),
        (227, 26, 28),
        (51, 160, 44),
        (255, 127, 0),
        (106, 61, 154),
        (177, 89, 40),
        (166, 206, 227),
        (251, 154, 153),
        (178, 223, 138),
        (253, 191, 111),
        (202, 178, 214),
        (255, 255, 153),
    ];
    if i < P.len() {
        P[i]
    } else {
        // Golden-ratio hue walk for the rest.
        let h = (i as f64 * 0.618_033_988_75).fract();
        let (r, g, b) = hsv(h, 0.65, 0.9);
        (r, g, b)
    }
}

fn hsv(h: f64, s: f64, v: f64) -> (i16, i16, i16) {
    let i = (h * 6.0).floor();
    let f = h * 6.0 - i;
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - f * s), v * (1.0 - (1.0 - f) * s));
    let (r, g, b) = match i as i32 % 6 {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    };
    ((r * 255.0) as i16, (g * 255.0) as i16, (b * 255.0) as i16)
}
