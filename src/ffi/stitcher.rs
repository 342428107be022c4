//! C API of stitching on its own: a stitcher for a plan's output that takes the host's tile
//! outputs in any order and writes the GeoTIFF `rastrum run` would write, or hands finished
//! rows to the host's callback.

use std::ffi::{c_char, c_int, c_void};

use super::plan::{rastrum_plan, RASTRUM_TYPE_BYTE, RASTRUM_TYPE_FLOAT32};
use super::*;
use crate::error::Error;
use crate::stitch::sink::{BandsOut, RowsFn, RowsOut};
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
    pub y: usize,
    pub rows: usize,
    pub width: usize,
    pub bands: usize,
    /// RASTRUM_TYPE_BYTE (class rasters) or RASTRUM_TYPE_FLOAT32.
    pub data_type: i32,
    /// bands x rows x width values of data_type, band after band; valid during the call.
    pub data: *const c_void,
    /// The value of pixels without valid input.
    pub nodata: f64,
}

/// Receives finished rows; returns non-zero to go on and 0 to stop, as a progress callback
/// does (the rastrum_stitcher_add that handed the rows then returns RASTRUM_CANCELLED, and the
/// stitcher is done).
pub type rastrum_rows_fn = Option<unsafe extern "C" fn(rows: *const rastrum_rows, user_data: *mut c_void) -> c_int>;

/// A stitcher writing the plan's output to `output` as rastrum_run does (GeoTIFF, or COG with
/// the cog option; the class raster with names and colours, or float bands; nodata; the
/// probability raster beside it with the probabilities option). The file appears, complete,
/// at rastrum_stitcher_finish, and never if the stitcher is freed before.
///
/// # Safety
/// The pointer contract.
#[no_mangle]
pub unsafe extern "C" fn rastrum_stitcher_new(
    plan: *const rastrum_plan,
    output: *const c_char,
    out: *mut *mut rastrum_stitcher,
) -> i32 {
    unsafe {
        new_handle("rastrum_stitcher_new", out, || {
            let p = &arg(plan, "plan")?.plan;
            let output = c_path(output, "output")?;
            Ok(rastrum_stitcher { stitcher: Stitcher::to_file(p, output)? })
        })
    }
}

/// A stitcher handing finished rows to `callback` (with `user_data`) instead of writing a file:
/// the bands and values the file would hold, top to bottom, each row once.
///
/// # Safety
/// The pointer contract; `callback` may be called with `user_data` by every
/// rastrum_stitcher_add and rastrum_stitcher_finish of the stitcher, on their thread.
#[no_mangle]
pub unsafe extern "C" fn rastrum_stitcher_new_rows(
    plan: *const rastrum_plan,
    callback: rastrum_rows_fn,
    user_data: *mut c_void,
    out: *mut *mut rastrum_stitcher,
) -> i32 {
    unsafe {
        new_handle("rastrum_stitcher_new_rows", out, || {
            let p = &arg(plan, "plan")?.plan;
            let callback = callback.ok_or_else(|| invalid("callback is NULL"))?;
            Ok(rastrum_stitcher { stitcher: Stitcher::to_rows(p, rows_to(callback, user_data, p))? })
        })
    }
}

/// The rows sink of a stitcher: each batch of finished rows to the host's callback.
///
/// # Safety
/// `callback` may be called with `user_data` for as long as the sink lives.
unsafe fn rows_to(
    callback: unsafe extern "C" fn(*const rastrum_rows, *mut c_void) -> c_int,
    user_data: *mut c_void,
    p: &crate::plan::Plan,
) -> RowsFn {
    let width = p.grid().width;
    let (class_nodata, nodata) = (crate::tasks::CLASS_NODATA as f64, p.resolved().output_nodata);
    Box::new(move |r: RowsOut| -> crate::Result<()> {
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
        let rows =
            rastrum_rows { raster: r.raster as i32, y: r.y0, rows: r.rows, width, bands, data_type, data, nodata };
        // SAFETY: the host's callback, with its own user data and rows valid for the call.
        match unsafe { callback(&rows, user_data) } {
            0 => Err(Error::Cancelled),
            _ => Ok(()),
        }
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
///
/// # Safety
/// The pointer contract; `values`, `valid` and `weight` hold `values_len`, `valid_len` and
/// `weight_len` elements; no other call may be using `stitcher`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn rastrum_stitcher_add(
    stitcher: *mut rastrum_stitcher,
    index: usize,
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
            unsafe { (opt_slice(values, values_len), opt_slice(valid, valid_len), opt_slice(weight, weight_len)) };
        s.add(index, values, valid, weight)?;
        Ok(())
    })
}

/// Tiles stitched so far (`stitched`, in plan order) and tiles held in memory until the tiles
/// before them come (`held`). Either pointer may be NULL.
///
/// # Safety
/// The pointer contract.
#[no_mangle]
pub unsafe extern "C" fn rastrum_stitcher_progress(
    stitcher: *const rastrum_stitcher,
    stitched: *mut usize,
    held: *mut usize,
) -> i32 {
    boundary("rastrum_stitcher_progress", || {
        let s = &unsafe { arg(stitcher, "stitcher") }?.stitcher;
        let (done, waiting) = s.progress();
        if let Some(out) = unsafe { opt_out(stitched) } {
            out.write(done);
        }
        if let Some(out) = unsafe { opt_out(held) } {
            out.write(waiting);
        }
        Ok(())
    })
}

/// Ends the stitching once every tile has been added: the files are renamed into place.
/// Before that it returns INVALID_ARGUMENT naming the first missing tile, and the stitcher
/// takes more tiles.
///
/// # Safety
/// The pointer contract; no other call may be using `stitcher`.
#[no_mangle]
pub unsafe extern "C" fn rastrum_stitcher_finish(stitcher: *mut rastrum_stitcher) -> i32 {
    boundary("rastrum_stitcher_finish", || {
        let s = &mut unsafe { arg_mut(stitcher, "stitcher") }?.stitcher;
        s.finish()?;
        Ok(())
    })
}

/// Frees a stitcher. NULL is a no-op. Unfinished, its temporary files are deleted.
///
/// # Safety
/// The pointer contract; no call may be using `stitcher`.
#[no_mangle]
pub unsafe extern "C" fn rastrum_stitcher_free(stitcher: *mut rastrum_stitcher) {
    unsafe { free_handle("rastrum_stitcher_free", stitcher) }
}
