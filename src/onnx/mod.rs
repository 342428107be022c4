//! ONNX files without ONNX Runtime: the protobuf messages we read and write (`proto`), and a small
//! graph builder (`build`) used by the tests to make models with known answers, and by the trainer
//! to export. The runtime itself reads models through ONNX Runtime.

pub mod build;
pub mod graph;
pub mod proto;

pub use build::{Dim, GraphBuilder};
