//! Training chips from GeoTIFFs, read lazily window by window through the engine's own reader
//! (`rastrum::raster::input::InputRaster`), so that training sees exactly the preprocessing
//! (band selection, scale, offset, mean, std, nodata) that `rastrum run` applies to the model.

use std::path::{Path, PathBuf};

use rastrum::raster::input::{self, InputRaster, Preprocess};
use rastrum::{Error, Result};

/// A grid of `size` x `size` chips over an image raster, each with a regression target: the
/// sum of a label band over the chip (the population seed's layout: band 1 light, band 2
/// population, in one file).
pub struct RegressionChips {
    pub image: PathBuf,
    pub bands: Vec<usize>,
    pub pre: Preprocess,
    pub size: usize,
    /// Top-left pixel of each chip kept.
    pub origins: Vec<(usize, usize)>,
    pub targets: Vec<f32>,
}

impl RegressionChips {
    /// Chips on a grid with `stride`, their targets summed from `label_band`, kept when `keep`
    /// accepts the target (e.g. only chips whose target sum > 0).
    pub fn grid(
        image: &Path,
        bands: &[usize],
        label_band: usize,
        pre: Preprocess,
        size: usize,
        stride: usize,
        keep: impl Fn(f32) -> bool,
    ) -> Result<RegressionChips> {
        let ds = input::open(image)?;
        let (w, h) = ds.raster_size();
        if w < size || h < size {
            return Err(Error::raster(image, format!("is {w}x{h}, smaller than one {size}-pixel chip")));
        }
        let band =
            ds.rasterband(label_band).map_err(|e| Error::raster(image, format!("label band {label_band}: {e}")))?;
        let mut origins = Vec::new();
        let mut targets = Vec::new();
        let mut buf = vec![0f64; size * size];
        for y in (0..=h - size).step_by(stride) {
            for x in (0..=w - size).step_by(stride) {
                band.read_into_slice::<f64>((x as isize, y as isize), (size, size), (size, size), &mut buf, None)
                    .map_err(|e| Error::raster(image, e))?;
                let t = buf.iter().sum::<f64>() as f32;
                if keep(t) {
                    origins.push((x, y));
                    targets.push(t);
                }
            }
        }
        Ok(RegressionChips { image: image.to_path_buf(), bands: bands.to_vec(), pre, size, origins, targets })
    }

    pub fn len(&self) -> usize {
        self.origins.len()
    }

    pub fn is_empty(&self) -> bool {
        self.origins.is_empty()
    }

    /// The model inputs of chips `indices`, `[n, bands, size, size]` flattened.
    pub fn inputs(&self, indices: &[usize]) -> Result<Vec<f32>> {
        let ds = input::open(&self.image)?;
        let reader = InputRaster::new(&self.image, ds, &self.bands, None, None, self.pre.clone())?;
        let mut out = Vec::with_capacity(indices.len() * self.bands.len() * self.size * self.size);
        for &i in indices {
            let (x, y) = self.origins[i];
            out.extend(reader.read_tile(x as i64, y as i64, self.size, None)?.data);
        }
        Ok(out)
    }
}
