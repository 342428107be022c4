//! A plan's tile outputs, in any order, into a sink: tiles that come before their turn in plan
//! order are held until it comes, so any order gives the bytes of plan order (the f64 sums of a
//! blended pixel add its tiles in the same order); in plan order nothing is held and memory is
//! the accumulators' window. The writer stage of a run, each block of the lazy reader and the
//! hosts' `Stitcher` all stitch through `Stitching`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::card::Redistribute;
use crate::error::{Error, Result};
use crate::grid::TileGrid;
use crate::raster::input::TileData;
use crate::resolve::{OutputKind, Resolved};
use crate::stitch::accumulate::{CellStitcher, PixelStitcher, RedistributeStitcher, TileOutput};
use crate::stitch::sink::{RowWriter, Sink};

enum Kind {
    Pixels(PixelStitcher),
    Cells(CellStitcher),
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
    plan: Cow<'a, TileGrid>,
    kind: Kind,
    pub(crate) sink: Sink<C, F>,
    /// The next tile in plan order.
    expected: usize,
    /// Tiles that came before their turn (None: skipped, all nodata).
    held: BTreeMap<usize, Option<Held>>,
}

impl<'a, C: RowWriter<u8>, F: RowWriter<f32>> Stitching<'a, C, F> {
    /// The accumulation window is made (and checked against the memory budget) before `sink`
    /// is called, so that a refused run creates no file.
    pub(crate) fn new(
        r: Cow<'a, Resolved>,
        plan: Cow<'a, TileGrid>,
        rect: [usize; 4],
        sink: impl FnOnce() -> Result<Sink<C, F>>,
    ) -> Result<Self> {
        let width = rect[2];
        let kind = match (r.output_kind, r.redistribute) {
            (OutputKind::Pixels, _) => {
                Kind::Pixels(PixelStitcher::new(&plan, r.out_channels, r.scale_factor, r.stitch, rect)?)
            }
            (OutputKind::PerTile, Redistribute::None) => Kind::Cells(CellStitcher::new(width, r.out_channels)?),
            (OutputKind::PerTile, rule) => {
                Kind::Redistribute(RedistributeStitcher::new(rect, r.tile_size, rule == Redistribute::Weight)?)
            }
            (OutputKind::Detections, _) => return Err(Error::invalid("detections are merged into a vector layer, not stitched into rows: run them with `rastrum run` (or rastrum_run)")),
        };
        Ok(Stitching { r, plan, kind, sink: sink()?, expected: 0, held: BTreeMap::new() })
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
                Kind::Cells(s) => s.add(col, Some(values)),
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
                Kind::Cells(s) => self.sink.write(s.take_row(row))?,
                Kind::Redistribute(s) => self.sink.write(s.take_rows(ty.start as usize))?,
            }
            if last {
                // The rows a post-processing filter still holds.
                self.sink.end()?;
            }
        }
        Ok(())
    }

    /// Whether every tile of the plan has been stitched.
    pub(crate) fn complete(&self) -> bool {
        self.expected == self.plan.count()
    }

    /// The settings and tiles stitched.
    pub(crate) fn geometry(&self) -> (&Resolved, &TileGrid) {
        (&self.r, &self.plan)
    }

    /// Tiles stitched so far, and tiles held until their turn.
    pub(crate) fn progress(&self) -> (usize, usize) {
        (self.expected, self.held.len())
    }
}
