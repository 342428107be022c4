//! C API of tiling on its own, for hosts that run their own inference: a plan over a raster
//! (from its size, or a GDAL path), its tiles with their windows, padding and output regions,
//! and the reader filling a caller's buffers with one tile as the engine feeds it to a model.

use std::ffi::c_char;

use super::model::rastrum_model;
use super::run::{options_or_default, rastrum_options};
use super::*;
use crate::card::StitchMode;
use crate::plan::Plan;
use crate::resolve::OutputKind;

/// A tile plan: the tiles of one run over one raster. Read-only once made: any number of
/// threads may query it and read tiles at once (reads of one plan are serialised).
pub struct rastrum_plan {
    pub(crate) plan: Plan,
}

/// The numbers a host needs to size its buffers and its output.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct rastrum_plan_info {
    /// Tiles in the plan, and its tile columns and rows (index = row * tile_columns + column).
    pub tile_count: u64,
    pub tile_columns: u64,
    pub tile_rows: u64,
    /// Side of a tile, input pixels.
    pub tile_size: u64,
    /// Bands of a tile: rastrum_plan_read_tile fills input_bands * tile_size^2 floats.
    pub input_bands: u64,
    /// A tile's model output: output_channels x output_size x output_size floats
    /// (output_size 1 and per_tile 1: one value per channel and tile).
    pub output_channels: u64,
    pub output_size: u64,
    pub output_values: u64,
    pub per_tile: i32,
    /// RASTRUM_STITCH_BLEND or RASTRUM_STITCH_CROP.
    pub stitch: i32,
    /// The output raster stitched (the window's with the window option), pixels and bands.
    pub width: u64,
    pub height: u64,
    pub output_bands: u64,
    /// Its data type, as GDALDataType numbers: RASTRUM_TYPE_BYTE or RASTRUM_TYPE_FLOAT32.
    pub data_type: i32,
    /// Output pixels per input pixel (super-resolution), 1 otherwise.
    pub scale_factor: u64,
    /// The raster tiled (after the extent and resolution options), pixels.
    pub raster_width: u64,
    pub raster_height: u64,
}

/// One tile of a plan.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct rastrum_tile {
    pub index: u64,
    pub column: u64,
    pub row: u64,
    /// Input pixel of the tile's top-left corner (negative where the tile starts before the
    /// raster); the tile is size x size input pixels.
    pub x: i64,
    pub y: i64,
    pub size: u64,
    /// Pixels of the tile outside the raster on each side (mirrored by the reader, never valid).
    pub pad_left: u64,
    pub pad_top: u64,
    pub pad_right: u64,
    pub pad_bottom: u64,
    /// The part of the tile inside the raster, input pixels.
    pub read_x: u64,
    pub read_y: u64,
    pub read_width: u64,
    pub read_height: u64,
    /// The output pixels this tile writes (blend: weighted with its neighbours; crop: alone;
    /// per tile: its cell), in the plan's output.
    pub out_x: u64,
    pub out_y: u64,
    pub out_width: u64,
    pub out_height: u64,
    /// Output pixel of the top-left corner of the tile's model output (may be negative).
    pub out_origin_x: i64,
    pub out_origin_y: i64,
}

/// Blended seams (rastrum_plan_info.stitch).
pub const RASTRUM_STITCH_BLEND: i32 = 0;
/// Cropped seams: each output pixel from one tile.
pub const RASTRUM_STITCH_CROP: i32 = 1;
/// Output data types, GDALDataType's numbers (GDT_Byte, GDT_Float32).
pub const RASTRUM_TYPE_BYTE: i32 = 1;
pub const RASTRUM_TYPE_FLOAT32: i32 = 6;

fn model_or_none<'a>(model: *const rastrum_model) -> Option<&'a crate::inference::Model> {
    // SAFETY: NULL or a live model handle.
    unsafe { model.as_ref() }.map(|m| &m.model)
}

/// Plans the raster at `path` (any GDAL path). `model` may be NULL: then the options declare
/// the model's shapes: tile-size (required), output-channels (default 1), output-size (default
/// the tile size times scale-factor; 1 for one value per tile), task; with a model they come
/// from it and its card, as in rastrum_run. `options` (NULL: defaults) are rastrum_run's:
/// bands, scale, offset, mean, std, nodata, overlap, margin, stitch, grid, pad, pad-mode,
/// activation, redistribute, weight-band, output-nodata, extent, resolution, mask, window, and
/// for the stitcher's files co, cog, probabilities, probability-bands. The options are copied.
#[no_mangle]
pub unsafe extern "C" fn rastrum_plan_open(
    path: *const c_char,
    model: *const rastrum_model,
    options: *const rastrum_options,
    out: *mut *mut rastrum_plan,
) -> i32 {
    boundary("rastrum_plan_open", || {
        let path = unsafe { c_path(path, "path") }?;
        let out = out_ptr(out, "out")?;
        let plan = Plan::open(path, model_or_none(model), unsafe { options_or_default(options) })?;
        // SAFETY: checked non-NULL; the caller owns the handle until rastrum_plan_free.
        unsafe { *out = Box::into_raw(Box::new(rastrum_plan { plan })) };
        Ok(())
    })
}

/// Plans a width x height raster of `bands` bands that the host reads itself (no reader; no
/// georeferencing until rastrum_plan_set_georeference). Model and options as rastrum_plan_open,
/// without extent, resolution and mask.
#[no_mangle]
pub unsafe extern "C" fn rastrum_plan_new(
    width: u64,
    height: u64,
    bands: u64,
    model: *const rastrum_model,
    options: *const rastrum_options,
    out: *mut *mut rastrum_plan,
) -> i32 {
    boundary("rastrum_plan_new", || {
        let out = out_ptr(out, "out")?;
        let size = |v: u64, what: &str| usize::try_from(v).map_err(|_| invalid(format!("{what} {v} is too large")));
        let (w, h, b) = (size(width, "width")?, size(height, "height")?, size(bands, "bands")?);
        let plan = Plan::new(w, h, b, model_or_none(model), unsafe { options_or_default(options) })?;
        // SAFETY: checked non-NULL; the caller owns the handle until rastrum_plan_free.
        unsafe { *out = Box::into_raw(Box::new(rastrum_plan { plan })) };
        Ok(())
    })
}

/// Frees a plan. NULL is a no-op. Stitchers made from it keep what they need.
#[no_mangle]
pub unsafe extern "C" fn rastrum_plan_free(plan: *mut rastrum_plan) {
    unsafe { free_handle("rastrum_plan_free", plan) }
}

/// Georeferences a plan made by rastrum_plan_new: the raster's GDAL geotransform (6 values)
/// and CRS as WKT (NULL or "": none). The stitcher's files carry the output's, divided by the
/// scale factor for super-resolution. Call it before making stitchers.
#[no_mangle]
pub unsafe extern "C" fn rastrum_plan_set_georeference(
    plan: *mut rastrum_plan,
    geo_transform: *const f64,
    wkt: *const c_char,
) -> i32 {
    boundary("rastrum_plan_set_georeference", || {
        let p = unsafe { arg_mut(plan, "plan") }?;
        if geo_transform.is_null() {
            return Err(invalid("geo_transform is NULL"));
        }
        // SAFETY: the caller passes 6 doubles.
        let gt: [f64; 6] = unsafe { std::slice::from_raw_parts(geo_transform, 6) }.try_into().unwrap_or_default();
        let wkt = if wkt.is_null() { "" } else { unsafe { c_str(wkt, "wkt") }? };
        p.plan.set_georeference(gt, wkt)?;
        Ok(())
    })
}

/// The plan's numbers (tile count, sizes, output shape and type).
#[no_mangle]
pub unsafe extern "C" fn rastrum_plan_get_info(plan: *const rastrum_plan, out: *mut rastrum_plan_info) -> i32 {
    boundary("rastrum_plan_get_info", || {
        let p = &unsafe { arg(plan, "plan") }?.plan;
        let out = out_ptr(out, "out")?;
        let r = p.resolved();
        let is_class = matches!(r.task, crate::Task::Segmentation | crate::Task::Classification);
        let [columns, rows] = p.columns_rows();
        let info = rastrum_plan_info {
            tile_count: p.count() as u64,
            tile_columns: columns as u64,
            tile_rows: rows as u64,
            tile_size: r.tile_size as u64,
            input_bands: r.bands.len() as u64,
            output_channels: r.out_channels as u64,
            output_size: r.out_size as u64,
            output_values: (r.out_channels * r.out_size * r.out_size) as u64,
            per_tile: (r.output_kind == OutputKind::PerTile) as i32,
            stitch: match r.stitch {
                StitchMode::Blend => RASTRUM_STITCH_BLEND,
                StitchMode::Crop => RASTRUM_STITCH_CROP,
            },
            width: p.grid().width as u64,
            height: p.grid().height as u64,
            output_bands: if is_class {
                1 + if p.options.probability_bands { r.out_channels } else { 0 }
            } else {
                r.out_channels
            } as u64,
            data_type: if is_class { RASTRUM_TYPE_BYTE } else { RASTRUM_TYPE_FLOAT32 },
            scale_factor: r.scale_factor as u64,
            raster_width: p.raster().width as u64,
            raster_height: p.raster().height as u64,
        };
        // SAFETY: checked non-NULL.
        unsafe { *out = info };
        Ok(())
    })
}

/// Tile `index` (0 .. tile_count - 1, plan order: row-major).
#[no_mangle]
pub unsafe extern "C" fn rastrum_plan_get_tile(plan: *const rastrum_plan, index: u64, out: *mut rastrum_tile) -> i32 {
    boundary("rastrum_plan_get_tile", || {
        let p = &unsafe { arg(plan, "plan") }?.plan;
        let out = out_ptr(out, "out")?;
        let t = p.tile(index_of(index)?)?;
        let u = |v: usize| v as u64;
        let tile = rastrum_tile {
            index: u(t.index),
            column: u(t.column),
            row: u(t.row),
            x: t.x,
            y: t.y,
            size: u(t.size),
            pad_left: u(t.padding[0]),
            pad_top: u(t.padding[1]),
            pad_right: u(t.padding[2]),
            pad_bottom: u(t.padding[3]),
            read_x: u(t.read[0]),
            read_y: u(t.read[1]),
            read_width: u(t.read[2]),
            read_height: u(t.read[3]),
            out_x: u(t.output[0]),
            out_y: u(t.output[1]),
            out_width: u(t.output[2]),
            out_height: u(t.output[3]),
            out_origin_x: t.output_origin[0],
            out_origin_y: t.output_origin[1],
        };
        // SAFETY: checked non-NULL.
        unsafe { *out = tile };
        Ok(())
    })
}

pub(crate) fn index_of(index: u64) -> FfiResult<usize> {
    usize::try_from(index).map_err(|_| invalid(format!("tile {index} is out of range")))
}

/// A caller buffer of `len` elements that must hold `need`; NULL when optional and absent.
pub(crate) unsafe fn buffer<'a, T>(p: *mut T, len: usize, need: usize, name: &str) -> FfiResult<Option<&'a mut [T]>> {
    if p.is_null() {
        return Ok(None);
    }
    if len < need {
        return Err(Failure {
            status: RASTRUM_BUFFER_TOO_SMALL,
            message: format!("{name} holds {len} values, the tile needs {need}"),
        });
    }
    // SAFETY: the caller passes a buffer of at least `len` elements.
    Ok(Some(unsafe { std::slice::from_raw_parts_mut(p, need) }))
}

/// Reads tile `index` of a plan opened from a path, as the engine feeds it to a model:
/// `data` gets input_bands x tile_size x tile_size floats (selected bands, scaled and
/// standardised, mirrored past the raster's edges, invalid pixels 0); `valid` (may be NULL)
/// tile_size^2 bytes, 1 where the pixel is inside the raster and valid (nodata, mask band,
/// non-finite values and the mask option are invalid); `weight` (may be NULL) tile_size^2
/// values of the weight band (redistribution by weight); `any_valid` (may be NULL) 0 when no
/// pixel is valid: the engine skips such tiles. Lengths count elements; a short buffer
/// returns RASTRUM_BUFFER_TOO_SMALL.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn rastrum_plan_read_tile(
    plan: *const rastrum_plan,
    index: u64,
    data: *mut f32,
    data_len: usize,
    valid: *mut u8,
    valid_len: usize,
    weight: *mut f64,
    weight_len: usize,
    any_valid: *mut i32,
) -> i32 {
    boundary("rastrum_plan_read_tile", || {
        let p = &unsafe { arg(plan, "plan") }?.plan;
        let r = p.resolved();
        let t2 = r.tile_size * r.tile_size;
        let data =
            unsafe { buffer(data, data_len, r.bands.len() * t2, "data") }?.ok_or_else(|| invalid("data is NULL"))?;
        let valid = unsafe { buffer(valid, valid_len, t2, "valid") }?;
        let weight = unsafe { buffer(weight, weight_len, t2, "weight") }?;
        let tile = p.read_tile(index_of(index)?)?;
        data.copy_from_slice(&tile.data);
        if let Some(v) = valid {
            v.copy_from_slice(&tile.valid);
        }
        if let Some(w) = weight {
            let values = tile.weight.as_ref().ok_or_else(|| {
                invalid("weight: the plan reads no weight band (redistribute=weight with a weight-band)")
            })?;
            w.copy_from_slice(values);
        }
        if !any_valid.is_null() {
            // SAFETY: checked non-NULL.
            unsafe { *any_valid = tile.any_valid as i32 };
        }
        Ok(())
    })
}
