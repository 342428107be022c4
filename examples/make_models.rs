//! Writes small generated ONNX models with known answers into a folder, for hosts' tests that
//! need a cheap model (the C tests under Valgrind, where a real CNN would take hours):
//!   cargo run --release --example make_models -- DIR
//! - identity1.onnx: y = x, one band, any batch and size (per-pixel regression).

use rastrum::onnx::{Dim, GraphBuilder};

fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| {
        eprintln!("usage: make_models DIR");
        std::process::exit(2)
    });
    std::fs::create_dir_all(&dir).expect("create the folder");
    let nchw: Vec<Dim> = vec!["n".into(), 1.into(), "h".into(), "w".into()];
    GraphBuilder::new("identity1")
        .input("x", &nchw)
        .node("Identity", &["x"], &["y"], &[])
        .output("y", &nchw)
        .meta("rastrum_task", "\"regression\"")
        .save(format!("{dir}/identity1.onnx"))
        .expect("write identity1.onnx");
}
