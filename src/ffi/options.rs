//! C API: run options (a builder keyed by the command line's option names) and cancel tokens.

use std::ffi::c_char;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::*;
use crate::options::RunOptions;

/// Options of one run. Not thread-safe: build it on one thread; a finished options object may
/// then be read by any number of concurrent runs.
pub struct rastrum_options {
    pub(crate) options: RunOptions,
}

impl OptionsHandle for rastrum_options {
    type Options = RunOptions;
    fn wrap(options: RunOptions) -> Self {
        rastrum_options { options }
    }
    fn options(&self) -> &RunOptions {
        &self.options
    }
    fn set(&mut self, key: &str, value: &str) -> crate::Result<()> {
        self.options.set(key, value)
    }
}

/// A cancel token: rastrum_cancel_set from any thread cancels every run using it.
pub struct rastrum_cancel {
    flag: Arc<AtomicBool>,
}

/// New options, all defaults (from the model card, else the model's shapes).
///
/// # Safety
/// The pointer contract.
#[no_mangle]
pub unsafe extern "C" fn rastrum_options_new(out: *mut *mut rastrum_options) -> i32 {
    unsafe { options_new("rastrum_options_new", out) }
}

/// Frees options. NULL is a no-op.
///
/// # Safety
/// The pointer contract; no call may be using `options`.
#[no_mangle]
pub unsafe extern "C" fn rastrum_options_free(options: *mut rastrum_options) {
    unsafe { free_handle("rastrum_options_free", options) }
}

/// A copy of `options` (with the same cancel token, if any), e.g. to change one setting per run.
///
/// # Safety
/// The pointer contract.
#[no_mangle]
pub unsafe extern "C" fn rastrum_options_clone(options: *const rastrum_options, out: *mut *mut rastrum_options) -> i32 {
    unsafe {
        new_handle("rastrum_options_clone", out, || {
            Ok(rastrum_options { options: arg(options, "options")?.options.clone() })
        })
    }
}

/// Removes the cancel token from `options` (runs with them can then only be cancelled from the
/// progress callback).
///
/// # Safety
/// The pointer contract; no other call may be using `options`.
#[no_mangle]
pub unsafe extern "C" fn rastrum_options_clear_cancel(options: *mut rastrum_options) -> i32 {
    boundary("rastrum_options_clear_cancel", || {
        unsafe { arg_mut(options, "options") }?.options.cancel = None;
        Ok(())
    })
}

/// Sets one option by the long name of its `rastrum run` flag (`_` may stand for `-`), value
/// as text: lists comma-separated ("4,3,2"), booleans true|false. Unknown keys and bad values
/// return INVALID_ARGUMENT with a message naming them.
///
/// Keys:
/// - `task`: segmentation, classification (per tile), regression or super_resolution
/// - `bands`: 1-based input bands in model channel order ("4,3,2")
/// - `scale`: input scaling raw * scale + offset, one value or one per band
/// - `offset`: added after the scale, one value or one per band
/// - `mean`: standardisation mean after scaling, one value or one per band
/// - `std`: standardisation deviation after scaling, one value or one per band
/// - `nodata`: input nodata value, replacing the raster's (nodata value, alpha or mask band)
/// - `tile-size`: side of a tile, input pixels
/// - `overlap`: pixels shared by neighbouring tiles
/// - `margin`: context pixels at each tile's edge that are read but not written
/// - `stitch`: blend (seam-free) or crop (each pixel from one tile)
/// - `grid`: fit (last tile clamped to the raster) or lattice (tiles at k x stride - pad)
/// - `pad`: mirrored context pixels around the raster
/// - `pad-mode`: reflect or symmetric (the mirroring of pad and edge tiles)
/// - `batch`: tiles per inference call
/// - `probabilities`: true|false, also write OUTPUT_probabilities.tif (class tasks)
/// - `probability-bands`: true|false, class probabilities as bands 2..1+N of the output itself
/// - `output-name`: the model output to use, by name
/// - `output-index`: the model output to use, by 0-based index
/// - `all-outputs`: true|false, every model output, one raster each (OUTPUT, OUTPUT_<name>)
/// - `activation`: softmax, sigmoid or none (class head)
/// - `redistribute`: none, uniform or weight (per-tile regression spread over the tile's pixels)
/// - `weight-band`: 1-based input band of the weights of redistribute=weight
/// - `scale-factor`: output pixels per input pixel (super-resolution)
/// - `output-channels`: the model's output channels (declared by hosts planning without a model)
/// - `output-size`: side of the model's output tile (declared likewise; 1: one value per tile)
/// - `output-nodata`: value of output pixels without valid input
/// - `det-conf`: detection, minimum score of a box (0 to 1)
/// - `det-iou-thresh`: detection, overlap above which the lower-scoring of two boxes is dropped
/// - `det-metric`: detection, iou or ios (overlap over the union or over the smaller box)
/// - `det-class-agnostic`: true|false, detection, boxes of different classes suppress each other
/// - `det-duplicates`: nms or nmm, detection, a duplicate dropped or merged into the winner
/// - `vector`: class tasks, also write the class raster's polygons to this vector file
/// - `vector-simplify`: tolerance in map units simplifying those polygons
/// - `strict`: true|false, inputs that look off before the first batch are an error, not a warning
/// - `small-segment`: segmentation: the class map's median window, removing smaller segments (0: off)
/// - `resolution`: centimetres per pixel to resample the input to, native, or card
/// - `resolution-limit`: the largest factor the card's resolution may resample by (default 4)
/// - `resampling`: GDAL resampling algorithm of that resampling (default average)
/// - `co`: GDAL creation option KEY=VALUE of the output (appends)
/// - `cog`: true|false, write Cloud Optimized GeoTIFFs
/// - `set`: model card override KEY=VALUE, the value as JSON text (appends)
/// - `mask`: polygon layer (any OGR source) or raster; only its inside is processed
/// - `extent`: xmin,ymin,xmax,ymax in the input's CRS; only this part is processed
/// - `window`: COL,ROW,COLS,ROWS, the block of the tile grid to write (rastrum_layout_json)
///
/// # Safety
/// The pointer contract; no other call may be using `options`.
#[no_mangle]
pub unsafe extern "C" fn rastrum_options_set(
    options: *mut rastrum_options,
    key: *const c_char,
    value: *const c_char,
) -> i32 {
    unsafe { options_set("rastrum_options_set", options, key, value) }
}

/// Makes runs with these options cancellable through `cancel` (the options keep their own
/// reference to the token: it may be freed before them).
///
/// # Safety
/// The pointer contract; no other call may be using `options`.
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
///
/// # Safety
/// The pointer contract.
#[no_mangle]
pub unsafe extern "C" fn rastrum_cancel_new(out: *mut *mut rastrum_cancel) -> i32 {
    unsafe { new_handle("rastrum_cancel_new", out, || Ok(rastrum_cancel { flag: Arc::new(AtomicBool::new(false)) })) }
}

/// Triggers (`cancelled` non-zero) or resets (0) a cancel token. Thread-safe.
///
/// # Safety
/// The pointer contract.
#[no_mangle]
pub unsafe extern "C" fn rastrum_cancel_set(cancel: *const rastrum_cancel, cancelled: i32) -> i32 {
    boundary("rastrum_cancel_set", || {
        let c = unsafe { arg(cancel, "cancel") }?;
        c.flag.store(cancelled != 0, Ordering::SeqCst);
        Ok(())
    })
}

/// Frees a cancel token. NULL is a no-op. Options that hold it keep their own reference.
///
/// # Safety
/// The pointer contract; no call may be using `cancel`.
#[no_mangle]
pub unsafe extern "C" fn rastrum_cancel_free(cancel: *mut rastrum_cancel) {
    unsafe { free_handle("rastrum_cancel_free", cancel) }
}
