//! One frame's source and its warps: a box of EPSG:3857 onto a W x H grid by GDAL's own warper
//! (`GDALWarp`, the library behind `gdalwarp`, called with the arguments the documentation
//! gives, so `gdalwarp -t_srs EPSG:3857 -te ... -ts W H -r ALG -dstalpha` reproduces a tile),
//! then coloured into RGBA. Sources use their overviews when a zoom is coarser, as gdalwarp does.

use std::path::{Path, PathBuf};

use gdal::programs::raster::{build_vrt, BuildVRTOptions};
use gdal::raster::ColorInterpretation;
use gdal::Dataset;

use crate::error::{Error, Result};
use crate::raster::gdal::{warp, UtilityError};
use crate::raster::input::open;
use crate::tiles::colour::Colouring;

/// A frame's raster opened for warping, reduced to the bands that are drawn.
pub struct Source {
    pub path: PathBuf,
    ds: Dataset,
    /// Warped bands to read: 1..=bands of the warped dataset.
    bands: usize,
}

/// Warped values of one box: `bands` vectors of W*H values and GDAL's validity (0 or 255).
pub struct Warped {
    pub width: usize,
    pub height: usize,
    pub bands: Vec<Vec<f64>>,
    pub alpha: Vec<u8>,
}

impl Source {
    /// Opens `path` for drawing its 1-based `bands`. When they are the raster's first bands (and
    /// at most one band more, such as an alpha band, follows), the raster is warped as it is;
    /// otherwise through a virtual dataset of just those bands (gdalwarp of GDAL 3.6 cannot pick
    /// bands itself).
    pub fn open(path: &Path, bands: &[usize]) -> Result<Source> {
        let ds = open(path)?;
        let count = ds.raster_count();
        let prefix = bands.iter().enumerate().all(|(i, b)| *b == i + 1);
        let ds = if prefix && count <= bands.len() + 1 {
            ds
        } else {
            let mut args = Vec::new();
            for b in bands {
                args.push("-b".to_string());
                args.push(b.to_string());
            }
            let opts = BuildVRTOptions::new(args).map_err(|e| Error::Internal(format!("gdalbuildvrt options: {e}")))?;
            build_vrt(None, &[ds], Some(opts))
                .map_err(|e| Error::raster(path, format!("cannot select bands {bands:?}: {e}")))?
        };
        Ok(Source { path: path.to_path_buf(), ds, bands: bands.len() })
    }

    /// Warps `[xmin, ymin, xmax, ymax]` (EPSG:3857 metres) onto `width` x `height` pixels.
    pub fn warp(&self, bounds: [f64; 4], width: usize, height: usize, resampling: &str) -> Result<Warped> {
        let out = gdal_warp(&self.ds, &warp_args(bounds, width, height, resampling))
            .map_err(|e| Error::raster(&self.path, format!("GDAL could not warp it to EPSG:3857: {e}")))?;
        let read_err = |e: gdal::errors::GdalError| Error::raster(&self.path, format!("reading the warped tile: {e}"));
        let mut bands = Vec::with_capacity(self.bands);
        for b in 1..=self.bands {
            let band = out.rasterband(b).map_err(read_err)?;
            bands.push(
                band.read_as::<f64>((0, 0), (width, height), (width, height), None)
                    .map_err(read_err)?
                    .into_shape_and_vec()
                    .1,
            );
        }
        // The warped dataset's validity: the alpha band that -dstalpha adds last. (Not band 1's
        // mask band: GDAL only takes an alpha band of a Byte or UInt16 dataset as the mask.)
        let band = out.rasterband(out.raster_count()).map_err(read_err)?;
        if band.color_interpretation() != ColorInterpretation::AlphaBand {
            return Err(Error::Internal("the warped dataset has no alpha band".into()));
        }
        let alpha = band.read_as::<f64>((0, 0), (width, height), (width, height), None).map_err(read_err)?;
        let alpha = alpha.data().iter().map(|a| a.round().clamp(0.0, 255.0) as u8).collect();
        Ok(Warped { width, height, bands, alpha })
    }

    /// Warps and colours: RGBA pixels, or None when no pixel is visible.
    pub fn render(
        &self,
        bounds: [f64; 4],
        width: usize,
        height: usize,
        resampling: &str,
        colouring: &Colouring,
    ) -> Result<Option<Vec<u8>>> {
        let w = self.warp(bounds, width, height, resampling)?;
        if w.alpha.iter().all(|a| *a == 0) {
            return Ok(None);
        }
        let rgba = colouring.apply(&w.bands, &w.alpha);
        Ok(rgba.chunks_exact(4).any(|p| p[3] > 0).then_some(rgba))
    }
}

/// The gdalwarp arguments of one warp (also what docs/tiles.md shows).
pub fn warp_args(bounds: [f64; 4], width: usize, height: usize, resampling: &str) -> Vec<String> {
    let mut a: Vec<String> = ["-of", "MEM", "-t_srs", "EPSG:3857", "-te"].iter().map(|s| s.to_string()).collect();
    // Shortest round-trip text: the same numbers a user copies from tiles.json.
    a.extend(bounds.iter().map(|v| format!("{v:?}")));
    a.extend(["-ts".into(), width.to_string(), height.to_string(), "-r".into(), resampling.into(), "-dstalpha".into()]);
    a
}

/// GDALWarp of one source into a new in-memory dataset.
fn gdal_warp(src: &Dataset, args: &[String]) -> std::result::Result<Dataset, String> {
    warp(src, args).map_err(|e| match e {
        UtilityError::Arguments => format!("invalid gdalwarp options {args:?}"),
        UtilityError::Failed(msg) => msg,
    })
}
