//! Finished outputs moved into place. A GeoTIFF's class names live in GDAL's PAM sidecar
//! (`.aux.xml`: GeoTIFF tags cannot hold them), so an output is a pair of files, and they are
//! replaced together: the sidecar is checked (GDAL reports a failed sidecar write only as a
//! warning), the renames of every output of a run happen under an exclusive lock on their
//! folder (two processes writing one output cannot pair one's raster with the other's sidecar)
//! and with signals held off (`atomic::uninterrupted`), and when one output cannot be moved the
//! ones already moved are removed. `/vsi` targets are uploaded whole instead.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use gdal::Dataset;

use crate::atomic::{parent_dir, temp_name_in, TempFile};
use crate::error::{Error, Result};
use crate::raster::gdal::{category_names, vsi_unlink, VsiWriter};

/// GDAL's PAM sidecar of a raster: what GeoTIFF tags cannot hold (category names).
pub(crate) const AUX: &str = ".aux.xml";

/// A GDAL virtual file system path (`/vsis3/bucket/key`, `/vsigs/`, `/vsiaz/`, `/vsimem/`, ...):
/// written locally under a temporary name, then uploaded whole (object stores have no rename,
/// and an upload appears only once complete).
pub fn is_vsi(p: &Path) -> bool {
    p.as_os_str().as_bytes().starts_with(b"/vsi")
}

/// The sidecar path of `p`.
pub(crate) fn aux_path(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_os_string();
    s.push(AUX);
    PathBuf::from(s)
}

/// The folder `target` is written in before it is moved (or uploaded) into place.
pub(crate) fn temp_folder(target: &Path) -> PathBuf {
    if is_vsi(target) {
        std::env::temp_dir()
    } else {
        parent_dir(target)
    }
}

/// A hidden temporary file for writing `target` (`ext`: the format's extension, which GDAL's
/// drivers look at), removed with its PAM sidecar unless moved into place: beside `target`, or
/// in the local temporary folder for a `/vsi` target (uploaded whole when finished).
pub(crate) fn temp_file(target: &Path, tag: &str, ext: &str) -> TempFile {
    let dir = temp_folder(target);
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    TempFile::new(temp_name_in(&dir, &name, tag, ext)).with_sidecar(AUX)
}

/// Checks that the closed file `temp` (for `target`) carries the class names it was given,
/// `(band, names)`: GDAL writes them to the sidecar when the dataset is closed, and a failed
/// write there (a full disk: a 0-byte or truncated `.aux.xml`) is only a warning to GDAL. `why`
/// names the likely cause for the message.
pub(crate) fn check_class_names(
    temp: &Path,
    target: &Path,
    expected: &[(usize, Vec<String>)],
    why: impl FnOnce() -> String,
) -> Result<()> {
    if expected.is_empty() {
        return Ok(());
    }
    let ds = Dataset::open(temp).map_err(|e| Error::io(target, format!("reading the finished output back: {e}")))?;
    // GDAL loads a GeoTIFF's sidecar lazily, on the first georeferencing query: category names
    // alone do not trigger it.
    let _ = ds.geo_transform();
    for (band, names) in expected {
        let found = ds.rasterband(*band).map(|b| category_names(&b)).unwrap_or_default();
        if &found != names {
            return Err(Error::io(
                target,
                format!(
                    "the class names could not be written to its sidecar {}: {}",
                    aux_path(target).display(),
                    why()
                ),
            ));
        }
    }
    Ok(())
}

/// Renames a finished file (and its sidecar) into place; see [`move_all_into_place`].
pub(crate) fn move_into_place(temp: TempFile, target: &Path) -> Result<PathBuf> {
    let mut placed = move_all_into_place(vec![(temp, target.to_path_buf())])?;
    placed.pop().ok_or_else(|| Error::Internal("no output was moved".into()))
}

/// Renames finished files into place with their sidecars, all or none: a stale sidecar of an
/// older output does not survive, the renames hold an exclusive lock on each target folder
/// (every rastrum process takes it, so two runs onto one output end with one run's pair), and a
/// signal waits for them. When one fails, those already moved are removed.
pub(crate) fn move_all_into_place(items: Vec<(TempFile, PathBuf)>) -> Result<Vec<PathBuf>> {
    crate::atomic::uninterrupted(|| {
        let mut folders: Vec<PathBuf> = items.iter().filter(|(_, t)| !is_vsi(t)).map(|(_, t)| parent_dir(t)).collect();
        folders.sort();
        folders.dedup();
        // Sorted: two processes with the same folders take them in the same order.
        let _locks: Vec<Option<std::fs::File>> = folders.iter().map(|f| lock_folder(f)).collect();
        let mut placed: Vec<PathBuf> = Vec::new();
        for (temp, target) in items {
            let moved = if is_vsi(&target) { upload_pair(temp, &target) } else { rename_pair(temp, &target) };
            if let Err(e) = moved {
                for p in &placed {
                    remove_output(p);
                }
                return Err(e);
            }
            placed.push(target);
        }
        Ok(placed)
    })
}

/// An exclusive `flock` on `folder`, held until the file is dropped. None where it cannot be
/// had (a folder that cannot be opened for reading, a filesystem without locks): the renames
/// then go ahead unlocked, as before.
fn lock_folder(folder: &Path) -> Option<std::fs::File> {
    let dir = std::fs::File::open(folder).ok()?;
    rustix::fs::flock(&dir, rustix::fs::FlockOperation::LockExclusive).ok()?;
    Some(dir)
}

/// Removes an output moved into place by a move that then failed, with its sidecar.
fn remove_output(p: &Path) {
    if is_vsi(p) {
        vsi_unlink(&aux_path(p));
        vsi_unlink(p);
    } else {
        let _ = std::fs::remove_file(aux_path(p));
        let _ = std::fs::remove_file(p);
    }
}

/// The local renames: the old sidecar goes, the raster replaces the old one, then its sidecar
/// follows (a reader between the two sees the new raster without names, never another
/// output's names). A sidecar that cannot follow takes the new raster with it.
fn rename_pair(temp: TempFile, target: &Path) -> Result<()> {
    let (temp_aux, target_aux) = (temp.sidecar(AUX), aux_path(target));
    match std::fs::remove_file(&target_aux) {
        // A sidecar name past NAME_MAX (a 255-byte output's) cannot exist either.
        Err(e) if !matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::InvalidFilename) => {
            return Err(Error::io(&target_aux, format!("cannot remove the old sidecar: {e}")));
        }
        _ => {}
    }
    let has_aux = temp_aux.exists();
    temp.persist(target).map_err(|e| Error::io(target, format!("cannot move the finished output into place: {e}")))?;
    if has_aux {
        if let Err(e) = std::fs::rename(&temp_aux, &target_aux) {
            let _ = std::fs::remove_file(&temp_aux);
            let _ = std::fs::remove_file(target);
            return Err(Error::io(&target_aux, format!("cannot move the sidecar into place: {e}")));
        }
    }
    Ok(())
}

/// The uploads: the sidecar first, since the raster's appearance is what marks the output
/// complete.
fn upload_pair(temp: TempFile, target: &Path) -> Result<()> {
    let (temp_aux, target_aux) = (temp.sidecar(AUX), aux_path(target));
    vsi_unlink(&target_aux);
    if temp_aux.exists() {
        upload(&temp_aux, &target_aux)?;
    }
    if let Err(e) = upload(temp.path(), target) {
        vsi_unlink(&target_aux);
        return Err(e);
    }
    Ok(())
}

/// Copies a local file to a GDAL virtual file system path, streaming.
fn upload(local: &Path, target: &Path) -> Result<()> {
    use std::io::Read;
    let mut src = std::fs::File::open(local).map_err(|e| Error::io(local, e))?;
    let mut file = VsiWriter::create(target).map_err(|e| Error::io(target, format!("cannot open for writing: {e}")))?;
    let mut buf = vec![0u8; 4 << 20];
    let written = (|| -> Result<()> {
        loop {
            let n = src.read(&mut buf).map_err(|e| Error::io(local, e))?;
            if n == 0 {
                return Ok(());
            }
            file.write_all(&buf[..n]).map_err(|e| Error::io(target, format!("upload failed: {e}")))?;
        }
    })();
    // Closing completes (or fails) the upload.
    let closed = file.close();
    written?;
    if let Err(e) = closed {
        vsi_unlink(target);
        return Err(Error::io(target, format!("upload failed: {e}")));
    }
    Ok(())
}
