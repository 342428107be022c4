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
pub fn crop(ds: &Dataset, path: &Path, extent: [f64; 4]) -> Result<Dataset> {
    let [xmin, ymin, xmax, ymax] = extent;
    if !(xmin < xmax && ymin < ymax) || extent.iter().any(|v| !v.is_finite()) {
        return Err(Error::invalid(format!("extent {extent:?} is not xmin,ymin,xmax,ymax with min < max")));
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
