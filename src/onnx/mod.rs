//! ONNX files without ONNX Runtime: the protobuf messages we read and write (`proto`), a small
//! graph builder (`build`) used by the tests to make models with known answers, and by the trainer
//! to export, what a graph says about its outputs (`graph`), and a model's card read and rewritten
//! in place, every other byte kept (`metadata`). The runtime itself reads models through ONNX
//! Runtime.

pub mod build;
pub mod graph;
pub mod metadata;
pub mod proto;

pub use build::{Dim, GraphBuilder};
