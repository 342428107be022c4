//! Checkpoints in safetensors (every parameter and batch-norm buffer, by name), written to a
//! temporary name and renamed, so a crash never leaves a half-written checkpoint; resume loads
//! them into a network of the same architecture. (Adam's moments are not saved: a resumed run
//! restarts them.)

use std::path::Path;

use rastrum::{Error, Result};

use crate::torch::TchNet;

pub fn save(net: &TchNet, path: &Path) -> Result<()> {
    if path.extension().and_then(|e| e.to_str()) != Some("safetensors") {
        return Err(Error::invalid(format!("checkpoint {} must end in .safetensors", path.display())));
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = path.with_file_name(format!(".{name}.tmp-{}.safetensors", std::process::id()));
    net.vs.save(&temp).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        Error::io(path, format!("writing the checkpoint: {e}"))
    })?;
    std::fs::rename(&temp, path).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        Error::io(path, format!("moving the checkpoint into place: {e}"))
    })
}

/// Loads a checkpoint into `net`, whose architecture must match (names and shapes).
pub fn load(net: &mut TchNet, path: &Path) -> Result<()> {
    net.vs.load(path).map_err(|e| Error::io(path, format!("not a checkpoint of {}: {e}", net.net.name)))
}
