//! C API of tiling on its own, for hosts that run their own inference: a plan over a raster
//! (from its size, or a GDAL path), its tiles with their windows, padding and output regions,
//! and the reader filling a caller's buffers with one tile as the engine feeds it to a model.

use std::ffi::c_char;

use super::model::rastrum_model;
use super::options::rastrum_options;
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
    pub tile_count: usize,
    pub tile_columns: usize,
    pub tile_rows: usize,
    /// Side of a tile, input pixels.
    pub tile_size: usize,
    /// Bands of a tile: rastrum_plan_read_tile fills input_bands * tile_size^2 floats.
    pub input_bands: usize,
    /// A tile's model output: output_channels x output_size x output_size floats
    /// (output_size 1 and per_tile 1: one value per channel and tile).
    pub output_channels: usize,
    pub output_size: usize,
    pub output_values: usize,
    pub per_tile: i32,
    /// RASTRUM_STITCH_BLEND or RASTRUM_STITCH_CROP.
    pub stitch: i32,
    /// The output raster stitched (the window's with the window option), pixels and bands.
    pub width: usize,
    pub height: usize,
    pub output_bands: usize,
    /// Its data type, as GDALDataType numbers: RASTRUM_TYPE_BYTE or RASTRUM_TYPE_FLOAT32.
    pub data_type: i32,
    /// Output pixels per input pixel (super-resolution), 1 otherwise.
    pub scale_factor: usize,
    /// The raster tiled (after the extent and resolution options), pixels.
    pub raster_width: usize,
    pub raster_height: usize,
}

/// One tile of a plan.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct rastrum_tile {
    pub index: usize,
    pub column: usize,
    pub row: usize,
    /// Input pixel of the tile's top-left corner (negative where the tile starts before the
    /// raster); the tile is size x size input pixels.
    pub x: i64,
    pub y: i64,
    pub size: usize,
    /// Pixels of the tile outside the raster on each side (mirrored by the reader, never valid).
    pub pad_left: usize,
    pub pad_top: usize,
    pub pad_right: usize,
    pub pad_bottom: usize,
    /// The part of the tile inside the raster, input pixels.
    pub read_x: usize,
    pub read_y: usize,
    pub read_width: usize,
    pub read_height: usize,
    /// The output pixels this tile writes (blend: weighted with its neighbours; crop: alone;
    /// per tile: its cell), in the plan's output.
    pub out_x: usize,
    pub out_y: usize,
    pub out_width: usize,
    pub out_height: usize,
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

/// The model a plan is made with, if any.
///
/// # Safety
/// `model` is NULL or a live handle.
unsafe fn model_or_none<'a>(model: *const rastrum_model) -> Option<&'a crate::inference::Model> {
    unsafe { opt_arg(model) }.map(|m| &m.model)
}

/// Plans the raster at `path` (any GDAL path). `model` may be NULL: then the options declare
/// the model's shapes: tile-size (required), output-channels (default 1), output-size (default
/// the tile size times scale-factor; 1 for one value per tile), task; with a model they come
/// from it and its card, as in rastrum_run. `options` (NULL: defaults) are rastrum_run's:
/// bands, scale, offset, mean, std, nodata, overlap, margin, stitch, grid, pad, pad-mode,
/// activation, redistribute, weight-band, output-nodata, extent, resolution, mask, window, and
/// for the stitcher's files co, cog, probabilities, probability-bands. The options are copied.
///
/// # Safety
/// The pointer contract.
#[no_mangle]
pub unsafe extern "C" fn rastrum_plan_open(
    path: *const c_char,
    model: *const rastrum_model,
    options: *const rastrum_options,
    out: *mut *mut rastrum_plan,
) -> i32 {
    unsafe {
        new_handle("rastrum_plan_open", out, || {
            let path = c_path(path, "path")?;
            Ok(rastrum_plan { plan: Plan::open(path, model_or_none(model), &options_or_default(options))? })
        })
    }
}

/// Plans a width x height raster of `bands` bands that the host reads itself (no reader; no
/// georeferencing until rastrum_plan_set_georeference). Model and options as rastrum_plan_open,
/// without extent, resolution and mask.
///
/// # Safety
/// The pointer contract.
#[no_mangle]
pub unsafe extern "C" fn rastrum_plan_new(
    width: usize,
    height: usize,
    bands: usize,
    model: *const rastrum_model,
    options: *const rastrum_options,
    out: *mut *mut rastrum_plan,
) -> i32 {
    unsafe {
        new_handle("rastrum_plan_new", out, || {
            Ok(rastrum_plan {
                plan: Plan::new(width, height, bands, model_or_none(model), &options_or_default(options))?,
            })
        })
    }
}

/// Frees a plan. NULL is a no-op. Stitchers made from it keep what they need.
///
/// # Safety
/// The pointer contract; no call may be using `plan`.
#[no_mangle]
pub unsafe extern "C" fn rastrum_plan_free(plan: *mut rastrum_plan) {
    unsafe { free_handle("rastrum_plan_free", plan) }
}

/// Georeferences a plan made by rastrum_plan_new: the raster's GDAL geotransform (6 values)
/// and CRS as WKT (NULL or "": none). The stitcher's files carry the output's, divided by the
/// scale factor for super-resolution. Call it before making stitchers.
///
/// # Safety
/// The pointer contract; `geo_transform` holds 6 doubles; no other call may be using `plan`.
#[no_mangle]
pub unsafe extern "C" fn rastrum_plan_set_georeference(
    plan: *mut rastrum_plan,
    geo_transform: *const f64,
    wkt: *const c_char,
) -> i32 {
    boundary("rastrum_plan_set_georeference", || {
        let p = unsafe { arg_mut(plan, "plan") }?;
        let gt: [f64; 6] = unsafe { slice(geo_transform, 6, "geo_transform") }?.try_into().unwrap_or_default();
        let wkt = unsafe { opt_str(wkt, "wkt") }?.unwrap_or("");
        p.plan.set_georeference(gt, wkt)?;
        Ok(())
    })
}

/// The plan's numbers (tile count, sizes, output shape and type).
///
/// # Safety
/// The pointer contract.
#[no_mangle]
pub unsafe extern "C" fn rastrum_plan_get_info(plan: *const rastrum_plan, out: *mut rastrum_plan_info) -> i32 {
    boundary("rastrum_plan_get_info", || {
        let p = &unsafe { arg(plan, "plan") }?.plan;
        let out = unsafe { out_ptr(out, "out") }?;
        let r = p.resolved();
        let is_class = matches!(r.task, crate::Task::Segmentation | crate::Task::Classification);
        let [columns, rows] = p.columns_rows();
        out.write(rastrum_plan_info {
            tile_count: p.count(),
            tile_columns: columns,
            tile_rows: rows,
            tile_size: r.tile_size,
            input_bands: r.bands.len(),
            output_channels: r.out_channels,
            output_size: r.out_size,
            output_values: r.out_channels * r.out_size * r.out_size,
            per_tile: (r.output_kind == OutputKind::PerTile) as i32,
            stitch: match r.stitch {
                StitchMode::Blend => RASTRUM_STITCH_BLEND,
                StitchMode::Crop => RASTRUM_STITCH_CROP,
            },
            width: p.grid().width,
            height: p.grid().height,
            output_bands: if is_class {
                1 + if p.options.probability_bands { r.out_channels } else { 0 }
            } else {
                r.out_channels
            },
            data_type: if is_class { RASTRUM_TYPE_BYTE } else { RASTRUM_TYPE_FLOAT32 },
            scale_factor: r.scale_factor,
            raster_width: p.raster().width,
            raster_height: p.raster().height,
        });
        Ok(())
    })
}

/// Tile `index` (0 .. tile_count - 1, plan order: row-major).
///
/// # Safety
/// The pointer contract.
#[no_mangle]
pub unsafe extern "C" fn rastrum_plan_get_tile(plan: *const rastrum_plan, index: usize, out: *mut rastrum_tile) -> i32 {
    boundary("rastrum_plan_get_tile", || {
        let p = &unsafe { arg(plan, "plan") }?.plan;
        let out = unsafe { out_ptr(out, "out") }?;
        let t = p.tile(index)?;
        out.write(rastrum_tile {
            index: t.index,
            column: t.column,
            row: t.row,
            x: t.x,
            y: t.y,
            size: t.size,
            pad_left: t.padding[0],
            pad_top: t.padding[1],
            pad_right: t.padding[2],
            pad_bottom: t.padding[3],
            read_x: t.read[0],
            read_y: t.read[1],
            read_width: t.read[2],
            read_height: t.read[3],
            out_x: t.output[0],
            out_y: t.output[1],
            out_width: t.output[2],
            out_height: t.output[3],
            out_origin_x: t.output_origin[0],
            out_origin_y: t.output_origin[1],
        });
        Ok(())
    })
}

/// An optional tile buffer of `len` elements that must hold `need` (NULL: None).
///
/// # Safety
/// `p` is NULL or `len` writable elements.
unsafe fn tile_buffer<'a, T>(p: *mut T, len: usize, need: usize, name: &str) -> FfiResult<Option<&'a mut [T]>> {
    if p.is_null() {
        return Ok(None);
    }
    if len < need {
        return Err(Failure::new(
            RASTRUM_BUFFER_TOO_SMALL,
            format!("{name} holds {len} values, the tile needs {need}"),
        ));
    }
    Ok(Some(&mut unsafe { slice_mut(p, len, name) }?[..need]))
}

/// Reads tile `index` of a plan opened from a path, as the engine feeds it to a model:
/// `data` gets input_bands x tile_size x tile_size floats (selected bands, scaled and
/// standardised, mirrored past the raster's edges, invalid pixels 0); `valid` (may be NULL)
/// tile_size^2 bytes, 1 where the pixel is inside the raster and valid (nodata, mask band,
/// non-finite values and the mask option are invalid); `weight` (may be NULL) tile_size^2
/// values of the weight band (redistribution by weight); `any_valid` (may be NULL) 0 when no
/// pixel is valid: the engine skips such tiles. Lengths count elements; a short buffer
/// returns RASTRUM_BUFFER_TOO_SMALL.
///
/// # Safety
/// The pointer contract; `data`, `valid` and `weight` hold `data_len`, `valid_len` and
/// `weight_len` elements.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn rastrum_plan_read_tile(
    plan: *const rastrum_plan,
    index: usize,
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
        let data = unsafe { tile_buffer(data, data_len, r.bands.len() * t2, "data") }?
            .ok_or_else(|| invalid("data is NULL"))?;
        let valid = unsafe { tile_buffer(valid, valid_len, t2, "valid") }?;
        let weight = unsafe { tile_buffer(weight, weight_len, t2, "weight") }?;
        let any_valid = unsafe { opt_out(any_valid) };
        let tile = p.read_tile(index)?;
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
        if let Some(out) = any_valid {
            out.write(tile.any_valid as i32);
        }
        Ok(())
    })
}
