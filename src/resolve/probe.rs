//! The probe: one batch of zero tiles through the model gives its real output shape, and shows
//! whether the graph runs at the batch chosen.

use super::{Input, OutputKind, Shape};
use crate::error::{Error, Result};
use crate::inference::Model;
use crate::memory;
use crate::options::RunOptions;

/// The probe: one batch of zeros gives the real output shape, whatever the file declares. A
/// dynamic batch is probed at the batch chosen: a graph that fails there (or answers another
/// batch) is probed again at batch 1, and the run goes on at batch 1, saying why.
pub(super) fn probe<'m>(
    model: &'m Model,
    opts: &RunOptions,
    input: Input,
    output_index: usize,
    detection: bool,
) -> Result<Shape<'m>> {
    let Input { tile, bands, mut batch, static_batch } = input;
    let mut batch_fallback = None;
    let mut shapes = match probe_run(model, bands.len(), tile, batch, output_index, detection) {
        Ok(shapes) => shapes,
        Err(e) if !static_batch && batch > 1 => {
            let shapes = probe_run(model, bands.len(), tile, 1, output_index, detection)?;
            // ONNX Runtime's messages span lines: one line for the summary and the log.
            let why = e.to_string().split_whitespace().collect::<Vec<_>>().join(" ");
            batch_fallback = Some(format!("the model fails at batch {batch} ({why}); running at batch 1"));
            batch = 1;
            shapes
        }
        Err(e) => return Err(e),
    };
    let unbatched = detection && is_unbatched(&shapes[output_index]);
    if unbatched && batch > 1 {
        // Boxes without a batch axis cannot be told apart by tile: one tile per call.
        if static_batch {
            return Err(unbatched_at(model, output_index, batch));
        }
        shapes = probe_run(model, bands.len(), tile, 1, output_index, detection)?;
        batch_fallback = Some(format!(
            "the model's boxes have no batch axis (output '{}'): running at batch 1",
            model.outputs[output_index].name
        ));
        batch = 1;
    }
    let oshape = std::mem::take(&mut shapes[output_index]);
    let (kind, out_channels, out_size) = match oshape.len() {
        // A detector's boxes: `[b, a, c]` (rows or columns of boxes), decoded per tile, or
        // `[N, 4]` without a batch axis (any number of boxes per tile).
        3 if detection => (OutputKind::Detections, oshape[1], oshape[2]),
        2 if unbatched => (OutputKind::Detections, oshape[0], oshape[1]),
        _ if detection => return Err(bad_detection_shape(model, output_index, &oshape)),
        1 => (OutputKind::PerTile, 1, 1),
        2 => (OutputKind::PerTile, oshape[1], 1),
        3 if oshape[1] == oshape[2] => (OutputKind::Pixels, 1, oshape[1]),
        4 if oshape[2] == oshape[3] && oshape[2] == 1 && tile > 1 => (OutputKind::PerTile, oshape[1], 1),
        4 if oshape[2] == oshape[3] => (OutputKind::Pixels, oshape[1], oshape[2]),
        _ => return Err(bad_shape(model, output_index, &oshape, tile)),
    };
    // Unbatched boxes may be none at all for the probe's zero tiles.
    if (out_channels == 0 && !unbatched) || out_size == 0 {
        return Err(bad_shape(model, output_index, &oshape, tile));
    }
    // The declared output shape (for a plan without a model) must be the model's when given.
    for (key, asked, real) in
        [("output-channels", opts.output_channels, out_channels), ("output-size", opts.output_size, out_size)]
    {
        if asked.is_some_and(|a| a != real) {
            return Err(Error::invalid(format!(
                "option '{key}' is {}, but the model's output '{}' has {real}",
                asked.unwrap_or_default(),
                model.outputs[output_index].name
            )));
        }
    }
    Ok(Shape {
        source: Some(&model.path),
        tile,
        bands,
        batch,
        static_batch,
        batch_fallback,
        output_index,
        output_name: model.outputs[output_index].name.clone(),
        kind,
        out_channels,
        out_size,
        unbatched,
        shown: format!("{oshape:?}"),
        other_outputs: shapes,
        output_names: model.outputs.iter().map(|o| o.name.clone()).collect(),
    })
}

/// Runs one batch of `n` zero tiles and returns every output's shape; the chosen one must hold
/// `n` tiles, unless it is a detector's boxes without a batch axis.
fn probe_run(
    model: &Model,
    nb: usize,
    tile: usize,
    n: usize,
    output_index: usize,
    detection: bool,
) -> Result<Vec<Vec<usize>>> {
    let zeros = memory::zeros(n * nb * tile * tile, "the probe batch", "lower 'tile-size'")?;
    let all: Vec<usize> = (0..model.outputs.len()).collect();
    let outs = model.run_outputs(&zeros, [n, nb, tile, tile], &all)?;
    let shape = &outs[output_index].shape;
    if shape.first() != Some(&n) && !(detection && is_unbatched(shape)) {
        return Err(bad_shape(model, output_index, shape, tile));
    }
    Ok(outs.into_iter().map(|o| o.shape).collect())
}

/// Boxes `[N, 4]` without a batch axis, as torchvision's RetinaNet exports return them.
fn is_unbatched(shape: &[usize]) -> bool {
    shape.len() == 2 && shape[1] == 4
}

fn unbatched_at(model: &Model, output_index: usize, batch: usize) -> Error {
    Error::model(
        &model.path,
        format!(
            "output '{}' gives boxes [N, 4] without a batch axis, so tiles must run one per call, but the model's \
             input has a fixed batch of {batch}",
            model.outputs[output_index].name
        ),
    )
}

fn bad_detection_shape(model: &Model, output_index: usize, oshape: &[usize]) -> Error {
    Error::model(
        &model.path,
        format!(
            "output '{}' has shape {oshape:?}; a detector's output is [b, N, 5 + classes], [b, 4 + classes, N], \
             [b, N, 6], or boxes [b, N, 4] / [N, 4] beside scores and classes (is this a detection model?)",
            model.outputs[output_index].name
        ),
    )
}

fn bad_shape(model: &Model, output_index: usize, oshape: &[usize], tile: usize) -> Error {
    Error::model(
        &model.path,
        format!(
            "output '{}' has shape {oshape:?} for a {tile}x{tile} tile; expected [n, classes], [n, channels, h, w] or [n, h, w]",
            model.outputs[output_index].name
        ),
    )
}
