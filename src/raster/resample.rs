//! Cropping the input to an extent and resampling it to the model's ground resolution with
//! GDAL's own machinery: a virtual (VRT) dataset made by GDALTranslate (`-projwin`, `-tr`), read lazily window by window like any raster, so
//! the source is never loaded whole. Outputs are then written on that grid.

use std::path::Path;

use gdal::Dataset;

use crate::error::{Error, Result};
use crate::raster::gdal::{translate as gdal_translate, UtilityError};

/// GDAL's resampling names that gdalwarp accepts (`-r`).
pub const WARP_RESAMPLINGS: [&str; 14] = [
    "near",
    "bilinear",
    "cubic",
    "cubicspline",
    "lanczos",
    "average",
    "rms",
    "mode",
    "max",
    "min",
    "med",
    "q1",
    "q3",
    "sum",
];

/// A gdalwarp resampling name from user text (any case; `nearest` is taken for `near`), or an
/// error listing the names.
pub fn warp_resampling(s: &str) -> Result<&'static str> {
    let s = s.to_ascii_lowercase();
    let s = if s == "nearest" { "near".to_string() } else { s };
    WARP_RESAMPLINGS.iter().find(|n| **n == s).copied().ok_or_else(|| {
        Error::invalid(format!("resampling '{s}' is not one of nearest, {}", WARP_RESAMPLINGS.join(", ")))
    })
}

/// Ground resolution of a dataset in metres per pixel, when its CRS is projected in metres.
pub fn metric_resolution(ds: &Dataset) -> Option<f64> {
    let gt = ds.geo_transform().ok()?;
    let srs = ds.spatial_ref().ok()?;
    if !srs.is_projected() || (srs.linear_units() - 1.0).abs() > 1e-9 {
        return None;
    }
    Some((gt[1] * gt[1] + gt[4] * gt[4]).sqrt())
}

/// A lazily resampled view of `ds` with pixels of `res` map units (GDAL resampling `alg`).
pub fn resample(ds: &Dataset, path: &Path, res: f64, alg: &str) -> Result<Dataset> {
    translate(ds, &["-tr", &res.to_string(), &res.to_string(), "-r", alg])
        .map_err(|e| Error::raster(path, format!("GDAL could not resample to {res} map units per pixel: {e}")))
}

/// A lazy view of the part of `ds` inside `[xmin, ymin, xmax, ymax]` (in its CRS), on its grid.
/// An extent reaching past the raster keeps its size: the view is the whole extent, and the part
/// outside the raster (which GDAL reads as zeros) is marked invalid by [`footprint`]. An extent
/// that misses the raster altogether is an error.
pub fn crop(ds: &Dataset, path: &Path, extent: [f64; 4]) -> Result<Dataset> {
    let [xmin, ymin, xmax, ymax] = extent;
    if !(xmin < xmax && ymin < ymax) || extent.iter().any(|v| !v.is_finite()) {
        return Err(Error::invalid(format!("extent {extent:?} is not xmin,ymin,xmax,ymax with min < max")));
    }
    if let Some([bx0, by0, bx1, by1]) = bounds(ds) {
        if xmax <= bx0 || xmin >= bx1 || ymax <= by0 || ymin >= by1 {
            return Err(Error::raster(
                path,
                format!(
                    "the extent {xmin},{ymin},{xmax},{ymax} lies wholly outside the raster, \
                     whose extent is {bx0},{by0},{bx1},{by1}"
                ),
            ));
        }
    }
    let a = [xmin, ymax, xmax, ymin].map(|v| v.to_string());
    translate(ds, &["-projwin", &a[0], &a[1], &a[2], &a[3]])
        .map_err(|e| Error::raster(path, format!("the extent {extent:?} does not select any pixel of the raster: {e}")))
}

/// GDALTranslate into a virtual dataset with `args`.
fn translate(ds: &Dataset, args: &[&str]) -> std::result::Result<Dataset, String> {
    let args: Vec<&str> = ["-of", "VRT"].iter().copied().chain(args.iter().copied()).collect();
    gdal_translate(ds, &args).map_err(|e| match e {
        UtilityError::Arguments => format!("invalid options {args:?}"),
        UtilityError::Failed(msg) => msg,
    })
}

/// `[xmin, ymin, xmax, ymax]` of a north-up raster in its CRS (None: rotated or not georeferenced).
fn bounds(ds: &Dataset) -> Option<[f64; 4]> {
    let gt = ds.geo_transform().ok()?;
    if gt[2] != 0.0 || gt[4] != 0.0 {
        return None;
    }
    let (w, h) = ds.raster_size();
    let (xa, xb) = (gt[0], gt[0] + w as f64 * gt[1]);
    let (ya, yb) = (gt[3], gt[3] + h as f64 * gt[5]);
    Some([xa.min(xb), ya.min(yb), xa.max(xb), ya.max(yb)])
}

/// The pixels of `view` (a crop and/or resampling of `source`) that lie on `source`:
/// `[x0, y0, x1, y1]`, or None when every pixel does. Pixels outside it hold no data.
pub fn footprint(source: &Dataset, view: &Dataset) -> Option<[usize; 4]> {
    let ([sx0, sy0, sx1, sy1], gt) = (bounds(source)?, view.geo_transform().ok()?);
    if gt[2] != 0.0 || gt[4] != 0.0 {
        return None;
    }
    let (w, h) = view.raster_size();
    // Source bounds in view pixels (a view pixel counts when its centre lies on the source).
    let col = |x: f64| ((x - gt[0]) / gt[1]).round().clamp(0.0, w as f64) as usize;
    let row = |y: f64| ((y - gt[3]) / gt[5]).round().clamp(0.0, h as f64) as usize;
    let (c0, c1) = (col(sx0).min(col(sx1)), col(sx0).max(col(sx1)));
    let (r0, r1) = (row(sy0).min(row(sy1)), row(sy0).max(row(sy1)));
    (c0 > 0 || r0 > 0 || c1 < w || r1 < h).then_some([c0, r0, c1, r1])
}
