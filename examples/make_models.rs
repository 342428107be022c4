//! Writes small generated ONNX models with known answers into a folder, for hosts' tests that
//! need a cheap model (the C tests under Valgrind, where a real CNN would take hours):
//!   cargo run --release --example make_models -- DIR
//! - identity1.onnx: y = x, one band, any batch and size (per-pixel regression).
//! - pointwise3.onnx: three bands a, b, c to two channels y0 = a * 0.25 - b and
//!   y1 = (c + 1) / (a + 2), per pixel (the function tests/c/pieces.cpp computes itself).

use rastrum::onnx::build::Attr;
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
    let dims = |c: i64| -> Vec<Dim> { vec!["n".into(), c.into(), "h".into(), "w".into()] };
    GraphBuilder::new("pointwise3")
        .input("x", &dims(3))
        .initializer("quarter", &[1], &[0.25], false)
        .initializer("one", &[1], &[1.0], false)
        .initializer("two", &[1], &[2.0], false)
        .node("Split", &["x"], &["a", "b", "c"], &[("axis", Attr::Int(1))])
        .node("Mul", &["a", "quarter"], &["a4"], &[])
        .node("Sub", &["a4", "b"], &["y0"], &[])
        .node("Add", &["c", "one"], &["c1"], &[])
        .node("Add", &["a", "two"], &["a2"], &[])
        .node("Div", &["c1", "a2"], &["y1"], &[])
        .node("Concat", &["y0", "y1"], &["y"], &[("axis", Attr::Int(1))])
        .output("y", &dims(2))
        .meta("rastrum_task", "\"regression\"")
        .save(format!("{dir}/pointwise3.onnx"))
        .expect("write pointwise3.onnx");
}
