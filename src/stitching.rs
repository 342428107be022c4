//! A plan's tile outputs, in any order, stitched into a sink: the writer stage of a run, each
//! block of a run read on demand (`lazy`), and the stitcher hosts feed with their own inference
//! (`Stitcher`, `rastrum_stitcher_*`). Tiles that come before their turn in plan order are held
//! until it comes, so any order gives the bytes of plan order (the f64 sums of a blended pixel
//! add its tiles in the same order); in plan order nothing is held and memory is the stitching
//! window's (`stitch`).

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::card::{Redistribute, Task};
use crate::error::{Error, Result};
use crate::plan::{inside_mask, Plan};
use crate::raster::input::TileData;
use crate::raster::output::{Grid, OutputRaster};
use crate::options::RunOptions;
use crate::raster::mosaic::{WindowPlacement, WINDOW_METADATA_KEY};
use crate::resolve::{OutputKind, Resolved};
use crate::stitch::{GridStitcher, PixelStitcher, RedistributeStitcher, TileOutput};
use crate::tasks::{activate, ProbabilityOutputs, RowWriter, Sink};
use crate::tiling::TilePlan;

enum Kind {
    Pixels(PixelStitcher),
    Grid(GridStitcher),
    Redistribute(RedistributeStitcher),
}

/// A tile that came before its turn: its activated output and its validity and weights.
struct Held {
    values: Vec<f32>,
    tile: TileData,
}

/// Stitching of a plan's tiles into the output rectangle `rect` (whose grid is `width` x
/// `height`), handing finished rows to a sink.
pub(crate) struct Stitching<'a, C, F> {
    r: Cow<'a, Resolved>,
    plan: Cow<'a, TilePlan>,
    kind: Kind,
    pub(crate) sink: Sink<C, F>,
    /// The next tile in plan order.
    expected: usize,
    /// Tiles that came before their turn (None: skipped, all nodata).
    held: BTreeMap<usize, Option<Held>>,
}

impl<'a, C: RowWriter<u8>, F: RowWriter<f32>> Stitching<'a, C, F> {
    pub(crate) fn new(r: Cow<'a, Resolved>, plan: Cow<'a, TilePlan>, rect: [usize; 4], sink: Sink<C, F>) -> Self {
        let width = rect[2];
        let kind = match (r.output_kind, r.redistribute) {
            (OutputKind::Pixels, _) => {
                Kind::Pixels(PixelStitcher::new(&plan, r.out_channels, r.scale_factor, r.stitch, rect))
            }
            (OutputKind::PerTile, Redistribute::None) => Kind::Grid(GridStitcher::new(width, r.out_channels)),
            (OutputKind::PerTile, rule) => {
                Kind::Redistribute(RedistributeStitcher::new(rect, r.tile_size, rule == Redistribute::Weight))
            }
        };
        Stitching { r, plan, kind, sink, expected: 0, held: BTreeMap::new() }
    }

    /// Tile `index` of the plan, in any order: its activated model output and its input, or
    /// None for a tile skipped because all its input is nodata. A tile before its turn is
    /// copied and held; each tile must come once.
    pub(crate) fn add(&mut self, index: usize, tile: Option<(&[f32], &TileData)>) -> Result<()> {
        self.check(index)?;
        if index > self.expected {
            let held = tile.map(|(values, t)| Held {
                values: values.to_vec(),
                tile: TileData { data: Vec::new(), valid: t.valid.clone(), weight: t.weight.clone(), any_valid: true },
            });
            self.held.insert(index, held);
            return Ok(());
        }
        self.stitch(index, tile)?;
        self.stitch_held()
    }

    /// `add` of a tile the caller gives up: held without a copy when it comes early.
    pub(crate) fn add_owned(&mut self, index: usize, tile: Option<(Vec<f32>, TileData)>) -> Result<()> {
        self.check(index)?;
        if index > self.expected {
            self.held.insert(index, tile.map(|(values, tile)| Held { values, tile }));
            return Ok(());
        }
        self.stitch(index, tile.as_ref().map(|(v, t)| (v.as_slice(), t)))?;
        self.stitch_held()
    }

    /// Stitches the held tiles whose turn has come.
    fn stitch_held(&mut self) -> Result<()> {
        while let Some(held) = self.held.remove(&self.expected) {
            self.stitch(self.expected, held.as_ref().map(|h| (h.values.as_slice(), &h.tile)))?;
        }
        Ok(())
    }

    /// Refuses a tile outside the plan or one that came already.
    pub(crate) fn check(&self, index: usize) -> Result<()> {
        let count = self.plan.count();
        if index >= count {
            return Err(Error::invalid(format!("tile {index} is outside the plan's {count} tiles")));
        }
        if index < self.expected || self.held.contains_key(&index) {
            return Err(Error::invalid(format!("tile {index} was already added")));
        }
        Ok(())
    }

    /// Stitches the tile whose turn it is, and hands out the rows no later tile touches.
    fn stitch(&mut self, index: usize, tile: Option<(&[f32], &TileData)>) -> Result<()> {
        self.expected += 1;
        let (r, plan) = (&*self.r, &*self.plan);
        let (row, col) = plan.position(index);
        let (tx, ty) = (&plan.x.tiles[col], &plan.y.tiles[row]);
        if let Some((values, tile)) = tile {
            let out = TileOutput {
                values,
                out_size: r.out_size,
                valid: &tile.valid,
                tile: r.tile_size,
                weight: tile.weight.as_deref(),
            };
            match &mut self.kind {
                Kind::Pixels(s) => s.add(tx, ty, &out),
                Kind::Grid(s) => s.add(col, Some(values)),
                Kind::Redistribute(s) => s.add(tx.start as usize, ty.start as usize, values.first().copied(), &out),
            }
        }
        if col + 1 == plan.x.tiles.len() {
            let last = row + 1 == plan.y.tiles.len();
            match &mut self.kind {
                Kind::Pixels(s) => {
                    let limit = if last { usize::MAX } else { s.first_row(&plan.y.tiles[row + 1]) };
                    if let Some(rows) = s.take_ready(limit, last) {
                        self.sink.write(rows)?;
                    }
                }
                Kind::Grid(s) => self.sink.write(s.take_row(row))?,
                Kind::Redistribute(s) => self.sink.write(s.take_rows(ty.start as usize))?,
            }
        }
        Ok(())
    }

    /// Whether every tile of the plan has been stitched.
    pub(crate) fn complete(&self) -> bool {
        self.expected == self.plan.count()
    }

    /// The settings and tiles stitched.
    pub(crate) fn geometry(&self) -> (&Resolved, &TilePlan) {
        (&self.r, &self.plan)
    }

    /// Tiles stitched so far, and tiles held until their turn.
    pub(crate) fn progress(&self) -> (usize, usize) {
        (self.expected, self.held.len())
    }
}

/// The output rasters of a run at `output` (class raster, and the probabilities when asked),
/// created under temporary names; a window's placement is recorded in them.
pub(crate) fn file_sink(
    r: &Resolved,
    grid: &Grid,
    window: Option<&WindowPlacement>,
    output: &Path,
    opts: &RunOptions,
) -> Result<Sink> {
    let mut sink = match r.task {
        Task::Segmentation | Task::Classification => Sink::classes(
            output,
            grid,
            r.out_channels,
            &r.class_names,
            &r.card.class_colors,
            ProbabilityOutputs { separate: opts.probabilities, in_bands: opts.probability_bands },
            r.seg_thresh,
            r.output_nodata,
            &opts.write,
        )?,
        Task::Regression | Task::SuperResolution => {
            Sink::values(output, grid, r.out_channels, r.reg_output_scaling, r.output_nodata, &opts.write)?
        }
    };
    if let Some(w) = window {
        let json = serde_json::to_string(w).map_err(|e| Error::Internal(e.to_string()))?;
        sink.set_metadata(WINDOW_METADATA_KEY, &json)?;
    }
    Ok(sink)
}

/// Rows handed to a host: which raster (0: the output, 1: the probability raster beside it),
/// the first row, the row count, and the bands `[band][row * width + col]`.
pub struct RowsOut<'a> {
    pub raster: usize,
    pub y0: usize,
    pub rows: usize,
    pub bands: BandsOut<'a>,
}

/// Bands of finished rows, in the output's data type.
pub enum BandsOut<'a> {
    U8(&'a [Vec<u8>]),
    F32(&'a [Vec<f32>]),
}

/// The host's function receiving finished rows; an error stops the stitching.
pub type RowsFn = Box<dyn FnMut(RowsOut) -> Result<()>>;

/// A `RowWriter` calling the host's function (shared by the class and probability writers).
pub(crate) struct FnRows<T> {
    raster: usize,
    f: Rc<RefCell<RowsFn>>,
    wrap: fn(&[Vec<T>]) -> BandsOut<'_>,
}

impl<T> RowWriter<T> for FnRows<T> {
    fn write_rows(&mut self, y0: usize, rows: usize, bands: Vec<Vec<T>>) -> Result<()> {
        let mut f = self.f.try_borrow_mut().map_err(|_| Error::Internal("the rows function re-entered".into()))?;
        f(RowsOut { raster: self.raster, y0, rows, bands: (self.wrap)(&bands) })
    }
}

enum Output {
    File(Box<Stitching<'static, OutputRaster<u8>, OutputRaster<f32>>>),
    Rows(Box<Stitching<'static, FnRows<u8>, FnRows<f32>>>),
}

/// The stitcher of a plan for hosts that run their own inference: tile outputs in any order,
/// finished rows to a GeoTIFF it writes (as `rastrum run` does), or to the host's function.
pub struct Stitcher {
    /// None once finished, or after a failure while writing (rows already handed out).
    output: Option<Output>,
    /// Why the stitcher stopped, if it failed.
    failed: Option<String>,
    /// Tiles in the plan.
    count: usize,
    /// The raster's size: which pixels of a tile are inside it (the host's masks are clipped
    /// to them).
    raster: [usize; 2],
    /// The files renamed into place by `finish`.
    outputs: Vec<PathBuf>,
}

impl Stitcher {
    /// Stitches `plan`'s tiles into `output` (and `<stem>_probabilities.tif` with the
    /// `probabilities` option), GeoTIFF or COG with the plan's write options; the files appear
    /// at `finish`, complete, or not at all.
    pub fn to_file(plan: &Plan, output: &Path) -> Result<Stitcher> {
        crate::raster::output::check_destination(output, plan.input().unwrap_or(Path::new("")))?;
        let sink = file_sink(&plan.r, &plan.grid, plan.window.as_ref(), output, &plan.options)?;
        let st = Stitching::new(Cow::Owned(plan.r.clone()), Cow::Owned(plan.tiles.clone()), plan.rect, sink);
        Stitcher::with(plan, Output::File(Box::new(st)))
    }

    /// Stitches `plan`'s tiles and hands finished rows to `rows`, top to bottom: the bands a file
    /// would hold (class raster: u8 classes then quantised probabilities; values: f32), nodata
    /// where no valid input was.
    pub fn to_rows(plan: &Plan, rows: RowsFn) -> Result<Stitcher> {
        let r = &plan.r;
        let f = Rc::new(RefCell::new(rows));
        let u8s = |raster| FnRows::<u8> { raster, f: f.clone(), wrap: |b| BandsOut::U8(b) };
        let f32s = |raster| FnRows::<f32> { raster, f: f.clone(), wrap: |b| BandsOut::F32(b) };
        let sink = match r.task {
            Task::Segmentation | Task::Classification => Sink::class_writers(
                u8s(0),
                plan.options.probabilities.then(|| f32s(1)),
                plan.options.probability_bands,
                r.out_channels,
                r.class_names.len(),
                r.seg_thresh,
                r.output_nodata,
            ),
            Task::Regression | Task::SuperResolution => {
                Sink::value_writer(f32s(0), r.out_channels, r.reg_output_scaling, r.output_nodata)
            }
        };
        let st = Stitching::new(Cow::Owned(plan.r.clone()), Cow::Owned(plan.tiles.clone()), plan.rect, sink);
        Stitcher::with(plan, Output::Rows(Box::new(st)))
    }

    fn with(plan: &Plan, output: Output) -> Result<Stitcher> {
        Ok(Stitcher {
            output: Some(output),
            failed: None,
            count: plan.count(),
            raster: [plan.info.width, plan.info.height],
            outputs: Vec::new(),
        })
    }

    /// Tile `index`'s model output `[channels, size, size]` (or `[channels]` per tile), before
    /// the activation, which the stitcher applies as the engine does; `None`: the tile was not
    /// run. `valid`: the tile's input validity `[tile, tile]` (the reader's; None: every pixel
    /// inside the raster is valid); `weight`: the weight band's values `[tile, tile]`
    /// (redistribution by weight only). A tile with no valid pixel counts as not run.
    pub fn add(
        &mut self,
        index: usize,
        values: Option<&[f32]>,
        valid: Option<&[u8]>,
        weight: Option<&[f64]>,
    ) -> Result<()> {
        let count = self.count;
        if index >= count {
            return Err(Error::invalid(format!("tile {index} is outside the plan's {count} tiles")));
        }
        let (r, tiles) = match &self.output {
            Some(Output::File(s)) => s.geometry(),
            Some(Output::Rows(s)) => s.geometry(),
            None => return Err(self.stopped()),
        };
        let inside = inside_mask(tiles, index, self.raster);
        let t2 = r.tile_size * r.tile_size;
        let per_out = r.out_channels * r.out_size * r.out_size;
        let check = |what: &str, n: usize, expected: usize| {
            if n != expected {
                return Err(Error::invalid(format!("tile {index}: {what} has {n} values, expected {expected}")));
            }
            Ok(())
        };
        if let Some(v) = values {
            check("the output", v.len(), per_out)?;
        }
        if let Some(v) = valid {
            check("the validity mask", v.len(), t2)?;
        }
        if let Some(w) = weight {
            check("the weight band", w.len(), t2)?;
        }
        let by_weight = r.output_kind == OutputKind::PerTile && r.redistribute == Redistribute::Weight;
        if by_weight && values.is_some() && weight.is_none() {
            return Err(Error::invalid(format!(
                "tile {index}: redistribution by weight needs the weight band's values of the tile"
            )));
        }
        let valid: Vec<u8> = match valid {
            Some(v) => v.iter().zip(&inside).map(|(a, b)| (*a != 0 && *b == 1) as u8).collect(),
            None => inside,
        };
        let tile = match values {
            Some(v) if valid.contains(&1) => {
                let mut values = v.to_vec();
                activate(&mut values, r.out_channels, r.activation);
                let data = TileData { data: Vec::new(), valid, weight: weight.map(<[f64]>::to_vec), any_valid: true };
                Some((values, data))
            }
            _ => None,
        };
        let added = match self.output.as_mut() {
            Some(Output::File(s)) => s.check(index).map(|_| s.add_owned(index, tile)),
            Some(Output::Rows(s)) => s.check(index).map(|_| s.add_owned(index, tile)),
            None => return Err(self.stopped()),
        }?;
        if let Err(e) = &added {
            // Rows may be lost: the stitcher cannot go on (its temporary files go on drop).
            self.failed = Some(e.to_string());
            self.output = None;
        }
        added
    }

    fn stopped(&self) -> Error {
        match &self.failed {
            Some(why) => Error::invalid(format!("the stitcher stopped after an error ({why}): make a new one")),
            None => Error::invalid("the stitcher is finished"),
        }
    }

    /// Tiles stitched so far, and tiles held until the tiles before them come.
    pub fn progress(&self) -> (usize, usize) {
        match &self.output {
            Some(Output::File(s)) => s.progress(),
            Some(Output::Rows(s)) => s.progress(),
            None => (self.count, 0),
        }
    }

    /// Ends the stitching once every tile has come: renames the files into place and returns
    /// their paths (none for rows). Refused, naming the first missing tile, before that.
    pub fn finish(&mut self) -> Result<Vec<PathBuf>> {
        if self.failed.is_some() {
            return Err(self.stopped());
        }
        let (done, held) = self.progress();
        if done < self.count {
            return Err(Error::invalid(format!(
                "tile {done} has not been added ({done} of {} tiles stitched, {held} waiting for it)",
                self.count
            )));
        }
        match self.output.take() {
            Some(Output::File(s)) => self.outputs = s.sink.finish()?,
            Some(Output::Rows(_)) => {}
            None => {}
        }
        Ok(self.outputs.clone())
    }
}
