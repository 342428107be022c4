//! So2Sat LCZ42 (local climate zones): HDF5 files with the datasets `sen1` [N, 32, 32, 8]
//! (Sentinel-1 derived channels), `sen2` [N, 32, 32, 10] (Sentinel-2 bands B2, B3, B4, B5, B6,
//! B7, B8, B8A, B11, B12) and `label` [N, 17] (one-hot, float).
//!
//! Read through GDAL's multidimensional API, so that no HDF5 library is linked besides GDAL's
//! and any driver that exposes these arrays (HDF5, or netCDF for a netCDF-4 file) will do. The
//! arrays are read a few examples at a time, never whole (the training file is 48 GB), and
//! transposed from the file's NHWC to the model's CHW.
//!
//! Channels are chosen from the *stack* of the source: `sen1` (1-8), `sen2` (1-10), or both
//! (1-18: sen1's 8 channels, then sen2's 10), numbered from 1 like raster bands elsewhere.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use gdal::cpl::CslStringList;
use gdal::raster::{Group, MDArray};
use gdal::{DatasetOptions, GdalOpenFlags};
use rastrum::resolve::per_band;
use rastrum::{Error, Result};
use serde_json::json;

use super::raster::given;
use super::{Dataset, Example, InputSpec, Target};

/// The 17 local climate zones, in the order of the one-hot label.
pub const LCZ_NAMES: [&str; 17] = [
    "Compact high-rise",
    "Compact mid-rise",
    "Compact low-rise",
    "Open high-rise",
    "Open mid-rise",
    "Open low-rise",
    "Lightweight low-rise",
    "Large low-rise",
    "Sparsely built",
    "Heavy industry",
    "Dense trees",
    "Scattered trees",
    "Bush, scrub",
    "Low plants",
    "Bare rock or paved",
    "Bare soil or sand",
    "Water",
];

/// Sentinel-2 bands of `sen2`, in channel order.
pub const SEN2_BANDS: [&str; 10] = ["B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12"];

/// Side of every patch, in pixels.
pub const SIDE: usize = 32;
const SEN1_CHANNELS: usize = 8;
const SEN2_CHANNELS: usize = 10;
/// Examples read at once when reading in order (evaluation, statistics): amortises opening the
/// arrays, while a shuffled read still costs one example.
const BLOCK: usize = 16;
/// Label rows read at once while checking the one-hot labels at construction.
const LABEL_ROWS: usize = 4096;

/// Which images make the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum So2SatSource {
    Sen1,
    Sen2,
    /// sen1's channels, then sen2's.
    Both,
}

impl So2SatSource {
    /// "sen1", "sen2", or "both" (also "sen1+sen2").
    pub fn parse(s: &str) -> Result<So2SatSource> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sen1" => Ok(So2SatSource::Sen1),
            "sen2" => Ok(So2SatSource::Sen2),
            "both" | "sen1+sen2" => Ok(So2SatSource::Both),
            _ => Err(Error::invalid(format!("So2Sat source {s:?}: expected sen1, sen2 or both"))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            So2SatSource::Sen1 => "sen1",
            So2SatSource::Sen2 => "sen2",
            So2SatSource::Both => "sen1+sen2",
        }
    }

    /// The arrays of the stack with their channel counts, in stack order.
    fn arrays(self) -> &'static [(&'static str, usize)] {
        match self {
            So2SatSource::Sen1 => &[("sen1", SEN1_CHANNELS)],
            So2SatSource::Sen2 => &[("sen2", SEN2_CHANNELS)],
            So2SatSource::Both => &[("sen1", SEN1_CHANNELS), ("sen2", SEN2_CHANNELS)],
        }
    }

    /// Names of the stack's channels ("sen1 ch1", ..., "sen2 B2", ...).
    pub fn channel_names(self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, _) in self.arrays() {
            match *name {
                "sen1" => out.extend((1..=SEN1_CHANNELS).map(|c| format!("sen1 ch{c}"))),
                _ => out.extend(SEN2_BANDS.iter().map(|b| format!("sen2 {b}"))),
            }
        }
        out
    }
}

/// Examples `start..start + count`, already in CHW input units.
#[derive(Default)]
struct Block {
    start: usize,
    count: usize,
    data: Vec<f32>,
    /// The example read last, to tell in-order reading from shuffled reading.
    last: Option<usize>,
}

/// The examples of one So2Sat LCZ42 file.
pub struct So2Sat {
    path: PathBuf,
    source: So2SatSource,
    spec: InputSpec,
    /// Class id of every example (from the one-hot labels, checked at construction).
    labels: Vec<u32>,
    classes: usize,
    driver: String,
    ds: RefCell<Option<gdal::Dataset>>,
    block: RefCell<Block>,
}

fn open_multidim(path: &Path) -> Result<gdal::Dataset> {
    if !path.exists() && !path.to_string_lossy().starts_with("/vsi") {
        return Err(Error::io(path, "So2Sat file does not exist"));
    }
    let options = DatasetOptions { open_flags: GdalOpenFlags::GDAL_OF_MULTIDIM_RASTER, ..Default::default() };
    gdal::Dataset::open_ex(path, options)
        .map_err(|e| Error::raster(path, format!("GDAL cannot open it as a multidimensional (HDF5) file: {e}")))
}

fn array<'a>(root: &'a Group<'a>, path: &Path, name: &str) -> Result<MDArray<'a>> {
    root.open_md_array(name, CslStringList::new()).map_err(|_| {
        let found = root.array_names(CslStringList::new());
        Error::raster(path, format!("has no dataset {name:?} (its datasets: {found:?})"))
    })
}

/// The shape of array `name`, checked numeric.
fn shape(root: &Group, path: &Path, name: &str) -> Result<Vec<usize>> {
    let arr = array(root, path, name)?;
    let class = arr.datatype().class();
    if !class.is_numeric() {
        return Err(Error::raster(path, format!("dataset {name:?} holds {class} values, not numbers")));
    }
    let dims = arr.dimensions().map_err(|e| Error::raster(path, format!("dataset {name:?}: {e}")))?;
    Ok(dims.iter().map(|d| d.size()).collect())
}

/// Class id of each one-hot row of `label` [n, classes], read `LABEL_ROWS` rows at a time.
fn read_labels(root: &Group, path: &Path, n: usize, classes: usize) -> Result<Vec<u32>> {
    let arr = array(root, path, "label")?;
    let mut out = Vec::with_capacity(n);
    let mut buf = vec![0f64; LABEL_ROWS.min(n) * classes];
    for start in (0..n).step_by(LABEL_ROWS) {
        let rows = LABEL_ROWS.min(n - start);
        let buf = &mut buf[..rows * classes];
        arr.read_into_slice(buf, vec![start as u64, 0], vec![rows, classes]).map_err(|e| {
            Error::raster(path, format!("reading dataset \"label\" rows {start}..{}: {e}", start + rows))
        })?;
        for (r, row) in buf.chunks(classes).enumerate() {
            let ones: Vec<usize> = row.iter().enumerate().filter(|(_, v)| **v == 1.0).map(|(k, _)| k).collect();
            let zeros = row.iter().filter(|v| **v == 0.0).count();
            if ones.len() != 1 || zeros != classes - 1 {
                return Err(Error::raster(
                    path,
                    format!("dataset \"label\" row {} is not one-hot (one 1, the rest 0): {row:?}", start + r),
                ));
            }
            out.push(ones[0] as u32);
        }
    }
    Ok(out)
}

impl So2Sat {
    /// Opens a So2Sat file and checks its layout. `channels` are 1-based over the source's stack
    /// (empty: all of them); `scale` / `offset` give the input units (one value or one per
    /// channel); `classes`, when given, must be the label width (default: the label width).
    /// Every label row is read and checked one-hot now (17 numbers per example), so that
    /// `class_of` needs no file access and a bad file fails before training starts.
    pub fn open(
        path: &Path,
        source: So2SatSource,
        channels: &[usize],
        scale: &[f64],
        offset: &[f64],
        classes: Option<usize>,
    ) -> Result<So2Sat> {
        let ds = open_multidim(path)?;
        let driver = ds.driver().short_name();
        let root = ds.root_group().map_err(|e| Error::raster(path, format!("has no root group: {e}")))?;

        let label = shape(&root, path, "label")?;
        if label.len() != 2 {
            return Err(Error::raster(path, format!("dataset \"label\" has shape {label:?}, expected [N, classes]")));
        }
        let (n, width) = (label[0], label[1]);
        if let Some(c) = classes.filter(|c| *c != width) {
            return Err(Error::raster(
                path,
                format!("dataset \"label\" has {width} classes (shape {label:?}), expected {c}"),
            ));
        }
        if width < 2 {
            return Err(Error::raster(path, format!("dataset \"label\" has {width} class(es), at least 2 are needed")));
        }
        if n == 0 {
            return Err(Error::raster(path, "holds no example (dataset \"label\" has 0 rows)"));
        }
        for &(name, c) in source.arrays() {
            let found = shape(&root, path, name)?;
            let expected = [n, SIDE, SIDE, c];
            if found != expected {
                return Err(Error::raster(
                    path,
                    format!(
                        "dataset {name:?} has shape {found:?}, expected {expected:?} \
                         (N = {n} examples as in \"label\", {SIDE}x{SIDE} pixels, {c} channels)"
                    ),
                ));
            }
        }

        let names = source.channel_names();
        let stack = names.len();
        let channels: Vec<usize> = if channels.is_empty() { (1..=stack).collect() } else { channels.to_vec() };
        if let Some(bad) = channels.iter().find(|c| **c == 0 || **c > stack) {
            return Err(Error::invalid(format!(
                "So2Sat channel {bad} is out of range: {} has {stack} channels, numbered from 1",
                source.name()
            )));
        }
        let scale = per_band("scale", given(scale), channels.len(), 1.0)?;
        let offset = per_band("offset", given(offset), channels.len(), 0.0)?;
        let band_names = channels.iter().map(|c| names[c - 1].clone()).collect();
        let labels = read_labels(&root, path, n, width)?;
        drop(root);
        Ok(So2Sat {
            path: path.to_path_buf(),
            source,
            spec: InputSpec { bands: channels, scale, offset, band_names },
            labels,
            classes: width,
            driver,
            ds: RefCell::new(Some(ds)),
            block: RefCell::new(Block::default()),
        })
    }

    pub fn source(&self) -> So2SatSource {
        self.source
    }

    /// The GDAL driver that opened the file (HDF5, or netCDF for some netCDF-4 files).
    pub fn driver(&self) -> &str {
        &self.driver
    }

    /// Reads examples `start..start + count` of the selected channels, CHW, in input units.
    fn read_block(&self, start: usize, count: usize) -> Result<Block> {
        let mut ds = self.ds.borrow_mut();
        if ds.is_none() {
            *ds = Some(open_multidim(&self.path)?);
        }
        let ds = ds.as_ref().expect("opened above");
        let root = ds.root_group().map_err(|e| Error::raster(&self.path, format!("has no root group: {e}")))?;
        let plane = SIDE * SIDE;
        let nc = self.spec.bands.len();
        let mut data = vec![0f32; count * nc * plane];
        // Joint validity, as the engine's reader: a pixel invalid in one selected channel is
        // invalid (NaN) in all of them.
        let mut valid = vec![true; count * plane];
        let mut first = 0; // stack channel number of this array's first channel, minus 1
        for &(name, c) in self.source.arrays() {
            // Channels of this array that are selected: (model channel k, array channel ch).
            let picked: Vec<(usize, usize)> = self
                .spec
                .bands
                .iter()
                .enumerate()
                .filter(|(_, s)| (first + 1..=first + c).contains(*s))
                .map(|(k, s)| (k, s - 1 - first))
                .collect();
            first += c;
            if picked.is_empty() {
                continue;
            }
            let arr = array(&root, &self.path, name)?;
            let nodata = arr.no_data_value_as_double();
            let mut raw = vec![0f64; count * plane * c];
            arr.read_into_slice(&mut raw, vec![start as u64, 0, 0, 0], vec![count, SIDE, SIDE, c]).map_err(|e| {
                Error::raster(&self.path, format!("reading dataset {name:?} examples {start}..{}: {e}", start + count))
            })?;
            // NHWC -> CHW: file index ((e * H + y) * W + x) * C + ch, pixel p = y * W + x.
            for e in 0..count {
                for p in 0..plane {
                    let src = &raw[(e * plane + p) * c..(e * plane + p + 1) * c];
                    for &(k, ch) in &picked {
                        let v = src[ch];
                        if !v.is_finite() || nodata.is_some_and(|nd| v == nd) {
                            valid[e * plane + p] = false;
                        }
                        data[(e * nc + k) * plane + p] = (v * self.spec.scale[k] + self.spec.offset[k]) as f32;
                    }
                }
            }
        }
        for (e, chunk) in data.chunks_mut(nc * plane).enumerate() {
            for band in chunk.chunks_mut(plane) {
                for (v, ok) in band.iter_mut().zip(&valid[e * plane..(e + 1) * plane]) {
                    if !ok {
                        *v = f32::NAN;
                    }
                }
            }
        }
        Ok(Block { start, count, data, last: None })
    }
}

impl Dataset for So2Sat {
    fn len(&self) -> usize {
        self.labels.len()
    }

    fn input_shape(&self) -> [usize; 3] {
        [self.spec.bands.len(), SIDE, SIDE]
    }

    fn target(&self) -> Target {
        Target::Class { classes: self.classes }
    }

    fn example(&self, i: usize) -> Result<Example> {
        let n = self.labels.len();
        if i >= n {
            return Err(Error::invalid(format!("So2Sat example {i} is out of range: {} has {n}", self.path.display())));
        }
        let mut block = self.block.borrow_mut();
        if !(block.start..block.start + block.count).contains(&i) {
            let in_order = block.last.is_some_and(|l| l + 1 == i);
            let last = block.last;
            *block = self.read_block(i, if in_order { BLOCK.min(n - i) } else { 1 })?;
            block.last = last;
        }
        block.last = Some(i);
        let size = self.spec.bands.len() * SIDE * SIDE;
        let at = (i - block.start) * size;
        Ok(Example { x: block.data[at..at + size].to_vec(), y: vec![self.labels[i] as f32] })
    }

    fn class_of(&self, i: usize) -> Option<usize> {
        self.labels.get(i).map(|c| *c as usize)
    }

    fn class_names(&self) -> Vec<String> {
        if self.classes == LCZ_NAMES.len() {
            LCZ_NAMES.iter().map(|s| s.to_string()).collect()
        } else {
            (0..self.classes).map(|k| format!("class {k}")).collect()
        }
    }

    fn input_spec(&self) -> InputSpec {
        self.spec.clone()
    }

    fn describe(&self) -> serde_json::Value {
        let mut counts = vec![0usize; self.classes];
        for &c in &self.labels {
            counts[c as usize] += 1;
        }
        let classes: Vec<_> =
            self.class_names().iter().zip(&counts).map(|(name, n)| json!({ "name": name, "examples": n })).collect();
        json!({
            "kind": "so2sat",
            "path": self.path.display().to_string(),
            "driver": self.driver,
            "source": self.source.name(),
            "channels": self.spec.bands,
            "channel_names": self.spec.band_names,
            "examples": self.labels.len(),
            "classes": classes,
        })
    }
}
