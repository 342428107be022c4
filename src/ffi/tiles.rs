//! C API of `rastrum tiles`: tile options (a builder keyed by the command line's option names,
//! like rastrum_options, but with the options of a pyramid rather than of a model run) and
//! rastrum_tiles, with the progress and cancel convention of rastrum_run.

use std::ffi::{c_char, c_void, CString};

use super::run::rastrum_progress_fn;
use super::*;
use crate::tiles::TilesOptions;

/// Options of a tile pyramid. Not thread-safe: build it on one thread; a finished options
/// object may then be read by any number of concurrent rastrum_tiles calls.
pub struct rastrum_tiles_options {
    options: TilesOptions,
}

/// New tile options, all defaults (zooms from the raster's resolution, viridis or RGB, 2-98 %).
#[no_mangle]
pub unsafe extern "C" fn rastrum_tiles_options_new(out: *mut *mut rastrum_tiles_options) -> i32 {
    new_handle("rastrum_tiles_options_new", out, || rastrum_tiles_options { options: TilesOptions::default() })
}

/// Frees tile options. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn rastrum_tiles_options_free(options: *mut rastrum_tiles_options) {
    unsafe { free_handle("rastrum_tiles_options_free", options) }
}

/// Sets one option by the long name of its `rastrum tiles` flag, value as text: zoom ("10-14"
/// or "12"), bands ("1" or "4,3,2"), ramp (gray, viridis, magma, inferno, plasma, cividis,
/// turbo, spectral, rdylgn, blues, greens), range ("MIN,MAX"), resampling (GDAL's names),
/// labels ("a,b,c", one per input), gif-zoom, overwrite (true|false), threads. Unknown keys and
/// bad values return INVALID_ARGUMENT with a message naming them.
#[no_mangle]
pub unsafe extern "C" fn rastrum_tiles_options_set(
    options: *mut rastrum_tiles_options,
    key: *const c_char,
    value: *const c_char,
) -> i32 {
    unsafe { set_option("rastrum_tiles_options_set", options, key, value, |o, k, v| o.options.set(k, v)) }
}

/// Renders `n_inputs` rasters (`inputs`, frames in time order, any GDAL paths) into the XYZ
/// pyramid folder `outdir`, as `rastrum tiles` does: `outdir/{z}/{x}/{y}.png` for one input,
/// `outdir/<label>/{z}/{x}/{y}.png` per frame for several, plus index.html, animation.gif and
/// tiles.json. `options`, `progress`, `user_data` and `out_json` may be NULL. The progress
/// callback is called on the calling thread; returning 0 cancels (status CANCELLED). On error
/// or cancel `outdir` is left as it was (nothing partial). On success, when `out_json` is not
/// NULL, writes tiles.json's text there (free it with rastrum_string_free).
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
        let default = TilesOptions::default();
        let opts = match unsafe { options.as_ref() } {
            Some(o) => &o.options,
            None => &default,
        };
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
        let summary = crate::tiles::render(&paths, outdir, opts, &mut report)?;
        if !out_json.is_null() {
            let json =
                serde_json::to_string(&summary).map_err(|e| Failure::from(crate::Error::Internal(e.to_string())))?;
            give_string(&json, out_json);
        }
        Ok(())
    })
}
