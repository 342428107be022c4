//! Files complete or not at all: written under a temporary name beside the target (same
//! filesystem, so the rename is atomic), then renamed into place; on any failure the temporary
//! file is removed. Models, checkpoints, logs, reports and plots all go through here, which is
//! the library's one helper (`rastrum::atomic`): the temporary name keeps the extension, from
//! which tch picks the checkpoint format and plotters the image encoder.

use std::path::Path;

use rastrum::Result;

/// Runs `write` on a temporary path beside `path`, then renames the result into place.
pub fn write_with(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    rastrum::atomic::write_with(path, write)
}

/// Writes `text` to `path`, complete or not at all.
pub fn write_text(path: &Path, text: &str) -> Result<()> {
    rastrum::atomic::write_bytes(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rastrum::Error;

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
