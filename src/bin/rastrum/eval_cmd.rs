//! `rastrum eval PRED REF`: placeholder wired by the CLI; the implementation lands with issue 6.

use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct EvalArgs {
    pub prediction: PathBuf,
    pub reference: PathBuf,
}

pub fn run(_a: EvalArgs) -> rastrum::Result<()> {
    Err(rastrum::Error::invalid("eval: not implemented yet"))
}
