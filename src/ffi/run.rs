//! C API: runs from an input path to an output path with a GDAL-style progress callback, their
//! results, the layout of a run (for windows) and the assembly of windows.

use std::ffi::{c_char, c_void};

use super::model::rastrum_model;
use super::options::rastrum_options;
use super::*;
use crate::run::RunSummary;

/// What a finished run reports.
pub struct rastrum_result {
    summary: RunSummary,
}

/// Runs `model` over the raster at `input` (any GDAL path) and writes `output` (GeoTIFF), as
/// `rastrum run` does. `options`, `progress`, `user_data` and `out_result` may be NULL. On error
/// or cancel no output file is left. On success, when `out_result` is not NULL, writes a result
/// to free with rastrum_result_free. Concurrent runs may share one model handle.
///
/// # Safety
/// The pointer contract; `progress` is called with `user_data` on this thread until it returns.
#[no_mangle]
pub unsafe extern "C" fn rastrum_run(
    model: *const rastrum_model,
    input: *const c_char,
    output: *const c_char,
    options: *const rastrum_options,
    progress: rastrum_progress_fn,
    user_data: *mut c_void,
    out_result: *mut *mut rastrum_result,
) -> i32 {
    boundary("rastrum_run", || {
        let m = unsafe { arg(model, "model") }?;
        let input = unsafe { c_path(input, "input") }?;
        let output = unsafe { c_path(output, "output") }?;
        let out = unsafe { opt_out(out_result) };
        let opts = unsafe { options_or_default(options) };
        let mut report = unsafe { progress_adapter(progress, user_data) };
        let summary = crate::run::run(&m.model, input, output, &opts, &mut report)?;
        if let Some(out) = out {
            give_handle(out, rastrum_result { summary });
        }
        Ok(())
    })
}

/// Frees a result. NULL is a no-op.
///
/// # Safety
/// The pointer contract; no call may be using `result`.
#[no_mangle]
pub unsafe extern "C" fn rastrum_result_free(result: *mut rastrum_result) {
    unsafe { free_handle("rastrum_result_free", result) }
}

/// Tiles in the plan, tiles run through the model, and tiles skipped (all nodata).
///
/// # Safety
/// The pointer contract.
#[no_mangle]
pub unsafe extern "C" fn rastrum_result_tiles(
    result: *const rastrum_result,
    out_total: *mut usize,
    out_run: *mut usize,
    out_skipped: *mut usize,
) -> i32 {
    boundary("rastrum_result_tiles", || {
        let r = unsafe { arg(result, "result") }?;
        let (t, n, s) = unsafe {
            (out_ptr(out_total, "out_total")?, out_ptr(out_run, "out_run")?, out_ptr(out_skipped, "out_skipped")?)
        };
        t.write(r.summary.tiles_total);
        n.write(r.summary.tiles_run);
        s.write(r.summary.tiles_skipped);
        Ok(())
    })
}

/// Wall-clock seconds of the run.
///
/// # Safety
/// The pointer contract.
#[no_mangle]
pub unsafe extern "C" fn rastrum_result_seconds(result: *const rastrum_result, out_seconds: *mut f64) -> i32 {
    boundary("rastrum_result_seconds", || {
        let r = unsafe { arg(result, "result") }?;
        unsafe { out_ptr(out_seconds, "out_seconds") }?.write(r.summary.seconds);
        Ok(())
    })
}

/// The whole summary as JSON (outputs, task, provider, tiles, seconds, sizes, class counts), as
/// `rastrum run --json` prints it. Free with rastrum_string_free.
///
/// # Safety
/// The pointer contract.
#[no_mangle]
pub unsafe extern "C" fn rastrum_result_json(result: *const rastrum_result, out_json: *mut *mut c_char) -> i32 {
    boundary("rastrum_result_json", || {
        let r = unsafe { arg(result, "result") }?;
        give_json(unsafe { out_ptr(out_json, "out_json") }?, &r.summary)
    })
}

/// The execution provider the run used. Free with rastrum_string_free.
///
/// # Safety
/// The pointer contract.
#[no_mangle]
pub unsafe extern "C" fn rastrum_result_provider(result: *const rastrum_result, out: *mut *mut c_char) -> i32 {
    boundary("rastrum_result_provider", || {
        let r = unsafe { arg(result, "result") }?;
        give_string(unsafe { out_ptr(out, "out") }?, &r.summary.provider);
        Ok(())
    })
}

/// The tile grid and output size a run of `model` over `input` with `options` would have,
/// without running it, as JSON (task, tile_size, width, height, tile_columns, tile_rows, the
/// output pixels each tile column and row owns, geo_transform, projection, and grid: the line
/// `rastrum run` prints before its tiles, for a host's log): what a scheduler
/// needs to split a run into windows (option "window"). `options` may be NULL. Free the string
/// with rastrum_string_free. May run concurrently with other calls on the same model.
///
/// # Safety
/// The pointer contract.
#[no_mangle]
pub unsafe extern "C" fn rastrum_layout_json(
    model: *const rastrum_model,
    input: *const c_char,
    options: *const rastrum_options,
    out_json: *mut *mut c_char,
) -> i32 {
    boundary("rastrum_layout_json", || {
        let m = unsafe { arg(model, "model") }?;
        let input = unsafe { c_path(input, "input") }?;
        let out = unsafe { out_ptr(out_json, "out_json") }?;
        let opts = unsafe { options_or_default(options) };
        give_json(out, &crate::plan::layout(&m.model, input, &opts)?)
    })
}

/// Joins the outputs of window runs (`n_windows` paths in `windows`, together covering the
/// whole output once) into `output`, as `rastrum assemble` does: a VRT referencing them when
/// `output` ends in .vrt, else a GeoTIFF (options "co" and "cog" of `options` apply; NULL:
/// defaults). Written under a temporary name and renamed: on error no output is left.
///
/// # Safety
/// The pointer contract; `windows` holds `n_windows` strings.
#[no_mangle]
pub unsafe extern "C" fn rastrum_assemble(
    windows: *const *const c_char,
    n_windows: usize,
    output: *const c_char,
    options: *const rastrum_options,
) -> i32 {
    boundary("rastrum_assemble", || {
        let paths = unsafe { c_paths(windows, n_windows, "windows") }?;
        let output = unsafe { c_path(output, "output") }?;
        let opts = unsafe { options_or_default(options) };
        crate::raster::mosaic::assemble(&paths, output, &opts.write)?;
        Ok(())
    })
}
