//! Opening a raster and the facts about it that planning needs: the lowest part of `raster/`,
//! on which the tile reader (`input`) and the area masks (`mask`) both build.

use std::path::Path;

use gdal::Gcp;
use gdal::{Dataset, Metadata};

use crate::error::{Error, Result};

/// Facts about a raster that planning needs, without keeping it open.
#[derive(Debug, Clone, Default)]
pub struct RasterInfo {
    pub width: usize,
    pub height: usize,
    pub band_count: usize,
    pub geo_transform: Option<[f64; 6]>,
    pub projection: String,
    /// Georeferencing by points or a sensor model instead of (or beside) a geotransform.
    pub control: Control,
}

/// Ground control points (with their CRS) and RPC coefficients (GDAL's `RPC` metadata domain,
/// `KEY=VALUE`): what georeferences raw satellite scenes that carry no geotransform.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Control {
    pub gcps: Vec<Gcp>,
    pub gcp_projection: String,
    pub rpc: Vec<String>,
}

impl Control {
    pub fn of(ds: &Dataset) -> Control {
        Control {
            gcps: ds.gcps().iter().map(Gcp::from).collect(),
            gcp_projection: ds.gcp_projection().unwrap_or_default(),
            rpc: ds.metadata_domain("RPC").unwrap_or_default(),
        }
    }

    /// True when there are neither GCPs nor RPCs.
    pub fn is_empty(&self) -> bool {
        self.gcps.is_empty() && self.rpc.is_empty()
    }

    /// The same points and model for an output grid whose pixel `u` is input pixel
    /// `offset + step * u` on each axis (x, y), in GDAL's corner convention.
    pub fn mapped(&self, offset: [f64; 2], step: [f64; 2]) -> Control {
        let gcps = self
            .gcps
            .iter()
            .map(|g| Gcp { pixel: (g.pixel - offset[0]) / step[0], line: (g.line - offset[1]) / step[1], ..g.clone() })
            .collect();
        // RPC image coordinates are pixel centres (GDAL adds half a pixel): map the centre.
        let rpc = self
            .rpc
            .iter()
            .map(|kv| {
                let Some((key, value)) = kv.split_once('=') else { return kv.clone() };
                let v: Option<f64> = value.trim().parse().ok();
                let axis = if key.starts_with("SAMP_") { 0 } else { 1 };
                match (key, v) {
                    ("SAMP_OFF" | "LINE_OFF", Some(v)) => {
                        format!("{key}={}", (v + 0.5 - offset[axis]) / step[axis] - 0.5)
                    }
                    ("SAMP_SCALE" | "LINE_SCALE", Some(v)) => format!("{key}={}", v / step[axis]),
                    _ => kv.clone(),
                }
            })
            .collect();
        Control { gcps, gcp_projection: self.gcp_projection.clone(), rpc }
    }
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
        control: Control::of(ds),
    }
}
