//! Super-resolution pairs: a low-resolution input chip and the high-resolution window it covers,
//! `Target::Image { channels, scale }`. Either derived from one high-resolution raster (the
//! low-resolution chip is its area average by the scale factor, as a coarser sensor integrates
//! radiance over its larger pixel), or read from two co-registered rasters whose sizes differ by
//! an integer factor.
//!
//! Both images are in the same input units (`raw * scale + offset` of the same bands). Invalid
//! pixels are NaN in the input and in the target; by default only chips whose windows are
//! entirely valid are kept (`min_valid` = 1), so the trainer only sees NaN in targets when a
//! lower `min_valid` is asked for, and must then mask those pixels out of the loss.
//!
//! Chips are on a grid in *low-resolution* pixels (`lr_size`, `stride`), and `footprint` reports
//! them in low-resolution pixels, so that spatial splits do not depend on the factor.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use gdal::Metadata;
use rastrum::raster::input::{self, InputRaster, RasterInfo};
use rastrum::resolve::per_band;
use rastrum::{Error, Result};
use serde_json::json;

use super::raster::{given, read_chip, units};
use super::{Dataset, Example, InputSpec, Target};

/// Super-resolution chips on a grid over a high-resolution raster (and a low one, if paired).
pub struct SrPairs {
    high: PathBuf,
    /// The low-resolution raster; None when the input is the area average of `high`.
    low: Option<PathBuf>,
    spec: InputSpec,
    factor: usize,
    lr_size: usize,
    stride: usize,
    min_valid: f64,
    /// Top-left low-resolution pixel of each chip kept.
    pub origins: Vec<(usize, usize)>,
    /// Chips on the grid before the validity filter.
    grid_chips: usize,
    high_reader: RefCell<Option<InputRaster>>,
    low_reader: RefCell<Option<InputRaster>>,
}

fn reader(path: &Path, spec: &InputSpec) -> Result<InputRaster> {
    InputRaster::new(path, input::open(path)?, &spec.bands, None, None, units(&spec.scale, &spec.offset))
}

/// Fraction of valid pixels of the `size`-pixel window at (`x`, `y`).
fn valid_fraction(r: &InputRaster, x: usize, y: usize, size: usize) -> Result<f64> {
    let tile = r.read_tile(x as i64, y as i64, size, None)?;
    Ok(tile.valid.iter().filter(|v| **v == 1).count() as f64 / (size * size) as f64)
}

/// Area average by `f` of a [C, hs, hs] chip into [C, hs / f, hs / f] over the valid (non-NaN)
/// pixels of each f x f block; NaN where a block has none.
pub fn area_average(high: &[f32], channels: usize, hs: usize, f: usize) -> Vec<f32> {
    let ls = hs / f;
    let mut out = vec![f32::NAN; channels * ls * ls];
    for c in 0..channels {
        let plane = &high[c * hs * hs..(c + 1) * hs * hs];
        for ly in 0..ls {
            for lx in 0..ls {
                let (mut sum, mut n) = (0f64, 0usize);
                for dy in 0..f {
                    let row = &plane[(ly * f + dy) * hs + lx * f..][..f];
                    for v in row.iter().filter(|v| !v.is_nan()) {
                        sum += *v as f64;
                        n += 1;
                    }
                }
                if n > 0 {
                    out[(c * ls + ly) * ls + lx] = (sum / n as f64) as f32;
                }
            }
        }
    }
    out
}

/// Checks that two geotransforms put the rasters on the same ground: same origin and same far
/// corner, within half a high-resolution pixel.
fn check_alignment(low: &Path, li: &RasterInfo, high: &Path, hi: &RasterInfo) -> Result<()> {
    let (Some(lg), Some(hg)) = (li.geo_transform, hi.geo_transform) else {
        return Ok(());
    };
    let (tx, ty) = (0.5 * hg[1].abs(), 0.5 * hg[5].abs());
    let corner = |g: [f64; 6], w: usize, h: usize| (g[0] + w as f64 * g[1], g[3] + h as f64 * g[5]);
    let checks = [
        ("origin", (lg[0], lg[3]), (hg[0], hg[3])),
        ("far corner", corner(lg, li.width, li.height), corner(hg, hi.width, hi.height)),
    ];
    for (what, l, h) in checks {
        if (l.0 - h.0).abs() > tx || (l.1 - h.1).abs() > ty {
            return Err(Error::raster(
                low,
                format!(
                    "its {what} ({}, {}) is not that of the high-resolution raster {} ({}, {}) within half a \
                     high-resolution pixel ({tx}, {ty}): the pair is not co-registered",
                    l.0,
                    l.1,
                    high.display(),
                    h.0,
                    h.1
                ),
            ));
        }
    }
    Ok(())
}

impl SrPairs {
    /// Pairs from one high-resolution raster: the input is its area average by `factor` (e.g. 3)
    /// over valid pixels. `bands` are 1-based; `scale` / `offset` give the input units (one
    /// value or one per band); the grid is `lr_size` low-resolution pixels with `stride`, over
    /// the `width / factor` x `height / factor` low-resolution raster (a remainder of fewer than
    /// `factor` pixels at the right and bottom is left out). Keeps chips whose high-resolution
    /// window has at least the fraction `min_valid` of valid pixels (1: entirely valid; 0: every
    /// chip with at least one valid pixel).
    #[allow(clippy::too_many_arguments)]
    pub fn from_high(
        high: &Path,
        bands: &[usize],
        scale: &[f64],
        offset: &[f64],
        factor: usize,
        lr_size: usize,
        stride: usize,
        min_valid: f64,
    ) -> Result<SrPairs> {
        if factor < 2 {
            return Err(Error::invalid(format!("super-resolution factor {factor} must be at least 2")));
        }
        let spec = spec(high, bands, scale, offset)?;
        let hr = reader(high, &spec)?;
        let (lw, lh) = (hr.info.width / factor, hr.info.height / factor);
        let mut pairs = SrPairs::new(high.to_path_buf(), None, spec, factor, lr_size, stride, min_valid)?;
        pairs.scan(lw, lh, &hr, None)?;
        *pairs.high_reader.borrow_mut() = Some(hr);
        Ok(pairs)
    }

    /// Pairs from a low- and a high-resolution raster of the same scene: the high one must be
    /// exactly `factor` times the low one in both dimensions (the factor is found from the
    /// sizes), and when both are georeferenced their origins and far corners must agree within
    /// half a high-resolution pixel. Both are read with the same `bands`, `scale` and `offset`.
    /// Keeps chips whose low- and high-resolution windows both have at least the fraction
    /// `min_valid` of valid pixels.
    #[allow(clippy::too_many_arguments)]
    pub fn paired(
        low: &Path,
        high: &Path,
        bands: &[usize],
        scale: &[f64],
        offset: &[f64],
        lr_size: usize,
        stride: usize,
        min_valid: f64,
    ) -> Result<SrPairs> {
        let spec = spec(high, bands, scale, offset)?;
        let hr = reader(high, &spec)?;
        let lr = reader(low, &spec)?;
        let (lw, lh, hw, hh) = (lr.info.width, lr.info.height, hr.info.width, hr.info.height);
        let factor = hw / lw;
        if factor < 2 || hw != lw * factor || hh != lh * factor {
            return Err(Error::raster(
                high,
                format!(
                    "is {hw}x{hh} but the low-resolution raster {} is {lw}x{lh}: the high-resolution size must \
                     be the low-resolution size times one integer factor (at least 2) in both dimensions",
                    low.display()
                ),
            ));
        }
        check_alignment(low, &lr.info, high, &hr.info)?;
        let mut pairs =
            SrPairs::new(high.to_path_buf(), Some(low.to_path_buf()), spec, factor, lr_size, stride, min_valid)?;
        pairs.scan(lw, lh, &hr, Some(&lr))?;
        *pairs.high_reader.borrow_mut() = Some(hr);
        *pairs.low_reader.borrow_mut() = Some(lr);
        Ok(pairs)
    }

    fn new(
        high: PathBuf,
        low: Option<PathBuf>,
        spec: InputSpec,
        factor: usize,
        lr_size: usize,
        stride: usize,
        min_valid: f64,
    ) -> Result<SrPairs> {
        if lr_size == 0 || stride == 0 {
            return Err(Error::invalid(format!("chip size {lr_size} and stride {stride} must be positive")));
        }
        if !(0.0..=1.0).contains(&min_valid) {
            return Err(Error::invalid(format!("minimum valid fraction {min_valid} must be within 0 to 1")));
        }
        Ok(SrPairs {
            high,
            low,
            spec,
            factor,
            lr_size,
            stride,
            min_valid,
            origins: Vec::new(),
            grid_chips: 0,
            high_reader: RefCell::new(None),
            low_reader: RefCell::new(None),
        })
    }

    /// Keeps the chips of the grid over the `lw` x `lh` low-resolution raster that pass
    /// `min_valid` (each window is read once here, a chip at a time).
    fn scan(&mut self, lw: usize, lh: usize, hr: &InputRaster, lr: Option<&InputRaster>) -> Result<()> {
        let (s, f) = (self.lr_size, self.factor);
        if lw < s || lh < s {
            return Err(Error::raster(
                &self.high,
                format!("is {lw}x{lh} low-resolution pixels (factor {f}), smaller than one {s}-pixel chip"),
            ));
        }
        let mut best = 0f64;
        for y in (0..=lh - s).step_by(self.stride) {
            for x in (0..=lw - s).step_by(self.stride) {
                self.grid_chips += 1;
                let mut valid = valid_fraction(hr, x * f, y * f, s * f)?;
                if let Some(lr) = lr {
                    valid = valid.min(valid_fraction(lr, x, y, s)?);
                }
                best = best.max(valid);
                if valid >= self.min_valid && valid > 0.0 {
                    self.origins.push((x, y));
                }
            }
        }
        if self.origins.is_empty() {
            return Err(Error::raster(
                &self.high,
                format!(
                    "no chip of the {} on the grid (size {s}, stride {}) has a valid fraction of at least {} \
                     (the best has {best:.3})",
                    self.grid_chips, self.stride, self.min_valid
                ),
            ));
        }
        Ok(())
    }

    pub fn factor(&self) -> usize {
        self.factor
    }
}

/// The input spec of the bands of `high` (band names from its band descriptions).
fn spec(high: &Path, bands: &[usize], scale: &[f64], offset: &[f64]) -> Result<InputSpec> {
    if bands.is_empty() {
        return Err(Error::invalid("super-resolution pairs need at least one band"));
    }
    let ds = input::open(high)?;
    let band_names = bands
        .iter()
        .map(|&b| {
            ds.rasterband(b)
                .ok()
                .and_then(|band| band.description().ok())
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| format!("band {b}"))
        })
        .collect();
    let scale = per_band("scale", given(scale), bands.len(), 1.0)?;
    let offset = per_band("offset", given(offset), bands.len(), 0.0)?;
    Ok(InputSpec { bands: bands.to_vec(), scale, offset, band_names })
}

impl Dataset for SrPairs {
    fn len(&self) -> usize {
        self.origins.len()
    }

    fn input_shape(&self) -> [usize; 3] {
        [self.spec.bands.len(), self.lr_size, self.lr_size]
    }

    fn target(&self) -> Target {
        Target::Image { channels: self.spec.bands.len(), scale: self.factor }
    }

    fn example(&self, i: usize) -> Result<Example> {
        let (x, y) = self.origins[i];
        let (s, f) = (self.lr_size, self.factor);
        let mut hr = self.high_reader.borrow_mut();
        if hr.is_none() {
            *hr = Some(reader(&self.high, &self.spec)?);
        }
        let target = read_chip(hr.as_ref().expect("opened above"), x * f, y * f, s * f)?;
        let input = match &self.low {
            None => area_average(&target, self.spec.bands.len(), s * f, f),
            Some(low) => {
                let mut lr = self.low_reader.borrow_mut();
                if lr.is_none() {
                    *lr = Some(reader(low, &self.spec)?);
                }
                read_chip(lr.as_ref().expect("opened above"), x, y, s)?
            }
        };
        Ok(Example { x: input, y: target })
    }

    fn footprint(&self, i: usize) -> Option<(usize, usize, usize, usize)> {
        self.origins.get(i).map(|&(x, y)| (x, y, self.lr_size, self.lr_size))
    }

    fn input_spec(&self) -> InputSpec {
        self.spec.clone()
    }

    fn describe(&self) -> serde_json::Value {
        json!({
            "kind": "sr_pairs",
            "high": self.high.display().to_string(),
            "low": self.low.as_ref().map(|p| p.display().to_string()),
            "low_from": if self.low.is_some() { "raster" } else { "area average of high" },
            "scale_factor": self.factor,
            "bands": self.spec.bands,
            "lr_size": self.lr_size,
            "stride": self.stride,
            "min_valid": self.min_valid,
            "grid_chips": self.grid_chips,
            "chips": self.origins.len(),
        })
    }
}
