//! C API of `rastrum eval`: options keyed by the command line's flag names, and one call that
//! scores a prediction raster against a reference raster and returns the report as JSON.

use std::ffi::c_char;

use super::*;
use crate::eval::{evaluate, EvalOptions};

/// Options of one evaluation (`rastrum eval`'s flags). Not thread-safe: build it on one
/// thread; a finished options object may then be read by any number of concurrent
/// rastrum_eval calls.
pub struct rastrum_eval_options {
    pub(crate) options: EvalOptions,
}

impl OptionsHandle for rastrum_eval_options {
    type Options = EvalOptions;
    fn wrap(options: EvalOptions) -> Self {
        rastrum_eval_options { options }
    }
    fn options(&self) -> &EvalOptions {
        &self.options
    }
    fn set(&mut self, key: &str, value: &str) -> crate::Result<()> {
        self.options.set(key, value)
    }
}

/// New evaluation options, all defaults (kind auto, band 1 of both rasters).
///
/// # Safety
/// The pointer contract.
#[no_mangle]
pub unsafe extern "C" fn rastrum_eval_options_new(out: *mut *mut rastrum_eval_options) -> i32 {
    unsafe { options_new("rastrum_eval_options_new", out) }
}

/// Frees evaluation options. NULL is a no-op.
///
/// # Safety
/// The pointer contract; no call may be using `options`.
#[no_mangle]
pub unsafe extern "C" fn rastrum_eval_options_free(options: *mut rastrum_eval_options) {
    unsafe { free_handle("rastrum_eval_options_free", options) }
}

/// Sets one evaluation option by the long name of its `rastrum eval` flag (`-` or `_`), value
/// as text: kind (classes|values|image|auto), pred_band, ref_band (1-based), ignore (class
/// values, comma-separated; appends), block (pixels), data_range, resampling (a gdalwarp -r
/// name), confusion_png (a path). Unknown keys and bad values return INVALID_ARGUMENT with a
/// message naming them.
///
/// # Safety
/// The pointer contract; no other call may be using `options`.
#[no_mangle]
pub unsafe extern "C" fn rastrum_eval_options_set(
    options: *mut rastrum_eval_options,
    key: *const c_char,
    value: *const c_char,
) -> i32 {
    unsafe { options_set("rastrum_eval_options_set", options, key, value) }
}

/// Scores the raster at `prediction` against the raster at `reference` (any GDAL paths), as
/// `rastrum eval --json` does, and writes the report as JSON to `*out_json` (free it with
/// rastrum_string_free): confusion matrix and class scores, regression errors and totals, or
/// PSNR and SSIM, with pixel counts and how the grids were matched (see docs/eval.md).
/// `options` may be NULL (defaults). `*out_json` is written only on success.
///
/// Thread safety: any number of rastrum_eval calls may run at once on different threads (each
/// opens its own GDAL datasets), sharing one finished options object; they must not write the
/// same confusion_png path. It needs no ONNX Runtime.
///
/// # Safety
/// The pointer contract.
#[no_mangle]
pub unsafe extern "C" fn rastrum_eval(
    prediction: *const c_char,
    reference: *const c_char,
    options: *const rastrum_eval_options,
    out_json: *mut *mut c_char,
) -> i32 {
    boundary("rastrum_eval", || {
        let prediction = unsafe { c_path(prediction, "prediction") }?;
        let reference = unsafe { c_path(reference, "reference") }?;
        let out = unsafe { out_ptr(out_json, "out_json") }?;
        let opts = unsafe { options_or_default(options) };
        give_json(out, &evaluate(prediction, reference, &opts)?)
    })
}
