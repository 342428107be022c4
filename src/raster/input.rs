//! Reading model input tiles from any GDAL raster: band selection, per-pixel validity (nodata,
//! alpha or mask band, non-finite values, an optional area mask), scaling and standardisation, reflect padding where a
//! window reaches past the raster.

use std::path::{Path, PathBuf};

use gdal::raster::GdalDataType;
use gdal::{Dataset, Metadata};

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
    /// Per selected band: signed bytes (GDAL 3.6 has no Int8 type: a Byte band marked
    /// `PIXELTYPE=SIGNEDBYTE`), read as 0..255 and mapped to -128..127.
    signed: Vec<bool>,
    weight_band: Option<usize>,
    pre: Preprocess,
    /// How windows reaching past the raster are filled.
    pub pad_mode: PadMode,
    /// `[x0, y0, x1, y1]`: the only pixels that hold data (an extent reaching past its source
    /// raster); pixels outside are invalid. None: all.
    pub footprint: Option<[usize; 4]>,
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
        let mut signed = Vec::with_capacity(bands.len());
        for &b in bands {
            let band = ds.rasterband(b).map_err(|e| Error::raster(path, format!("band {b}: {e}")))?;
            if band.band_type() == GdalDataType::Unknown {
                return Err(Error::raster(path, format!("band {b} has a data type Rastrum cannot read")));
            }
            // Nodata is compared in the band's own type: pixels are read as f64, so a Float32
            // band's 0.1 is 0.100000001490116 and must meet the nodata rounded to f32 likewise.
            let in_band_type = |nd: f64| if band.band_type() == GdalDataType::Float32 { nd as f32 as f64 } else { nd };
            let v = if let Some(nd) = nodata {
                Validity::NoData(in_band_type(nd))
            } else {
                let flags = band.mask_flags().map_err(|e| Error::raster(path, format!("band {b}: {e}")))?;
                if flags.is_all_valid() {
                    Validity::AllValid
                } else if flags.is_nodata() {
                    band.no_data_value().map_or(Validity::AllValid, |nd| Validity::NoData(in_band_type(nd)))
                } else {
                    Validity::MaskBand
                }
            };
            validity.push(v);
            signed.push(
                band.band_type() == GdalDataType::UInt8
                    && band.metadata_item("PIXELTYPE", "IMAGE_STRUCTURE").as_deref() == Some("SIGNEDBYTE"),
            );
        }
        Ok(InputRaster {
            path: path.to_path_buf(),
            ds,
            info,
            bands: bands.to_vec(),
            validity,
            signed,
            weight_band,
            pre,
            pad_mode: PadMode::default(),
            footprint: None,
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
        let region = Region::of_window(x0, y0, size, (self.info.width, self.info.height), self.pad_mode);
        let (raw, ok) = self.read_region(&region, area)?;
        let (mut valid, mut any_valid) = self.tile_validity(&region, &ok, (x0, y0), size);
        let mut data = vec![0f32; self.bands.len() * size * size];
        // Values that f32 cannot hold after preprocessing (a float64 raster's extremes) make
        // their pixel invalid rather than feeding the model infinities.
        let overflow = self.fill_values(&region, &raw, &ok, size, &mut data);
        if !overflow.is_empty() {
            for i in overflow {
                valid[i] = 0;
            }
            any_valid = valid.contains(&1);
        }
        let weight = self.read_weight(&region, size)?;
        Ok(TileData { data, valid, weight, any_valid })
    }

    /// The selected bands' raw values over the region (band after band) and the region's
    /// validity: 1 where every selected band is valid and finite and the `area` mask is inside.
    fn read_region(&self, r: &Region, area: Option<&Mask>) -> Result<(Vec<f64>, Vec<u8>)> {
        let (rw, rh) = (r.w, r.h);
        let nb = self.bands.len();
        let mut raw = vec![0f64; nb * rw * rh];
        let mut ok = vec![1u8; rw * rh];
        let mut mask = Vec::new();
        for (i, &band) in self.bands.iter().enumerate() {
            let buf = &mut raw[i * rw * rh..(i + 1) * rw * rh];
            self.read_window(band, false, r.window(), buf)?;
            if self.signed[i] {
                for v in buf.iter_mut().filter(|v| **v > 127.0) {
                    *v -= 256.0;
                }
            }
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
                    self.read_window(band, true, r.window(), &mut mask)?;
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
            for (o, m) in ok.iter_mut().zip(area.window(r.x0, r.y0, rw, rh)?) {
                *o &= m;
            }
        }
        if let Some([fx0, fy0, fx1, fy1]) = self.footprint {
            for (i, o) in ok.iter_mut().enumerate() {
                let (x, y) = (r.x0 + i % rw, r.y0 + i / rw);
                if x < fx0 || x >= fx1 || y < fy0 || y >= fy1 {
                    *o = 0;
                }
            }
        }
        Ok((raw, ok))
    }

    /// The tile's validity, `[size, size]`: 1 where the tile pixel lies in the raster and its
    /// source pixel is valid; and whether any pixel is.
    fn tile_validity(&self, r: &Region, ok: &[u8], (x0, y0): (i64, i64), size: usize) -> (Vec<u8>, bool) {
        let (w, h) = (self.info.width, self.info.height);
        let x_inside: Vec<bool> = (0..size as i64).map(|j| (0..w as i64).contains(&(x0 + j))).collect();
        let mut valid = vec![0u8; size * size];
        let mut any_valid = false;
        for (ti, &row) in r.rows.iter().enumerate() {
            if !(0..h as i64).contains(&(y0 + ti as i64)) {
                continue;
            }
            let ok_row = &ok[row * r.w..][..r.w];
            for ((v, &c), &inside) in valid[ti * size..][..size].iter_mut().zip(&r.cols).zip(&x_inside) {
                *v = (inside && ok_row[c] == 1) as u8;
                any_valid |= *v == 1;
            }
        }
        (valid, any_valid)
    }

    /// Preprocessed values of the valid pixels into `data` (`[bands, size, size]`), row by row
    /// and band by band over contiguous slices: the hot loop of the reader. Returns the tile
    /// pixels whose value overflowed f32 (set to 0).
    fn fill_values(&self, r: &Region, raw: &[f64], ok: &[u8], size: usize, data: &mut [f32]) -> Vec<usize> {
        let (rw, rh) = (r.w, r.h);
        let mut overflow = Vec::new();
        for b in 0..self.bands.len() {
            let band = &raw[b * rw * rh..][..rw * rh];
            for (ti, &row) in r.rows.iter().enumerate() {
                let row = row * rw;
                let (src, ok_row) = (&band[row..][..rw], &ok[row..][..rw]);
                for (tj, (d, &c)) in data[(b * size + ti) * size..][..size].iter_mut().zip(&r.cols).enumerate() {
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
        overflow
    }

    /// The weight band's raw values over the tile, `[size, size]` (non-finite as 0), when
    /// redistribution asks for one.
    fn read_weight(&self, r: &Region, size: usize) -> Result<Option<Vec<f64>>> {
        let Some(band) = self.weight_band else { return Ok(None) };
        let mut buf = vec![0f64; r.w * r.h];
        self.read_window(band, false, r.window(), &mut buf)?;
        let mut out = vec![0f64; size * size];
        for (ti, &row) in r.rows.iter().enumerate() {
            for (tj, &c) in r.cols.iter().enumerate() {
                let v = buf[row * r.w + c];
                out[ti * size + tj] = if v.is_finite() { v } else { 0.0 };
            }
        }
        Ok(Some(out))
    }
}

/// The raster pixels a tile window reads: the box (`x0`, `y0`, `w` x `h`) holding them, and for
/// each tile column and row its source column and row within the box (the identity inside the
/// raster, mirrored past its edges).
struct Region {
    cols: Vec<usize>,
    rows: Vec<usize>,
    x0: usize,
    y0: usize,
    w: usize,
    h: usize,
}

impl Region {
    fn of_window(x0: i64, y0: i64, size: usize, (w, h): (usize, usize), pad: PadMode) -> Region {
        let xs: Vec<usize> = (0..size as i64).map(|j| mirror(x0 + j, w, pad)).collect();
        let ys: Vec<usize> = (0..size as i64).map(|i| mirror(y0 + i, h, pad)).collect();
        let (rx0, rx1) = (*xs.iter().min().unwrap_or(&0), *xs.iter().max().unwrap_or(&0) + 1);
        let (ry0, ry1) = (*ys.iter().min().unwrap_or(&0), *ys.iter().max().unwrap_or(&0) + 1);
        Region {
            cols: xs.iter().map(|&sx| sx - rx0).collect(),
            rows: ys.iter().map(|&sy| sy - ry0).collect(),
            x0: rx0,
            y0: ry0,
            w: rx1 - rx0,
            h: ry1 - ry0,
        }
    }

    /// `(x, y, w, h)` for reading the box.
    fn window(&self) -> (usize, usize, usize, usize) {
        (self.x0, self.y0, self.w, self.h)
    }
}
