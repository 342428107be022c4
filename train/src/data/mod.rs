//! Training data: every source (image and label rasters, chip folders, So2Sat HDF5,
//! super-resolution pairs) is a `Dataset` of examples read lazily, one at a time, so a scene
//! never has to fit in memory.
//!
//! Inputs come in the card's *input units*: the selected bands, `raw * scale + offset`, with
//! invalid pixels (nodata, masks, non-finite) as NaN. The per-band mean and std are computed on
//! the training split (`stats`) and applied when batches are made (`batch`), where NaN becomes 0,
//! the band mean: exactly what `rastrum run` feeds the model.
//!
//! - `raster`: chips on a grid over an image raster with a label raster or band;
//! - `folders`: one folder per class of GeoTIFF chips (the EuroSAT layout);
//! - `so2sat`: So2Sat LCZ42 HDF5 files, through GDAL's multidimensional API;
//! - `planted`: generated scenes with planted objects (the detector's);
//! - `sr`: super-resolution pairs (area-averaged from one raster, or two rasters);
//! - `split`: random, k-fold and spatial-block splits;
//! - `stats`: per-band statistics and the normalisation they give.

pub mod folders;
pub mod planted;
pub mod raster;
pub mod so2sat;
pub mod split;
pub mod sr;
pub mod stats;

use rastrum::Result;

/// Label of a pixel the loss ignores (unlabelled or nodata in a label raster), as PyTorch's
/// `ignore_index`.
pub const IGNORE: i64 = -100;

/// What one example's target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// One class id per example (chip classification), `y` = [class].
    Class { classes: usize },
    /// One class id per pixel, `y` = [H * W] (segmentation); `IGNORE` where unlabelled.
    PixelClass { classes: usize },
    /// `len` values per example (per-chip regression, e.g. the chip's population total).
    Value { len: usize },
    /// An image `y` = [channels, H * scale, W * scale] (super-resolution of the input).
    Image { channels: usize, scale: usize },
}

impl Target {
    pub fn classes(&self) -> Option<usize> {
        match self {
            Target::Class { classes } | Target::PixelClass { classes } => Some(*classes),
            _ => None,
        }
    }
}

/// One example: input [C, H, W] in input units (NaN = invalid) and its target (see `Target`;
/// class ids are stored as f32 and are exact).
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub x: Vec<f32>,
    pub y: Vec<f32>,
}

/// How the model's input relates to the source rasters: what the card tells `rastrum run`.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSpec {
    /// 1-based source bands, in model channel order.
    pub bands: Vec<usize>,
    /// Per-band `raw * scale + offset` applied before the statistics.
    pub scale: Vec<f64>,
    pub offset: Vec<f64>,
    /// Names of the bands, when the source says (for the card and reports).
    pub band_names: Vec<String>,
}

/// A source of training examples, read lazily.
pub trait Dataset {
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// [channels, height, width] of every input.
    fn input_shape(&self) -> [usize; 3];

    fn target(&self) -> Target;

    /// Reads example `i` (`i < len()`).
    fn example(&self, i: usize) -> Result<Example>;

    /// The class of example `i` when known without reading pixels (chip folders, HDF5 labels,
    /// per-chip class targets): for class weights and stratified splits.
    fn class_of(&self, _i: usize) -> Option<usize> {
        None
    }

    /// The pixel footprint of example `i` in its source raster, (x0, y0, width, height), when
    /// examples are windows of one raster: for spatial-block splits.
    fn footprint(&self, _i: usize) -> Option<(usize, usize, usize, usize)> {
        None
    }

    /// Class names, index = class id (empty when the source does not name them).
    fn class_names(&self) -> Vec<String> {
        Vec::new()
    }

    fn input_spec(&self) -> InputSpec;

    /// Where the data came from, for the card's provenance and reports (paths, counts, layout).
    fn describe(&self) -> serde_json::Value;
}

/// Parses a band list such as "1,2,3" or "2-4,8" into 1-based band numbers.
pub fn parse_bands(s: &str) -> Result<Vec<usize>> {
    let bad = |part: &str| rastrum::Error::invalid(format!("band list {s:?}: {part:?} is not a band or a range a-b"));
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) =
                    (a.trim().parse().map_err(|_| bad(part))?, b.trim().parse().map_err(|_| bad(part))?);
                if a == 0 || b < a {
                    return Err(bad(part));
                }
                out.extend(a..=b);
            }
            None => {
                let b: usize = part.parse().map_err(|_| bad(part))?;
                if b == 0 {
                    return Err(bad(part));
                }
                out.push(b);
            }
        }
    }
    if out.is_empty() {
        return Err(rastrum::Error::invalid(format!("band list {s:?} names no band")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn band_lists() {
        assert_eq!(parse_bands("1,2,3").unwrap(), vec![1, 2, 3]);
        assert_eq!(parse_bands("2-4, 8").unwrap(), vec![2, 3, 4, 8]);
        assert!(parse_bands("0").is_err());
        assert!(parse_bands("4-2").is_err());
        assert!(parse_bands("a").is_err());
        assert!(parse_bands("").is_err());
    }
}
