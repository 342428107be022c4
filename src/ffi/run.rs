//! C API: run options (a builder keyed by the command line's option names), cancel tokens,
//! runs from an input path to an output path with a GDAL-style progress callback, and results.

use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::model::rastrum_model;
use super::*;
use crate::options::RunOptions;
use crate::run::RunSummary;

/// Progress callback, the shape of GDALProgressFunc (GDALTermProgress can be passed): called on
/// the calling thread with the fraction done (0..1) and a message; return 0 to cancel.
pub type rastrum_progress_fn =
    Option<unsafe extern "C" fn(complete: f64, message: *const c_char, user_data: *mut c_void) -> c_int>;

/// Options of one run. Not thread-safe: build it on one thread; a finished options object may
/// then be read by any number of concurrent runs.
pub struct rastrum_options {
    pub(crate) options: RunOptions,
}

/// A cancel token: rastrum_cancel_set from any thread cancels every run using it.
pub struct rastrum_cancel {
    flag: Arc<AtomicBool>,
}

/// What a finished run reports.
pub struct rastrum_result {
    summary: RunSummary,
}

/// The defaults, for calls given NULL options.
static DEFAULT_OPTIONS: std::sync::LazyLock<RunOptions> = std::sync::LazyLock::new(RunOptions::default);

/// The options a call was given, or the defaults when NULL.
pub(crate) unsafe fn options_or_default<'a>(options: *const rastrum_options) -> &'a RunOptions {
    // SAFETY: NULL or a live options handle (the API's contract).
    unsafe { options.as_ref() }.map_or(&*DEFAULT_OPTIONS, |o| &o.options)
}

/// New options, all defaults (from the model card, else the model's shapes).
#[no_mangle]
pub unsafe extern "C" fn rastrum_options_new(out: *mut *mut rastrum_options) -> i32 {
    new_handle("rastrum_options_new", out, || rastrum_options { options: RunOptions::default() })
}

/// Frees options. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn rastrum_options_free(options: *mut rastrum_options) {
    unsafe { free_handle("rastrum_options_free", options) }
}

/// A copy of `options` (with the same cancel token, if any), e.g. to change one setting per run.
#[no_mangle]
pub unsafe extern "C" fn rastrum_options_clone(options: *const rastrum_options, out: *mut *mut rastrum_options) -> i32 {
    boundary("rastrum_options_clone", || {
        let o = unsafe { arg(options, "options") }?;
        let out = out_ptr(out, "out")?;
        // SAFETY: checked non-NULL.
        unsafe { *out = Box::into_raw(Box::new(rastrum_options { options: o.options.clone() })) };
        Ok(())
    })
}

/// Removes the cancel token from `options` (runs with them can then only be cancelled from the
/// progress callback).
#[no_mangle]
pub unsafe extern "C" fn rastrum_options_clear_cancel(options: *mut rastrum_options) -> i32 {
    boundary("rastrum_options_clear_cancel", || {
        unsafe { arg_mut(options, "options") }?.options.cancel = None;
        Ok(())
    })
}

/// Sets one option by the long name of its `rastrum run` flag, value as text:
/// task, bands ("4,3,2"), scale, offset, mean, std (one value or one per band), nodata,
/// tile-size, overlap, margin, stitch (blend|crop), batch, probabilities (true|false),
/// output-name, output-index, activation, redistribute, weight-band, scale-factor,
/// output-nodata, resolution (cm per pixel | native), resampling, co (KEY=VALUE, appends),
/// cog (true|false), set (card KEY=VALUE, appends). Unknown keys and bad values return
/// INVALID_ARGUMENT with a message naming them.
#[no_mangle]
pub unsafe extern "C" fn rastrum_options_set(
    options: *mut rastrum_options,
    key: *const c_char,
    value: *const c_char,
) -> i32 {
    unsafe { set_option("rastrum_options_set", options, key, value, |o, k, v| o.options.set(k, v)) }
}

/// Makes runs with these options cancellable through `cancel` (which must outlive the runs).
#[no_mangle]
pub unsafe extern "C" fn rastrum_options_set_cancel(
    options: *mut rastrum_options,
    cancel: *const rastrum_cancel,
) -> i32 {
    boundary("rastrum_options_set_cancel", || {
        let o = unsafe { arg_mut(options, "options") }?;
        let c = unsafe { arg(cancel, "cancel") }?;
        o.options.cancel = Some(c.flag.clone());
        Ok(())
    })
}

/// A new, untriggered cancel token.
#[no_mangle]
pub unsafe extern "C" fn rastrum_cancel_new(out: *mut *mut rastrum_cancel) -> i32 {
    boundary("rastrum_cancel_new", || {
        let out = out_ptr(out, "out")?;
        // SAFETY: checked non-NULL.
        unsafe { *out = Box::into_raw(Box::new(rastrum_cancel { flag: Arc::new(AtomicBool::new(false)) })) };
        Ok(())
    })
}

/// Triggers (`cancelled` non-zero) or resets (0) a cancel token. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn rastrum_cancel_set(cancel: *const rastrum_cancel, cancelled: i32) -> i32 {
    boundary("rastrum_cancel_set", || {
        let c = unsafe { arg(cancel, "cancel") }?;
        c.flag.store(cancelled != 0, Ordering::SeqCst);
        Ok(())
    })
}

/// Frees a cancel token. NULL is a no-op. Options that hold it keep their own reference.
#[no_mangle]
pub unsafe extern "C" fn rastrum_cancel_free(cancel: *mut rastrum_cancel) {
    if !cancel.is_null() {
        // SAFETY: came from Box::into_raw in rastrum_cancel_new.
        release("rastrum_cancel_free", || drop(unsafe { Box::from_raw(cancel) }));
    }
}

/// Runs `model` over the raster at `input` (any GDAL path) and writes `output` (GeoTIFF), as
/// `rastrum run` does. `options`, `progress`, `user_data` and `out_result` may be NULL. On error
/// or cancel no output file is left. On success, when `out_result` is not NULL, writes a result
/// to free with rastrum_result_free. Concurrent runs may share one model handle.
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
        let opts = unsafe { options_or_default(options) };
        let mut report = |frac: f64, message: &str| -> bool {
            match progress {
                None => true,
                Some(f) => {
                    let msg = CString::new(message).unwrap_or_default();
                    // SAFETY: the caller's callback, called as GDALProgressFunc is.
                    unsafe { f(frac, msg.as_ptr(), user_data) != 0 }
                }
            }
        };
        let summary = crate::run::run(&m.model, input, output, opts, &mut report)?;
        if !out_result.is_null() {
            // SAFETY: checked non-NULL.
            unsafe { *out_result = Box::into_raw(Box::new(rastrum_result { summary })) };
        }
        Ok(())
    })
}

/// Frees a result. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn rastrum_result_free(result: *mut rastrum_result) {
    if !result.is_null() {
        // SAFETY: came from Box::into_raw in rastrum_run.
        release("rastrum_result_free", || drop(unsafe { Box::from_raw(result) }));
    }
}

/// Tiles in the plan, tiles run through the model, and tiles skipped (all nodata).
#[no_mangle]
pub unsafe extern "C" fn rastrum_result_tiles(
    result: *const rastrum_result,
    out_total: *mut u64,
    out_run: *mut u64,
    out_skipped: *mut u64,
) -> i32 {
    boundary("rastrum_result_tiles", || {
        let r = unsafe { arg(result, "result") }?;
        let (t, n, s) =
            (out_ptr(out_total, "out_total")?, out_ptr(out_run, "out_run")?, out_ptr(out_skipped, "out_skipped")?);
        // SAFETY: all checked non-NULL.
        unsafe {
            *t = r.summary.tiles_total as u64;
            *n = r.summary.tiles_run as u64;
            *s = r.summary.tiles_skipped as u64;
        }
        Ok(())
    })
}

/// Wall-clock seconds of the run.
#[no_mangle]
pub unsafe extern "C" fn rastrum_result_seconds(result: *const rastrum_result, out_seconds: *mut f64) -> i32 {
    boundary("rastrum_result_seconds", || {
        let r = unsafe { arg(result, "result") }?;
        let out = out_ptr(out_seconds, "out_seconds")?;
        // SAFETY: checked non-NULL.
        unsafe { *out = r.summary.seconds };
        Ok(())
    })
}

/// The whole summary as JSON (outputs, task, provider, tiles, seconds, sizes, class counts), as
/// `rastrum run --json` prints it. Free with rastrum_string_free.
#[no_mangle]
pub unsafe extern "C" fn rastrum_result_json(result: *const rastrum_result, out_json: *mut *mut c_char) -> i32 {
    boundary("rastrum_result_json", || {
        let r = unsafe { arg(result, "result") }?;
        let out = out_ptr(out_json, "out_json")?;
        let json =
            serde_json::to_string(&r.summary).map_err(|e| Failure::from(crate::Error::Internal(e.to_string())))?;
        give_string(&json, out);
        Ok(())
    })
}

/// The execution provider the run used. Free with rastrum_string_free.
#[no_mangle]
pub unsafe extern "C" fn rastrum_result_provider(result: *const rastrum_result, out: *mut *mut c_char) -> i32 {
    boundary("rastrum_result_provider", || {
        let r = unsafe { arg(result, "result") }?;
        let out = out_ptr(out, "out")?;
        give_string(&r.summary.provider, out);
        Ok(())
    })
}

/// The tile grid and output size a run of `model` over `input` with `options` would have,
/// without running it, as JSON (task, tile_size, width, height, tile_columns, tile_rows, the
/// output pixels each tile column and row owns, geo_transform, projection): what a scheduler
/// needs to split a run into windows (option "window"). `options` may be NULL. Free the string
/// with rastrum_string_free. May run concurrently with other calls on the same model.
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
        let out = out_ptr(out_json, "out_json")?;
        let opts = unsafe { options_or_default(options) };
        let layout = crate::plan::layout(&m.model, input, opts)?;
        let json = serde_json::to_string(&layout).map_err(|e| Failure::from(crate::Error::Internal(e.to_string())))?;
        give_string(&json, out);
        Ok(())
    })
}

/// Joins the outputs of window runs (`n_windows` paths in `windows`, together covering the
/// whole output once) into `output`, as `rastrum assemble` does: a VRT referencing them when
/// `output` ends in .vrt, else a GeoTIFF (options "co" and "cog" of `options` apply; NULL:
/// defaults). Written under a temporary name and renamed: on error no output is left.
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
