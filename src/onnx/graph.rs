//! What a model's graph says about an output without running it: whether the output is already
//! probabilities (made by Softmax or Sigmoid, possibly averaged over several heads, scaled by a
//! constant or reshaped), so that the run does not apply a class head a second time.

use std::collections::HashMap;
use std::path::Path;

use prost::bytes::Bytes;
use prost::Message;

use super::proto::{attribute_type, data_type, NodeProto};

/// The model file down to what this module reads: nodes, and initialisers whose bytes are
/// sliced from the file's buffer rather than copied (weights can be most of a file).
#[derive(Clone, PartialEq, Message)]
struct ModelGraph {
    #[prost(message, optional, tag = "7")]
    graph: Option<GraphNodes>,
}

#[derive(Clone, PartialEq, Message)]
struct GraphNodes {
    #[prost(message, repeated, tag = "1")]
    node: Vec<NodeProto>,
    #[prost(message, repeated, tag = "5")]
    initializer: Vec<Initializer>,
}

#[derive(Clone, PartialEq, Message)]
struct Initializer {
    #[prost(int64, repeated, tag = "1")]
    dims: Vec<i64>,
    #[prost(int32, tag = "2")]
    data_type: i32,
    #[prost(float, repeated, tag = "4")]
    float_data: Vec<f32>,
    #[prost(string, tag = "8")]
    name: String,
    #[prost(bytes = "bytes", tag = "9")]
    raw_data: Bytes,
}

/// What kind of values a tensor holds, as far as the graph shows.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    /// Non-negative values summing to `mass` over the softmax axis.
    Distribution,
    /// Each value in [0, `mass`].
    Independent,
}

#[derive(Clone, Debug)]
struct Prob {
    kind: Kind,
    mass: f64,
    /// The operators from the activation to the output, for the reason given.
    chain: Vec<String>,
}

/// Why output `output` of the model at `path` is already probabilities, or None when the graph
/// does not show it (or cannot be read: the caller then keeps its default).
pub fn probabilities(path: &Path, output: &str) -> Option<String> {
    // Read only when the file fits the memory budget beside the session that holds it already.
    let len = std::fs::metadata(path).ok()?.len();
    crate::memory::check(Some(len as u128), "reading the model's graph", "").ok()?;
    let bytes = std::fs::read(path).ok()?;
    let graph = ModelGraph::decode(Bytes::from(bytes)).ok()?.graph?;
    let g = Graph {
        producers: graph.node.iter().flat_map(|n| n.output.iter().map(move |o| (o.as_str(), n))).collect(),
        initializers: graph.initializer.iter().map(|t| (t.name.as_str(), t)).collect(),
    };
    let p = g.prob(output, 0)?;
    ((p.mass - 1.0).abs() < 1e-3).then(|| {
        let what = match p.kind {
            Kind::Distribution => "a probability distribution",
            Kind::Independent => "probabilities",
        };
        format!("output '{output}' is {what} already ({})", p.chain.join(" -> "))
    })
}

struct Graph<'a> {
    producers: HashMap<&'a str, &'a NodeProto>,
    initializers: HashMap<&'a str, &'a Initializer>,
}

/// Operators that move values without changing them.
const MOVES: &[&str] = &["Identity", "Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze"];

impl Graph<'_> {
    fn prob(&self, name: &str, depth: usize) -> Option<Prob> {
        // Graphs are acyclic; the bound only keeps a malformed file from recursing deeply.
        if depth > 64 {
            return None;
        }
        let node = self.producers.get(name)?;
        let op = node.op_type.as_str();
        let first = || self.prob(node.input.first()?, depth + 1);
        let with = |mut p: Prob, step: String| {
            p.chain.push(step);
            Some(p)
        };
        match op {
            "Softmax" => Some(Prob { kind: Kind::Distribution, mass: 1.0, chain: vec![op.into()] }),
            "Sigmoid" => Some(Prob { kind: Kind::Independent, mass: 1.0, chain: vec![op.into()] }),
            _ if MOVES.contains(&op) => with(first()?, op.into()),
            // A part of independent probabilities is still probabilities (Deepness's two-output
            // models take `sigmoid(x)[:, 0]`); a part of a distribution no longer sums to 1.
            "Gather" | "Slice" => match first()? {
                p if p.kind == Kind::Independent => with(p, op.into()),
                _ => None,
            },
            // Concat (of heads along a non-class axis) and Add / Mean of several heads: every
            // input must be probabilities of one kind.
            "Concat" | "Add" | "Sum" | "Mean" => {
                let parts: Vec<Prob> =
                    node.input.iter().map(|i| self.prob(i, depth + 1)).collect::<Option<Vec<_>>>()?;
                let kind = parts.first()?.kind;
                if parts.iter().any(|p| p.kind != kind) {
                    return None;
                }
                let masses = parts.iter().map(|p| p.mass);
                let mass = match op {
                    "Add" | "Sum" => masses.sum(),
                    "Mean" => masses.sum::<f64>() / parts.len() as f64,
                    _ if parts.iter().all(|p| (p.mass - parts[0].mass).abs() < 1e-9) => parts[0].mass,
                    _ => return None,
                };
                let chain = vec![format!("{op} of {} x {}", parts.len(), parts[0].chain.join(" -> "))];
                Some(Prob { kind, mass, chain })
            }
            "Mul" | "Div" => {
                let [a, b] = node.input.as_slice() else { return None };
                let (p, c) = match (self.prob(a, depth + 1), self.scalar(b), op) {
                    (Some(p), Some(c), _) => (p, c),
                    (None, _, "Mul") => (self.prob(b, depth + 1)?, self.scalar(a)?),
                    _ => return None,
                };
                let factor = if op == "Mul" { c } else { 1.0 / c };
                if !(factor.is_finite() && factor >= 0.0) {
                    return None;
                }
                let mass = p.mass * factor;
                with(Prob { mass, ..p }, format!("{op} by {c}"))
            }
            _ => None,
        }
    }

    /// The value of a one-element float constant: an initialiser or a `Constant` node.
    fn scalar(&self, name: &str) -> Option<f64> {
        if let Some(t) = self.initializers.get(name) {
            if t.data_type != data_type::FLOAT || t.dims.iter().product::<i64>() != 1 {
                return None;
            }
            return match (t.raw_data.as_ref(), t.float_data.as_slice()) {
                ([a, b, c, d], _) => Some(f32::from_le_bytes([*a, *b, *c, *d]) as f64),
                ([], [v]) => Some(*v as f64),
                _ => None,
            };
        }
        let node = self.producers.get(name)?;
        if node.op_type != "Constant" {
            return None;
        }
        let attr = node.attribute.first()?;
        match (attr.name.as_str(), attr.r#type) {
            ("value_float", attribute_type::FLOAT) => Some(attr.f as f64),
            ("value", _) => match attr.t.as_ref()?.floats()?.as_slice() {
                [v] => Some(*v as f64),
                _ => None,
            },
            _ => None,
        }
    }
}
