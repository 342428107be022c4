//! C API of `rastrum tiles`: tile options (a builder keyed by the command line's option names,
//! like rastrum_options, but with the options of a pyramid rather than of a model run) and
//! rastrum_tiles, with the progress and cancel convention of rastrum_run.

use std::ffi::{c_char, c_void};

use super::*;
use crate::tiles::TilesOptions;

/// Options of a tile pyramid. Not thread-safe: build it on one thread; a finished options
/// object may then be read by any number of concurrent rastrum_tiles calls.
pub struct rastrum_tiles_options {
    options: TilesOptions,
}

impl OptionsHandle for rastrum_tiles_options {
    type Options = TilesOptions;
    fn wrap(options: TilesOptions) -> Self {
        rastrum_tiles_options { options }
    }
    fn options(&self) -> &TilesOptions {
        &self.options
    }
    fn set(&mut self, key: &str, value: &str) -> crate::Result<()> {
        self.options.set(key, value)
    }
}

/// New tile options, all defaults (zooms from the raster's resolution, viridis or RGB, 2-98 %).
///
/// # Safety
/// The pointer contract.
#[no_mangle]
pub unsafe extern "C" fn rastrum_tiles_options_new(out: *mut *mut rastrum_tiles_options) -> i32 {
    unsafe { options_new("rastrum_tiles_options_new", out) }
}

/// Frees tile options. NULL is a no-op.
///
/// # Safety
/// The pointer contract; no call may be using `options`.
#[no_mangle]
pub unsafe extern "C" fn rastrum_tiles_options_free(options: *mut rastrum_tiles_options) {
    unsafe { free_handle("rastrum_tiles_options_free", options) }
}

/// Sets one option by the long name of its `rastrum tiles` flag, value as text: zoom ("10-14"
/// or "12"), bands ("1" or "4,3,2"), ramp (gray, viridis, magma, inferno, plasma, cividis,
/// turbo, spectral, rdylgn, blues, greens), range ("MIN,MAX"), resampling (GDAL's names),
/// labels ("a,b,c", one per input), gif-zoom, overwrite (true|false), threads. Unknown keys and
/// bad values return INVALID_ARGUMENT with a message naming them.
///
/// # Safety
/// The pointer contract; no other call may be using `options`.
#[no_mangle]
pub unsafe extern "C" fn rastrum_tiles_options_set(
    options: *mut rastrum_tiles_options,
    key: *const c_char,
    value: *const c_char,
) -> i32 {
    unsafe { options_set("rastrum_tiles_options_set", options, key, value) }
}

/// Renders `n_inputs` rasters (`inputs`, frames in time order, any GDAL paths) into the XYZ
/// pyramid folder `outdir`, as `rastrum tiles` does: `outdir/{z}/{x}/{y}.png` for one input,
/// `outdir/<label>/{z}/{x}/{y}.png` per frame for several, plus index.html, animation.gif and
/// tiles.json. `options`, `progress` and `user_data` may be NULL. The progress callback is
/// called on the calling thread; returning 0 cancels (status CANCELLED). On error or cancel
/// `outdir` is left as it was (nothing partial). On success writes tiles.json's text to
/// `*out_json` (free it with rastrum_string_free), as every `*_json` call does.
///
/// # Safety
/// The pointer contract; `inputs` holds `n_inputs` strings; `progress` is called with
/// `user_data` on this thread until it returns.
#[no_mangle]
pub unsafe extern "C" fn rastrum_tiles(
    inputs: *const *const c_char,
    n_inputs: usize,
    outdir: *const c_char,
    options: *const rastrum_tiles_options,
    progress: rastrum_progress_fn,
    user_data: *mut c_void,
    out_json: *mut *mut c_char,
) -> i32 {
    boundary("rastrum_tiles", || {
        let paths = unsafe { c_paths(inputs, n_inputs, "inputs") }?;
        if n_inputs == 0 {
            return Err(invalid("n_inputs is 0: give at least one raster"));
        }
        let outdir = unsafe { c_path(outdir, "outdir") }?;
        let out = unsafe { out_ptr(out_json, "out_json") }?;
        let opts = unsafe { options_or_default(options) };
        let mut report = unsafe { progress_adapter(progress, user_data) };
        give_json(out, &crate::tiles::render(&paths, outdir, &opts, &mut report)?)
    })
}
