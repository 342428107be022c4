//! Files (and folders) that appear complete or not at all, for the library, its figures and the
//! trainer: each is written under a hidden temporary name in its target's own folder (the same
//! filesystem, so that the final rename is atomic), removed on any failure (an error, a cancel,
//! a panic: dropping the [`TempFile`] removes it) and renamed into place once finished.
//!
//! Every temporary output alive in the process (files with their sidecars, staging folders) is
//! also in a registry, so that a program stopped by a signal removes them before it exits
//! ([`remove_temporaries_on_signals`]): a signal ends the process without running any drop.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockWriteGuard};

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

/// A temporary path in the registry: a file or a folder (removed with what it holds).
#[derive(Debug, Clone, PartialEq)]
pub enum LivePath {
    File(PathBuf),
    Folder(PathBuf),
}

type Registry = BTreeMap<u64, Vec<LivePath>>;

/// The temporary outputs alive in this process, by registration.
static LIVE: Mutex<Registry> = Mutex::new(BTreeMap::new());

/// Read-held while finished outputs are moved into place, write-held by the removal on a
/// signal: an interrupt waits for the moves in progress, so that an output and its sidecar are
/// either both in place or both removed, never one of each.
static MOVING: RwLock<()> = RwLock::new(());

fn live() -> MutexGuard<'static, Registry> {
    // A panic elsewhere while the lock was held leaves the map itself consistent.
    LIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A registration of temporary paths: removed from the registry (not from the disk: that is
/// its owner's drop) when dropped. Register a path before creating it, so that nothing exists
/// unregistered.
#[derive(Debug)]
pub struct Registration(u64);

impl Registration {
    fn new(entry: LivePath) -> Registration {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        live().insert(id, vec![entry]);
        Registration(id)
    }

    /// A temporary file.
    pub fn file(path: &Path) -> Registration {
        Registration::new(LivePath::File(path.to_path_buf()))
    }

    /// A temporary folder, removed with its contents.
    pub fn folder(path: &Path) -> Registration {
        Registration::new(LivePath::Folder(path.to_path_buf()))
    }

    /// Another file of the same output (a sidecar).
    pub fn add_file(&self, path: &Path) {
        if let Some(paths) = live().get_mut(&self.0) {
            paths.push(LivePath::File(path.to_path_buf()));
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        live().remove(&self.0);
    }
}

/// Every temporary path registered now (for tests and diagnostics).
pub fn live_paths() -> Vec<LivePath> {
    live().values().flatten().cloned().collect()
}

/// Runs `f`, which moves finished outputs into place, so that a signal's removal waits for it.
/// Not to be nested.
pub fn uninterrupted<R>(f: impl FnOnce() -> R) -> R {
    let _moving = MOVING.read().unwrap_or_else(PoisonError::into_inner);
    f()
}

/// What [`remove_live_temporaries`] holds: while it lives no temporary output can be
/// registered or moved into place (a program exits holding it).
pub struct Stopped {
    _live: MutexGuard<'static, Registry>,
    _moving: RwLockWriteGuard<'static, ()>,
}

/// Removes every registered temporary file and folder, once the moves in progress are done.
/// The registry stays locked while the result lives: other threads that go on writing cannot
/// start a new temporary output, and a late tile cannot recreate a removed folder (writers
/// create folders below an existing root only). For a program about to exit.
pub fn remove_live_temporaries() -> Stopped {
    let moving = MOVING.write().unwrap_or_else(PoisonError::into_inner);
    let registry = live();
    for path in registry.values().flatten() {
        match path {
            LivePath::File(p) => {
                let _ = std::fs::remove_file(p);
            }
            LivePath::Folder(p) => remove_folder(p),
        }
    }
    Stopped { _live: registry, _moving: moving }
}

/// Removes a folder that other threads may still be writing into: a file created in a
/// subfolder already emptied makes `remove_dir_all` fail, so it is tried again (briefly).
fn remove_folder(p: &Path) {
    for _ in 0..200 {
        match std::fs::remove_dir_all(p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            _ => return,
        }
    }
}

/// For programs (the CLI, the trainer): on SIGINT, SIGTERM or SIGHUP, remove every temporary
/// output and exit with status 128 + the signal. The handler signal-hook installs only writes
/// to a pipe (async-signal-safe); a thread of ours reads it and does the removal, then exits
/// with `_exit`: no atexit handlers or C++ static destructors run under the threads still
/// working (ONNX Runtime, GDAL). An open GDAL dataset on a removed file is harmless: on Linux
/// the data goes when the process ends.
pub fn remove_temporaries_on_signals(program: &'static str) -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(|e| Error::Internal(format!("installing the signal handlers: {e}")))?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let _stopped = remove_live_temporaries();
                let name = signal_hook::low_level::signal_name(signal).unwrap_or("a signal");
                // Not eprintln!: after SIGHUP the terminal may be gone, and a panic here would
                // leave the program running.
                use std::io::Write;
                let _ = writeln!(std::io::stderr(), "{program}: stopped by {name}; temporary outputs removed");
                signal_hook::low_level::exit(128 + signal);
            }
        })
        .map_err(|e| Error::Internal(format!("starting the signal thread: {e}")))?;
    Ok(())
}

/// A file under construction at a temporary name: removed on drop, with its sidecars (files
/// its writer may leave beside it, such as GDAL's `.aux.xml`), unless persisted; registered
/// meanwhile (see [`remove_temporaries_on_signals`]).
#[derive(Debug)]
pub struct TempFile {
    /// Empty once persisted.
    path: PathBuf,
    sidecars: Vec<&'static str>,
    /// Dropped after the files are removed (fields drop after `Drop::drop`).
    live: Registration,
}

impl TempFile {
    /// Takes charge of the file at `path` (usually a [`temp_name`]), which need not exist yet.
    pub fn new(path: PathBuf) -> TempFile {
        let live = Registration::file(&path);
        TempFile { path, sidecars: Vec::new(), live }
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
        self.live.add_file(&self.sidecar(suffix));
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

    fn registered(p: &Path) -> bool {
        live_paths().iter().any(|l| matches!(l, LivePath::File(f) | LivePath::Folder(f) if f == p))
    }

    #[test]
    fn temporary_files_are_registered_until_persisted_or_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.tif");
        let temp = TempFile::beside(&target, "tif").unwrap().with_sidecar(".aux.xml");
        let (path, aux) = (temp.path().to_path_buf(), temp.sidecar(".aux.xml"));
        // Registered before the file exists: nothing is ever on disk unregistered.
        assert!(registered(&path) && registered(&aux));
        drop(temp);
        assert!(!registered(&path) && !registered(&aux));
        let temp = TempFile::beside(&target, "tif").unwrap();
        let path = temp.path().to_path_buf();
        std::fs::write(&path, "x").unwrap();
        assert!(registered(&path));
        temp.persist(&target).unwrap();
        assert!(!registered(&path));
        let folder = dir.path().join(".staging");
        let reg = Registration::folder(&folder);
        assert!(live_paths().contains(&LivePath::Folder(folder.clone())));
        drop(reg);
        assert!(!registered(&folder));
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
