//! C API: model handles (one ONNX Runtime session each, reusable across runs and threads), the
//! resolved card as JSON, and inference on caller buffers with its size query.

use std::collections::HashMap;
use std::ffi::c_char;
use std::sync::Mutex;

use super::run::rastrum_options;
use super::*;
use crate::inference::{Device, Model, SessionOptions};

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
#[no_mangle]
pub unsafe extern "C" fn rastrum_model_open(
    path: *const c_char,
    device: *const c_char,
    threads: i32,
    allow_fallback: i32,
    out: *mut *mut rastrum_model,
) -> i32 {
    boundary("rastrum_model_open", || {
        let path = unsafe { c_path(path, "path") }?;
        let out = out_ptr(out, "out")?;
        let device = if device.is_null() { Device::Cpu } else { unsafe { c_str(device, "device") }?.parse()? };
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
        let handle = Box::new(rastrum_model { model, shapes: Mutex::new(HashMap::new()) });
        // SAFETY: checked non-NULL above.
        unsafe { *out = Box::into_raw(handle) };
        Ok(())
    })
}

/// Frees a model. NULL is a no-op. No call may be using the handle.
#[no_mangle]
pub unsafe extern "C" fn rastrum_model_free(model: *mut rastrum_model) {
    if !model.is_null() {
        // SAFETY: the handle came from Box::into_raw in rastrum_model_open.
        release("rastrum_model_free", || drop(unsafe { Box::from_raw(model) }));
    }
}

/// The execution provider bound ("cpu", "cuda", or "cpu (fallback: ...)"), as a string to free
/// with rastrum_string_free.
#[no_mangle]
pub unsafe extern "C" fn rastrum_model_provider(model: *const rastrum_model, out: *mut *mut c_char) -> i32 {
    boundary("rastrum_model_provider", || {
        let m = unsafe { arg(model, "model") }?;
        let out = out_ptr(out, "out")?;
        give_string(&m.model.provider, out);
        Ok(())
    })
}

/// The model card resolved against `options` (may be NULL) and the model's real shapes, with
/// the model's inputs, outputs, raw metadata and provider, as JSON (free with
/// rastrum_string_free). Runs the model once on zeros to learn its output shape.
#[no_mangle]
pub unsafe extern "C" fn rastrum_model_card_json(
    model: *const rastrum_model,
    options: *const rastrum_options,
    out_json: *mut *mut c_char,
) -> i32 {
    boundary("rastrum_model_card_json", || {
        let m = unsafe { arg(model, "model") }?;
        let out = out_ptr(out_json, "out_json")?;
        let opts = unsafe { super::run::options_or_default(options) };
        let resolved = crate::resolve::resolve(&m.model, opts, None)?;
        let json = serde_json::json!({
            "model": m.model.path,
            "provider": m.model.provider,
            "inputs": [m.model.input.clone()],
            "outputs": m.model.outputs,
            "metadata": m.model.metadata,
            "resolved": resolved,
        });
        give_string(&json.to_string(), out);
        Ok(())
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
        let zeros = vec![0f32; shape.iter().product()];
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
/// shapes of real models cannot be trusted); later ones are answered from a cache. Writes up to `shape_capacity` dims to `out_shape`, the rank to
/// `*out_rank` and the number of floats to `*out_len`. BUFFER_TOO_SMALL when the rank exceeds
/// `shape_capacity` (`*out_rank` and `*out_len` are still written).
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
        let out_shape = out_ptr(out_shape, "out_shape")?;
        let out_rank = out_ptr(out_rank, "out_rank")?;
        let out_len = out_ptr(out_len, "out_len")?;
        let shape = m.output_shape(batch_shape(&m.model, n, c, h, w)?, output_index)?;
        // SAFETY: the pointers were checked; out_shape holds shape_capacity values.
        unsafe {
            *out_rank = shape.len();
            *out_len = shape.iter().product();
            for (i, d) in shape.iter().enumerate().take(shape_capacity) {
                *out_shape.add(i) = *d as i64;
            }
        }
        if shape.len() > shape_capacity {
            return Err(Failure {
                status: RASTRUM_BUFFER_TOO_SMALL,
                message: format!("the output has rank {}, out_shape holds {shape_capacity}", shape.len()),
            });
        }
        Ok(())
    })
}

/// Runs the model on a caller's batch: `input` holds n*c*h*w floats (NCHW, already scaled and
/// standardised as the model expects), `output` receives output `output_index` (row-major, its
/// shape from rastrum_model_output_shape) and `*out_written` the number of floats written.
/// BUFFER_TOO_SMALL when `output_len` is too small (then `*out_written` is the size needed).
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
        let output = out_ptr(output, "output")?;
        let out_written = out_ptr(out_written, "out_written")?;
        let shape = batch_shape(&m.model, n, c, h, w)?;
        // SAFETY: the caller promises n*c*h*w readable floats at `input`.
        let data = unsafe { std::slice::from_raw_parts(input, shape.iter().product()) };
        let out = m.model.run(data, shape, output_index)?;
        // SAFETY: out_written checked above.
        unsafe { *out_written = out.data.len() };
        if out.data.len() > output_len {
            return Err(Failure {
                status: RASTRUM_BUFFER_TOO_SMALL,
                message: format!("output needs {} floats, the buffer holds {output_len}", out.data.len()),
            });
        }
        // SAFETY: the caller promises output_len writable floats; we write fewer or as many.
        unsafe { std::ptr::copy_nonoverlapping(out.data.as_ptr(), output, out.data.len()) };
        Ok(())
    })
}
