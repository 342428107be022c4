//! gdal_rastrum.so: GDAL's `RASTRUM` driver. A `RASTRUM:spec.json` dataset (or a
//! `*.rastrum.json` file, or `RASTRUM:{...}` inline) is a model run over a source raster,
//! computed on demand for exactly the blocks GDAL reads, with the bytes `rastrum run` writes.
//!
//! GDAL's C API cannot make a driver with an Open callback, so `driver.cpp` holds the
//! `GDALDataset` / `GDALRasterBand` classes; each block read comes here through the plain C
//! functions below (`rastrum_gdal_*`), whose errors GDAL reports with CPLError ("Rastrum: "
//! and the message). They run under the library's own boundary (`rastrum::ffi`): the same
//! status codes, per-thread last error message and panic guard as the C API, so nothing
//! panics across.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use rastrum::ffi::{self, Failure, FfiResult};
use rastrum::grammar;
use rastrum::inference::{Device, Model, SessionOptions};
use rastrum::lazy::{BandValues, LazyRun};
use rastrum::options::{Arity, OPTIONS};
use rastrum::RunOptions;

/// A dataset's run spec: the model, the source raster and `rastrum run` options by name.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    model: PathBuf,
    source: PathBuf,
    #[serde(default)]
    device: Option<String>,
    #[serde(default)]
    threads: Option<usize>,
    #[serde(default)]
    options: serde_json::Map<String, serde_json::Value>,
}

/// Text of an option value as `RunOptions::set` takes it (lists comma-separated).
fn option_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) => items.iter().map(option_text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// The texts `RunOptions::set` takes for one option of a spec: one per element of a list for
/// the repeatable options (`set`, `co`), whose values hold commas themselves (a card override's
/// JSON), so that a spec can give several; one text otherwise.
fn option_texts(key: &str, v: &serde_json::Value) -> Vec<String> {
    let repeated = OPTIONS.iter().any(|o| o.key == grammar::key(key) && o.arity == Arity::Repeated);
    match v {
        serde_json::Value::Array(items) if repeated => items.iter().map(option_text).collect(),
        _ => vec![option_text(v)],
    }
}

/// The spec behind a connection string: `RASTRUM:path`, `RASTRUM:{json}` or a file path.
/// Relative paths in a spec file are relative to its folder.
fn read_spec(connection: &str) -> FfiResult<(Spec, PathBuf)> {
    let rest =
        connection.strip_prefix("RASTRUM:").or_else(|| connection.strip_prefix("rastrum:")).unwrap_or(connection);
    let (text, base) = if rest.trim_start().starts_with('{') {
        (rest.to_string(), std::env::current_dir().unwrap_or_default())
    } else {
        let path = Path::new(rest);
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::new(ffi::RASTRUM_IO, format!("cannot read the run spec {rest}: {e}")))?;
        (text, path.parent().map(Path::to_path_buf).unwrap_or_default())
    };
    let spec: Spec = serde_json::from_str(&text).map_err(|e| {
        Failure::invalid(format!(
            "the run spec {} is not valid: {e} (expected {{\"model\": ..., \"source\": ..., \"options\": {{...}}}})",
            if rest.trim_start().starts_with('{') { "given inline" } else { rest }
        ))
    })?;
    Ok((spec, base))
}

fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() || p.as_os_str().to_string_lossy().starts_with("/vsi") {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

type ModelKey = (PathBuf, String, Option<usize>);

/// Models are shared by every dataset of the process that uses the same file and device
/// (QGIS opens a dataset per rendering thread; ONNX Runtime sessions are thread-safe).
fn model(path: &Path, device: &str, threads: Option<usize>) -> FfiResult<Arc<Model>> {
    static MODELS: OnceLock<Mutex<HashMap<ModelKey, Weak<Model>>>> = OnceLock::new();
    let key = (path.to_path_buf(), device.to_string(), threads);
    let mut models = MODELS
        .get_or_init(Default::default)
        .lock()
        .map_err(|_| Failure::new(ffi::RASTRUM_INTERNAL, "model cache poisoned"))?;
    if let Some(m) = models.get(&key).and_then(Weak::upgrade) {
        return Ok(m);
    }
    let device: Device = device.parse()?;
    let opts = SessionOptions { device, threads, ..Default::default() };
    let m = Arc::new(Model::load(path, &opts)?);
    models.insert(key, Arc::downgrade(&m));
    Ok(m)
}

/// Tile cache per dataset: RASTRUM_TILE_CACHE_MB (default 256).
fn cache_bytes() -> usize {
    std::env::var("RASTRUM_TILE_CACHE_MB").ok().and_then(|v| v.parse::<usize>().ok()).unwrap_or(256) << 20
}

/// Opens the run of `connection`; writes the handle and a JSON description of the output
/// (size, georeferencing, block size, bands) to free with rastrum_gdal_string_free. Returns 0,
/// or a RASTRUM_* status with the message in rastrum_gdal_last_error.
///
/// # Safety
/// `connection` is NULL or a NUL-terminated string; `out` and `out_info` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn rastrum_gdal_open(
    connection: *const c_char,
    out: *mut *mut c_void,
    out_info: *mut *mut c_char,
) -> c_int {
    ffi::boundary("rastrum_gdal_open", || {
        let connection = unsafe { ffi::c_str(connection, "connection") }?;
        let (out, out_info) =
            unsafe { (ffi::out_ptr(out.cast::<*mut LazyRun>(), "out")?, ffi::out_ptr(out_info, "out_info")?) };
        let (spec, base) = read_spec(connection)?;
        let mut opts = RunOptions::default();
        for (k, v) in &spec.options {
            for text in option_texts(k, v) {
                opts.set(k, &text).map_err(|e| Failure::from(e).prefixed("run spec: "))?;
            }
        }
        let model = model(&resolve(&base, &spec.model), spec.device.as_deref().unwrap_or("cpu"), spec.threads)?;
        let source = resolve(&base, &spec.source);
        let run = LazyRun::open(model, &source, &opts, cache_bytes())?;
        ffi::give_json(out_info, &run.info())?;
        ffi::give_handle(out, run);
        Ok(())
    })
}

/// Reads band `band` (1-based) over the output rectangle into `buffer` (`width * height`
/// values of the band's type, row-major). May be called from several threads at once.
/// Returns 0, or a RASTRUM_* status with the message in rastrum_gdal_last_error.
///
/// # Safety
/// `handle` is NULL or came from rastrum_gdal_open; `buffer` is NULL or holds
/// `width * height` values of the band's type.
#[no_mangle]
pub unsafe extern "C" fn rastrum_gdal_read(
    handle: *const c_void,
    band: c_int,
    x: c_int,
    y: c_int,
    width: c_int,
    height: c_int,
    buffer: *mut c_void,
) -> c_int {
    ffi::boundary("rastrum_gdal_read", || {
        let run = unsafe { ffi::arg(handle.cast::<LazyRun>(), "dataset") }?;
        if buffer.is_null() || band < 1 || x < 0 || y < 0 || width < 1 || height < 1 {
            return Err(Failure::invalid(format!("bad block request (band {band}, {x},{y} {width}x{height})")));
        }
        let rect = [x as usize, y as usize, width as usize, height as usize];
        let bands = run.read(rect)?;
        let n = rect[2] * rect[3];
        match bands.get(band as usize - 1) {
            Some(BandValues::U8(v)) if v.len() == n => {
                unsafe { ffi::slice_mut(buffer.cast::<u8>(), n, "buffer") }?.copy_from_slice(v)
            }
            Some(BandValues::F32(v)) if v.len() == n => {
                unsafe { ffi::slice_mut(buffer.cast::<f32>(), n, "buffer") }?.copy_from_slice(v)
            }
            Some(_) => return Err(Failure::new(ffi::RASTRUM_INTERNAL, "block of unexpected size")),
            None => return Err(Failure::invalid(format!("no band {band}"))),
        }
        Ok(())
    })
}

/// Frees a handle. NULL is a no-op.
///
/// # Safety
/// `handle` is NULL or came from rastrum_gdal_open, and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn rastrum_gdal_close(handle: *mut c_void) {
    unsafe { ffi::free_handle("rastrum_gdal_close", handle.cast::<LazyRun>()) }
}

/// Frees a string from rastrum_gdal_open.
///
/// # Safety
/// `s` came from this library, or is NULL.
#[no_mangle]
pub unsafe extern "C" fn rastrum_gdal_string_free(s: *mut c_char) {
    unsafe { ffi::free_string("rastrum_gdal_string_free", s) }
}

/// The calling thread's last error message (owned by the library; "" after a call that
/// succeeded).
#[no_mangle]
pub extern "C" fn rastrum_gdal_last_error() -> *const c_char {
    ffi::last_error_message()
}

extern "C" {
    fn rastrum_gdal_register();
}

/// GDAL's plugin entry point: registers the RASTRUM driver (once).
#[no_mangle]
pub extern "C" fn GDALRegisterMe() {
    // SAFETY: the C++ registration checks for an existing driver itself.
    ffi::release("GDALRegisterMe", || unsafe { rastrum_gdal_register() });
}

/// The entry point GDAL looks up first for `gdal_rastrum.so` (then GDALRegisterMe): without
/// it, GDAL reports the missing symbol as an error, which hosts in exception mode (Python's
/// osgeo with UseExceptions) raise.
#[no_mangle]
pub extern "C" fn GDALRegister_rastrum() {
    GDALRegisterMe();
}
