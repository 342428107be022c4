//! A run evaluated on demand, one output rectangle at a time, for hosts that read blocks (the
//! GDAL driver, `gdal_plugin/`). It uses the run's own plan, tiles, activation, stitching order
//! and conversions, so every rectangle holds the bytes `rastrum run` writes there. Model outputs
//! of recent tiles are cached (by bytes), so that neighbouring blocks do not run the tiles they
//! share again; the last rectangles are kept too, as hosts read a block band by band.
//! Thread-safe: any number of threads may read at once (the source is read under a lock, the
//! model runs concurrently).

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::card::{Redistribute, Task};
use crate::error::{Error, Result};
use crate::grid::TileGrid;
use crate::inference::Model;
use crate::options::RunOptions;
use crate::plan::{tile_region, Plan};
use crate::raster::input::{InputRaster, TileData};
use crate::raster::output::{class_colour, Georef};
use crate::resolve::{OutputKind, Resolved};
use crate::stitch::order::Stitching;
use crate::stitch::sink::{MemoryBands, Sink, PROBABILITY_SCALE};
use crate::tasks::{activate, CLASS_NODATA};

/// One output band as a host sees it.
#[derive(Debug, Clone, Serialize)]
pub struct BandInfo {
    /// "u8" or "f32".
    pub data_type: &'static str,
    pub nodata: f64,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    /// Class names (category names) of a class band.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// RGBA colours of a class band (a single-band class raster).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub colours: Vec<[u8; 4]>,
}

/// The output raster of a lazy run.
#[derive(Debug, Clone, Serialize)]
pub struct LazyInfo {
    pub width: usize,
    pub height: usize,
    pub geo_transform: Option<[f64; 6]>,
    pub projection: String,
    /// Natural block size: the step between tiles, in output pixels.
    pub block: usize,
    pub bands: Vec<BandInfo>,
    pub task: Task,
}

/// The values of one band over a rectangle, row-major.
#[derive(Debug, Clone, PartialEq)]
pub enum BandValues {
    U8(Vec<u8>),
    F32(Vec<f32>),
}

/// A tile's activated model output with its input (validity, weights); None: all nodata.
type Computed = Arc<Option<(Vec<f32>, TileData)>>;

struct TileCache {
    tiles: HashMap<(i64, i64), (u64, Computed)>,
    clock: u64,
    bytes: usize,
    budget: usize,
}

impl TileCache {
    fn get(&mut self, key: &(i64, i64)) -> Option<Computed> {
        self.clock += 1;
        let clock = self.clock;
        self.tiles.get_mut(key).map(|(used, t)| {
            *used = clock;
            t.clone()
        })
    }

    fn size(t: &Computed) -> usize {
        t.as_ref()
            .as_ref()
            .map_or(16, |(v, d)| v.len() * 4 + d.valid.len() + d.weight.as_ref().map_or(0, |w| w.len() * 8))
    }

    fn put(&mut self, key: (i64, i64), t: Computed) {
        self.clock += 1;
        self.bytes += Self::size(&t);
        if let Some((_, old)) = self.tiles.insert(key, (self.clock, t)) {
            self.bytes -= Self::size(&old);
        }
        // Least recently used first, but never below one tile.
        while self.bytes > self.budget && self.tiles.len() > 1 {
            let Some(oldest) = self.tiles.iter().min_by_key(|(_, (used, _))| *used).map(|(k, _)| *k) else { break };
            if let Some((_, t)) = self.tiles.remove(&oldest) {
                self.bytes -= Self::size(&t);
            }
        }
    }
}

/// Rectangles computed lately (all bands), newest last.
const RECENT_RECTS: usize = 16;
type Recent = VecDeque<([usize; 4], Arc<Vec<BandValues>>)>;

pub struct LazyRun {
    model: Arc<Model>,
    r: Resolved,
    plan: TileGrid,
    grid: Georef,
    prob_bands: bool,
    /// The reader, and the datasets its dataset is a view of (a tuple drops in order: the
    /// view closes first).
    reader: Mutex<(InputRaster, Vec<gdal::Dataset>)>,
    cache: Mutex<TileCache>,
    recent: Mutex<Recent>,
    tiles_run: AtomicUsize,
}

impl LazyRun {
    /// Plans a run of `model` over `input` with `opts`, without running anything. Options that
    /// only make sense for files (a window, a separate probability raster, a mask layer) are
    /// refused. `cache_bytes` bounds the tile cache.
    pub fn open(model: Arc<Model>, input: &Path, opts: &RunOptions, cache_bytes: usize) -> Result<LazyRun> {
        if opts.window.is_some() {
            return Err(Error::invalid("option 'window': a lazy run reads any block; leave it out"));
        }
        if opts.probabilities {
            return Err(Error::invalid(
                "option 'probabilities' writes a second file: use 'probability-bands' for bands of the same raster",
            ));
        }
        if opts.mask.is_some() {
            return Err(Error::invalid("option 'mask' is not supported on demand: use 'extent', or run to a file"));
        }
        let (p, reader) = Plan::open(input, Some(&model), opts)?.into_reader()?;
        if p.r.task == Task::Detection {
            return Err(Error::invalid(
                "the RASTRUM driver renders rasters; a detector's objects are a vector layer: run it with `rastrum run`",
            ));
        }
        let r = p.r;
        // Blocks on demand cannot see their neighbours' rows: the filter is refused when asked,
        // and a card's `seg_small_segment` is not applied here (docs/gdal-driver.md).
        if r.small_segment > 1 && opts.small_segment.is_some() {
            return Err(Error::invalid(
                "option 'small-segment' filters the whole class map, not blocks on demand: run to a file",
            ));
        }
        let is_class = matches!(r.task, Task::Segmentation | Task::Classification);
        Ok(LazyRun {
            model,
            prob_bands: is_class && opts.probability_bands,
            plan: p.tiles,
            grid: p.grid,
            reader: Mutex::new(reader),
            cache: Mutex::new(TileCache { tiles: HashMap::new(), clock: 0, bytes: 0, budget: cache_bytes }),
            recent: Mutex::new(VecDeque::new()),
            tiles_run: AtomicUsize::new(0),
            r,
        })
    }

    /// Tiles run through the model so far (cache misses).
    pub fn tiles_run(&self) -> usize {
        self.tiles_run.load(Ordering::Relaxed)
    }

    /// Size, georeferencing, block size and bands of the output.
    pub fn info(&self) -> LazyInfo {
        let r = &self.r;
        let block = match (r.output_kind, r.redistribute) {
            (OutputKind::Pixels, _) => {
                let step =
                    self.plan.x.tiles.get(1).map_or(r.tile_size, |t| (t.start - self.plan.x.tiles[0].start) as usize);
                (step * r.scale_factor).clamp(16, 4096)
            }
            (OutputKind::PerTile, Redistribute::None) => 64,
            (OutputKind::PerTile | OutputKind::Detections, _) => r.tile_size.clamp(16, 4096),
        };
        let bands = match r.task {
            Task::Segmentation | Task::Classification => {
                let channels = r.out_channels;
                let prob_name =
                    |c: usize| r.class_names.get(if channels == 1 { 1 } else { c }).cloned().unwrap_or_default();
                let colours = if self.prob_bands {
                    Vec::new()
                } else {
                    (0..r.class_names.len())
                        .map(|i| {
                            r.card.class_colors.get(&i).map_or_else(
                                || {
                                    let (a, b, c) = class_colour(i);
                                    [a as u8, b as u8, c as u8, 255]
                                },
                                |c| [c[0], c[1], c[2], 255],
                            )
                        })
                        .collect()
                };
                let mut bands = vec![BandInfo {
                    data_type: "u8",
                    nodata: CLASS_NODATA as f64,
                    description: "class".into(),
                    scale: None,
                    categories: r.class_names.clone(),
                    colours,
                }];
                if self.prob_bands {
                    bands.extend((0..channels).map(|c| BandInfo {
                        data_type: "u8",
                        nodata: CLASS_NODATA as f64,
                        description: format!("probability of {}", prob_name(c)),
                        scale: Some(PROBABILITY_SCALE),
                        categories: Vec::new(),
                        colours: Vec::new(),
                    }));
                }
                bands
            }
            Task::Regression | Task::SuperResolution | Task::Detection => (0..r.out_channels)
                .map(|_| BandInfo {
                    data_type: "f32",
                    nodata: r.output_nodata,
                    description: String::new(),
                    scale: None,
                    categories: Vec::new(),
                    colours: Vec::new(),
                })
                .collect(),
        };
        LazyInfo {
            width: self.grid.width,
            height: self.grid.height,
            geo_transform: self.grid.geo_transform,
            projection: self.grid.projection.clone(),
            block,
            bands,
            task: r.task,
        }
    }

    /// Every band over the output rectangle `[x, y, width, height]`.
    pub fn read(&self, rect: [usize; 4]) -> Result<Arc<Vec<BandValues>>> {
        let [x, y, w, h] = rect;
        if w == 0 || h == 0 || x + w > self.grid.width || y + h > self.grid.height {
            return Err(Error::invalid(format!(
                "rectangle {x},{y} {w}x{h} is outside the {}x{} output",
                self.grid.width, self.grid.height
            )));
        }
        if let Some(hit) = self.lock_recent()?.iter().rev().find(|(r, _)| *r == rect).map(|(_, v)| v.clone()) {
            return Ok(hit);
        }
        let r = &self.r;
        let sub = self.plan.covering(rect, |t| tile_region(r, t));
        let tiles = self.tiles(&sub)?;
        let sink = match r.task {
            Task::Segmentation | Task::Classification => {
                Sink::memory_classes(r.out_channels, r.class_names.len(), self.prob_bands, r.seg_thresh)
            }
            Task::Regression | Task::SuperResolution | Task::Detection => {
                Sink::memory_values(r.out_channels, r.reg_output_scaling, r.output_nodata)
            }
        };
        let mut stitching = Stitching::new(Cow::Borrowed(r), Cow::Borrowed(&sub), rect, || Ok(sink))?;
        for (i, t) in tiles.iter().enumerate() {
            stitching.add(i, t.as_ref().as_ref().map(|(v, d)| (v.as_slice(), d)))?;
        }
        if !stitching.complete() {
            return Err(Error::Internal("a tile of the block is missing".into()));
        }
        let bands: Vec<BandValues> = match stitching.sink.into_writers() {
            (Some(MemoryBands { bands }), _) => bands.into_iter().map(BandValues::U8).collect(),
            (None, Some(MemoryBands { bands })) => bands.into_iter().map(BandValues::F32).collect(),
            (None, None) => Vec::new(),
        };
        let bands = Arc::new(bands);
        let mut recent = self.lock_recent()?;
        recent.push_back((rect, bands.clone()));
        while recent.len() > RECENT_RECTS {
            recent.pop_front();
        }
        Ok(bands)
    }

    fn lock_recent(&self) -> Result<std::sync::MutexGuard<'_, Recent>> {
        self.recent.lock().map_err(|_| Error::Internal("a reader panicked".into()))
    }

    /// The activated outputs of the plan's tiles, from the cache or run now (in batches).
    fn tiles(&self, sub: &TileGrid) -> Result<Vec<Computed>> {
        let r = &self.r;
        let keys: Vec<(i64, i64)> = (0..sub.count())
            .map(|i| {
                let (row, col) = sub.position(i);
                (sub.x.tiles[col].start, sub.y.tiles[row].start)
            })
            .collect();
        let poisoned = || Error::Internal("a reader panicked".into());
        let mut found: Vec<Option<Computed>> = {
            let mut cache = self.cache.lock().map_err(|_| poisoned())?;
            keys.iter().map(|k| cache.get(k)).collect()
        };
        let missing: Vec<usize> = (0..keys.len()).filter(|&i| found[i].is_none()).collect();
        let per_in = r.bands.len() * r.tile_size * r.tile_size;
        let per_out = r.out_channels * r.out_size * r.out_size;
        for chunk in missing.chunks(r.batch) {
            let mut read = Vec::with_capacity(chunk.len());
            {
                let reader = self.reader.lock().map_err(|_| poisoned())?;
                for &i in chunk {
                    read.push(reader.0.read_tile(keys[i].0, keys[i].1, r.tile_size, None)?);
                }
            }
            let mut input = Vec::with_capacity(r.batch * per_in);
            let running: Vec<usize> = (0..read.len()).filter(|&j| read[j].any_valid).collect();
            for &j in &running {
                input.extend_from_slice(&read[j].data);
            }
            let mut outputs: Vec<Option<Vec<f32>>> = vec![None; read.len()];
            if !running.is_empty() {
                let n = if r.static_batch { r.batch } else { running.len() };
                input.resize(n * per_in, 0.0);
                let out = self.model.run(&input, [n, r.bands.len(), r.tile_size, r.tile_size], r.output_index)?;
                if out.data.len() != n * per_out {
                    return Err(Error::model(&self.model.path, format!("output shape {:?} changed", out.shape)));
                }
                self.tiles_run.fetch_add(running.len(), Ordering::Relaxed);
                for (slot, &j) in running.iter().enumerate() {
                    let mut values = out.data[slot * per_out..(slot + 1) * per_out].to_vec();
                    activate(&mut values, r.out_channels, r.activation);
                    outputs[j] = Some(values);
                }
            }
            let mut cache = self.cache.lock().map_err(|_| poisoned())?;
            for ((&i, mut tile), values) in chunk.iter().zip(read).zip(outputs) {
                tile.data = Vec::new();
                let computed: Computed = Arc::new(values.map(|v| (v, tile)));
                cache.put(keys[i], computed.clone());
                found[i] = Some(computed);
            }
        }
        found.into_iter().map(|t| t.ok_or_else(|| Error::Internal("a tile was not computed".into()))).collect()
    }
}
