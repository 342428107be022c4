//! Rastrum: tiled ONNX inference over georeferenced rasters, streamed, stitched without seams.
//!
//! The modules form a line, lowest first (ARCHITECTURE.md): error, atomic and memory, grammar, grid, card,
//! metrics / onnx / plot / progress, inference, raster, options, resolve, tasks, plan, stitch,
//! run and lazy, eval and tiles, ffi. A module imports only modules before it.

pub mod atomic;
pub mod card;
pub mod detect;
pub mod error;
pub mod eval;
pub mod ffi;
pub mod grammar;
pub mod grid;
pub mod inference;
pub mod lazy;
pub mod memory;
pub mod metrics;
pub mod onnx;
pub mod options;
pub mod plan;
pub mod plot;
pub mod progress;
pub mod raster;
pub mod resolve;
pub mod run;
pub mod stitch;
pub mod tasks;
pub mod tiles;

pub use card::{Activation, Card, Redistribute, StitchMode, Task};
pub use error::{Error, Result};
pub use inference::{Device, Model, SessionOptions};
pub use options::{Resolution, RunOptions};
pub use run::{run, run_planned, RunSummary};
