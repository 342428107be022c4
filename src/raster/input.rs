//! Reading model input tiles from any GDAL raster: band selection, per-pixel validity (nodata,
//! alpha or mask band, non-finite values, an optional area mask), scaling and standardisation, reflect padding where a
//! window reaches past the raster.

use std::path::{Path, PathBuf};

use gdal::raster::GdalDataType;
use gdal::Dataset;

use crate::error::{Error, Result};
use crate::grid::{mirror, PadMode};
use crate::raster::mask::Mask;
// Where the engine and the trainer have always found them.
pub use crate::raster::info::{info, open, RasterInfo};

/// How the validity of one band's pixels is known.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Validity {
    AllValid,
    NoData(f64),
    /// GDAL's mask band (alpha band, per-dataset or explicit .msk mask).
    MaskBand,
}

/// Per-band preprocessing: `x = ((raw * scale + offset) - mean) / std`, in f64, then f32.
#[derive(Debug, Clone, PartialEq)]
pub struct Preprocess {
    pub scale: Vec<f64>,
    pub offset: Vec<f64>,
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl Preprocess {
    #[inline]
    pub fn apply(&self, band: usize, raw: f64) -> f32 {
        (((raw * self.scale[band] + self.offset[band]) - self.mean[band]) / self.std[band]) as f32
    }
}

/// One tile as the model sees it.
#[derive(Debug, Clone)]
pub struct TileData {
    /// `[bands, size, size]`, invalid pixels set to 0 (the band mean after standardisation).
    pub data: Vec<f32>,
    /// `[size, size]`: 1 where the pixel lies in the raster and is valid.
    pub valid: Vec<u8>,
    /// Raw values of the weight band, `[size, size]`, when redistribution asks for one.
    pub weight: Option<Vec<f64>>,
    /// True when at least one pixel in the raster part of the window is valid.
    pub any_valid: bool,
}

/// An open input raster with its band selection resolved.
pub struct InputRaster {
    pub path: PathBuf,
    ds: Dataset,
    pub info: RasterInfo,
    bands: Vec<usize>,
    validity: Vec<Validity>,
    weight_band: Option<usize>,
    pre: Preprocess,
    /// How windows reaching past the raster are filled.
    pub pad_mode: PadMode,
}

impl InputRaster {
    /// Opens `path` (or uses an already opened dataset) and checks the band selection.
    pub fn new(
        path: &Path,
        ds: Dataset,
        bands: &[usize],
        nodata: Option<f64>,
        weight_band: Option<usize>,
        pre: Preprocess,
    ) -> Result<InputRaster> {
        let info = info(&ds);
        if info.width == 0 || info.height == 0 {
            return Err(Error::raster(path, "has zero size"));
        }
        for &b in bands.iter().chain(weight_band.iter()) {
            if b == 0 || b > info.band_count {
                return Err(Error::raster(
                    path,
                    format!("band {b} is out of range: the raster has {} band(s), numbered from 1", info.band_count),
                ));
            }
        }
        let mut validity = Vec::with_capacity(bands.len());
        for &b in bands {
            let band = ds.rasterband(b).map_err(|e| Error::raster(path, format!("band {b}: {e}")))?;
            if band.band_type() == GdalDataType::Unknown {
                return Err(Error::raster(path, format!("band {b} has a data type Rastrum cannot read")));
            }
            let v = if let Some(nd) = nodata {
                Validity::NoData(nd)
            } else {
                let flags = band.mask_flags().map_err(|e| Error::raster(path, format!("band {b}: {e}")))?;
                if flags.is_all_valid() {
                    Validity::AllValid
                } else if flags.is_nodata() {
                    band.no_data_value().map_or(Validity::AllValid, Validity::NoData)
                } else {
                    Validity::MaskBand
                }
            };
            validity.push(v);
        }
        Ok(InputRaster {
            path: path.to_path_buf(),
            ds,
            info,
            bands: bands.to_vec(),
            validity,
            weight_band,
            pre,
            pad_mode: PadMode::default(),
        })
    }

    pub fn band_count(&self) -> usize {
        self.bands.len()
    }

    /// Reads a window of `band` (its data, or with `mask` its GDAL mask band) into `out`.
    fn read_window<T: Copy + gdal::raster::GdalType>(
        &self,
        band: usize,
        mask: bool,
        (x, y, w, h): (usize, usize, usize, usize),
        out: &mut [T],
    ) -> Result<()> {
        let what = if mask { "the mask of band" } else { "band" };
        let fail = |e: gdal::errors::GdalError| Error::raster(&self.path, format!("{what} {band}: {e}"));
        let b = self.ds.rasterband(band).map_err(fail)?;
        let mut read = |b: &gdal::raster::RasterBand| {
            b.read_into_slice::<T>((x as isize, y as isize), (w, h), (w, h), out, None).map_err(|e| {
                Error::raster(&self.path, format!("reading {what} {band} at ({x}, {y}) size {w}x{h}: {e}"))
            })
        };
        if mask {
            read(&b.open_mask_band().map_err(fail)?)
        } else {
            read(&b)
        }
    }

    /// Reads the `size` x `size` window whose top-left input pixel is (`x0`, `y0`); pixels
    /// outside the `area` mask are invalid.
    pub fn read_tile(&self, x0: i64, y0: i64, size: usize, area: Option<&Mask>) -> Result<TileData> {
        let (w, h) = (self.info.width, self.info.height);
        // Source pixels each tile row / column maps to (identity inside the raster).
        let xs: Vec<usize> = (0..size as i64).map(|j| mirror(x0 + j, w, self.pad_mode)).collect();
        let ys: Vec<usize> = (0..size as i64).map(|i| mirror(y0 + i, h, self.pad_mode)).collect();
        let (rx0, rx1) = (*xs.iter().min().unwrap_or(&0), *xs.iter().max().unwrap_or(&0) + 1);
        let (ry0, ry1) = (*ys.iter().min().unwrap_or(&0), *ys.iter().max().unwrap_or(&0) + 1);
        let (rw, rh) = (rx1 - rx0, ry1 - ry0);

        // Validity of the read region: every selected band valid and finite.
        let nb = self.bands.len();
        let mut raw = vec![0f64; nb * rw * rh];
        let mut ok = vec![1u8; rw * rh];
        let mut mask = Vec::new();
        for (i, &band) in self.bands.iter().enumerate() {
            let buf = &mut raw[i * rw * rh..(i + 1) * rw * rh];
            self.read_window(band, false, (rx0, ry0, rw, rh), buf)?;
            match self.validity[i] {
                Validity::AllValid => {}
                Validity::NoData(nd) => {
                    for (o, v) in ok.iter_mut().zip(buf.iter()) {
                        if *v == nd || (nd.is_nan() && v.is_nan()) {
                            *o = 0;
                        }
                    }
                }
                Validity::MaskBand => {
                    mask.resize(rw * rh, 0);
                    self.read_window(band, true, (rx0, ry0, rw, rh), &mut mask)?;
                    for (o, m) in ok.iter_mut().zip(mask.iter()) {
                        if *m == 0 {
                            *o = 0;
                        }
                    }
                }
            }
            for (o, v) in ok.iter_mut().zip(buf.iter()) {
                if !v.is_finite() {
                    *o = 0;
                }
            }
        }

        if let Some(area) = area {
            for (o, m) in ok.iter_mut().zip(area.window(rx0, ry0, rw, rh)?) {
                *o &= m;
            }
        }

        // Row by row and band by band over contiguous slices: the hot loop of the reader.
        let cols: Vec<usize> = xs.iter().map(|&sx| sx - rx0).collect();
        let x_inside: Vec<bool> = (0..size as i64).map(|j| (0..w as i64).contains(&(x0 + j))).collect();
        let mut data = vec![0f32; nb * size * size];
        let mut valid = vec![0u8; size * size];
        let mut any_valid = false;
        for (ti, &sy) in ys.iter().enumerate() {
            if !(0..h as i64).contains(&(y0 + ti as i64)) {
                continue;
            }
            let ok_row = &ok[(sy - ry0) * rw..][..rw];
            for ((v, &c), &inside) in valid[ti * size..][..size].iter_mut().zip(&cols).zip(&x_inside) {
                *v = (inside && ok_row[c] == 1) as u8;
                any_valid |= *v == 1;
            }
        }
        // Values that f32 cannot hold after preprocessing (a float64 raster's extremes) make
        // their pixel invalid rather than feeding the model infinities.
        let mut overflow = Vec::new();
        for b in 0..nb {
            let band = &raw[b * rw * rh..][..rw * rh];
            for (ti, &sy) in ys.iter().enumerate() {
                let row = (sy - ry0) * rw;
                let (src, ok_row) = (&band[row..][..rw], &ok[row..][..rw]);
                for (tj, (d, &c)) in data[(b * size + ti) * size..][..size].iter_mut().zip(&cols).enumerate() {
                    if ok_row[c] == 1 {
                        *d = self.pre.apply(b, src[c]);
                        if !d.is_finite() {
                            *d = 0.0;
                            overflow.push(ti * size + tj);
                        }
                    }
                }
            }
        }
        if !overflow.is_empty() {
            for i in overflow {
                valid[i] = 0;
            }
            any_valid = valid.contains(&1);
        }

        let weight = match self.weight_band {
            None => None,
            Some(band) => {
                let mut buf = vec![0f64; rw * rh];
                self.read_window(band, false, (rx0, ry0, rw, rh), &mut buf)?;
                let mut out = vec![0f64; size * size];
                for (ti, &sy) in ys.iter().enumerate() {
                    for (tj, &sx) in xs.iter().enumerate() {
                        let v = buf[(sy - ry0) * rw + sx - rx0];
                        out[ti * size + tj] = if v.is_finite() { v } else { 0.0 };
                    }
                }
                Some(out)
            }
        };
        Ok(TileData { data, valid, weight, any_valid })
    }
}
