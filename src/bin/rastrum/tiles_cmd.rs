//! `rastrum tiles INPUT OUTDIR`: placeholder wired by the CLI; the implementation lands with issue 6.

use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct TilesArgs {
    pub input: PathBuf,
    pub outdir: PathBuf,
}

pub fn run(_a: TilesArgs) -> rastrum::Result<()> {
    Err(rastrum::Error::invalid("tiles: not implemented yet"))
}
