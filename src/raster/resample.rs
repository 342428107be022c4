//! Resampling the input to the model's ground resolution with GDAL's own machinery: a virtual
//! (VRT) dataset made by GDALTranslate `-tr`, read lazily window by window like any raster, so
//! the source is never loaded whole. Outputs are then written on that grid.

use std::ffi::CString;
use std::path::Path;

use gdal::Dataset;

use crate::error::{Error, Result};

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
    let args = ["-of", "VRT", "-tr", &res.to_string(), &res.to_string(), "-r", alg];
    let c_args: Vec<CString> = args.iter().map(|a| CString::new(*a).unwrap_or_default()).collect();
    let mut argv: Vec<*mut libc::c_char> = c_args.iter().map(|c| c.as_ptr() as *mut _).collect();
    argv.push(std::ptr::null_mut());
    let empty = CString::default();
    // SAFETY: argv is NULL-terminated and outlives the call; GDAL copies what it keeps.
    unsafe {
        let opts = gdal_sys::GDALTranslateOptionsNew(argv.as_mut_ptr(), std::ptr::null_mut());
        if opts.is_null() {
            return Err(Error::raster(path, format!("invalid resampling options {args:?}")));
        }
        let mut usage_error: libc::c_int = 0;
        let out = gdal_sys::GDALTranslate(empty.as_ptr(), ds.c_dataset(), opts, &mut usage_error);
        gdal_sys::GDALTranslateOptionsFree(opts);
        if out.is_null() {
            return Err(Error::raster(path, format!("GDAL could not resample to {res} map units per pixel")));
        }
        Ok(Dataset::from_c_dataset(out))
    }
}
