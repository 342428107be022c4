//! The stable C API (`include/rastrum.h`, generated from this module by cbindgen): the only
//! place with `#[no_mangle]` and raw pointers. Every exported function runs its body through
//! `boundary` (src/ffi/boundary.rs), which resets the thread's last error, turns errors into
//! status codes and catches panics (status PANIC), so that nothing unwinds into the host or
//! aborts it; its pointer arguments go through the helpers there, which state the pointer
//! contract once. Here: statuses and versions, the two shared callbacks (progress, and the
//! options builders' defaults and setters), and the calls that belong to no object.
//!
//! Status numbers are append-only: never renumber or reuse one.
#![allow(non_camel_case_types)]

mod boundary;
// Public so that clippy's missing_safety_doc holds every entry point to its `# Safety`.
pub mod card;
pub mod eval;
pub mod model;
pub mod options;
pub mod plan;
pub mod run;
pub mod stitcher;
pub mod tiles;

use std::borrow::Cow;
use std::ffi::{c_char, c_int, c_void, CStr, CString};

pub(crate) use boundary::invalid;
pub use boundary::{
    arg, arg_mut, boundary, c_path, c_paths, c_str, free_handle, free_string, give_handle, give_json, give_string,
    last_error_message, new_handle, opt_arg, opt_out, opt_slice, opt_str, out_ptr, release, slice, slice_mut, Failure,
    FfiResult, Out,
};

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
/// ABI version: bumped on any incompatible change; also the SONAME (librastrum.so.2).
/// 2: rows callbacks return 0 to stop, as progress callbacks do; counts are size_t; see
/// CHANGELOG.md.
pub const RASTRUM_ABI_VERSION: u32 = 2;

/// Progress callback, the shape of GDALProgressFunc (GDALTermProgress can be passed): called on
/// the calling thread with the fraction done (0..1) and a message; return 0 to cancel, non-zero
/// to go on. Every callback of the API that can stop a call answers the same way.
pub type rastrum_progress_fn =
    Option<unsafe extern "C" fn(complete: f64, message: *const c_char, user_data: *mut c_void) -> c_int>;

/// The host's progress callback as the engine's progress closure (false cancels). Without a
/// callback nothing cancels.
///
/// # Safety
/// `progress`, if given, may be called with `user_data` until the closure is dropped.
pub(crate) unsafe fn progress_adapter(
    progress: rastrum_progress_fn,
    user_data: *mut c_void,
) -> impl FnMut(f64, &str) -> bool {
    move |fraction, message| match progress {
        None => true,
        Some(f) => {
            let message = CString::new(message.replace('\0', " ")).unwrap_or_default();
            // SAFETY: the caller's callback, called as GDALProgressFunc is (this function's contract).
            unsafe { f(fraction, message.as_ptr(), user_data) != 0 }
        }
    }
}

/// The options builders of the API (rastrum_options, rastrum_eval_options,
/// rastrum_tiles_options): made with defaults, set one key at a time by the command line's
/// names, and read by calls, which take NULL for the defaults.
pub(crate) trait OptionsHandle {
    type Options: Default + Clone;
    fn wrap(options: Self::Options) -> Self;
    fn options(&self) -> &Self::Options;
    fn set(&mut self, key: &str, value: &str) -> crate::Result<()>;
}

/// The options a call was given, or the defaults when NULL.
///
/// # Safety
/// `options` is NULL or a live handle.
pub(crate) unsafe fn options_or_default<'a, H: OptionsHandle + 'a>(options: *const H) -> Cow<'a, H::Options> {
    // SAFETY: this function's contract.
    match unsafe { options.as_ref() } {
        Some(o) => Cow::Borrowed(o.options()),
        None => Cow::Owned(H::Options::default()),
    }
}

/// The body of every `rastrum_*options_new`: a handle holding the defaults.
///
/// # Safety
/// `out` is NULL or writable.
pub(crate) unsafe fn options_new<H: OptionsHandle>(name: &'static str, out: *mut *mut H) -> i32 {
    unsafe { new_handle(name, out, || Ok(H::wrap(H::Options::default()))) }
}

/// The body of every `rastrum_*options_set`: one option by name, both as C strings.
///
/// # Safety
/// `handle` is NULL or a live handle used by no other call meanwhile; `key` and `value` are
/// NULL or NUL-terminated.
pub(crate) unsafe fn options_set<H: OptionsHandle>(
    name: &'static str,
    handle: *mut H,
    key: *const c_char,
    value: *const c_char,
) -> i32 {
    boundary(name, || {
        let o = unsafe { arg_mut(handle, "options") }?;
        let key = unsafe { c_str(key, "key") }?;
        let value = unsafe { c_str(value, "value") }?;
        o.set(key, value)?;
        Ok(())
    })
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
    last_error_message()
}

/// Frees a string the library returned through an out-parameter. NULL is a no-op. Like every
/// _free function, it leaves the thread's last error message as it was.
///
/// # Safety
/// `s` is NULL or a string this library returned, not freed before and not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn rastrum_string_free(s: *mut c_char) {
    unsafe { free_string("rastrum_string_free", s) }
}

/// Loads ONNX Runtime from `path` (libonnxruntime.so) now, instead of finding it at the first
/// model: RASTRUM_ORT_LIB, then next to librastrum. Call before opening any model; once loaded,
/// ONNX Runtime stays for the life of the process.
///
/// # Safety
/// `ort_library_path` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn rastrum_init(ort_library_path: *const c_char) -> i32 {
    boundary("rastrum_init", || {
        let path = unsafe { c_path(ort_library_path, "ort_library_path") }?;
        crate::inference::init_runtime(Some(path))?;
        Ok(())
    })
}
