//! The one place with raw GDAL calls outside `ffi/`: what the gdal crate does not wrap (GDAL's
//! thread-local error state, writing a `/vsi` file, category names, GDAL's XML tree, gdalwarp
//! and gdal_translate driven by their argv), behind small safe functions. Each `unsafe` block
//! says why it is sound; nothing else in `src/` outside `ffi/` calls `gdal_sys`.

use std::ffi::{CStr, CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use gdal::raster::RasterBand;
use gdal::Dataset;

/// The files a dataset reads (GDAL's own list): the raster, its sidecars and, for a VRT, the
/// files of its sources.
pub fn file_list(ds: &Dataset) -> Vec<PathBuf> {
    let mut files = Vec::new();
    // SAFETY: a live dataset handle; GDAL returns a new NULL-terminated list of C strings that
    // the caller owns: read before it is freed, once, with CSLDestroy.
    unsafe {
        let list = gdal_sys::GDALGetFileList(ds.c_dataset());
        if list.is_null() {
            return files;
        }
        let mut i = 0;
        while !(*list.add(i)).is_null() {
            files.push(PathBuf::from(OsStr::from_bytes(CStr::from_ptr(*list.add(i)).to_bytes())));
            i += 1;
        }
        gdal_sys::CSLDestroy(list);
    }
    files
}

fn c_path(p: &Path) -> Result<CString, String> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| "the path contains a NUL byte".to_string())
}

// ---- GDAL's error state (per thread) ----

/// GDAL's last error message on this thread ("" when none).
/// The oldest GDAL whose C API Rastrum uses: the one it is built against (gdal-sys's bindings).
/// A portable build (the plugin zip's, the wheel's librastrum) names no GDAL library and binds to
/// the GDAL already in the process, which must be this one or later (GDAL's C API only grows
/// within 3.x).
pub const MIN_GDAL: (u32, u32) = (3, 6);

/// Whether GDAL's `VERSION_NUM` (major x 1000000 + minor x 10000 + revision x 100) is older
/// than `MIN_GDAL`.
fn older_than_min(version_num: u32) -> bool {
    (version_num / 1_000_000, version_num / 10_000 % 100) < MIN_GDAL
}

/// The GDAL the process runs, checked once against `MIN_GDAL`: an older one is an error naming
/// both versions.
pub fn check_version() -> Result<(), String> {
    static CHECKED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    CHECKED
        .get_or_init(|| {
            let num: u32 = gdal::version::version_info("VERSION_NUM").trim().parse().unwrap_or(0);
            if older_than_min(num) {
                return Err(format!(
                    "GDAL {} is the one loaded in this process, but Rastrum needs GDAL {}.{} or later",
                    gdal::version::version_info("RELEASE_NAME"),
                    MIN_GDAL.0,
                    MIN_GDAL.1
                ));
            }
            Ok(())
        })
        .clone()
}

pub fn last_error_message() -> String {
    // SAFETY: GDAL returns a NUL-terminated thread-local string (never NULL), copied at once.
    unsafe { CStr::from_ptr(gdal_sys::CPLGetLastErrorMsg()) }.to_string_lossy().into_owned()
}

/// GDAL's count of errors reported on this thread so far: a change means a new error.
pub fn error_counter() -> u32 {
    // SAFETY: a plain read of a thread-local counter; no argument.
    unsafe { gdal_sys::CPLGetErrorCounter() }
}

/// The class of GDAL's last error on this thread (`CE_None` .. `CE_Fatal`).
pub fn last_error_type() -> gdal_sys::CPLErr::Type {
    // SAFETY: a plain read of a thread-local value; no argument.
    unsafe { gdal_sys::CPLGetLastErrorType() }
}

// ---- GDAL's virtual file systems (/vsis3/, /vsimem/, ...) ----

/// Deletes a file through GDAL's virtual file systems; a missing file is no error.
pub fn vsi_unlink(p: &Path) {
    if let Ok(c) = c_path(p) {
        // SAFETY: a NUL-terminated path that outlives the call; the result (no such file) is
        // deliberately ignored.
        unsafe { gdal_sys::VSIUnlink(c.as_ptr()) };
    }
}

/// A file of GDAL's virtual file systems open for writing (the gdal crate has no writer): an
/// object store receives it whole when it is closed. Dropped unclosed, it is closed anyway.
pub struct VsiWriter {
    /// Never NULL while the writer lives: set by `create`, taken by `close`.
    fp: *mut gdal_sys::VSILFILE,
}

impl VsiWriter {
    /// Opens `path` for writing (replacing it); the error is GDAL's message.
    pub fn create(path: &Path) -> Result<VsiWriter, String> {
        let c = c_path(path)?;
        // SAFETY: NUL-terminated path and mode that outlive the call; the handle returned is
        // owned by the writer and closed exactly once (`close` or drop).
        let fp = unsafe { gdal_sys::VSIFOpenL(c.as_ptr(), c"wb".as_ptr()) };
        if fp.is_null() {
            return Err(last_error_message());
        }
        Ok(VsiWriter { fp })
    }

    /// Writes all of `buf`; the error is GDAL's message.
    pub fn write_all(&mut self, buf: &[u8]) -> Result<(), String> {
        // SAFETY: `buf` holds `buf.len()` readable bytes for the call; `fp` is open (non-NULL
        // for as long as the writer exists).
        let written = unsafe { gdal_sys::VSIFWriteL(buf.as_ptr().cast(), 1, buf.len(), self.fp) };
        if written != buf.len() {
            return Err(last_error_message());
        }
        Ok(())
    }

    /// Closes the file, which completes (or fails) an upload; the error is GDAL's message.
    pub fn close(mut self) -> Result<(), String> {
        let fp = std::mem::replace(&mut self.fp, std::ptr::null_mut());
        // SAFETY: `fp` came from VSIFOpenL and is closed once: the writer no longer holds it.
        if unsafe { gdal_sys::VSIFCloseL(fp) } != 0 {
            return Err(last_error_message());
        }
        Ok(())
    }
}

impl Drop for VsiWriter {
    fn drop(&mut self) {
        if !self.fp.is_null() {
            // SAFETY: an open handle from VSIFOpenL, closed once (close() leaves NULL behind).
            unsafe { gdal_sys::VSIFCloseL(self.fp) };
        }
    }
}

// ---- Category (class) names of a band ----

/// GDAL category names of a band (empty when it has none).
pub fn category_names(band: &RasterBand) -> Vec<String> {
    // SAFETY: the band handle is live for the borrow; GDAL owns the NULL-terminated list, which
    // is copied out before any other call on the band.
    unsafe {
        let list = gdal_sys::GDALGetRasterCategoryNames(band.c_rasterband());
        let mut out = Vec::new();
        if list.is_null() {
            return out;
        }
        let mut i = 0;
        while !(*list.add(i)).is_null() {
            out.push(CStr::from_ptr(*list.add(i)).to_string_lossy().into_owned());
            i += 1;
        }
        out
    }
}

/// Sets the category names of a band (a NUL inside a name becomes a space). Err: GDAL refused.
pub fn set_category_names(band: &mut RasterBand, names: &[String]) -> Result<(), String> {
    let c_names: Vec<CString> = names.iter().map(|n| CString::new(n.replace('\0', " ")).unwrap_or_default()).collect();
    let mut ptrs: Vec<*mut std::ffi::c_char> = c_names.iter().map(|c| c.as_ptr() as *mut _).collect();
    ptrs.push(std::ptr::null_mut());
    // SAFETY: the band handle is live for the borrow; the list is NULL-terminated, its strings
    // outlive the call, and GDAL copies them (it writes through none of the pointers).
    let err = unsafe { gdal_sys::GDALSetRasterCategoryNames(band.c_rasterband(), ptrs.as_mut_ptr()) };
    if err != gdal_sys::CPLErr::CE_None {
        return Err(last_error_message());
    }
    Ok(())
}

// ---- VRT files through GDAL's own XML parser (the gdal crate has none) ----

/// Rewrites the `SourceFilename` elements of the VRT file `vrt` in place: where the element has
/// a `relativeToVRT` attribute and `relative(path)` gives a path, that path replaces the text
/// and the attribute becomes 1.
pub fn relativize_vrt_sources(vrt: &Path, mut relative: impl FnMut(&Path) -> Option<PathBuf>) -> Result<(), String> {
    let c_vrt = c_path(vrt)?;
    // SAFETY: a NUL-terminated path; the tree is owned here and destroyed below on every path.
    let root = unsafe { gdal_sys::CPLParseXMLFile(c_vrt.as_ptr()) };
    if root.is_null() {
        return Err("cannot read back the VRT".into());
    }
    // SAFETY: `root` is the live tree parsed above, walked and edited only here, then written
    // and destroyed once.
    let written = unsafe {
        walk_sources(root, &mut relative);
        let ok = gdal_sys::CPLSerializeXMLTreeToFile(root, c_vrt.as_ptr());
        gdal_sys::CPLDestroyXMLNode(root);
        ok
    };
    if written == 0 {
        return Err("cannot write the VRT back".into());
    }
    Ok(())
}

/// Every `SourceFilename` element at or below `node` and its siblings, depth first.
///
/// # Safety
/// `node` is NULL or a node of a live tree that nothing else uses during the call.
unsafe fn walk_sources(node: *mut gdal_sys::CPLXMLNode, relative: &mut dyn FnMut(&Path) -> Option<PathBuf>) {
    use gdal_sys::{CPLXMLNode, CPLXMLNodeType};
    let mut n = node;
    while !n.is_null() {
        // SAFETY: nodes of a live tree (the caller's promise); node names and texts are
        // NUL-terminated; replaced strings are freed and allocated with GDAL's allocator, as
        // CPLDestroyXMLNode expects.
        unsafe {
            if (*n).eType == CPLXMLNodeType::CXT_Element
                && CStr::from_ptr((*n).pszValue).to_bytes() == b"SourceFilename"
            {
                let mut child = (*n).psChild;
                let mut text: *mut CPLXMLNode = std::ptr::null_mut();
                let mut relative_attr: *mut CPLXMLNode = std::ptr::null_mut();
                while !child.is_null() {
                    let name = CStr::from_ptr((*child).pszValue).to_bytes();
                    if (*child).eType == CPLXMLNodeType::CXT_Text {
                        text = child;
                    } else if (*child).eType == CPLXMLNodeType::CXT_Attribute && name == b"relativeToVRT" {
                        relative_attr = child;
                    }
                    child = (*child).psNext;
                }
                if !text.is_null() && !relative_attr.is_null() && !(*relative_attr).psChild.is_null() {
                    let path = Path::new(OsStr::from_bytes(CStr::from_ptr((*text).pszValue).to_bytes()));
                    if let Some(rel) = relative(path).and_then(|r| CString::new(r.as_os_str().as_bytes()).ok()) {
                        gdal_sys::VSIFree((*text).pszValue.cast());
                        (*text).pszValue = gdal_sys::CPLStrdup(rel.as_ptr());
                        let flag = (*relative_attr).psChild;
                        gdal_sys::VSIFree((*flag).pszValue.cast());
                        (*flag).pszValue = gdal_sys::CPLStrdup(c"1".as_ptr());
                    }
                }
            }
            walk_sources((*n).psChild, relative);
            n = (*n).psNext;
        }
    }
}

// ---- gdalwarp and gdal_translate by their argv ----

/// Why gdalwarp or gdal_translate made nothing.
#[derive(Debug)]
pub enum UtilityError {
    /// GDAL rejected the arguments (they are built in code: a bug of ours).
    Arguments,
    /// The utility ran and failed: GDAL's message.
    Failed(String),
}

/// A NULL-terminated argv for GDAL's `*OptionsNew`; the strings live in the first vector.
fn argv<S: AsRef<str>>(args: &[S]) -> (Vec<CString>, Vec<*mut std::ffi::c_char>) {
    let c_args: Vec<CString> = args.iter().map(|a| CString::new(a.as_ref()).unwrap_or_default()).collect();
    let mut ptrs: Vec<*mut std::ffi::c_char> = c_args.iter().map(|c| c.as_ptr() as *mut _).collect();
    ptrs.push(std::ptr::null_mut());
    (c_args, ptrs)
}

/// gdalwarp of `src` with `args` (`-of MEM` or `-of VRT`: the output has no file name) into a
/// new dataset. Like the gdal crate's `build_vrt`, a virtual (`VRT`) output reads from `src`,
/// which must stay open for as long as it is used.
pub fn warp<S: AsRef<str>>(src: &Dataset, args: &[S]) -> Result<Dataset, UtilityError> {
    let (_strings, mut ptrs) = argv(args);
    let empty = CString::default();
    // SAFETY: the argv is NULL-terminated and its strings outlive the options (GDAL copies what
    // it keeps); the options are freed once; the source handle is live for the call; a non-NULL
    // result is a new dataset that nobody else owns, handed to `Dataset`, which closes it.
    unsafe {
        let opts = gdal_sys::GDALWarpAppOptionsNew(ptrs.as_mut_ptr(), std::ptr::null_mut());
        if opts.is_null() {
            return Err(UtilityError::Arguments);
        }
        let mut srcs = [src.c_dataset()];
        let mut usage_error: std::ffi::c_int = 0;
        let out =
            gdal_sys::GDALWarp(empty.as_ptr(), std::ptr::null_mut(), 1, srcs.as_mut_ptr(), opts, &mut usage_error);
        gdal_sys::GDALWarpAppOptionsFree(opts);
        if out.is_null() {
            return Err(UtilityError::Failed(last_error_message()));
        }
        Ok(Dataset::from_c_dataset(out))
    }
}

/// gdal_translate of `src` with `args` (`-of VRT` or `-of MEM`: the output has no file name)
/// into a new dataset. A virtual (`VRT`) output reads from `src`, which must stay open for as
/// long as it is used (as with `warp`).
pub fn translate<S: AsRef<str>>(src: &Dataset, args: &[S]) -> Result<Dataset, UtilityError> {
    let (_strings, mut ptrs) = argv(args);
    let empty = CString::default();
    // SAFETY: as in `warp`: a NULL-terminated argv outliving the options, freed once; a live
    // source handle; a new, unshared dataset handed to `Dataset`.
    unsafe {
        let opts = gdal_sys::GDALTranslateOptionsNew(ptrs.as_mut_ptr(), std::ptr::null_mut());
        if opts.is_null() {
            return Err(UtilityError::Arguments);
        }
        let mut usage_error: std::ffi::c_int = 0;
        let out = gdal_sys::GDALTranslate(empty.as_ptr(), src.c_dataset(), opts, &mut usage_error);
        gdal_sys::GDALTranslateOptionsFree(opts);
        if out.is_null() {
            return Err(UtilityError::Failed(last_error_message()));
        }
        Ok(Dataset::from_c_dataset(out))
    }
}

// ---- Polygonize ----

/// GDAL's polygonize of `band` into `layer` (the pixel value into field `value_field`), pixels
/// where `band`'s mask is 0 left out; 4-connected. GDAL reads the band a line at a time.
pub fn polygonize<L: gdal::vector::LayerAccess>(band: &RasterBand, layer: &L, value_field: i32) -> Result<(), String> {
    // SAFETY: live band and layer handles for the call; the mask band is the band's own (owned
    // by GDAL, valid while the band is); no options, no progress callback.
    let err = unsafe {
        let mask = gdal_sys::GDALGetMaskBand(band.c_rasterband());
        gdal_sys::GDALPolygonize(
            band.c_rasterband(),
            mask,
            layer.c_layer(),
            value_field,
            std::ptr::null_mut(),
            None,
            std::ptr::null_mut(),
        )
    };
    if err == gdal_sys::CPLErr::CE_None {
        Ok(())
    } else {
        Err(last_error_message())
    }
}

#[cfg(test)]
mod version_tests {
    use super::*;

    #[test]
    fn gdal_older_than_the_minimum_is_refused() {
        assert!(older_than_min(3_040_100));
        assert!(older_than_min(2_040_000));
        assert!(!older_than_min(3_060_200));
        assert!(!older_than_min(3_100_000));
        assert!(check_version().is_ok(), "the GDAL of the tests is the one built against");
    }
}
