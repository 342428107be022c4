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
    Dataset::open(path).map_err(|e| Error::raster(path, format!("GDAL cannot open it: {}", why_not_opened(path, e))))
}

/// Why GDAL opened nothing, in words: GDAL's own message when it gave one, else what the path
/// is (missing, not a regular file, a format no driver reads) rather than "returned a NULL
/// pointer. Error msg: ''".
pub fn why_not_opened(path: &Path, e: gdal::errors::GdalError) -> String {
    if let gdal::errors::GdalError::NullPointer { msg, .. } = &e {
        if !msg.is_empty() {
            return msg.clone();
        }
        let vsi = path.to_string_lossy().starts_with("/vsi");
        return match std::fs::metadata(path) {
            Err(_) if !vsi && path.to_string_lossy().contains(':') => {
                "the file does not exist (a name with ':' may also be read as a GDAL connection string)".into()
            }
            Err(_) if !vsi => "the file does not exist".into(),
            Ok(m) if !m.is_file() && !m.is_dir() => "it is not a regular file".into(),
            _ => "no GDAL driver recognises it".into(),
        };
    }
    e.to_string()
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
