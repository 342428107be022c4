//! The stitcher of a plan for hosts that run their own inference (`rastrum_stitcher_*`): tile
//! outputs in any order, finished rows to the GeoTIFF `rastrum run` writes, or to the host's
//! function.

use std::borrow::Cow;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::card::{Redistribute, Task};
use crate::error::{Error, Result};
use crate::plan::{inside_mask, Plan};
use crate::raster::input::TileData;
use crate::raster::output::OutputRaster;
use crate::resolve::OutputKind;
use crate::stitch::order::Stitching;
use crate::stitch::sink::Sink;
use crate::stitch::sink::{file_sink, BandsOut, FnRows, RowsFn};
use crate::tasks::activate;

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
        let sink = || file_sink(&plan.r, &plan.grid, plan.window.as_ref(), output, &plan.options);
        let st = Stitching::new(Cow::Owned(plan.r.clone()), Cow::Owned(plan.tiles.clone()), plan.rect, sink)?;
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
            Task::Detection => return Err(Error::invalid("detections are merged into a vector layer, not stitched into rows: run them with `rastrum run` (or rastrum_run)")),
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
        let mut sink = sink;
        sink.remove_small_segments(r.small_segment, plan.grid.width, 0);
        let st = Stitching::new(Cow::Owned(plan.r.clone()), Cow::Owned(plan.tiles.clone()), plan.rect, || Ok(sink))?;
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
