//! Opening a raster and the facts about it that planning needs: the lowest part of `raster/`,
//! on which the tile reader (`input`) and the area masks (`mask`) both build.

use std::path::Path;

use gdal::Dataset;

use crate::error::{Error, Result};

/// Facts about a raster that planning needs, without keeping it open.
#[derive(Debug, Clone)]
pub struct RasterInfo {
    pub width: usize,
    pub height: usize,
    pub band_count: usize,
    pub geo_transform: Option<[f64; 6]>,
    pub projection: String,
}

pub fn open(path: &Path) -> Result<Dataset> {
    let s = path.to_string_lossy();
    if !s.starts_with("/vsi") && !path.exists() && !s.contains(':') {
        return Err(Error::io(path, "input raster does not exist"));
    }
    Dataset::open(path).map_err(|e| Error::raster(path, format!("GDAL cannot open it: {e}")))
}

pub fn info(ds: &Dataset) -> RasterInfo {
    let (width, height) = ds.raster_size();
    RasterInfo {
        width,
        height,
        band_count: ds.raster_count(),
        geo_transform: ds.geo_transform().ok(),
        projection: ds.projection(),
    }
}
