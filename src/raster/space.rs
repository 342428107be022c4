//! Disk space. Before a run: its outputs against the free space of their filesystem and the
//! process's file size limit, refused only when they clearly cannot fit (compression makes the
//! uncompressed size an upper bound, so the bound used is a lower one). After a failed write:
//! the cause in words, since GDAL's last message is often a follow-up error
//! ("TIFFRewriteDirectory: Error fetching directory count") rather than the failed write.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::memory;

/// DEFLATE's best ratio (a 258-byte match in one bit or two): no DEFLATE stream is smaller than
/// its data divided by this.
const DEFLATE_BEST_RATIO: u64 = 1032;

/// A write failure with this little space left is put down to a full disk.
const NEARLY_FULL: u64 = 1 << 20;

/// One file a run will write: where its temporary file goes, where it goes in the end, its
/// pixels' size uncompressed and its GDAL creation options (`COMPRESS=...`).
#[derive(Debug, Clone)]
pub struct PlannedFile {
    pub folder: PathBuf,
    pub target: PathBuf,
    pub uncompressed: u64,
    pub compress: String,
}

impl PlannedFile {
    /// The smallest the file can be: its pixels without compression, a DEFLATE stream at the
    /// best ratio there is, and nothing known for other codecs (LZW, ZSTD, LERC, JPEG, ...).
    pub fn lower_bound(&self) -> u64 {
        match self.compress.to_ascii_uppercase().as_str() {
            "NONE" => self.uncompressed,
            "DEFLATE" => self.uncompressed / DEFLATE_BEST_RATIO,
            _ => 0,
        }
    }

    /// How the lower bound was reached, for messages.
    fn why(&self) -> &'static str {
        match self.compress.to_ascii_uppercase().as_str() {
            "NONE" => "uncompressed",
            _ => "compressed at DEFLATE's best ratio, 1032:1",
        }
    }
}

/// The COMPRESS value among GDAL creation options (NONE when absent: GDAL's default).
pub fn compression(options: &[String]) -> String {
    options
        .iter()
        .rev()
        .filter_map(|o| o.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("COMPRESS"))
        .map_or("NONE".into(), |(_, v)| v.trim().to_string())
}

/// Bytes in words: `1.4 MiB`, `12 bytes`.
fn size(bytes: u64) -> String {
    memory::human(bytes as u128)
}

/// Bytes free to this process on the filesystem of `folder` (root may use the reserve).
fn free_bytes(folder: &Path) -> Option<u64> {
    let s = rustix::fs::statvfs(folder).ok()?;
    let blocks = if rustix::process::geteuid().is_root() { s.f_bfree } else { s.f_bavail };
    Some(blocks.saturating_mul(s.f_frsize))
}

/// The process's file size limit (`ulimit -f`, RLIMIT_FSIZE), None when unlimited.
fn file_size_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Fsize).current
}

/// Refuses, before any tile runs, outputs that cannot fit even at their smallest: a file past
/// the file size limit, or files past the free space of their filesystem (counted together per
/// folder). Where the compression leaves the size open nothing is refused: the write then fails
/// with the cause named ([`write_failure_cause`]).
pub fn check_space(files: &[PlannedFile]) -> Result<()> {
    if let Some(limit) = file_size_limit() {
        if let Some(f) = files.iter().find(|f| f.lower_bound() > limit) {
            return Err(Error::io(
                &f.target,
                format!(
                    "file size limit exceeded: the output needs at least {} ({}) and files of this process are \
                     limited to {} by ulimit -f",
                    size(f.lower_bound()),
                    f.why(),
                    size(limit)
                ),
            ));
        }
    }
    let mut folders: Vec<&Path> = files.iter().map(|f| f.folder.as_path()).collect();
    folders.sort();
    folders.dedup();
    for folder in folders {
        let here: Vec<&PlannedFile> = files.iter().filter(|f| f.folder == folder).collect();
        let needed: u64 = here.iter().map(|f| f.lower_bound()).sum();
        if let Some(free) = free_bytes(folder) {
            if needed > free {
                let counted: Vec<&&PlannedFile> = here.iter().filter(|f| f.lower_bound() > 0).collect();
                let whys: Vec<String> = match counted[..] {
                    [one] => vec![one.why().to_string()],
                    _ => counted.iter().map(|f| format!("{} {}", f.target.display(), f.why())).collect(),
                };
                return Err(Error::io(
                    &here[0].target,
                    format!(
                        "no space left on device: the output needs at least {} ({}) and {} has {} free",
                        size(needed),
                        whys.join(" + "),
                        folder.display(),
                        size(free)
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Why a write of `file` failed, in words, when its cause can be told: GDAL's message naming
/// it, a filesystem with (nearly) no space left, or a file that reached the file size limit.
pub fn write_failure_cause(file: &Path, gdal_message: &str) -> Option<String> {
    let message = gdal_message.to_ascii_lowercase();
    let limit = file_size_limit();
    let len = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    if message.contains("file too large") || limit.is_some_and(|l| len.saturating_add(NEARLY_FULL) >= l) {
        let at_most = limit.map(|l| format!(": files of this process are limited to {} by ulimit -f", size(l)));
        return Some(format!("file size limit exceeded{}", at_most.unwrap_or_default()));
    }
    let folder = crate::atomic::parent_dir(file);
    let free = free_bytes(&folder);
    if message.contains("no space left") || free.is_some_and(|f| f < NEARLY_FULL) {
        let left = free.map(|f| format!(": {} free in {}", size(f), folder.display()));
        return Some(format!("no space left on device{}", left.unwrap_or_default()));
    }
    None
}

/// GDAL's message of a failed write with its cause in front when it can be told.
pub fn explain(file: &Path, gdal_message: &str) -> String {
    match write_failure_cause(file, gdal_message) {
        Some(cause) if gdal_message.is_empty() => cause,
        Some(cause) => format!("{cause} (GDAL: {gdal_message})"),
        None => gdal_message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(uncompressed: u64, compress: &str) -> PlannedFile {
        PlannedFile {
            folder: std::env::temp_dir(),
            target: std::env::temp_dir().join("out.tif"),
            uncompressed,
            compress: compress.into(),
        }
    }

    #[test]
    fn the_lower_bound_follows_the_compression() {
        assert_eq!(planned(1_032_000, "NONE").lower_bound(), 1_032_000);
        assert_eq!(planned(1_032_000, "deflate").lower_bound(), 1000);
        assert_eq!(planned(1_032_000, "ZSTD").lower_bound(), 0);
        let co = |v: &[&str]| compression(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(co(&["TILED=YES", "COMPRESS=DEFLATE", "compress=NONE"]), "NONE");
        assert_eq!(co(&["TILED=YES"]), "NONE");
        assert_eq!(size(1_440_000), "1.4 MiB");
        assert_eq!(size(12), "12 bytes");
    }

    #[test]
    fn outputs_that_cannot_fit_are_refused_and_others_pass() {
        let e = check_space(&[planned(u64::MAX / 2, "NONE")]).unwrap_err().to_string();
        assert!(e.contains("no space left on device") && e.contains("needs at least") && e.contains("free"), "{e}");
        check_space(&[planned(1 << 20, "NONE"), planned(u64::MAX / 2, "LZW")]).unwrap();
    }

    #[test]
    fn messages_name_the_cause_given_by_gdal() {
        let f = std::env::temp_dir().join("no-such-file.tif");
        let m = explain(&f, "_tiffWriteProc:No space left on device");
        assert!(m.starts_with("no space left on device") && m.contains("GDAL: _tiffWriteProc"), "{m}");
        assert!(explain(&f, "_tiffWriteProc:File too large").starts_with("file size limit exceeded"));
        assert_eq!(explain(&f, "something else"), "something else");
    }
}
