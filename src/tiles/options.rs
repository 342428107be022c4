//! Options of a tile pyramid, settable by name with text values: the command line and the C API
//! (`rastrum_tiles_options_set`) go through the same `set`, so their names and checks agree.

use crate::error::{Error, Result};
use crate::grammar;
use crate::tiles::colour::Ramp;
use crate::tiles::mercator::MAX_ZOOM;

/// How to draw a pyramid. `Default` draws the first band with viridis (or the first three as RGB),
/// over zooms chosen from the raster's resolution.
#[derive(Debug, Clone)]
pub struct TilesOptions {
    /// Zoom levels `(min, max)`, 0..=24; None: the zoom matching the raster's pixel size and the
    /// four above it.
    pub zoom: Option<(u8, u8)>,
    /// 1-based bands: one (ramp or colour table) or three (RGB). None: band 1 for rasters with
    /// fewer than three bands, else 1,2,3.
    pub bands: Option<Vec<usize>>,
    /// Ramp of one-band rasters.
    pub ramp: Ramp,
    /// Value range of the ramp or stretch, the same for every band and frame; None: the 2 and
    /// 98 % percentiles of the first frame, per band.
    pub range: Option<(f64, f64)>,
    /// GDAL resampling; None: nearest for a band with a colour table, else bilinear.
    pub resampling: Option<String>,
    /// Frame names (folder names), one per input; None: the file stems.
    pub labels: Option<Vec<String>>,
    /// Zoom of the animation; None: the deepest zoom (at most the pyramid's) at which the whole
    /// extent fits in 1024 x 1024 px.
    pub gif_zoom: Option<u8>,
    /// Replace an existing, non-empty output folder.
    pub overwrite: bool,
    /// Warping threads; None: the number of cores (at most 8).
    pub threads: Option<usize>,
}

impl Default for TilesOptions {
    fn default() -> Self {
        TilesOptions {
            zoom: None,
            bands: None,
            ramp: Ramp::Viridis,
            range: None,
            resampling: None,
            labels: None,
            gif_zoom: None,
            overwrite: false,
            threads: None,
        }
    }
}

/// `"10-14"` or `"12"` as `(min, max)` with `0 <= min <= max <= 24`.
pub fn parse_zoom(s: &str) -> Result<(u8, u8)> {
    let bad =
        |why: &str| Error::invalid(format!("zoom '{s}': {why} (expected MIN-MAX or Z, 0 <= MIN <= MAX <= {MAX_ZOOM})"));
    let level = |t: &str| -> Result<u8> {
        let v: u32 = t.trim().parse().map_err(|_| bad(&format!("'{}' is not a zoom level", t.trim())))?;
        if v > MAX_ZOOM as u32 {
            return Err(bad(&format!("{v} is beyond {MAX_ZOOM}")));
        }
        Ok(v as u8)
    };
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (level(a)?, level(b)?),
        None => {
            let z = level(s)?;
            (z, z)
        }
    };
    if a > b {
        return Err(bad("MIN is above MAX"));
    }
    Ok((a, b))
}

impl TilesOptions {
    /// Sets one option by its command-line name (without `--`): zoom ("10-14"), bands ("4,3,2"),
    /// ramp, range ("MIN,MAX"), resampling, labels ("a,b,c"), gif-zoom, overwrite (true|false),
    /// threads. Unknown keys and bad values are errors naming them.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let v = value.trim();
        let key = grammar::key(key);
        match key.as_str() {
            "zoom" => self.zoom = Some(parse_zoom(v)?),
            "bands" => {
                let bands = v
                    .split(',')
                    .map(|b| b.trim().parse::<usize>().ok().filter(|b| *b > 0))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| Error::invalid(format!("bands '{v}': expected 1-based band numbers like 4,3,2")))?;
                if bands.len() != 1 && bands.len() != 3 {
                    return Err(Error::invalid(format!(
                        "bands '{v}': give one band (colour ramp) or three (red, green, blue), found {}",
                        bands.len()
                    )));
                }
                self.bands = Some(bands);
            }
            "ramp" => self.ramp = v.parse()?,
            "range" => {
                let r: Vec<f64> = v.split(',').filter_map(|x| x.trim().parse::<f64>().ok()).collect();
                match r[..] {
                    [lo, hi] if lo.is_finite() && hi.is_finite() && lo < hi && v.split(',').count() == 2 => {
                        self.range = Some((lo, hi))
                    }
                    _ => return Err(Error::invalid(format!("range '{v}': expected MIN,MAX with MIN < MAX"))),
                }
            }
            "resampling" => {
                crate::raster::resample::warp_resampling(v)?;
                self.resampling = Some(v.to_string());
            }
            "labels" => self.labels = Some(v.split(',').map(|l| l.trim().to_string()).collect()),
            "gif-zoom" => {
                let (z, _) = parse_zoom(v).map_err(|e| Error::invalid(format!("gif-zoom: {e}")))?;
                if v.contains('-') {
                    return Err(Error::invalid(format!("gif-zoom '{v}': expected one zoom level")));
                }
                self.gif_zoom = Some(z);
            }
            "overwrite" => self.overwrite = grammar::boolean(&key, v)?,
            "threads" => {
                self.threads = Some(v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    Error::invalid(format!("threads '{v}': expected a positive number"))
                })?)
            }
            _ => {
                return Err(Error::invalid(format!(
                    "unknown tiles option '{key}' (known: zoom, bands, ramp, range, resampling, labels, gif-zoom, overwrite, threads)"
                )))
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoom_strings() {
        assert_eq!(parse_zoom("10-14").ok(), Some((10, 14)));
        assert_eq!(parse_zoom("7").ok(), Some((7, 7)));
        for bad in ["14-10", "abc", "25", "3-", "-1"] {
            let e = parse_zoom(bad).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(e.contains("zoom"), "{bad}: {e}");
        }
    }
}
