//! Rastrum: tiled ONNX inference over georeferenced rasters, streamed, stitched without seams.
//!
//! Module map (the flow of one run, top to bottom):
//! - `card`: the model card (Deepness keys and ours) and its overrides;
//! - `inference`: ONNX Runtime loading, sessions, providers, batches;
//! - `raster`: GDAL input tiles (validity, scaling, padding), resampling, atomic outputs;
//! - `tiling`: the tile grid and what each tile contributes;
//! - `plan`: a run's tiles over a raster on their own (windows, padding, output regions, reader);
//! - `stitch`: streaming accumulation of tile outputs into finished rows;
//! - `stitching`: tiles in any order into a sink (file, memory or a host's function);
//! - `tasks`: class heads and the output rasters of each task;
//! - `run`: options, resolution against card and model, the concurrent pipeline, windows;
//! - `lazy`: a run evaluated block by block on demand (the GDAL driver), with a tile cache;
//! - `metrics`: confusion matrix, class scores, kappa, regression errors, PSNR, SSIM;
//! - `eval`: `rastrum eval`: a prediction raster scored against a reference raster;
//! - `plot`: PNG figures (the confusion matrix) written atomically, shared with the trainer;
//! - `tiles`: XYZ (Web Mercator) tile pyramids, time-series pages and animations;
//! - `onnx`: ONNX protobuf messages and a graph builder (test models, trainer export);
//! - `error`: the error type;
//! - `atomic`: files written complete or not at all (temporary name, rename), for every output;
//! - `ffi`: the C API (the only module with `#[no_mangle]` and raw pointers).

pub mod atomic;
pub mod card;
pub mod error;
pub mod grid;
pub mod grammar;
pub mod eval;
pub mod ffi;
pub mod inference;
pub mod lazy;
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
pub use run::{run, RunSummary};
