//! The writer stage of a detection run: each tile's boxes decoded, moved to raster pixels, kept
//! when the tile sees them whole and over valid pixels, merged across tiles (`detect::merge`)
//! and written to the vector layer as soon as no later tile can change them. Instance masks
//! (`detect::instances`) are polygonized per tile for the boxes that survive the tile's own
//! suppression, and held until their box is written or dropped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;

use super::Batch;
use crate::detect::instances::{self, Prototypes};
use crate::detect::merge::{keep_whole, Merger};
use crate::detect::{decode, decode_separate, Detection};
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::raster::input::TileData;
use crate::raster::output::Georef;
use crate::raster::place::move_all_into_place;
use crate::raster::vector::{mask_polygons, Polygons, VectorOutput};
use crate::resolve::Detecting;

/// A box within this many pixels of a tile side inside the raster is cut by it: the
/// neighbouring tile, which overlaps this one, sees it whole.
const EDGE: f64 = 1.0;

/// A batch's output split tile by tile, `per` values each; a graph without a batch axis runs one
/// tile per call, whose output is all of it (however many boxes, none included).
fn per_tile_slices(values: &[f32], per: usize, unbatched: bool) -> std::vec::IntoIter<&[f32]> {
    match unbatched {
        true => vec![values].into_iter(),
        false => values.chunks_exact(per.max(1)).collect::<Vec<_>>().into_iter(),
    }
}

/// Writes the run's detections to `target`; returns the file and the objects per class.
pub(super) fn write_detections(plan: &Plan, target: &Path, rx: Receiver<Batch>) -> Result<(Vec<PathBuf>, Vec<u64>)> {
    let r = &plan.r;
    let d = r.detection.as_ref().ok_or_else(|| Error::Internal("a detection run without its format".into()))?;
    let mut out = VectorOutput::create(target, &layer_grid(plan), &r.class_names, d.masks.is_some())?;
    let mut merger = Merger::new(d.rule);
    let mut shapes = Instances::new();
    let mut counts = vec![0u64; d.classes];
    let mut seen = 0usize;
    let per_masks = d.masks.map_or(0, |m| m.dims.iter().product::<usize>());
    for Batch { tiles, outputs, .. } in rx.iter() {
        let mut outputs = outputs.into_iter();
        let values = outputs.next().unwrap_or_default();
        let protos = outputs.next().unwrap_or_default();
        // Separate boxes: the second and third outputs are the scores and the classes.
        let (scores, classes) = (&protos, outputs.next().unwrap_or_default());
        let (per_tile, n_boxes) = (r.values_per_tile(), d.dims[0]);
        let mut separate =
            per_tile_slices(scores, n_boxes, d.unbatched).zip(per_tile_slices(&classes, n_boxes, d.unbatched));
        let mut chunks = per_tile_slices(&values, per_tile, d.unbatched);
        let mut proto_chunks = protos.chunks_exact(per_masks.max(1));
        for (index, tile) in tiles {
            if let Some(tile) = tile {
                let v = chunks.next().ok_or_else(|| Error::Internal(format!("no model output for tile {index}")))?;
                let sc = if d.scores_classes.is_some() {
                    Some(separate.next().ok_or_else(|| Error::Internal(format!("no scores for tile {index}")))?)
                } else {
                    None
                };
                let boxes = tile_boxes(plan, d, index, v, sc, &tile);
                match d.masks {
                    Some(m) => {
                        let p =
                            proto_chunks.next().ok_or_else(|| Error::Internal(format!("no masks for tile {index}")))?;
                        let p = Prototypes { values: p, channels: m.dims[0], height: m.dims[1], width: m.dims[2] };
                        merger.add(shapes.add_tile(plan, d, index, v, &p, boxes)?);
                    }
                    None => merger.add(boxes),
                }
            }
            seen += 1;
            let (row, column) = plan.tiles.position(index);
            if column + 1 == plan.tiles.x.tiles.len() {
                // A tile row is done: later tiles start at the next row's top.
                let limit = plan.tiles.y.tiles.get(row + 1).map_or(f64::INFINITY, |t| t.start as f64);
                let done = owned(plan, merger.flush_above(limit));
                write(&mut out, &mut counts, &done, &shapes)?;
                shapes.keep(&merger);
            }
        }
    }
    if seen != plan.count() {
        // Cancelled or failed upstream: dropping the layer deletes its temporary file.
        return Err(Error::Cancelled);
    }
    write(&mut out, &mut counts, &owned(plan, merger.finish()), &shapes)?;
    let placed = move_all_into_place(vec![out.close()?])?;
    Ok((placed, counts))
}

/// The whole raster's grid: the boxes are in its pixels, a window's too.
fn layer_grid(plan: &Plan) -> Georef {
    let mut grid = plan.grid.clone();
    if let Some(w) = &plan.window {
        grid.geo_transform = w.geo_transform;
    }
    grid
}

/// The boxes this run writes: all, or in a window run those centred in the pixels the window
/// owns (windows partition the raster, so each box is written by one window).
fn owned(plan: &Plan, boxes: Vec<Detection>) -> Vec<Detection> {
    if plan.window.is_none() {
        return boxes;
    }
    let [x, y, w, h] = plan.rect.map(|v| v as f64);
    let inside = |b: &Detection| {
        let (cx, cy) = ((b.x1 + b.x2) / 2.0, (b.y1 + b.y2) / 2.0);
        cx >= x && cx < x + w && cy >= y && cy < y + h
    };
    boxes.into_iter().filter(inside).collect()
}

fn write(out: &mut VectorOutput, counts: &mut [u64], boxes: &[Detection], shapes: &Instances) -> Result<()> {
    for b in boxes {
        if let Some(n) = counts.get_mut(b.class as usize) {
            *n += 1;
        }
    }
    out.write(boxes, &shapes.polygons)
}

/// The instance polygons of boxes still pending or being written, by (tile, box index).
struct Instances {
    polygons: HashMap<(u32, u32), Polygons>,
}

impl Instances {
    fn new() -> Instances {
        Instances { polygons: HashMap::new() }
    }

    /// A tile's boxes after their own suppression, each with its mask's polygons (raster pixels).
    fn add_tile(
        &mut self,
        plan: &Plan,
        d: &Detecting,
        index: usize,
        values: &[f32],
        protos: &Prototypes,
        boxes: Vec<Detection>,
    ) -> Result<Vec<Detection>> {
        let mut tile_merger = Merger::new(d.rule);
        tile_merger.add(boxes);
        let kept = tile_merger.finish();
        let (row, column) = plan.tiles.position(index);
        let (x, y) = (plan.tiles.x.tiles[column].start as f64, plan.tiles.y.tiles[row].start as f64);
        for b in &kept {
            let coefficients = instances::coefficients(values, d.dims, protos.channels, b);
            // The box back in the tile's pixels, where the prototypes are.
            let local = Detection { x1: b.x1 - x, y1: b.y1 - y, x2: b.x2 - x, y2: b.y2 - y, ..*b };
            if let Some(([mx, my, w, h], mask)) = instances::mask(&local, &coefficients, protos, plan.tiles.tile) {
                let polygons = mask_polygons(&mask, [x + mx as f64, y + my as f64], w, h)?;
                self.polygons.insert((b.tile, b.index), polygons);
            }
        }
        Ok(kept)
    }

    /// Drops the polygons of boxes no longer pending (written or suppressed).
    fn keep(&mut self, merger: &Merger) {
        let pending: std::collections::HashSet<(u32, u32)> =
            merger.pending_boxes().map(|b| (b.tile, b.index)).collect();
        self.polygons.retain(|k, _| pending.contains(k));
    }
}

/// The boxes tile `index` keeps, in raster pixels: of a known class, seen whole, and centred on
/// a valid pixel (nodata and masked pixels are fed to the model as zeros: what it finds there is
/// not in the raster).
fn tile_boxes(
    plan: &Plan,
    d: &Detecting,
    index: usize,
    values: &[f32],
    scores_classes: Option<(&[f32], &[f32])>,
    tile: &TileData,
) -> Vec<Detection> {
    let (row, column) = plan.tiles.position(index);
    let (x, y, size) = (plan.tiles.x.tiles[column].start, plan.tiles.y.tiles[row].start, plan.tiles.tile);
    let [w, h] = [plan.info.width, plan.info.height];
    let coefficients = d.masks.map_or(0, |m| m.dims[0]);
    let conf = d.confidence as f32;
    let boxes = match scores_classes {
        Some((scores, classes)) => decode_separate(values, scores, classes, conf, index as u32),
        None => decode(d.format, values, d.dims, coefficients, conf, index as u32),
    };
    boxes
        .into_iter()
        .filter(|b| (b.class as usize) < d.classes && centre_valid(b, tile, size))
        .map(|b| Detection { x1: b.x1 + x as f64, y1: b.y1 + y as f64, x2: b.x2 + x as f64, y2: b.y2 + y as f64, ..b })
        .filter(|b| keep_whole(b, [x, y, size as i64], w, h, EDGE))
        .collect()
}

fn centre_valid(b: &Detection, tile: &TileData, size: usize) -> bool {
    let at = |v: f64| (v.floor().max(0.0) as usize).min(size - 1);
    let (cx, cy) = (at((b.x1 + b.x2) / 2.0), at((b.y1 + b.y2) / 2.0));
    tile.valid.get(cy * size + cx).is_some_and(|v| *v != 0)
}
