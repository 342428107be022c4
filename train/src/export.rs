//! The ONNX backend: writes a `Net` and its trained values as an opset-17 ONNX graph with the
//! model card in `metadata_props`, through the protobuf messages of `rastrum::onnx` (no Python).
//! Inference semantics: dropout is the identity, batch norm uses its running statistics.

use std::collections::HashMap;
use std::path::Path;

use rastrum::onnx::build::Attr;
use rastrum::onnx::{Dim, GraphBuilder};

use rastrum::{Error, Result};

use crate::atomic;
use crate::graph::{head_constants, Net, Op};

pub const OPSET: i64 = 17;

fn value(i: usize) -> String {
    if i == 0 {
        "input".to_string()
    } else {
        format!("v{i}")
    }
}

/// Writes `net` with `values` (every parameter by name) and `card` (key, JSON text) to `path`.
/// Batch is dynamic; height and width too unless the net has a fixed input size.
pub fn export(net: &Net, values: &HashMap<String, Vec<f32>>, card: &[(String, String)], path: &Path) -> Result<()> {
    let spatial: Dim = match net.fixed_size {
        Some(s) => s.into(),
        None => "height".into(),
    };
    let spatial_w: Dim = match net.fixed_size {
        Some(s) => s.into(),
        None => "width".into(),
    };
    let mut g = GraphBuilder::new(&net.name)
        .opset(OPSET)
        .input("input", &["batch".into(), net.in_channels.into(), spatial, spatial_w]);
    for p in &net.params {
        let data = values.get(&p.name).ok_or_else(|| Error::Internal(format!("no value for parameter {}", p.name)))?;
        g = g.initializer(&p.name, &p.shape, data, false);
    }
    for (i, op) in net.nodes.iter().enumerate() {
        g = node(g, net, op, &value(i + 1))?;
    }
    g = g.node("Identity", &[&value(net.output)], &["output"], &[]).output_unknown("output");
    for (k, v) in card {
        g = g.meta(k, v);
    }
    atomic::write_with(path, |temp| g.save(temp).map_err(|e| Error::io(path, format!("writing the model: {e}"))))
}

/// Adds the ONNX node(s) of `op`, writing value `out`.
fn node(g: GraphBuilder, net: &Net, op: &Op, out: &str) -> Result<GraphBuilder> {
    let o = [out];
    Ok(match op {
        Op::Conv { x, w, b, stride, pad, groups } => {
            let k = net.params.iter().find(|p| &p.name == w).map_or(1, |p| p.shape[2]);
            let mut inputs = vec![value(*x), w.clone()];
            inputs.extend(b.iter().cloned());
            let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
            g.node(
                "Conv",
                &inputs,
                &o,
                &[
                    ("kernel_shape", Attr::Ints(vec![k, k])),
                    ("strides", Attr::Ints(vec![*stride, *stride])),
                    ("pads", Attr::Ints(vec![*pad; 4])),
                    ("group", Attr::Int(*groups)),
                ],
            )
        }
        Op::ConvT { x, w, b, stride } => {
            let mut inputs = vec![value(*x), w.clone()];
            inputs.extend(b.iter().cloned());
            let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
            g.node(
                "ConvTranspose",
                &inputs,
                &o,
                &[
                    ("kernel_shape", Attr::Ints(vec![*stride, *stride])),
                    ("strides", Attr::Ints(vec![*stride, *stride])),
                ],
            )
        }
        Op::BatchNorm { x, p, eps } => {
            let names = ["weight", "bias", "running_mean", "running_var"].map(|s| format!("{p}.{s}"));
            let x = value(*x);
            g.node(
                "BatchNormalization",
                &[x.as_str(), &names[0], &names[1], &names[2], &names[3]],
                &o,
                &[("epsilon", Attr::Float(*eps as f32))],
            )
        }
        Op::Relu(x) => g.node("Relu", &[&value(*x)], &o, &[]),
        Op::Tanh(x) => g.node("Tanh", &[&value(*x)], &o, &[]),
        Op::MaxPool { x, k } => g.node(
            "MaxPool",
            &[&value(*x)],
            &o,
            &[("kernel_shape", Attr::Ints(vec![*k, *k])), ("strides", Attr::Ints(vec![*k, *k]))],
        ),
        Op::GlobalAvgPool(x) => g.node("GlobalAveragePool", &[&value(*x)], &o, &[]),
        Op::Flatten(x) => g.node("Flatten", &[&value(*x)], &o, &[("axis", Attr::Int(1))]),
        Op::Linear { x, w, b } => g.node("Gemm", &[&value(*x), w, b], &o, &[("transB", Attr::Int(1))]),
        Op::Dropout { x, .. } => g.node("Identity", &[&value(*x)], &o, &[]),
        Op::Add(a, b) => g.node("Add", &[&value(*a), &value(*b)], &o, &[]),
        Op::Concat(xs) => {
            let names: Vec<String> = xs.iter().map(|i| value(*i)).collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            g.node("Concat", &names, &o, &[("axis", Attr::Int(1))])
        }
        // PyTorch's pixel_shuffle is ONNX's DepthToSpace in CRD order.
        Op::PixelShuffle { x, r } => g.node(
            "DepthToSpace",
            &[&value(*x)],
            &o,
            &[("blocksize", Attr::Int(*r)), ("mode", Attr::Str("CRD".into()))],
        ),
        Op::DetectionHead { x, channels, stride, max_size } => {
            detection_head(g, net, &value(*x), out, *channels, *stride, *max_size)?
        }
    })
}

/// `Op::DetectionHead` as Reshape, Sigmoid, Mul and Add over constants: the grid of cells is
/// fixed, so the net must have a fixed input size.
fn detection_head(
    g: GraphBuilder,
    net: &Net,
    x: &str,
    out: &str,
    channels: i64,
    stride: i64,
    max_size: f64,
) -> Result<GraphBuilder> {
    let size = net.fixed_size.ok_or_else(|| {
        Error::Internal(format!("{}: a detection head needs a fixed input size (its grid of cells)", net.name))
    })?;
    let side = size / stride;
    let (scale, offset) = head_constants(channels, side, side, stride, max_size);
    let names = ["shape", "flat", "sigmoid", "scale", "scaled", "offset"].map(|n| format!("{out}.{n}"));
    let [shape, flat, sigmoid, scale_name, scaled, offset_name] = names.each_ref().map(String::as_str);
    Ok(g.initializer_i64(shape, &[3], &[0, channels, -1])
        .initializer(scale_name, &[1, channels, 1], &scale, false)
        .initializer(offset_name, &[1, channels, side * side], &offset, false)
        .node("Reshape", &[x, shape], &[flat], &[])
        .node("Sigmoid", &[flat], &[sigmoid], &[])
        .node("Mul", &[sigmoid, scale_name], &[scaled], &[])
        .node("Add", &[scaled, offset_name], &[out], &[]))
}
