//! rastrum-train: the architectures of Rastrum's workflows, trained on libtorch through tch and
//! exported as ONNX with the model card the runtime reads.
//!
//! - `graph`: the one definition of an architecture (layers and named parameters);
//! - `arch`: the architectures (population CNN, U-Net, ResNet-18/50, SqueezeNet/SpectrumNet,
//!   ESPCN, SRResNet, a YOLO-style detector);
//! - `detector`: the detector's targets, loss and score;
//! - `detector_job`: the detector trained on planted scenes, run by `rastrum run` and scored;
//! - `torch`: the tch backend (parameters, forward pass for training);
//! - `export`: the ONNX backend (opset 17, initialisers, card);
//! - `data`: training chips read through the engine's own reader (same preprocessing);
//! - `fit`: the training loop;
//! - `checkpoint`: safetensors checkpoints and resume.

pub mod arch;
pub mod atomic;
pub mod baseline;
pub mod batch;
pub mod card;
pub mod checkpoint;
pub mod data;
pub mod describe;
pub mod detector;
pub mod detector_job;
pub mod export;
pub mod fit;
pub mod graph;
pub mod job;
pub mod plot;
pub mod report;
pub mod torch;
