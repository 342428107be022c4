//! The writer stage of a detection run: each tile's boxes decoded, moved to raster pixels, kept
//! when the tile sees them whole and over valid pixels, merged across tiles (`detect::merge`)
//! and written to the vector layer as soon as no later tile can change them.

use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;

use super::Batch;
use crate::detect::merge::{keep_whole, Merger};
use crate::detect::{decode, Detection};
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::raster::input::TileData;
use crate::raster::output::Georef;
use crate::raster::place::move_all_into_place;
use crate::raster::vector::VectorOutput;
use crate::resolve::Detecting;

/// A box within this many pixels of a tile side inside the raster is cut by it: the
/// neighbouring tile, which overlaps this one, sees it whole.
const EDGE: f64 = 1.0;

/// Writes the run's detections to `target`; returns the file and the objects per class.
pub(super) fn write_detections(plan: &Plan, target: &Path, rx: Receiver<Batch>) -> Result<(Vec<PathBuf>, Vec<u64>)> {
    let r = &plan.r;
    let d = r.detection.as_ref().ok_or_else(|| Error::Internal("a detection run without its format".into()))?;
    let mut out = VectorOutput::create(target, &layer_grid(plan), &r.class_names)?;
    let mut merger = Merger::new(d.rule);
    let mut counts = vec![0u64; d.classes];
    let mut seen = 0usize;
    let per_tile = r.values_per_tile();
    for Batch { tiles, outputs, .. } in rx.iter() {
        let values = outputs.into_iter().next().unwrap_or_default();
        let mut chunks = values.chunks_exact(per_tile.max(1));
        for (index, tile) in tiles {
            if let Some(tile) = tile {
                let v = chunks.next().ok_or_else(|| Error::Internal(format!("no model output for tile {index}")))?;
                merger.add(tile_boxes(plan, d, index, v, &tile));
            }
            seen += 1;
            let (row, column) = plan.tiles.position(index);
            if column + 1 == plan.tiles.x.tiles.len() {
                // A tile row is done: later tiles start at the next row's top.
                let limit = plan.tiles.y.tiles.get(row + 1).map_or(f64::INFINITY, |t| t.start as f64);
                write(&mut out, &mut counts, owned(plan, merger.flush_above(limit)))?;
            }
        }
    }
    if seen != plan.count() {
        // Cancelled or failed upstream: dropping the layer deletes its temporary file.
        return Err(Error::Cancelled);
    }
    write(&mut out, &mut counts, owned(plan, merger.finish()))?;
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

fn write(out: &mut VectorOutput, counts: &mut [u64], boxes: Vec<Detection>) -> Result<()> {
    for b in &boxes {
        if let Some(n) = counts.get_mut(b.class as usize) {
            *n += 1;
        }
    }
    out.write(&boxes)
}

/// The boxes tile `index` keeps, in raster pixels: of a known class, seen whole, and centred on
/// a valid pixel (nodata and masked pixels are fed to the model as zeros: what it finds there is
/// not in the raster).
fn tile_boxes(plan: &Plan, d: &Detecting, index: usize, values: &[f32], tile: &TileData) -> Vec<Detection> {
    let (row, column) = plan.tiles.position(index);
    let (x, y, size) = (plan.tiles.x.tiles[column].start, plan.tiles.y.tiles[row].start, plan.tiles.tile);
    let [w, h] = [plan.info.width, plan.info.height];
    decode(d.format, values, d.dims[0], d.dims[1], d.confidence as f32, index as u32)
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
