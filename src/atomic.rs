//! Files (and folders) that appear complete or not at all, for the library, its figures and the
//! trainer: each is written under a hidden temporary name in its target's own folder (the same
//! filesystem, so that the final rename is atomic), removed on any failure (an error, a cancel,
//! a panic: dropping the [`TempFile`] removes it) and renamed into place once finished.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// The longest file name Linux filesystems take (NAME_MAX), in bytes.
const NAME_MAX: usize = 255;

/// Room kept for the names a writer makes from the temporary one (GDAL's `.ovr.tmp` while it
/// builds a COG's overviews, `.aux.xml`), which must fit in NAME_MAX too.
const WRITER_SUFFIX_ROOM: usize = 16;

/// What marks every temporary name (`.NAME.rastrum-tmp-PID-N...`): what `.gitignore` ignores
/// and what `rastrum.dask` clears after a worker died mid-write.
pub const TEMP_MARKER: &str = ".rastrum-tmp-";

/// The folder `p` is written in: its parent, or `.` for a bare file name.
pub fn parent_dir(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A hidden name in `dir`, unique to this process and call, for writing a file called `name`:
/// `.NAME.rastrum-tmp-PID-N` then `tag`, then `.ext` unless `ext` is empty (writers such as
/// GDAL's drivers and image encoders pick the format from it). `NAME` is shortened (whole
/// characters) so that the name stays within NAME_MAX.
pub fn temp_name_in(dir: &Path, name: &str, tag: &str, ext: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dot_ext = if ext.is_empty() { String::new() } else { format!(".{ext}") };
    let suffix = format!("{TEMP_MARKER}{}-{n}{tag}{dot_ext}", std::process::id());
    let mut keep = NAME_MAX.saturating_sub(1 + suffix.len() + WRITER_SUFFIX_ROOM).min(name.len());
    while !name.is_char_boundary(keep) {
        keep -= 1;
    }
    dir.join(format!(".{}{suffix}", &name[..keep]))
}

/// [`temp_name_in`] the folder of `target`, for writing `target`.
pub fn temp_name(target: &Path, tag: &str, ext: &str) -> PathBuf {
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    temp_name_in(&parent_dir(target), &name, tag, ext)
}

/// What `target` is when it exists and is neither a regular file nor a folder (following
/// links): a rename over it would replace `/dev/null` or a named pipe with a plain file.
fn special_kind(target: &Path) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    let t = std::fs::metadata(target).ok()?.file_type();
    if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else if t.is_fifo() {
        Some("a named pipe (FIFO)")
    } else if t.is_socket() {
        Some("a socket")
    } else {
        None
    }
}

fn refusal(kind: &str) -> String {
    format!("the output path is {kind}: refusing to replace it with a file")
}

/// Refuses an output path that is a device, a FIFO or a socket, before any work is done.
pub fn refuse_special(target: &Path) -> Result<()> {
    match special_kind(target) {
        Some(kind) => Err(Error::io(target, refusal(kind))),
        None => Ok(()),
    }
}

/// A file under construction at a temporary name: removed on drop, with its sidecars (files
/// its writer may leave beside it, such as GDAL's `.aux.xml`), unless persisted.
#[derive(Debug)]
pub struct TempFile {
    /// Empty once persisted.
    path: PathBuf,
    sidecars: Vec<&'static str>,
}

impl TempFile {
    /// Takes charge of the file at `path` (usually a [`temp_name`]), which need not exist yet.
    pub fn new(path: PathBuf) -> TempFile {
        TempFile { path, sidecars: Vec::new() }
    }

    /// A temporary file beside `target`, named with extension `ext` (see [`temp_name_in`]).
    pub fn beside(target: &Path, ext: &str) -> Result<TempFile> {
        if target.file_name().is_none() {
            return Err(Error::io(target, "not a file path"));
        }
        Ok(TempFile::new(temp_name(target, "", ext)))
    }

    /// Also removes `path + suffix` when the file is removed.
    pub fn with_sidecar(mut self, suffix: &'static str) -> TempFile {
        self.sidecars.push(suffix);
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sidecar `path + suffix`.
    pub fn sidecar(&self, suffix: &str) -> PathBuf {
        let mut p = OsString::from(self.path.as_os_str());
        p.push(suffix);
        PathBuf::from(p)
    }

    /// Renames the finished file to `target`, replacing it. After this its sidecars are the
    /// caller's (moved or removed); on failure the file and its sidecars are removed. A target
    /// that is a device, FIFO or socket is never replaced (see [`refuse_special`]).
    pub fn persist(mut self, target: &Path) -> std::io::Result<()> {
        if let Some(kind) = special_kind(target) {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, refusal(kind)));
        }
        std::fs::rename(&self.path, target)?;
        self.path = PathBuf::new();
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
            for suffix in &self.sidecars {
                let _ = std::fs::remove_file(self.sidecar(suffix));
            }
        }
    }
}

/// Runs `write` on a temporary path beside `target` that keeps `target`'s extension (from which
/// writers pick a format), then renames the result into place; on failure nothing is left.
pub fn write_with(target: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let ext = target.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = TempFile::beside(target, &ext)?;
    write(temp.path())?;
    temp.persist(target).map_err(|e| Error::io(target, format!("moving it into place: {e}")))
}

/// Writes `bytes` to `target`, complete or not at all.
pub fn write_bytes(target: &Path, bytes: impl AsRef<[u8]>) -> Result<()> {
    write_with(target, |temp| std::fs::write(temp, bytes).map_err(|e| Error::io(target, e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut n: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        n.sort();
        n
    }

    #[test]
    fn temporary_names_are_hidden_unique_beside_the_target_and_within_name_max() {
        let target = Path::new("/data/out/scene.tif");
        let (a, b) = (temp_name(target, "", "tif"), temp_name(target, "-cog", "tif"));
        assert_ne!(a, b);
        assert_eq!(a.parent(), Some(Path::new("/data/out")));
        let a = a.file_name().unwrap().to_string_lossy().into_owned();
        let b = b.file_name().unwrap().to_string_lossy().into_owned();
        let pid = std::process::id();
        assert!(a.starts_with(&format!(".scene.tif.rastrum-tmp-{pid}-")) && a.ends_with(".tif"), "{a}");
        assert!(b.ends_with("-cog.tif"), "{b}");
        assert_eq!(temp_name(Path::new("x"), "", "").parent(), Some(Path::new(".")));
        assert!(!temp_name(Path::new("tiles"), "", "").to_string_lossy().ends_with('.'));
        // A name at the limit (multi-byte characters) is shortened on a character boundary.
        let long = "é".repeat(127) + ".png";
        let t = temp_name(&Path::new("/tmp").join(&long), "", "png");
        let name = t.file_name().unwrap().to_str().unwrap();
        assert!(name.len() + WRITER_SUFFIX_ROOM <= NAME_MAX, "{name}");
        assert!(name.starts_with(".é") && name.ends_with(".png"), "{name}");
    }

    #[test]
    fn a_failed_write_leaves_nothing_and_a_good_one_only_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("report.json");
        let failed = write_with(&target, |temp| {
            assert_eq!(temp.extension().unwrap(), "json");
            std::fs::write(temp, "half").unwrap();
            Err(Error::invalid("stopped"))
        });
        assert!(failed.is_err());
        assert!(names(dir.path()).is_empty());
        write_bytes(&target, "{}").unwrap();
        assert_eq!(names(dir.path()), ["report.json"]);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "{}");
        assert!(write_bytes(Path::new("/"), "x").is_err());
    }

    #[test]
    fn a_dropped_temporary_file_takes_its_sidecars_and_a_persisted_one_leaves_them() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.tif");
        let temp = TempFile::beside(&target, "tif").unwrap().with_sidecar(".aux.xml");
        std::fs::write(temp.path(), "x").unwrap();
        std::fs::write(temp.sidecar(".aux.xml"), "y").unwrap();
        drop(temp);
        assert!(names(dir.path()).is_empty());
        let temp = TempFile::beside(&target, "tif").unwrap().with_sidecar(".aux.xml");
        std::fs::write(temp.path(), "x").unwrap();
        let aux = temp.sidecar(".aux.xml");
        std::fs::write(&aux, "y").unwrap();
        temp.persist(&target).unwrap();
        assert!(target.exists() && aux.exists());
    }
}
