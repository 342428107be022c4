//! The boundary between the library and C callers: every exported function runs its body
//! through `boundary` (or `release`, for the `_free` family), and reads its pointer arguments
//! through the helpers here. Public as a Rust API (nothing here is `#[no_mangle]`) so that
//! GDAL's RASTRUM driver (gdal_plugin) keeps the same last-error message and panic guard.
//!
//! # The pointer contract
//!
//! This is stated once, here; each entry point's `# Safety` section adds only what is its own,
//! such as the length of a buffer. A caller passes:
//! - for a handle (`rastrum_model *`, ...): NULL or a live handle of that type, made by this
//!   library and not yet freed; `_free` takes it back, after which it is not used again;
//! - for a string: NULL or a NUL-terminated string, readable for the whole call;
//! - for an out-pointer: NULL or memory writable as its type;
//! - for a buffer with a length: NULL or that many elements, readable (input) or writable
//!   (output) for the whole call, not overlapping the other buffers of the call;
//! - for a callback: a function that does not unwind, with `user_data` valid for as long as the
//!   library may call it.
//!
//! NULL where a value is required returns RASTRUM_INVALID_ARGUMENT; the helpers below turn
//! each NULL into that status, so no entry point dereferences one.

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;

use super::{
    RASTRUM_CANCELLED, RASTRUM_INTERNAL, RASTRUM_INVALID_ARGUMENT, RASTRUM_IO, RASTRUM_MODEL, RASTRUM_OK,
    RASTRUM_PANIC, RASTRUM_PROVIDER, RASTRUM_RASTER, RASTRUM_RUNTIME,
};
use crate::error::Error;

/// A status and its message, on the way out of the boundary.
#[derive(Debug)]
pub struct Failure {
    status: i32,
    message: String,
}

impl Failure {
    /// A failure with this status (one of the `RASTRUM_*` codes) and message.
    pub fn new(status: i32, message: impl Into<String>) -> Self {
        Failure { status, message: message.into() }
    }

    /// RASTRUM_INVALID_ARGUMENT with this message.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(RASTRUM_INVALID_ARGUMENT, message)
    }

    pub fn status(&self) -> i32 {
        self.status
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same status with `prefix` before the message (e.g. "Rastrum: " for GDAL's log).
    pub fn prefixed(mut self, prefix: &str) -> Self {
        self.message.insert_str(0, prefix);
        self
    }
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

/// What an entry point's body returns.
pub type FfiResult<T = ()> = std::result::Result<T, Failure>;

pub(crate) fn invalid(msg: impl Into<String>) -> Failure {
    Failure::invalid(msg)
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(msg: &str) {
    let c = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

/// The message of the last failed call on this thread ("" after a successful one), owned by
/// the library and valid until the next boundary call on this thread.
pub fn last_error_message() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// Test hook: `RASTRUM_INJECT_PANIC=<function name>` makes that entry point panic inside the
/// boundary, to prove that a panic becomes PANIC and never reaches the host.
fn inject_panic(name: &str) -> bool {
    std::env::var_os("RASTRUM_INJECT_PANIC").is_some_and(|v| v == name)
}

/// Runs an entry point's body: resets the thread's last error, then maps an error to its
/// status and message, and a panic to RASTRUM_PANIC (nothing unwinds into the host).
pub fn boundary(name: &'static str, body: impl FnOnce() -> FfiResult) -> i32 {
    set_last_error("");
    guarded(name, || {
        // A portable librastrum binds to the GDAL of the host process: one too old is said first.
        crate::raster::gdal::check_version().map_err(|m| Failure::new(RASTRUM_RUNTIME, m))?;
        body()
    })
}

/// Runs a `_free` function's body under the same panic guard, keeping the last error: hosts
/// free temporaries before they read the message of a failed call.
pub fn release(name: &'static str, body: impl FnOnce()) {
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

// --- Arguments in

/// A required handle or input struct (NULL: INVALID_ARGUMENT naming `name`).
///
/// # Safety
/// `p` is NULL or valid for reads as `T` for `'a` (the module's pointer contract).
pub unsafe fn arg<'a, T>(p: *const T, name: &str) -> FfiResult<&'a T> {
    // SAFETY: the caller's contract.
    unsafe { p.as_ref() }.ok_or_else(|| invalid(format!("{name} is NULL")))
}

/// A required handle that the call changes.
///
/// # Safety
/// `p` is NULL or valid for reads and writes as `T` for `'a`, and not used elsewhere meanwhile.
pub unsafe fn arg_mut<'a, T>(p: *mut T, name: &str) -> FfiResult<&'a mut T> {
    // SAFETY: the caller's contract.
    unsafe { p.as_mut() }.ok_or_else(|| invalid(format!("{name} is NULL")))
}

/// An optional handle (NULL: None).
///
/// # Safety
/// As `arg`.
pub unsafe fn opt_arg<'a, T>(p: *const T) -> Option<&'a T> {
    // SAFETY: the caller's contract.
    unsafe { p.as_ref() }
}

/// A required NUL-terminated UTF-8 string.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string readable for `'a`.
pub unsafe fn c_str<'a>(p: *const c_char, name: &str) -> FfiResult<&'a str> {
    if p.is_null() {
        return Err(invalid(format!("{name} is NULL")));
    }
    // SAFETY: non-NULL, and NUL-terminated by the caller's contract.
    unsafe { CStr::from_ptr(p) }.to_str().map_err(|_| invalid(format!("{name} is not valid UTF-8")))
}

/// An optional string: NULL is None.
///
/// # Safety
/// As `c_str`.
pub unsafe fn opt_str<'a>(p: *const c_char, name: &str) -> FfiResult<Option<&'a str>> {
    if p.is_null() {
        Ok(None)
    } else {
        // SAFETY: as this function's.
        unsafe { c_str(p, name) }.map(Some)
    }
}

/// A required path (any bytes, as the OS allows).
///
/// # Safety
/// As `c_str`.
pub unsafe fn c_path<'a>(p: *const c_char, name: &str) -> FfiResult<&'a Path> {
    if p.is_null() {
        return Err(invalid(format!("{name} is NULL")));
    }
    // SAFETY: non-NULL, and NUL-terminated by the caller's contract.
    Ok(Path::new(OsStr::from_bytes(unsafe { CStr::from_ptr(p) }.to_bytes())))
}

/// An array of `n` paths; `name` names the array in errors.
///
/// # Safety
/// `array` is NULL or holds `n` pointers, each as in `c_path`.
pub unsafe fn c_paths(array: *const *const c_char, n: usize, name: &str) -> FfiResult<Vec<PathBuf>> {
    if array.is_null() {
        return Err(invalid(format!("{name} is NULL")));
    }
    (0..n)
        .map(|i| {
            // SAFETY: the caller passes an array of n pointers, each NULL or a string.
            let p = unsafe { *array.add(i) };
            unsafe { c_path(p, &format!("{name}[{i}]")) }.map(Path::to_path_buf)
        })
        .collect()
}

/// An optional input buffer of `len` elements (NULL: None).
///
/// # Safety
/// `p` is NULL or `len` elements readable for `'a`.
pub unsafe fn opt_slice<'a, T>(p: *const T, len: usize) -> Option<&'a [T]> {
    // SAFETY: the caller's contract.
    (!p.is_null()).then(|| unsafe { std::slice::from_raw_parts(p, len) })
}

/// A required input buffer of `len` elements.
///
/// # Safety
/// As `opt_slice`.
pub unsafe fn slice<'a, T>(p: *const T, len: usize, name: &str) -> FfiResult<&'a [T]> {
    // SAFETY: as this function's.
    unsafe { opt_slice(p, len) }.ok_or_else(|| invalid(format!("{name} is NULL")))
}

// --- Results out

/// A checked out-pointer: where a result goes. Writing through it is safe because making one
/// (`out_ptr`, `opt_out`) is where the caller promises it is writable.
pub struct Out<T>(NonNull<T>);

impl<T> Out<T> {
    /// Writes `value` (without dropping what was there: out-parameters hold no owned value).
    pub fn write(self, value: T) {
        // SAFETY: non-NULL and writable as T (the promise made to `out_ptr` / `opt_out`).
        unsafe { self.0.as_ptr().write(value) }
    }
}

/// A required out-pointer.
///
/// # Safety
/// `p` is NULL or writable as `T` for the rest of the call.
pub unsafe fn out_ptr<T>(p: *mut T, name: &str) -> FfiResult<Out<T>> {
    NonNull::new(p).map(Out).ok_or_else(|| invalid(format!("{name} is NULL")))
}

/// An optional out-pointer (NULL: the caller does not want that result).
///
/// # Safety
/// As `out_ptr`.
pub unsafe fn opt_out<T>(p: *mut T) -> Option<Out<T>> {
    NonNull::new(p).map(Out)
}

/// An output buffer of `len` elements.
///
/// # Safety
/// `p` is NULL or `len` elements writable for `'a`, overlapping no other buffer of the call.
pub unsafe fn slice_mut<'a, T>(p: *mut T, len: usize, name: &str) -> FfiResult<&'a mut [T]> {
    if p.is_null() {
        return Err(invalid(format!("{name} is NULL")));
    }
    // SAFETY: the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts_mut(p, len) })
}

/// Hands a new handle to the caller, who gives it back to its `_free` (`free_handle`).
pub fn give_handle<T>(out: Out<*mut T>, value: T) {
    out.write(Box::into_raw(Box::new(value)));
}

/// The body of every `rastrum_*_free`: drops a handle made by `give_handle`; NULL is a no-op.
///
/// # Safety
/// `handle` is NULL or came from `give_handle` with this `T`, and is not used afterwards.
pub unsafe fn free_handle<T>(name: &'static str, handle: *mut T) {
    if !handle.is_null() {
        // SAFETY: came from Box::into_raw in `give_handle`, and the caller gives it up here.
        release(name, || drop(unsafe { Box::from_raw(handle) }));
    }
}

/// The body of a constructor: checks `out`, makes the value and hands it over as a handle;
/// `*out` is written only on success.
///
/// # Safety
/// As `out_ptr`.
pub unsafe fn new_handle<T>(name: &'static str, out: *mut *mut T, make: impl FnOnce() -> FfiResult<T>) -> i32 {
    boundary(name, || {
        // SAFETY: the caller's contract.
        let out = unsafe { out_ptr(out, "out") }?;
        give_handle(out, make()?);
        Ok(())
    })
}

/// Hands a string to the caller, who frees it with `rastrum_string_free` (`free_string`).
pub fn give_string(out: Out<*mut c_char>, s: &str) {
    let c = CString::new(s.replace('\0', " ")).unwrap_or_default();
    out.write(c.into_raw());
}

/// Hands `value` as JSON text to the caller (as `give_string`).
pub fn give_json<T: serde::Serialize + ?Sized>(out: Out<*mut c_char>, value: &T) -> FfiResult {
    let json = serde_json::to_string(value).map_err(|e| Failure::from(Error::Internal(e.to_string())))?;
    give_string(out, &json);
    Ok(())
}

/// Frees a string made by `give_string`; NULL is a no-op. Keeps the last error.
///
/// # Safety
/// `s` is NULL or came from `give_string`, and is not used afterwards.
pub unsafe fn free_string(name: &'static str, s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: every string handed out came from CString::into_raw.
        release(name, || drop(unsafe { CString::from_raw(s) }));
    }
}
