//! C API of stitching on its own: a stitcher for a plan's output that takes the host's tile
//! outputs in any order and writes the GeoTIFF `rastrum run` would write, or hands finished
//! rows to the host's callback.

use std::ffi::{c_char, c_void};

use super::plan::{index_of, rastrum_plan, RASTRUM_TYPE_BYTE, RASTRUM_TYPE_FLOAT32};
use super::*;
use crate::error::Error;
use crate::stitch::sink::{BandsOut, RowsOut};
use crate::stitch::Stitcher;

/// A stitcher: one thread at a time. Memory: the stitching window of the engine's writer (a
/// row of tiles) plus a copy of each tile added before the tiles ahead of it in plan order.
pub struct rastrum_stitcher {
    stitcher: Stitcher,
}

/// Finished output rows handed to a rastrum_rows_fn.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct rastrum_rows {
    /// 0: the output raster; 1: the probability raster beside it (option probabilities).
    pub raster: i32,
    /// First row (in the plan's output) and number of rows; rows come top to bottom.
    pub y: u64,
    pub rows: u64,
    pub width: u64,
    pub bands: u64,
    /// RASTRUM_TYPE_BYTE (class rasters) or RASTRUM_TYPE_FLOAT32.
    pub data_type: i32,
    /// bands x rows x width values of data_type, band after band; valid during the call.
    pub data: *const c_void,
    /// The value of pixels without valid input.
    pub nodata: f64,
}

/// Receives finished rows; returns 0 to go on, anything else to stop (the rastrum_stitcher_add
/// that handed the rows then returns RASTRUM_CANCELLED, and the stitcher is done).
pub type rastrum_rows_fn = Option<unsafe extern "C" fn(rows: *const rastrum_rows, user_data: *mut c_void) -> i32>;

fn give(out: *mut *mut rastrum_stitcher, stitcher: Stitcher) {
    // SAFETY: `out` was checked non-NULL; the caller owns the handle until its free.
    unsafe { *out = Box::into_raw(Box::new(rastrum_stitcher { stitcher })) };
}

/// A stitcher writing the plan's output to `output` as rastrum_run does (GeoTIFF, or COG with
/// the cog option; the class raster with names and colours, or float bands; nodata; the
/// probability raster beside it with the probabilities option). The file appears, complete,
/// at rastrum_stitcher_finish, and never if the stitcher is freed before.
#[no_mangle]
pub unsafe extern "C" fn rastrum_stitcher_new(
    plan: *const rastrum_plan,
    output: *const c_char,
    out: *mut *mut rastrum_stitcher,
) -> i32 {
    boundary("rastrum_stitcher_new", || {
        let p = &unsafe { arg(plan, "plan") }?.plan;
        let output = unsafe { c_path(output, "output") }?;
        let out = out_ptr(out, "out")?;
        give(out, Stitcher::to_file(p, output)?);
        Ok(())
    })
}

/// A stitcher handing finished rows to `callback` (with `user_data`) instead of writing a file:
/// the bands and values the file would hold, top to bottom, each row once.
#[no_mangle]
pub unsafe extern "C" fn rastrum_stitcher_new_rows(
    plan: *const rastrum_plan,
    callback: rastrum_rows_fn,
    user_data: *mut c_void,
    out: *mut *mut rastrum_stitcher,
) -> i32 {
    boundary("rastrum_stitcher_new_rows", || {
        let p = &unsafe { arg(plan, "plan") }?.plan;
        let callback = callback.ok_or_else(|| invalid("callback is NULL"))?;
        let out = out_ptr(out, "out")?;
        let width = p.grid().width;
        let (class_nodata, nodata) = (crate::tasks::CLASS_NODATA as f64, p.resolved().output_nodata);
        let rows = Box::new(move |r: RowsOut| -> crate::Result<()> {
            // The bands one after another, in their own type (kept alive for the call).
            let (bytes, floats): (Vec<u8>, Vec<f32>);
            let (data_type, bands, nodata, data): (i32, usize, f64, *const c_void) = match r.bands {
                BandsOut::U8(b) => {
                    bytes = b.concat();
                    (RASTRUM_TYPE_BYTE, b.len(), class_nodata, bytes.as_ptr().cast())
                }
                BandsOut::F32(b) => {
                    floats = b.concat();
                    (RASTRUM_TYPE_FLOAT32, b.len(), nodata, floats.as_ptr().cast())
                }
            };
            let rows = rastrum_rows {
                raster: r.raster as i32,
                y: r.y0 as u64,
                rows: r.rows as u64,
                width: width as u64,
                bands: bands as u64,
                data_type,
                data,
                nodata,
            };
            // SAFETY: the host's callback, with its own user data and rows valid for the call.
            match unsafe { callback(&rows, user_data) } {
                0 => Ok(()),
                _ => Err(Error::Cancelled),
            }
        });
        give(out, Stitcher::to_rows(p, rows)?);
        Ok(())
    })
}

/// Adds tile `index`'s model output, in any order, each tile once: `values` holds
/// output_values floats (rastrum_plan_info), before the activation, which the stitcher applies
/// as the engine does (option activation; none for regression); NULL: the tile was not run (its
/// pixels stay nodata unless other tiles cover them). `valid` (may be NULL: every pixel inside
/// the raster is valid): the tile's tile_size^2 validity bytes, as rastrum_plan_read_tile gives
/// them; a tile without a valid pixel counts as not run, as in the engine. `weight` (NULL unless
/// redistributing by weight): the tile's tile_size^2 weight-band values. Lengths count elements.
/// Rows that no later tile touches are written (or handed to the callback) before it returns.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn rastrum_stitcher_add(
    stitcher: *mut rastrum_stitcher,
    index: u64,
    values: *const f32,
    values_len: usize,
    valid: *const u8,
    valid_len: usize,
    weight: *const f64,
    weight_len: usize,
) -> i32 {
    boundary("rastrum_stitcher_add", || {
        let s = &mut unsafe { arg_mut(stitcher, "stitcher") }?.stitcher;
        let (values, valid, weight) =
            unsafe { (given(values, values_len), given(valid, valid_len), given(weight, weight_len)) };
        s.add(index_of(index)?, values, valid, weight)?;
        Ok(())
    })
}

/// An optional caller buffer of `n` elements.
unsafe fn given<'a, T>(p: *const T, n: usize) -> Option<&'a [T]> {
    // SAFETY: a non-NULL pointer is a buffer of `n` elements (the API's contract).
    (!p.is_null()).then(|| unsafe { std::slice::from_raw_parts(p, n) })
}

/// Tiles stitched so far (`stitched`, in plan order) and tiles held in memory until the tiles
/// before them come (`held`). Either pointer may be NULL.
#[no_mangle]
pub unsafe extern "C" fn rastrum_stitcher_progress(
    stitcher: *const rastrum_stitcher,
    stitched: *mut u64,
    held: *mut u64,
) -> i32 {
    boundary("rastrum_stitcher_progress", || {
        let s = &unsafe { arg(stitcher, "stitcher") }?.stitcher;
        let (done, waiting) = s.progress();
        // SAFETY: each written only when non-NULL.
        unsafe {
            if !stitched.is_null() {
                *stitched = done as u64;
            }
            if !held.is_null() {
                *held = waiting as u64;
            }
        }
        Ok(())
    })
}

/// Ends the stitching once every tile has been added: the files are renamed into place.
/// Before that it returns INVALID_ARGUMENT naming the first missing tile, and the stitcher
/// takes more tiles.
#[no_mangle]
pub unsafe extern "C" fn rastrum_stitcher_finish(stitcher: *mut rastrum_stitcher) -> i32 {
    boundary("rastrum_stitcher_finish", || {
        let s = &mut unsafe { arg_mut(stitcher, "stitcher") }?.stitcher;
        s.finish()?;
        Ok(())
    })
}

/// Frees a stitcher. NULL is a no-op. Unfinished, its temporary files are deleted.
#[no_mangle]
pub unsafe extern "C" fn rastrum_stitcher_free(stitcher: *mut rastrum_stitcher) {
    unsafe { free_handle("rastrum_stitcher_free", stitcher) }
}
