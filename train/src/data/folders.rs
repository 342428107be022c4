//! One sub-folder per class of GeoTIFF chips: the EuroSAT layout (`AnnualCrop/AnnualCrop_1.tif`,
//! 64x64, 13 bands). Class ids follow the sorted folder names and chips the sorted file names, so
//! that the same tree always gives the same ids and the same splits. Chips are read one at a time
//! through the engine's reader (`rastrum::raster::input`): same band selection, scaling and
//! validity as `rastrum run`.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use gdal::Metadata;
use rastrum::raster::input::{self, InputRaster};
use rastrum::resolve::per_band;
use rastrum::{Error, Result};
use serde_json::json;

use super::raster::{given, read_chip, units};
use super::{Dataset, Example, InputSpec, Target};

/// Chips in class folders under `root`.
pub struct ChipFolders {
    root: PathBuf,
    classes: Vec<String>,
    /// Every chip with its class id, class by class, each class's files sorted.
    chips: Vec<(PathBuf, usize)>,
    counts: Vec<usize>,
    spec: InputSpec,
    /// Width and height every chip must have (those of the first chip).
    width: usize,
    height: usize,
    /// The last chip opened: chips are many small files, so one handle is kept, not one per
    /// chip (a folder of 27 000 chips would exhaust the process's file descriptors).
    open: RefCell<Option<(usize, InputRaster)>>,
}

fn is_chip(path: &Path) -> bool {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    matches!(ext.as_deref(), Some("tif" | "tiff")) && path.is_file()
}

fn hidden(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'))
}

/// The entries of `dir` that pass `keep`, sorted by name (read_dir's order is the file
/// system's, which differs between machines).
fn sorted_entries(dir: &Path, keep: impl Fn(&Path) -> bool) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, format!("cannot list the folder: {e}")))?;
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::io(dir, format!("cannot list the folder: {e}")))?.path();
        if !hidden(&path) && keep(&path) {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

impl ChipFolders {
    /// Scans `root`: each sub-folder is a class, each `.tif` / `.tiff` in it a chip. `bands` are
    /// 1-based (empty: every band of the first chip); `scale` / `offset` give the input units
    /// (one value or one per band). The first chip fixes the chip size and is checked now; the
    /// others are checked when read (opening 27 000 files up front would take minutes).
    pub fn open(root: &Path, bands: &[usize], scale: &[f64], offset: &[f64]) -> Result<ChipFolders> {
        if !root.is_dir() {
            return Err(Error::io(root, "is not a folder of class folders"));
        }
        let folders = sorted_entries(root, Path::is_dir)?;
        if folders.is_empty() {
            return Err(Error::io(root, "holds no class folder (expected one sub-folder of chips per class)"));
        }
        let mut classes = Vec::new();
        let mut chips = Vec::new();
        let mut counts = Vec::new();
        for (class, folder) in folders.iter().enumerate() {
            let files = sorted_entries(folder, is_chip)?;
            if files.is_empty() {
                return Err(Error::io(folder, "class folder holds no GeoTIFF chip (.tif or .tiff)"));
            }
            classes.push(folder.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned()));
            counts.push(files.len());
            chips.extend(files.into_iter().map(|f| (f, class)));
        }
        if classes.len() < 2 {
            return Err(Error::io(
                root,
                format!("holds one class folder ({:?}): a classifier needs at least two", classes[0]),
            ));
        }

        let first = &chips[0].0;
        let ds = input::open(first)?;
        let (width, height) = ds.raster_size();
        let count = ds.raster_count();
        let bands: Vec<usize> = if bands.is_empty() { (1..=count).collect() } else { bands.to_vec() };
        if bands.is_empty() {
            return Err(Error::raster(first, "has no band"));
        }
        let band_names = bands
            .iter()
            .map(|&b| {
                (1..=count)
                    .contains(&b)
                    .then(|| ds.rasterband(b).ok())
                    .flatten()
                    .and_then(|band| band.description().ok())
                    .filter(|d| !d.is_empty())
                    .unwrap_or_else(|| format!("band {b}"))
            })
            .collect();
        let scale = per_band("scale", given(scale), bands.len(), 1.0)?;
        let offset = per_band("offset", given(offset), bands.len(), 0.0)?;
        let spec = InputSpec { bands, scale, offset, band_names };
        // Checks the band selection against the first chip (InputRaster names the file).
        let reader = InputRaster::new(first, ds, &spec.bands, None, None, units(&spec.scale, &spec.offset))?;
        Ok(ChipFolders {
            root: root.to_path_buf(),
            classes,
            chips,
            counts,
            spec,
            width,
            height,
            open: RefCell::new(Some((0, reader))),
        })
    }

    /// The chip files with their class ids, in example order.
    pub fn chips(&self) -> &[(PathBuf, usize)] {
        &self.chips
    }

    /// Opens chip `i`, checking it against the first chip.
    fn reader(&self, i: usize) -> Result<InputRaster> {
        let path = &self.chips[i].0;
        let ds = input::open(path)?;
        let (w, h) = ds.raster_size();
        if (w, h) != (self.width, self.height) {
            return Err(Error::raster(
                path,
                format!(
                    "chip is {w}x{h} but the chips of {} are {}x{} (as its first chip {})",
                    self.root.display(),
                    self.width,
                    self.height,
                    self.chips[0].0.display()
                ),
            ));
        }
        let need = self.spec.bands.iter().copied().max().unwrap_or(0);
        if ds.raster_count() < need {
            return Err(Error::raster(
                path,
                format!(
                    "chip has {} band(s) but band {need} is selected (bands {:?})",
                    ds.raster_count(),
                    self.spec.bands
                ),
            ));
        }
        InputRaster::new(path, ds, &self.spec.bands, None, None, units(&self.spec.scale, &self.spec.offset))
    }
}

impl Dataset for ChipFolders {
    fn len(&self) -> usize {
        self.chips.len()
    }

    fn input_shape(&self) -> [usize; 3] {
        [self.spec.bands.len(), self.height, self.width]
    }

    fn target(&self) -> Target {
        Target::Class { classes: self.classes.len() }
    }

    fn example(&self, i: usize) -> Result<Example> {
        let mut open = self.open.borrow_mut();
        if open.as_ref().is_none_or(|(j, _)| *j != i) {
            *open = Some((i, self.reader(i)?));
        }
        let reader = &open.as_ref().expect("opened above").1;
        let (w, h) = (self.width, self.height);
        // The engine reads square windows; a non-square chip is read as the enclosing square
        // (padded past the edge) and cropped back to its own rows and columns.
        let side = w.max(h);
        let square = read_chip(reader, 0, 0, side)?;
        let x = if w == h {
            square
        } else {
            let mut x = Vec::with_capacity(self.spec.bands.len() * w * h);
            for plane in square.chunks(side * side) {
                for row in plane.chunks(side).take(h) {
                    x.extend_from_slice(&row[..w]);
                }
            }
            x
        };
        Ok(Example { x, y: vec![self.chips[i].1 as f32] })
    }

    fn class_of(&self, i: usize) -> Option<usize> {
        self.chips.get(i).map(|c| c.1)
    }

    fn class_names(&self) -> Vec<String> {
        self.classes.clone()
    }

    fn input_spec(&self) -> InputSpec {
        self.spec.clone()
    }

    fn describe(&self) -> serde_json::Value {
        let classes: Vec<_> =
            self.classes.iter().zip(&self.counts).map(|(name, n)| json!({ "name": name, "chips": n })).collect();
        json!({
            "kind": "chip_folders",
            "root": self.root.display().to_string(),
            "classes": classes,
            "bands": self.spec.bands,
            "chip_size": { "width": self.width, "height": self.height },
            "chips": self.chips.len(),
        })
    }
}
