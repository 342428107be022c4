//! Chips on a grid over an image raster, with targets from a label raster or a label band of
//! the same file (the population seed's 2-band GeoTIFF: band 1 light, band 2 population). Read
//! lazily window by window through the engine's own reader (`rastrum::raster::input`), so that
//! training sees exactly the band selection, scaling and validity that `rastrum run` applies.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use gdal::Metadata;
use rastrum::raster::input::{self, InputRaster, Preprocess};
use rastrum::resolve::per_band;
use rastrum::{Error, Result};
use serde_json::json;

use super::{Dataset, Example, InputSpec, Target, IGNORE};

/// `raw * scale + offset` per band, no standardisation: the dataset's input units.
pub fn units(scale: &[f64], offset: &[f64]) -> Preprocess {
    let n = scale.len();
    Preprocess { scale: scale.to_vec(), offset: offset.to_vec(), mean: vec![0.0; n], std: vec![1.0; n] }
}

/// A list of the command line as the engine's `per_band` takes it: empty is not given.
pub fn given(values: &[f64]) -> Option<Vec<f64>> {
    (!values.is_empty()).then(|| values.to_vec())
}

/// Reads the `size` x `size` chip at (`x`, `y`) in input units, invalid pixels as NaN.
pub fn read_chip(reader: &InputRaster, x: usize, y: usize, size: usize) -> Result<Vec<f32>> {
    let tile = reader.read_tile(x as i64, y as i64, size, None)?;
    let mut data = tile.data;
    let plane = size * size;
    for chunk in data.chunks_mut(plane) {
        for (v, ok) in chunk.iter_mut().zip(&tile.valid) {
            if *ok == 0 {
                *v = f32::NAN;
            }
        }
    }
    Ok(data)
}

/// Where the labels are.
#[derive(Debug, Clone, PartialEq)]
pub enum Labels {
    /// A band of the image file itself (1-based).
    Band(usize),
    /// Band `1` of another raster of the same size.
    Raster(PathBuf, usize),
}

/// What is learnt from a chip's labels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ChipTarget {
    /// The sum of the label over the chip (population per tile).
    Sum,
    /// The label of every pixel (segmentation); `classes` = None counts them (max label + 1).
    PixelClass(Option<usize>),
    /// The most frequent valid label of the chip (per-chip classification).
    Majority(Option<usize>),
}

/// Which chips of the grid to keep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChipFilter {
    /// Keep chips whose label sum exceeds this (e.g. 0: "only chips with population").
    pub min_label_sum: Option<f64>,
    /// Keep chips with at least this fraction of labelled pixels (label not nodata).
    pub min_labelled: f64,
}

impl Default for ChipFilter {
    fn default() -> Self {
        ChipFilter { min_label_sum: None, min_labelled: 0.5 }
    }
}

/// Chips of `size` on a grid with `stride` over an image raster, with labels.
pub struct RasterChips {
    image: PathBuf,
    labels: Labels,
    spec: InputSpec,
    size: usize,
    stride: usize,
    kind: Target,
    /// Top-left pixel of each chip kept.
    pub origins: Vec<(usize, usize)>,
    /// Per-chip targets (sum or majority class) computed while scanning the grid.
    per_chip: Vec<f32>,
    reader: RefCell<Option<InputRaster>>,
    label_reader: RefCell<Option<gdal::Dataset>>,
}

fn label_dataset(image: &Path, labels: &Labels) -> Result<(gdal::Dataset, PathBuf, usize)> {
    match labels {
        Labels::Band(b) => Ok((input::open(image)?, image.to_path_buf(), *b)),
        Labels::Raster(p, b) => Ok((input::open(p)?, p.clone(), *b)),
    }
}

/// Reads a label window as f64, nodata as NaN.
fn read_labels(ds: &gdal::Dataset, path: &Path, band: usize, x: usize, y: usize, size: usize) -> Result<Vec<f64>> {
    let b = ds.rasterband(band).map_err(|e| Error::raster(path, format!("label band {band}: {e}")))?;
    let mut buf = vec![0f64; size * size];
    b.read_into_slice::<f64>((x as isize, y as isize), (size, size), (size, size), &mut buf, None)
        .map_err(|e| Error::raster(path, format!("reading label band {band} at ({x}, {y}): {e}")))?;
    if let Some(nd) = b.no_data_value() {
        for v in buf.iter_mut().filter(|v| **v == nd) {
            *v = f64::NAN;
        }
    }
    Ok(buf)
}

impl RasterChips {
    /// Scans the grid and keeps the chips that pass `filter`. `bands` are the image's input
    /// bands (1-based); `scale` / `offset` give the input units (one value or one per band).
    #[allow(clippy::too_many_arguments)]
    pub fn grid(
        image: &Path,
        bands: &[usize],
        scale: &[f64],
        offset: &[f64],
        labels: Labels,
        target: ChipTarget,
        size: usize,
        stride: usize,
        filter: ChipFilter,
    ) -> Result<RasterChips> {
        if size == 0 || stride == 0 {
            return Err(Error::invalid(format!("chip size {size} and stride {stride} must be positive")));
        }
        let scale = per_band("scale", given(scale), bands.len(), 1.0)?;
        let offset = per_band("offset", given(offset), bands.len(), 0.0)?;
        let reader = InputRaster::new(image, input::open(image)?, bands, None, None, units(&scale, &offset))?;
        let (w, h) = (reader.info.width, reader.info.height);
        if w < size || h < size {
            return Err(Error::raster(image, format!("is {w}x{h}, smaller than one {size}-pixel chip")));
        }
        let (lds, lpath, lband) = label_dataset(image, &labels)?;
        let (lw, lh) = lds.raster_size();
        if (lw, lh) != (w, h) {
            return Err(Error::raster(
                &lpath,
                format!("labels are {lw}x{lh} but the image {} is {w}x{h}", image.display()),
            ));
        }
        if lband == 0 || lband > lds.raster_count() {
            return Err(Error::raster(
                &lpath,
                format!("label band {lband} is out of range: the raster has {} band(s)", lds.raster_count()),
            ));
        }
        let band_names =
            bands.iter().map(|b| reader_band_name(image, *b).unwrap_or_else(|| format!("band {b}"))).collect();

        let mut origins = Vec::new();
        let mut per_chip = Vec::new();
        let mut max_label = -1i64;
        for y in (0..=h - size).step_by(stride) {
            for x in (0..=w - size).step_by(stride) {
                let lab = read_labels(&lds, &lpath, lband, x, y, size)?;
                let labelled: Vec<f64> = lab.iter().copied().filter(|v| v.is_finite()).collect();
                if (labelled.len() as f64) < filter.min_labelled * (size * size) as f64 || labelled.is_empty() {
                    continue;
                }
                let sum: f64 = labelled.iter().sum();
                if filter.min_label_sum.is_some_and(|m| sum <= m) {
                    continue;
                }
                let value = match target {
                    ChipTarget::Sum => sum as f32,
                    ChipTarget::PixelClass(_) | ChipTarget::Majority(_) => {
                        if let Some(bad) = labelled.iter().find(|v| **v < 0.0 || v.fract() != 0.0) {
                            return Err(Error::raster(
                                &lpath,
                                format!("label {bad} at chip ({x}, {y}) is not a class id (0, 1, 2, ...)"),
                            ));
                        }
                        let top = labelled.iter().fold(0f64, |a, b| a.max(*b)) as i64;
                        max_label = max_label.max(top);
                        let mut counts = vec![0usize; top as usize + 1];
                        for v in &labelled {
                            counts[*v as usize] += 1;
                        }
                        // Majority class, ties to the lower id.
                        counts.iter().enumerate().max_by_key(|(i, c)| (**c, std::cmp::Reverse(*i))).map_or(0, |m| m.0)
                            as f32
                    }
                };
                origins.push((x, y));
                per_chip.push(value);
            }
        }
        if origins.is_empty() {
            return Err(Error::invalid(format!(
                "no chip of {} passes the filter (size {size}, stride {stride}, {filter:?})",
                image.display()
            )));
        }
        let counted = (max_label + 1) as usize;
        let classes = |given: Option<usize>| -> Result<usize> {
            match given {
                Some(c) if c < counted => Err(Error::raster(
                    &lpath,
                    format!("holds label {} but only {c} classes were declared", counted - 1),
                )),
                Some(c) => Ok(c),
                None => Ok(counted.max(2)),
            }
        };
        let kind = match target {
            ChipTarget::Sum => Target::Value { len: 1 },
            ChipTarget::PixelClass(c) => Target::PixelClass { classes: classes(c)? },
            ChipTarget::Majority(c) => Target::Class { classes: classes(c)? },
        };
        Ok(RasterChips {
            image: image.to_path_buf(),
            labels,
            spec: InputSpec { bands: bands.to_vec(), scale, offset, band_names },
            size,
            stride,
            kind,
            origins,
            per_chip,
            reader: RefCell::new(Some(reader)),
            label_reader: RefCell::new(Some(lds)),
        })
    }

    /// The per-chip targets (sums or majority classes); empty meaning for pixel targets.
    pub fn chip_targets(&self) -> &[f32] {
        &self.per_chip
    }

    /// Multiplies per-chip sum targets by `factor` (e.g. to train in thousands of people).
    pub fn scale_targets(&mut self, factor: f32) {
        for t in self.per_chip.iter_mut() {
            *t *= factor;
        }
    }
}

fn reader_band_name(path: &Path, band: usize) -> Option<String> {
    let ds = gdal::Dataset::open(path).ok()?;
    let d = ds.rasterband(band).ok()?.description().ok()?;
    (!d.is_empty()).then_some(d)
}

impl Dataset for RasterChips {
    fn len(&self) -> usize {
        self.origins.len()
    }

    fn input_shape(&self) -> [usize; 3] {
        [self.spec.bands.len(), self.size, self.size]
    }

    fn target(&self) -> Target {
        self.kind
    }

    fn example(&self, i: usize) -> Result<Example> {
        let (x, y) = self.origins[i];
        let mut reader = self.reader.borrow_mut();
        if reader.is_none() {
            let pre = units(&self.spec.scale, &self.spec.offset);
            *reader =
                Some(InputRaster::new(&self.image, input::open(&self.image)?, &self.spec.bands, None, None, pre)?);
        }
        let data = read_chip(reader.as_ref().expect("opened above"), x, y, self.size)?;
        let target = match self.kind {
            Target::PixelClass { .. } => {
                let mut lreader = self.label_reader.borrow_mut();
                if lreader.is_none() {
                    *lreader = Some(label_dataset(&self.image, &self.labels)?.0);
                }
                let (path, band) = match &self.labels {
                    Labels::Band(b) => (self.image.as_path(), *b),
                    Labels::Raster(p, b) => (p.as_path(), *b),
                };
                let lab = read_labels(lreader.as_ref().expect("opened above"), path, band, x, y, self.size)?;
                // Pixels without a label or without valid input are left out of the loss.
                lab.iter()
                    .zip(&data[..self.size * self.size])
                    .map(|(l, v)| if l.is_finite() && !v.is_nan() { *l as f32 } else { IGNORE as f32 })
                    .collect()
            }
            _ => vec![self.per_chip[i]],
        };
        Ok(Example { x: data, y: target })
    }

    fn class_of(&self, i: usize) -> Option<usize> {
        matches!(self.kind, Target::Class { .. }).then(|| self.per_chip[i] as usize)
    }

    fn footprint(&self, i: usize) -> Option<(usize, usize, usize, usize)> {
        let (x, y) = self.origins[i];
        Some((x, y, self.size, self.size))
    }

    fn input_spec(&self) -> InputSpec {
        self.spec.clone()
    }

    fn describe(&self) -> serde_json::Value {
        let labels = match &self.labels {
            Labels::Band(b) => json!({ "band": b }),
            Labels::Raster(p, b) => json!({ "raster": p.display().to_string(), "band": b }),
        };
        json!({
            "kind": "raster_chips",
            "image": self.image.display().to_string(),
            "labels": labels,
            "bands": self.spec.bands,
            "chip_size": self.size,
            "stride": self.stride,
            "chips": self.origins.len(),
        })
    }
}
