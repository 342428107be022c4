//! Checkpoints in safetensors (every parameter and batch-norm buffer, by name), written to a
//! temporary name and renamed, so a crash never leaves a half-written checkpoint; resume loads
//! them into a network of the same architecture. (Adam's moments are not saved: a resumed run
//! restarts them.)

use std::path::Path;

use rastrum::{Error, Result};

use crate::atomic;
use crate::torch::TchNet;

pub fn save(net: &TchNet, path: &Path) -> Result<()> {
    if path.extension().and_then(|e| e.to_str()) != Some("safetensors") {
        return Err(Error::invalid(format!("checkpoint {} must end in .safetensors", path.display())));
    }
    atomic::write_with(path, |temp| {
        net.vs.save(temp).map_err(|e| Error::io(path, format!("writing the checkpoint: {e}")))
    })
}

/// Loads a checkpoint into `net`, whose architecture must match (names and shapes).
pub fn load(net: &mut TchNet, path: &Path) -> Result<()> {
    net.vs.load(path).map_err(|e| Error::io(path, format!("not a checkpoint of {}: {e}", net.net.name)))
}
