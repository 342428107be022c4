//! One run: the plan of its tiles, then read, infer and write concurrently. The reader and writer
//! run on their own threads with bounded queues (one batch each) between them and the inference
//! on the calling thread, which also reports progress, so memory is bounded by the queues and
//! the stitching window.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::time::Instant;

use serde::Serialize;

mod detections;
use detections::write_detections;

use crate::card::{StitchMode, Task};
use crate::error::{Error, Result};
use crate::inference::{Model, Tensor};
use crate::options::RunOptions;
use crate::plan::{sanity, Plan};
use crate::progress::Progress;
use crate::raster::input::{self, InputRaster, TileData};
use crate::raster::mask::Mask;
use crate::raster::mosaic::WindowPlacement;
use crate::raster::output::{check_output, dataset_files, OutputRaster};
use crate::raster::place::move_all_into_place;
use crate::raster::space::check_space;
use crate::raster::vector::{vector_driver, VectorOutput};
use crate::resolve::Resolved;
use crate::stitch::order::Stitching;
use crate::stitch::sink::{file_sink, head_name, head_path, planned_files, probabilities_path};
use crate::tasks::activate;

/// What a finished run reports.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub outputs: Vec<PathBuf>,
    pub task: Task,
    pub provider: String,
    pub tiles_total: usize,
    pub tiles_run: usize,
    pub tiles_skipped: usize,
    pub seconds: f64,
    pub width: usize,
    pub height: usize,
    pub input_width: usize,
    pub input_height: usize,
    pub resampled: bool,
    pub tile_size: usize,
    pub overlap: usize,
    pub margin: usize,
    pub stitch: StitchMode,
    pub batch: usize,
    /// Why the run went on at batch 1 when the model failed at the batch chosen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_fallback: Option<String>,
    /// What looked wrong before the run (the input sanity check), said before the first batch.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    pub megapixels_per_second: f64,
    /// Output pixels per class name (class tasks; the first head's).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub class_counts: BTreeMap<String, u64>,
    /// Each head's files and counts, when the run wrote several heads.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub heads: Vec<HeadSummary>,
    /// Tile columns and rows of the whole raster's plan.
    pub tile_grid: [usize; 2],
    /// Where a window run's output sits in the whole output (`width` x `height` above are the
    /// window's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowPlacement>,
}

/// One head of a run writing several.
#[derive(Debug, Clone, Serialize)]
pub struct HeadSummary {
    /// The model output.
    pub output_name: String,
    /// Its name in file names and hosts' outputs (`OUTPUT_<name>`; see `head_name`).
    pub name: String,
    pub outputs: Vec<PathBuf>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub class_counts: BTreeMap<String, u64>,
}

/// Tiles on their way through the pipeline. The reader packs the pixels of the tiles to run into
/// `input` (the model's batch tensor) and keeps only what the writer needs per tile (validity,
/// weights); the model stage swaps `input` for the batch's output. Packing and unpacking thus
/// happen on the reader's and writer's threads, off the model's.
struct Batch {
    /// (tile index, tile) in plan order; `None`: skipped (all nodata), not in `values`.
    tiles: Vec<(usize, Option<TileData>)>,
    /// Input `[n, c, h, w]` of the tiles to run (zero-padded to a fixed batch).
    values: Vec<f32>,
    /// The model's output for them, one per head (empty until the model ran).
    outputs: Vec<Vec<f32>>,
}

/// Runs `model` over `input`, writing `output` (and, for classes with `probabilities`, the
/// probability raster beside it). On error or cancel no output file is left. With a window, only
/// that block of the tile grid is written, with the bytes a whole run gives there.
pub fn run(model: &Model, input: &Path, output: &Path, opts: &RunOptions, progress: Progress) -> Result<RunSummary> {
    run_planned(model, input, output, opts, &mut |_| {}, progress)
}

/// [`run`], calling `on_plan` once with the checked plan before any tile is read: the CLI prints
/// [`Plan::describe`] from it (the progress callback stays tiles only, as hosts expect).
pub fn run_planned(
    model: &Model,
    input: &Path,
    output: &Path,
    opts: &RunOptions,
    on_plan: &mut dyn FnMut(&Plan),
    progress: Progress,
) -> Result<RunSummary> {
    let started = Instant::now();
    if opts.cancel.as_ref().is_some_and(|c| c.load(Ordering::SeqCst)) {
        return Err(Error::Cancelled);
    }
    let ds = input::open(input)?;
    let source_info = input::info(&ds);
    let inputs = run_inputs(input, &ds, model, opts);
    check_output(output, &inputs)?;
    let mut plan = Plan::from_dataset(input, ds, Some(model), opts)?;
    // Before anything is written: raw values into a scaled model are said (or refused) first.
    let warning = sanity::verdict(sanity::check_inputs(&plan)?, opts.strict)?;
    plan.warnings.extend(warning);
    let r = &plan.r;
    let targets = head_targets(&plan, output, opts, &inputs)?;
    // Outputs that cannot fit even at their smallest are refused now, not after the inference.
    let mut planned = Vec::new();
    for (head, target) in plan.heads().zip(&targets) {
        planned.extend(planned_files(head, &plan.grid, target, opts)?);
    }
    check_space(&planned)?;
    // Opened here to report a bad mask before anything is written; the reader thread opens its
    // own (OGR geometries may not cross threads).
    if let Some(m) = opts.mask.as_deref() {
        Mask::open(m, &plan.info)?;
    }

    on_plan(&plan);
    let done = pipeline(model, &plan, &targets, opts, progress)?;
    let seconds = started.elapsed().as_secs_f64();
    let counts = |head: &Resolved, counts: &[u64]| -> BTreeMap<String, u64> {
        counts.iter().enumerate().map(|(c, n)| (head.class_names[c].clone(), *n)).collect()
    };
    let heads: Vec<HeadSummary> = plan
        .heads()
        .zip(&done.heads)
        .map(|(h, (outputs, n))| HeadSummary {
            output_name: h.output_name.clone(),
            name: head_name(h),
            outputs: outputs.clone(),
            class_counts: counts(h, n),
        })
        .collect();
    Ok(RunSummary {
        outputs: done.heads.iter().flat_map(|(files, _)| files.clone()).collect(),
        task: r.task,
        provider: model.provider.clone(),
        tiles_total: plan.count(),
        tiles_run: done.tiles_run,
        tiles_skipped: done.tiles_skipped,
        seconds,
        width: plan.grid.width,
        height: plan.grid.height,
        input_width: source_info.width,
        input_height: source_info.height,
        resampled: plan.resampled,
        tile_size: r.tile_size,
        overlap: r.overlap,
        margin: r.margin,
        stitch: r.stitch,
        batch: r.batch,
        batch_fallback: r.batch_fallback.clone(),
        warnings: plan.warnings.clone(),
        megapixels_per_second: (plan.info.width * plan.info.height) as f64 / 1e6 / seconds.max(1e-9),
        class_counts: heads.first().map(|h| h.class_counts.clone()).unwrap_or_default(),
        heads: if heads.len() > 1 { heads } else { Vec::new() },
        tile_grid: plan.tile_grid,
        window: plan.window.clone(),
    })
}

/// Every file the run reads, named for messages: the input raster (its path first: the
/// message for the commonest mistake), its files (with a VRT's sources), the model and the mask.
fn run_inputs(input: &Path, ds: &gdal::Dataset, model: &Model, opts: &RunOptions) -> Vec<(&'static str, PathBuf)> {
    let mut inputs = vec![("the input raster", input.to_path_buf())];
    inputs.extend(dataset_files("a file of the input raster", ds));
    inputs.push(("the model", model.path.clone()));
    inputs.extend(opts.mask.iter().map(|m| ("the mask", m.clone())));
    inputs
}

/// The raster each head writes (OUTPUT for the first, see [`head_path`]), each checked by the
/// output policy with its probability raster, and all distinct.
fn head_targets(
    plan: &Plan,
    output: &Path,
    opts: &RunOptions,
    inputs: &[(&'static str, PathBuf)],
) -> Result<Vec<PathBuf>> {
    let mut all: Vec<PathBuf> = Vec::new();
    let mut targets = Vec::new();
    if plan.r.task == Task::Detection && plan.heads().count() > 1 {
        return Err(Error::invalid("a detector writes one layer: choose its output with 'output-index'"));
    }
    for (k, head) in plan.heads().enumerate() {
        let is_class = matches!(head.task, Task::Segmentation | Task::Classification);
        if (opts.probabilities || opts.probability_bands) && !is_class {
            return Err(Error::invalid(format!(
                "probabilities are written for segmentation and classification only, not for {} (output '{}')",
                head.task, head.output_name
            )));
        }
        let target = head_path(output, head, k == 0);
        let mut files = vec![target.clone()];
        if opts.probabilities {
            files.push(probabilities_path(&target));
        }
        for f in files {
            if k > 0 {
                check_output(&f, inputs)?;
            }
            if all.contains(&f) {
                return Err(Error::invalid(format!(
                    "two outputs of the run would both be written to {} (output '{}'): choose another OUTPUT name",
                    f.display(),
                    head.output_name
                )));
            }
            all.push(f);
        }
        targets.push(target);
    }
    if opts.probabilities {
        check_output(&probabilities_path(output), inputs)?;
    }
    if let Some(vector) = &opts.vector {
        if !matches!(plan.r.task, Task::Segmentation | Task::Classification) {
            return Err(Error::invalid(format!(
                "option 'vector' polygonizes class rasters, not {} outputs",
                plan.r.task
            )));
        }
        vector_driver(vector)?;
        check_output(vector, inputs)?;
        if all.contains(vector) {
            return Err(Error::invalid(format!("option 'vector': {} is also a raster output", vector.display())));
        }
    }
    Ok(targets)
}

/// What the pipeline made: each head's files and pixels per class, tiles run and skipped.
struct Done {
    heads: Vec<(Vec<PathBuf>, Vec<u64>)>,
    tiles_run: usize,
    tiles_skipped: usize,
}

/// The three stages over the plan: the reader and writer on their own threads, the model on this
/// one, which also reports progress and stops everything on an error or a cancel.
fn pipeline(model: &Model, plan: &Plan, targets: &[PathBuf], opts: &RunOptions, progress: Progress) -> Result<Done> {
    let total = plan.count();
    let cancel = AtomicBool::new(false);
    // One batch waiting on each side of the model: enough to hide I/O, and memory stays at a
    // handful of batches whatever the raster's size.
    let (batch_tx, batch_rx) = sync_channel::<Result<Batch>>(1);
    let (done_tx, done_rx) = sync_channel::<Batch>(1);
    let (mut tiles_run, mut tiles_skipped) = (0usize, 0usize);

    let heads = std::thread::scope(|scope| -> Result<Vec<(Vec<PathBuf>, Vec<u64>)>> {
        let (mask, plan_ref, cancel_ref) = (opts.mask.as_deref(), plan, &cancel);
        let reader_handle = scope.spawn(move || {
            plan_ref.with_reader(|reader| match mask.map(|m| Mask::open(m, &reader.info)).transpose() {
                Ok(mask) => read_tiles(reader, mask.as_ref(), plan_ref, cancel_ref, batch_tx),
                Err(e) => {
                    let _ = batch_tx.send(Err(e));
                    Ok(())
                }
            })
        });
        let writer_handle = scope.spawn(move || match plan_ref.r.task {
            Task::Detection => write_detections(plan_ref, &targets[0], done_rx).map(|head| vec![head]),
            _ => write_tiles(plan_ref, targets, done_rx),
        });

        let mut result: Result<()> = Ok(());
        let mut seen = 0usize;
        let mut done_tx = Some(done_tx);
        for msg in batch_rx.iter() {
            let batch = match msg {
                Ok(b) => b,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            let done = match infer_batch(model, plan, batch) {
                Ok(d) => d,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            seen += done.tiles.len();
            tiles_run += done.tiles.iter().filter(|(_, t)| t.is_some()).count();
            tiles_skipped += done.tiles.iter().filter(|(_, t)| t.is_none()).count();
            if done_tx.as_ref().map(|tx| tx.send(done)).is_none_or(|s| s.is_err()) {
                // The writer stopped: its own error is reported below.
                break;
            }
            let frac = seen as f64 / total as f64;
            let cancelled = opts.cancel.as_ref().is_some_and(|c| c.load(Ordering::SeqCst));
            if cancelled || !progress(frac, &format!("{seen} of {total} tiles")) {
                result = Err(Error::Cancelled);
                break;
            }
        }
        if result.is_err() {
            cancel.store(true, Ordering::SeqCst);
            done_tx = None; // the writer sees an unfinished stream and deletes its outputs
        }
        drop(batch_rx);
        drop(done_tx);
        let read = reader_handle.join().map_err(|_| Error::Internal("the reader thread panicked".into()))?;
        let written = writer_handle.join().map_err(|_| Error::Internal("the writer thread panicked".into()))?;
        result?;
        read?;
        let outputs = written?;
        if seen != total {
            return Err(Error::Internal(format!("{seen} of {total} tiles were processed")));
        }
        Ok(outputs)
    })?;

    Ok(Done { heads, tiles_run, tiles_skipped })
}

/// Reader stage: tiles in plan order, all-nodata tiles marked skipped, grouped so that each
/// batch holds up to `r.batch` tiles to run, packed into the model's input tensor.
fn read_tiles(
    reader: &InputRaster,
    mask: Option<&Mask>,
    plan: &Plan,
    cancel: &AtomicBool,
    tx: SyncSender<Result<Batch>>,
) -> Result<()> {
    let (r, plan) = (&plan.r, &plan.tiles);
    let per_in = r.bands.len() * r.tile_size * r.tile_size;
    let new_batch = || Batch { tiles: Vec::new(), values: Vec::with_capacity(r.batch * per_in), outputs: Vec::new() };
    let mut current = new_batch();
    let mut to_run = 0;
    for i in 0..plan.count() {
        if cancel.load(Ordering::Relaxed) {
            return Ok(());
        }
        let (row, col) = plan.position(i);
        let (tx_, ty_) = (&plan.x.tiles[col], &plan.y.tiles[row]);
        let mut tile = match reader.read_tile(tx_.start, ty_.start, plan.tile, mask) {
            Ok(t) => t,
            Err(e) => {
                let _ = tx.send(Err(e));
                return Ok(());
            }
        };
        if tile.any_valid {
            to_run += 1;
            current.values.extend_from_slice(&std::mem::take(&mut tile.data));
            current.tiles.push((i, Some(tile)));
        } else {
            current.tiles.push((i, None));
        }
        if to_run == r.batch || i + 1 == plan.count() {
            if to_run > 0 && r.static_batch {
                current.values.resize(r.batch * per_in, 0.0);
            }
            if tx.send(Ok(std::mem::replace(&mut current, new_batch()))).is_err() {
                return Ok(());
            }
            to_run = 0;
        }
    }
    Ok(())
}

/// Inference stage: one model call per batch, giving every head's output; the batch's input is
/// dropped.
fn infer_batch(model: &Model, plan: &Plan, mut batch: Batch) -> Result<Batch> {
    let r = &plan.r;
    let n_run = batch.tiles.iter().filter(|(_, t)| t.is_some()).count();
    if n_run == 0 {
        batch.values = Vec::new();
        batch.outputs = plan.heads().map(|_| Vec::new()).collect();
        return Ok(batch);
    }
    let n = if r.static_batch { r.batch } else { n_run };
    // Every head's output, then an instance-segmentation detector's mask prototypes.
    let masks = r.detection.as_ref().and_then(|d| d.masks);
    let mut expected: Vec<(usize, String, usize)> =
        plan.heads().map(|h| (h.output_index, h.output_name.clone(), h.values_per_tile())).collect();
    if let Some(m) = masks {
        expected.push((m.output, model.outputs[m.output].name.clone(), m.dims.iter().product()));
    }
    if let Some(d) = r.detection.as_ref() {
        for i in d.scores_classes.into_iter().flatten() {
            expected.push((i, model.outputs[i].name.clone(), d.dims[0]));
        }
    }
    let indices: Vec<usize> = expected.iter().map(|(i, _, _)| *i).collect();
    let outs = model.run_outputs(&batch.values, [n, r.bands.len(), r.tile_size, r.tile_size], &indices)?;
    batch.values = Vec::new();
    if r.detection.as_ref().is_some_and(|d| d.unbatched) {
        batch.outputs = unbatched_boxes(model, &expected, outs)?;
        return Ok(batch);
    }
    for ((_, name, per_out), out) in expected.iter().zip(outs) {
        if out.shape.first() != Some(&n) || out.data.len() != n * per_out {
            return Err(changed_shape(model, name, &out.shape, &format!("{per_out} values per tile")));
        }
        batch.outputs.push(out.data);
    }
    Ok(batch)
}

/// One tile's boxes `[N, 4]`, scores `[N]` and classes `[N]` from a graph without a batch axis,
/// N being whatever the tile holds.
fn unbatched_boxes(model: &Model, expected: &[(usize, String, usize)], outs: Vec<Tensor>) -> Result<Vec<Vec<f32>>> {
    let boxes = outs.first().map_or(0, |o| o.data.len() / 4);
    for ((_, name, _), out) in expected.iter().zip(&outs) {
        let want: &[usize] = if out.shape.len() == 2 { &[boxes, 4] } else { &[boxes] };
        if out.shape != want {
            return Err(changed_shape(model, name, &out.shape, &format!("{want:?} beside {boxes} boxes")));
        }
    }
    Ok(outs.into_iter().map(|o| o.data).collect())
}

fn changed_shape(model: &Model, name: &str, shape: &[usize], expected: &str) -> Error {
    Error::model(&model.path, format!("output '{name}' changed shape between batches: {shape:?}, expected {expected}"))
}

/// Writer stage: activation, stitching, and rows to the output rasters, one stitching per head.
/// Outputs are renamed into place together only when every tile has arrived; otherwise they are
/// deleted on drop. A window's placement is recorded in the files.
fn write_tiles(plan: &Plan, targets: &[PathBuf], rx: Receiver<Batch>) -> Result<Vec<(Vec<PathBuf>, Vec<u64>)>> {
    let mut stitchings = Vec::new();
    for (head, target) in plan.heads().zip(targets) {
        let sink = || file_sink(head, &plan.grid, plan.window.as_ref(), target, &plan.options);
        stitchings.push(Stitching::new(Cow::Borrowed(head), Cow::Borrowed(&plan.tiles), plan.rect, sink)?);
    }
    for Batch { tiles, outputs, .. } in rx.iter() {
        for ((stitching, head), mut values) in stitchings.iter_mut().zip(plan.heads()).zip(outputs) {
            stitch_head(stitching, head, &tiles, &mut values)?;
        }
    }
    if !stitchings.iter().all(|s| s.complete()) {
        // Cancelled or failed upstream: dropping the sinks deletes the temporary files.
        return Err(Error::Cancelled);
    }
    let mut closed = Vec::new();
    let mut heads = Vec::new();
    for stitching in stitchings {
        let counts = stitching.sink.class_counts().map(<[u64]>::to_vec).unwrap_or_default();
        let files = stitching.sink.close()?;
        heads.push((files.iter().map(|(_, target)| target.clone()).collect::<Vec<PathBuf>>(), counts));
        closed.extend(files);
    }
    if let (Some(vector), Some((classes, _))) = (&plan.options.vector, closed.first()) {
        // The first head's class raster, finished but not yet in place: its polygons join it.
        let layer =
            VectorOutput::polygonize(classes.path(), vector, &plan.r.class_names, plan.options.vector_simplify)?;
        let (temp, target) = layer.close()?;
        heads[0].0.push(target.clone());
        closed.push((temp, target));
    }
    move_all_into_place(closed)?;
    Ok(heads)
}

/// One head's outputs of a batch (tile by tile, in the order of the tiles that ran) into its
/// stitching, activated.
fn stitch_head(
    stitching: &mut Stitching<'_, OutputRaster<u8>, OutputRaster<f32>>,
    head: &Resolved,
    tiles: &[(usize, Option<TileData>)],
    values: &mut [f32],
) -> Result<()> {
    let per_out = head.values_per_tile().max(1);
    let mut outputs = values.chunks_exact_mut(per_out);
    for (index, tile) in tiles {
        match tile.as_ref() {
            Some(tile) => {
                let values =
                    outputs.next().ok_or_else(|| Error::Internal(format!("no model output for tile {index}")))?;
                activate(values, head.out_channels, head.activation);
                stitching.add(*index, Some((values, tile)))?;
            }
            None => stitching.add(*index, None)?,
        }
    }
    Ok(())
}
