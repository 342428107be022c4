//! The stable C API (`include/rastrum.h`, generated from this module by cbindgen): the only
//! place with `#[no_mangle]` and raw pointers. Every exported function runs its body through
//! `boundary`, which resets the thread's last error, turns errors into status codes and catches
//! panics (status PANIC), so that nothing unwinds into the host or aborts it.
//!
//! Status numbers are append-only: never renumber or reuse one.
#![allow(non_camel_case_types, clippy::missing_safety_doc)]

mod eval;
mod model;
mod plan;
mod run;
mod stitcher;
mod tiles;

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use crate::error::Error;

/// Success.
pub const RASTRUM_OK: i32 = 0;
/// A NULL or invalid argument, an unknown option, an impossible setting.
pub const RASTRUM_INVALID_ARGUMENT: i32 = 1;
/// A file could not be found, read or written.
pub const RASTRUM_IO: i32 = 2;
/// The raster is unusable (bands, types, size).
pub const RASTRUM_RASTER: i32 = 3;
/// The model file, graph or card is unusable.
pub const RASTRUM_MODEL: i32 = 4;
/// ONNX Runtime could not be loaded or failed while running.
pub const RASTRUM_RUNTIME: i32 = 5;
/// The requested execution provider (CUDA, TensorRT) is not available.
pub const RASTRUM_PROVIDER: i32 = 6;
/// The run was cancelled (progress callback returned 0, or a cancel token was triggered).
pub const RASTRUM_CANCELLED: i32 = 7;
/// A bug inside the library was caught at the API boundary; the host may go on.
pub const RASTRUM_PANIC: i32 = 8;
/// An internal error (a bug: please report it).
pub const RASTRUM_INTERNAL: i32 = 9;
/// A caller buffer is smaller than needed (see the size queries).
pub const RASTRUM_BUFFER_TOO_SMALL: i32 = 10;

/// Library version (kept equal to Cargo.toml's by a test).
pub const RASTRUM_VERSION_MAJOR: u32 = 0;
pub const RASTRUM_VERSION_MINOR: u32 = 1;
pub const RASTRUM_VERSION_PATCH: u32 = 0;
/// ABI version: bumped on any incompatible change; also the SONAME (librastrum.so.1).
pub const RASTRUM_ABI_VERSION: u32 = 1;

/// A status and its message, on the way out of the boundary.
pub(crate) struct Failure {
    status: i32,
    message: String,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let status = match &e {
            Error::InvalidArgument(_) => RASTRUM_INVALID_ARGUMENT,
            Error::Io { .. } => RASTRUM_IO,
            Error::Raster { .. } => RASTRUM_RASTER,
            Error::Model { .. } => RASTRUM_MODEL,
            Error::Runtime(_) => RASTRUM_RUNTIME,
            Error::Provider(_) => RASTRUM_PROVIDER,
            Error::Cancelled => RASTRUM_CANCELLED,
            Error::Internal(_) => RASTRUM_INTERNAL,
        };
        Failure { status, message: e.to_string() }
    }
}

pub(crate) type FfiResult<T = ()> = std::result::Result<T, Failure>;

pub(crate) fn invalid(msg: impl Into<String>) -> Failure {
    Failure { status: RASTRUM_INVALID_ARGUMENT, message: msg.into() }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(msg: &str) {
    let c = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

/// Test hook: `RASTRUM_INJECT_PANIC=<function name>` makes that entry point panic inside the
/// boundary, to prove that a panic becomes PANIC and never reaches the host.
fn inject_panic(name: &str) -> bool {
    std::env::var_os("RASTRUM_INJECT_PANIC").is_some_and(|v| v == name)
}

/// Runs an entry point's body: resets the last error, maps errors and panics to statuses.
pub(crate) fn boundary(name: &'static str, body: impl FnOnce() -> FfiResult) -> i32 {
    set_last_error("");
    guarded(name, body)
}

/// Runs a `_free` function's body under the same panic guard, keeping the last error: hosts
/// free temporaries before they read the message of a failed call.
pub(crate) fn release(name: &'static str, body: impl FnOnce()) {
    let _ = guarded(name, || {
        body();
        Ok(())
    });
}

fn guarded(name: &'static str, body: impl FnOnce() -> FfiResult) -> i32 {
    let result = catch_unwind(AssertUnwindSafe(|| {
        if inject_panic(name) {
            panic!("panic injected into {name} by RASTRUM_INJECT_PANIC");
        }
        body()
    }));
    match result {
        Ok(Ok(())) => RASTRUM_OK,
        Ok(Err(f)) => {
            set_last_error(&f.message);
            f.status
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            set_last_error(&format!("internal panic in {name}: {what}"));
            RASTRUM_PANIC
        }
    }
}

/// A required input pointer.
pub(crate) unsafe fn arg<'a, T>(p: *const T, name: &str) -> FfiResult<&'a T> {
    unsafe { p.as_ref() }.ok_or_else(|| invalid(format!("{name} is NULL")))
}

/// A required mutable pointer (handles that a call changes).
/// The body of every `rastrum_*_new` constructor: boxes `value()` and writes the handle to
/// `*out` (only on success).
pub(crate) fn new_handle<T>(name: &'static str, out: *mut *mut T, value: impl FnOnce() -> T) -> i32 {
    boundary(name, || {
        let out = out_ptr(out, "out")?;
        // SAFETY: checked non-NULL; the caller owns the handle until its `_free`.
        unsafe { *out = Box::into_raw(Box::new(value())) };
        Ok(())
    })
}

/// The body of every `rastrum_*_free`: drops a handle made by `new_handle`; NULL is a no-op.
pub(crate) unsafe fn free_handle<T>(name: &'static str, handle: *mut T) {
    if !handle.is_null() {
        // SAFETY: came from Box::into_raw in `new_handle`, and the caller gives it up here.
        release(name, || drop(unsafe { Box::from_raw(handle) }));
    }
}

/// The body of every `rastrum_*options_set`: one option by name, both as C strings.
pub(crate) unsafe fn set_option<T>(
    name: &'static str,
    handle: *mut T,
    key: *const c_char,
    value: *const c_char,
    set: impl FnOnce(&mut T, &str, &str) -> crate::Result<()>,
) -> i32 {
    boundary(name, || {
        let o = unsafe { arg_mut(handle, "options") }?;
        let key = unsafe { c_str(key, "key") }?;
        let value = unsafe { c_str(value, "value") }?;
        set(o, key, value)?;
        Ok(())
    })
}

pub(crate) unsafe fn arg_mut<'a, T>(p: *mut T, name: &str) -> FfiResult<&'a mut T> {
    unsafe { p.as_mut() }.ok_or_else(|| invalid(format!("{name} is NULL")))
}

/// A required out-pointer.
pub(crate) fn out_ptr<T>(p: *mut T, name: &str) -> FfiResult<*mut T> {
    if p.is_null() {
        Err(invalid(format!("{name} is NULL")))
    } else {
        Ok(p)
    }
}

/// A required NUL-terminated UTF-8 string.
pub(crate) unsafe fn c_str<'a>(p: *const c_char, name: &str) -> FfiResult<&'a str> {
    if p.is_null() {
        return Err(invalid(format!("{name} is NULL")));
    }
    unsafe { CStr::from_ptr(p) }.to_str().map_err(|_| invalid(format!("{name} is not valid UTF-8")))
}

/// A required path (any bytes, as the OS allows).
pub(crate) unsafe fn c_path<'a>(p: *const c_char, name: &str) -> FfiResult<&'a Path> {
    if p.is_null() {
        return Err(invalid(format!("{name} is NULL")));
    }
    Ok(Path::new(OsStr::from_bytes(unsafe { CStr::from_ptr(p) }.to_bytes())))
}

/// An array of `n` paths; `name` names the array in errors.
pub(crate) unsafe fn c_paths(array: *const *const c_char, n: usize, name: &str) -> FfiResult<Vec<PathBuf>> {
    if array.is_null() {
        return Err(invalid(format!("{name} is NULL")));
    }
    (0..n)
        .map(|i| {
            // SAFETY: the caller passes an array of n pointers.
            let p = unsafe { *array.add(i) };
            unsafe { c_path(p, &format!("{name}[{i}]")) }.map(Path::to_path_buf)
        })
        .collect()
}

/// Hands a string to the caller, who frees it with `rastrum_string_free`.
pub(crate) fn give_string(s: &str, out: *mut *mut c_char) {
    let c = CString::new(s.replace('\0', " ")).unwrap_or_default();
    // SAFETY: `out` was checked non-NULL by the caller of this helper.
    unsafe { *out = c.into_raw() };
}

static VERSION: &CStr = match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
    Ok(s) => s,
    Err(_) => c"unknown",
};

/// The library version, e.g. "0.1.0". Static: never free it.
#[no_mangle]
pub extern "C" fn rastrum_version_string() -> *const c_char {
    VERSION.as_ptr()
}

/// The ABI version the library was built with (compare with RASTRUM_ABI_VERSION).
#[no_mangle]
pub extern "C" fn rastrum_abi_version() -> u32 {
    RASTRUM_ABI_VERSION
}

/// A static description of a status code ("unknown status" for numbers not defined).
#[no_mangle]
pub extern "C" fn rastrum_status_str(status: i32) -> *const c_char {
    let s: &'static CStr = match status {
        RASTRUM_OK => c"ok",
        RASTRUM_INVALID_ARGUMENT => c"invalid argument",
        RASTRUM_IO => c"input/output error",
        RASTRUM_RASTER => c"unusable raster",
        RASTRUM_MODEL => c"unusable model",
        RASTRUM_RUNTIME => c"ONNX Runtime error",
        RASTRUM_PROVIDER => c"execution provider not available",
        RASTRUM_CANCELLED => c"cancelled",
        RASTRUM_PANIC => c"internal panic caught",
        RASTRUM_INTERNAL => c"internal error",
        RASTRUM_BUFFER_TOO_SMALL => c"buffer too small",
        _ => c"unknown status",
    };
    s.as_ptr()
}

/// The message of the last failed call on this thread ("" after a successful call). Owned by
/// the library, valid until the next rastrum_ call on this thread.
#[no_mangle]
pub extern "C" fn rastrum_last_error_message() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// Frees a string the library returned through an out-parameter. NULL is a no-op. Like every
/// _free function, it leaves the thread's last error message as it was.
#[no_mangle]
pub unsafe extern "C" fn rastrum_string_free(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: every string handed out came from CString::into_raw.
        release("rastrum_string_free", || drop(unsafe { CString::from_raw(s) }));
    }
}

/// Loads ONNX Runtime from `path` (libonnxruntime.so) now, instead of finding it at the first
/// model: RASTRUM_ORT_LIB, then next to librastrum. Call before opening any model; once loaded,
/// ONNX Runtime stays for the life of the process.
#[no_mangle]
pub unsafe extern "C" fn rastrum_init(ort_library_path: *const c_char) -> i32 {
    boundary("rastrum_init", || {
        let path = unsafe { c_path(ort_library_path, "ort_library_path") }?;
        crate::inference::init_runtime(Some(path))?;
        Ok(())
    })
}
