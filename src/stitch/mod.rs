//! Stitching, in four steps, lowest first:
//! - `accumulate`: tile outputs summed into finished rows, streaming (pixels blended or cropped,
//!   one cell per tile, or a tile's value redistributed over its pixels);
//! - `segments`: Deepness's small-segment removal, a streamed median of the class rows;
//! - `sink`: where finished rows go (class / probability / value rasters; files, memory or a
//!   host's function);
//! - `order`: tiles in any order held until their turn, so any order gives plan order's bytes;
//! - `stitcher`: the public stitcher of hosts that run their own inference.

pub mod accumulate;
pub mod order;
pub mod segments;
pub mod sink;
pub mod stitcher;

pub use stitcher::Stitcher;
