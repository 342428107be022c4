//! C API: model handles (one ONNX Runtime session each, reusable across runs and threads), the
//! resolved card as JSON, and inference on caller buffers with its size query.

use std::collections::HashMap;
use std::ffi::c_char;
use std::sync::Mutex;

use super::options::rastrum_options;
use super::*;
use crate::inference::{Device, Model, SessionOptions};
use crate::memory;

/// Output shapes by (input shape, output index).
type ShapeCache = Mutex<HashMap<([usize; 4], usize), Vec<usize>>>;

/// A loaded model. Thread-safe: any number of threads may use one handle at once (inference
/// calls on it are serialised; reading, stitching and writing run in parallel).
pub struct rastrum_model {
    pub(crate) model: Model,
    /// Output shapes by (input shape, output index), learnt by running zeros once.
    shapes: ShapeCache,
}

/// Opens an ONNX model. `device`: "cpu" (or NULL), "cuda" or "tensorrt"; `threads`: intra-op
/// threads, 0 for the number of cores; `allow_fallback`: non-zero to fall back to the CPU when
/// the device cannot be bound. On success writes a new handle to `*out` (free it with
/// rastrum_model_free); on failure leaves `*out` untouched.
///
/// # Safety
/// The pointer contract.
#[no_mangle]
pub unsafe extern "C" fn rastrum_model_open(
    path: *const c_char,
    device: *const c_char,
    threads: i32,
    allow_fallback: i32,
    out: *mut *mut rastrum_model,
) -> i32 {
    unsafe {
        new_handle("rastrum_model_open", out, || {
            let path = c_path(path, "path")?;
            let device = match opt_str(device, "device")? {
                Some(name) => name.parse()?,
                None => Device::Cpu,
            };
            if threads < 0 {
                return Err(invalid(format!("threads must be 0 (all cores) or positive, found {threads}")));
            }
            let opts = SessionOptions {
                device,
                allow_fallback: allow_fallback != 0,
                threads: (threads > 0).then_some(threads as usize),
                ort_lib: None,
            };
            let model = Model::load(path, &opts)?;
            Ok(rastrum_model { model, shapes: Mutex::new(HashMap::new()) })
        })
    }
}

/// Frees a model. NULL is a no-op. No call may be using the handle.
///
/// # Safety
/// The pointer contract; no call may be using `model`.
#[no_mangle]
pub unsafe extern "C" fn rastrum_model_free(model: *mut rastrum_model) {
    unsafe { free_handle("rastrum_model_free", model) }
}

/// The execution provider bound ("cpu", "cuda", or "cpu (fallback: ...)"), as a string to free
/// with rastrum_string_free.
///
/// # Safety
/// The pointer contract.
#[no_mangle]
pub unsafe extern "C" fn rastrum_model_provider(model: *const rastrum_model, out: *mut *mut c_char) -> i32 {
    boundary("rastrum_model_provider", || {
        let m = unsafe { arg(model, "model") }?;
        give_string(unsafe { out_ptr(out, "out") }?, &m.model.provider);
        Ok(())
    })
}

/// The model card resolved against `options` (may be NULL) and the model's real shapes, with
/// the model's inputs, outputs, raw metadata and provider, as JSON (free with
/// rastrum_string_free). Runs the model once on zeros to learn its output shape.
///
/// # Safety
/// The pointer contract.
#[no_mangle]
pub unsafe extern "C" fn rastrum_model_card_json(
    model: *const rastrum_model,
    options: *const rastrum_options,
    out_json: *mut *mut c_char,
) -> i32 {
    boundary("rastrum_model_card_json", || {
        let m = unsafe { arg(model, "model") }?;
        let out = unsafe { out_ptr(out_json, "out_json") }?;
        let opts = unsafe { options_or_default(options) };
        let heads = crate::resolve::resolve_heads(&m.model, &opts, None)?;
        let json = serde_json::json!({
            "model": m.model.path,
            "provider": m.model.provider,
            "inputs": [m.model.input.clone()],
            "outputs": m.model.outputs,
            "metadata": m.model.metadata,
            "resolved": heads.first(),
            // Every head a run writes, when there are several (OUTPUT, OUTPUT_<name>, ...).
            "heads": (heads.len() > 1).then_some(&heads),
        });
        give_json(out, &json)
    })
}

/// Checks a caller's batch shape against the model's declared input (fixed dims must match).
fn batch_shape(model: &Model, n: usize, c: usize, h: usize, w: usize) -> FfiResult<[usize; 4]> {
    if n == 0 || c == 0 || h == 0 || w == 0 {
        return Err(invalid(format!("input shape [{n}, {c}, {h}, {w}] has a zero dimension")));
    }
    for (name, (asked, declared)) in
        ["batch", "channels", "height", "width"].iter().zip([n, c, h, w].iter().zip(&model.input.shape))
    {
        if *declared > 0 && *asked as i64 != *declared {
            return Err(invalid(format!(
                "input {name} {asked} given, but the model's input is fixed at {declared} ({:?})",
                model.input.shape
            )));
        }
    }
    n.checked_mul(c)
        .and_then(|v| v.checked_mul(h))
        .and_then(|v| v.checked_mul(w))
        .filter(|v| *v <= (1usize << 34))
        .ok_or_else(|| invalid(format!("input shape [{n}, {c}, {h}, {w}] is too large")))?;
    Ok([n, c, h, w])
}

impl rastrum_model {
    fn output_shape(&self, shape: [usize; 4], index: usize) -> FfiResult<Vec<usize>> {
        let key = (shape, index);
        if let Some(s) = self.shapes.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(s);
        }
        let zeros = memory::zeros(shape.iter().product(), "a zero input of that shape", "ask for a smaller shape")?;
        let out = self.model.run(&zeros, shape, index)?;
        if let Ok(mut m) = self.shapes.lock() {
            // Hosts with ever-changing shapes must not grow this without bound.
            if m.len() >= 64 {
                m.clear();
            }
            m.insert(key, out.shape.clone());
        }
        Ok(out.shape)
    }
}

/// Size query for rastrum_model_run_buffer: the shape of output `output_index` for an input of
/// shape [n, c, h, w]. The first query of a shape runs the model once on zeros (declared output
/// shapes of real models cannot be trusted); later ones are answered from a cache. Writes up
/// to `shape_capacity` dims to `out_shape`, the rank to `*out_rank` and the number of floats to
/// `*out_len`. BUFFER_TOO_SMALL when the rank exceeds `shape_capacity` (`*out_rank` and
/// `*out_len` are still written).
///
/// # Safety
/// The pointer contract; `out_shape` holds `shape_capacity` values.
#[no_mangle]
pub unsafe extern "C" fn rastrum_model_output_shape(
    model: *const rastrum_model,
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    output_index: usize,
    out_shape: *mut i64,
    shape_capacity: usize,
    out_rank: *mut usize,
    out_len: *mut usize,
) -> i32 {
    boundary("rastrum_model_output_shape", || {
        let m = unsafe { arg(model, "model") }?;
        let out_shape = unsafe { slice_mut(out_shape, shape_capacity, "out_shape") }?;
        let out_rank = unsafe { out_ptr(out_rank, "out_rank") }?;
        let out_len = unsafe { out_ptr(out_len, "out_len") }?;
        let shape = m.output_shape(batch_shape(&m.model, n, c, h, w)?, output_index)?;
        out_rank.write(shape.len());
        out_len.write(shape.iter().product());
        for (slot, d) in out_shape.iter_mut().zip(&shape) {
            *slot = *d as i64;
        }
        if shape.len() > shape_capacity {
            return Err(Failure::new(
                RASTRUM_BUFFER_TOO_SMALL,
                format!("the output has rank {}, out_shape holds {shape_capacity}", shape.len()),
            ));
        }
        Ok(())
    })
}

/// Runs the model on a caller's batch: `input` holds n*c*h*w floats (NCHW, already scaled and
/// standardised as the model expects), `output` receives output `output_index` (row-major, its
/// shape from rastrum_model_output_shape) and `*out_written` the number of floats written.
/// BUFFER_TOO_SMALL when `output_len` is too small (then `*out_written` is the size needed).
///
/// # Safety
/// The pointer contract; `input` holds n*c*h*w floats, `output` holds `output_len` floats.
#[no_mangle]
pub unsafe extern "C" fn rastrum_model_run_buffer(
    model: *const rastrum_model,
    input: *const f32,
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    output_index: usize,
    output: *mut f32,
    output_len: usize,
    out_written: *mut usize,
) -> i32 {
    boundary("rastrum_model_run_buffer", || {
        let m = unsafe { arg(model, "model") }?;
        if input.is_null() {
            return Err(invalid("input is NULL"));
        }
        let output = unsafe { slice_mut(output, output_len, "output") }?;
        let out_written = unsafe { out_ptr(out_written, "out_written") }?;
        let shape = batch_shape(&m.model, n, c, h, w)?;
        let data = unsafe { slice(input, shape.iter().product(), "input") }?;
        let out = m.model.run(data, shape, output_index)?;
        out_written.write(out.data.len());
        if out.data.len() > output_len {
            return Err(Failure::new(
                RASTRUM_BUFFER_TOO_SMALL,
                format!("output needs {} floats, the buffer holds {output_len}", out.data.len()),
            ));
        }
        output[..out.data.len()].copy_from_slice(&out.data);
        Ok(())
    })
}
