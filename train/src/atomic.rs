//! Files complete or not at all: written under a temporary name beside the target (same
//! filesystem, so the rename is atomic), then renamed into place; on any failure the temporary
//! file is removed. Models, checkpoints, logs, reports and plots all go through here.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rastrum::{Error, Result};

/// `.<name>.<pid>.<n>.tmp.<ext>` beside `path`: it keeps the extension, from which tch picks the
/// checkpoint format and plotters the image encoder; the counter keeps concurrent writers apart.
fn temp_path(path: &Path) -> Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().ok_or_else(|| Error::io(path, "not a file path"))?.to_string_lossy();
    let ext = path.extension().map_or(String::new(), |e| format!(".{}", e.to_string_lossy()));
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    Ok(path.with_file_name(format!(".{name}.{}.{n}.tmp{ext}", std::process::id())))
}

/// Runs `write` on a temporary path beside `path`, then renames the result into place.
pub fn write_with(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let temp = temp_path(path)?;
    let result = write(&temp)
        .and_then(|_| std::fs::rename(&temp, path).map_err(|e| Error::io(path, format!("moving it into place: {e}"))));
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Writes `text` to `path`, complete or not at all.
pub fn write_text(path: &Path, text: &str) -> Result<()> {
    write_with(path, |temp| std::fs::write(temp, text).map_err(|e| Error::io(path, e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_nothing_and_a_good_one_only_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("report.json");
        let failed = write_with(&target, |temp| {
            std::fs::write(temp, "half").unwrap();
            Err(Error::invalid("stopped"))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        write_text(&target, "{}").unwrap();
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["report.json"]);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "{}");
    }
}
