//! C API: a model's card read and written in the file itself (`onnx::metadata`), without
//! ONNX Runtime and without loading the model: every other byte of the model is kept.

use std::ffi::c_char;

use super::*;
use crate::card::edits;
use crate::onnx::metadata;

/// The card of the model at `model` as a JSON object (free with rastrum_string_free).
///
/// # Safety
/// The pointer contract.
#[no_mangle]
pub unsafe extern "C" fn rastrum_card_read(model: *const c_char, out_json: *mut *mut c_char) -> i32 {
    boundary("rastrum_card_read", || {
        let path = unsafe { c_path(model, "model") }?;
        let out = unsafe { out_ptr(out_json, "out_json") }?;
        give_json(out, &edits::as_json(&metadata::read(path)?))
    })
}

/// Writes the model at `model` to `output` (which may be `model` itself) with its card changed
/// by `changes_json`: a JSON object whose values set keys (`null` removes one), or a model's
/// side file (ukis-csmask's `model_*.json`). The card must still parse: a bad value fails,
/// naming its key, and nothing is written. On success writes the new card as a JSON object to
/// `*out_json` when it is not NULL (free with rastrum_string_free).
///
/// # Safety
/// The pointer contract.
#[no_mangle]
pub unsafe extern "C" fn rastrum_card_write(
    model: *const c_char,
    output: *const c_char,
    changes_json: *const c_char,
    out_json: *mut *mut c_char,
) -> i32 {
    boundary("rastrum_card_write", || {
        let path = unsafe { c_path(model, "model") }?;
        let target = unsafe { c_path(output, "output") }?;
        let changes = edits::from_json(unsafe { c_str(changes_json, "changes_json") }?, "changes_json")?;
        let out = unsafe { opt_out(out_json) };
        let card = metadata::write(path, target, &changes)?;
        if let Some(out) = out {
            give_json(out, &edits::as_json(&card))?;
        }
        Ok(())
    })
}
