//! Masks limiting a run to an area: a polygon layer (any OGR source: GeoPackage, GeoJSON,
//! Shapefile...) or a raster on the input grid (non-zero = inside). Pixels outside are invalid,
//! so they are written as nodata and a tile wholly outside is skipped. Polygons are burnt per
//! tile window, never for the whole raster, so memory stays bounded.

use std::path::{Path, PathBuf};

use gdal::raster::{rasterize, RasterizeOptions};
use gdal::spatial_ref::SpatialRef;
use gdal::vector::{Geometry, LayerAccess};
use gdal::{Dataset, DriverManager};

use crate::error::{Error, Result};
use crate::raster::info::RasterInfo;

pub enum Mask {
    Raster { path: PathBuf, ds: Dataset },
    Polygons { geometries: Vec<Geometry>, geo_transform: [f64; 6], projection: String },
}

impl Mask {
    /// Opens `path` as a mask for rasters described by `info`.
    pub fn open(path: &Path, info: &RasterInfo) -> Result<Mask> {
        let ds = Dataset::open(path).map_err(|e| {
            Error::io(path, format!("cannot open the mask: {}", crate::raster::info::why_not_opened(path, e)))
        })?;
        if ds.raster_count() > 0 {
            let (w, h) = ds.raster_size();
            if (w, h) != (info.width, info.height) {
                return Err(Error::raster(
                    path,
                    format!("mask raster is {w}x{h}, the input grid is {}x{}", info.width, info.height),
                ));
            }
            return Ok(Mask::Raster { path: path.to_path_buf(), ds });
        }
        let geo_transform = info
            .geo_transform
            .ok_or_else(|| Error::raster(path, "a polygon mask needs a georeferenced input raster"))?;
        let target = (!info.projection.is_empty()).then(|| SpatialRef::from_wkt(&info.projection)).transpose();
        let target = target.map_err(|e| Error::raster(path, format!("the input's CRS: {e}")))?;
        let mut geometries = Vec::new();
        for mut layer in ds.layers() {
            let source = layer.spatial_ref();
            for feature in layer.features() {
                let Some(g) = feature.geometry() else { continue };
                let g = match (&source, &target) {
                    (Some(_), Some(t)) => {
                        g.transform_to(t).map_err(|e| Error::io(path, format!("reprojecting the mask: {e}")))?
                    }
                    _ => g.clone(),
                };
                geometries.push(g);
            }
        }
        if geometries.is_empty() {
            return Err(Error::io(path, "the mask has no raster band and no geometry"));
        }
        Ok(Mask::Polygons { geometries, geo_transform, projection: info.projection.clone() })
    }

    /// 1 inside, 0 outside, for the window at (`x`, `y`) of size `w` x `h` of the input grid.
    pub fn window(&self, x: usize, y: usize, w: usize, h: usize) -> Result<Vec<u8>> {
        let mut out = vec![0u8; w * h];
        match self {
            Mask::Raster { path, ds } => {
                let band = ds.rasterband(1).map_err(|e| Error::raster(path, e))?;
                band.read_into_slice::<u8>((x as isize, y as isize), (w, h), (w, h), &mut out, None)
                    .map_err(|e| Error::raster(path, format!("reading the mask: {e}")))?;
                for v in out.iter_mut() {
                    *v = (*v != 0) as u8;
                }
            }
            Mask::Polygons { geometries, geo_transform: g, projection } => {
                let mem = DriverManager::get_driver_by_name("MEM").map_err(|e| Error::Internal(e.to_string()))?;
                let mut ds =
                    mem.create_with_band_type::<u8, _>("", w, h, 1).map_err(|e| Error::Internal(e.to_string()))?;
                let (fx, fy) = (x as f64, y as f64);
                let gt = [g[0] + fx * g[1] + fy * g[2], g[1], g[2], g[3] + fx * g[4] + fy * g[5], g[4], g[5]];
                ds.set_geo_transform(&gt).map_err(|e| Error::Internal(e.to_string()))?;
                if !projection.is_empty() {
                    ds.set_projection(projection).map_err(|e| Error::Internal(e.to_string()))?;
                }
                let burn = vec![1.0; geometries.len()];
                rasterize(&mut ds, &[1], geometries, &burn, Some(RasterizeOptions::default()))
                    .map_err(|e| Error::Internal(format!("burning the mask: {e}")))?;
                let band = ds.rasterband(1).map_err(|e| Error::Internal(e.to_string()))?;
                band.read_into_slice::<u8>((0, 0), (w, h), (w, h), &mut out, None)
                    .map_err(|e| Error::Internal(e.to_string()))?;
            }
        }
        Ok(out)
    }
}
