//! From warped values to RGBA tile pixels, by documented rules (docs/tiles.md) that the tests
//! re-implement:
//! - one band: `t = clamp((v - min) / (max - min), 0, 1)`, colour = ramp entry `round(t * 255)`
//!   of a 256-entry ramp;
//! - three bands: each `round(clamp((v - lo) / (hi - lo), 0, 1) * 255)` with its own range;
//! - a Byte band with a colour table: the table's entry (values without one are transparent);
//! - alpha: GDAL's warped validity (0 outside the raster and where it is nodata), also 0 where a
//!   value is not finite; fully transparent pixels are written as (0, 0, 0, 0).

use std::str::FromStr;

use crate::error::{Error, Result};

/// A colour ramp for one-band rasters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ramp {
    Gray,
    Viridis,
    Magma,
    Inferno,
    Plasma,
    Cividis,
    Turbo,
    Spectral,
    RdYlGn,
    Blues,
    Greens,
}

impl Ramp {
    pub const NAMES: &'static str =
        "gray, viridis, magma, inferno, plasma, cividis, turbo, spectral, rdylgn, blues, greens";

    pub fn name(&self) -> &'static str {
        match self {
            Ramp::Gray => "gray",
            Ramp::Viridis => "viridis",
            Ramp::Magma => "magma",
            Ramp::Inferno => "inferno",
            Ramp::Plasma => "plasma",
            Ramp::Cividis => "cividis",
            Ramp::Turbo => "turbo",
            Ramp::Spectral => "spectral",
            Ramp::RdYlGn => "rdylgn",
            Ramp::Blues => "blues",
            Ramp::Greens => "greens",
        }
    }

    /// The 256 colours: entry i is the ramp at i / 255 (gray: (i, i, i)).
    pub fn table(&self) -> Vec<[u8; 3]> {
        let gradient = match self {
            Ramp::Gray => return (0..=255u8).map(|i| [i, i, i]).collect(),
            Ramp::Viridis => colorous::VIRIDIS,
            Ramp::Magma => colorous::MAGMA,
            Ramp::Inferno => colorous::INFERNO,
            Ramp::Plasma => colorous::PLASMA,
            Ramp::Cividis => colorous::CIVIDIS,
            Ramp::Turbo => colorous::TURBO,
            Ramp::Spectral => colorous::SPECTRAL,
            Ramp::RdYlGn => colorous::RED_YELLOW_GREEN,
            Ramp::Blues => colorous::BLUES,
            Ramp::Greens => colorous::GREENS,
        };
        (0..256).map(|i| gradient.eval_rational(i, 256).as_array()).collect()
    }
}

impl FromStr for Ramp {
    type Err = Error;
    fn from_str(s: &str) -> Result<Ramp> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "gray" | "grey" => Ramp::Gray,
            "viridis" => Ramp::Viridis,
            "magma" => Ramp::Magma,
            "inferno" => Ramp::Inferno,
            "plasma" => Ramp::Plasma,
            "cividis" => Ramp::Cividis,
            "turbo" => Ramp::Turbo,
            "spectral" => Ramp::Spectral,
            "rdylgn" => Ramp::RdYlGn,
            "blues" => Ramp::Blues,
            "greens" => Ramp::Greens,
            _ => return Err(Error::invalid(format!("ramp '{s}' is not one of {}", Ramp::NAMES))),
        })
    }
}

/// How one frame's warped bands become colours.
#[derive(Debug, Clone)]
pub enum Colouring {
    Ramp {
        table: Vec<[u8; 3]>,
        range: (f64, f64),
    },
    Rgb {
        ranges: [(f64, f64); 3],
    },
    /// Colour table entries (RGBA) by value; `None` where the table has no entry.
    Palette {
        entries: Vec<Option<[u8; 4]>>,
    },
}

/// `round(clamp((v - lo) / (hi - lo), 0, 1) * 255)`.
pub fn stretch(v: f64, (lo, hi): (f64, f64)) -> u8 {
    (((v - lo) / (hi - lo)).clamp(0.0, 1.0) * 255.0).round() as u8
}

impl Colouring {
    /// Bands the colouring reads.
    pub fn bands(&self) -> usize {
        match self {
            Colouring::Rgb { .. } => 3,
            _ => 1,
        }
    }

    /// RGBA pixels of `bands` (one vector per band, same length as `alpha`).
    pub fn apply(&self, bands: &[Vec<f64>], alpha: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; alpha.len() * 4];
        for (i, px) in out.chunks_exact_mut(4).enumerate() {
            if alpha[i] == 0 {
                continue;
            }
            let rgba = match self {
                Colouring::Ramp { table, range } => {
                    let v = bands[0][i];
                    v.is_finite().then(|| {
                        let c = table[stretch(v, *range) as usize];
                        [c[0], c[1], c[2], alpha[i]]
                    })
                }
                Colouring::Rgb { ranges } => {
                    let v = [bands[0][i], bands[1][i], bands[2][i]];
                    v.iter().all(|v| v.is_finite()).then(|| {
                        [stretch(v[0], ranges[0]), stretch(v[1], ranges[1]), stretch(v[2], ranges[2]), alpha[i]]
                    })
                }
                Colouring::Palette { entries } => {
                    let v = bands[0][i];
                    let e = (v.is_finite() && v >= 0.0).then(|| entries.get(v as usize).copied().flatten()).flatten();
                    e.map(|c| [c[0], c[1], c[2], (c[3] as u16 * alpha[i] as u16 / 255) as u8])
                }
            };
            if let Some(c) = rgba.filter(|c| c[3] > 0) {
                px.copy_from_slice(&c);
            }
        }
        out
    }
}

/// The `lo` and `hi` percentiles (0..100) of the finite values: the value at index
/// `floor(n * p / 100)` (capped at n - 1) of the sorted values. A flat result (lo == hi)
/// becomes (lo, lo + 1) so that the stretch is defined. None without any finite value.
pub fn percentile_range(values: &mut Vec<f64>, lo: f64, hi: f64) -> Option<(f64, f64)> {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let at = |p: f64| values[((n as f64 * p / 100.0).floor() as usize).min(n - 1)];
    let (a, b) = (at(lo), at(hi));
    Some(if b > a { (a, b) } else { (a, a + 1.0) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_ramp_ends() {
        // matplotlib's viridis starts at #440154 and ends at #fde725; magma from #000004 to #fcfdbf.
        let v = Ramp::Viridis.table();
        assert_eq!((v[0], v[255]), ([0x44, 0x01, 0x54], [0xfd, 0xe7, 0x25]));
        let m = Ramp::Magma.table();
        assert_eq!((m[0], m[255]), ([0x00, 0x00, 0x04], [0xfc, 0xfd, 0xbf]));
        assert_eq!(Ramp::Gray.table()[128], [128, 128, 128]);
    }

    #[test]
    fn rules() {
        assert_eq!(stretch(5.0, (0.0, 10.0)), 128);
        assert_eq!(stretch(-1.0, (0.0, 10.0)), 0);
        assert_eq!(stretch(11.0, (0.0, 10.0)), 255);
        let c = Colouring::Ramp { table: Ramp::Gray.table(), range: (0.0, 10.0) };
        assert_eq!(
            c.apply(&[vec![5.0, 5.0, f64::NAN]], &[255, 0, 255]),
            vec![128, 128, 128, 255, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        let p = Colouring::Palette { entries: vec![None, Some([1, 2, 3, 255])] };
        assert_eq!(p.apply(&[vec![0.0, 1.0, 7.0]], &[255; 3]), vec![0, 0, 0, 0, 1, 2, 3, 255, 0, 0, 0, 0]);
        let mut v: Vec<f64> = (0..100).map(f64::from).chain([f64::NAN]).collect();
        assert_eq!(percentile_range(&mut v, 2.0, 98.0), Some((2.0, 98.0)));
    }
}
