//! A `Net` as JSON, complete enough for another framework to rebuild the same architecture node
//! for node (bench/train_step.py rebuilds it in PyTorch to time the same training step).
//!
//! ```json
//! {"name": "unet", "in_channels": 14, "fixed_size": null, "output": 42,
//!  "params": [{"name": "conv1.weight", "shape": [32, 14, 3, 3], "init": "kaiming", "trainable": true}, ...],
//!  "nodes": [{"id": 1, "op": "conv", "x": 0, "w": "conv1.weight", "b": null, "stride": 1, "pad": 1, "groups": 1}, ...]}
//! ```
//!
//! Value 0 is the input and node `i` (0-based in `nodes`) produces value `id = i + 1`, as in
//! `graph`. Op kinds and their fields:
//!
//! | op | fields |
//! |---|---|
//! | `conv` | `x`, `w`, `b` (name or null), `stride`, `pad`, `groups` |
//! | `conv_transpose` | `x`, `w`, `b` (name or null), `stride` (kernel = stride, no padding) |
//! | `batch_norm` | `x`, `p` (prefix of `.weight`, `.bias`, `.running_mean`, `.running_var`), `eps`, `momentum` |
//! | `relu`, `tanh`, `global_avg_pool`, `flatten` | `x` |
//! | `max_pool` | `x`, `k` (kernel = stride, no padding) |
//! | `linear` | `x`, `w`, `b` |
//! | `dropout` | `x`, `p` |
//! | `add` | `a`, `b` |
//! | `concat` | `xs` (along channels) |
//! | `pixel_shuffle` | `x`, `r` |
//! | `detection_head` | `x`, `channels`, `stride`, `max_size` (`graph::Op::DetectionHead`) |

use serde_json::{json, Value};

use crate::graph::{Init, Net, Op};

/// Batch-norm momentum of the tch backend (`torch::TchNet::forward`).
pub const BATCH_NORM_MOMENTUM: f64 = 0.1;

fn init_name(init: Init) -> String {
    match init {
        Init::Kaiming => "kaiming".into(),
        Init::Zeros => "zeros".into(),
        Init::Ones => "ones".into(),
        Init::ChannelRepeat { r } => format!("channel_repeat:{r}"),
    }
}

fn node(op: &Op) -> Value {
    match op {
        Op::Conv { x, w, b, stride, pad, groups } => {
            json!({"op": "conv", "x": x, "w": w, "b": b, "stride": stride, "pad": pad, "groups": groups})
        }
        Op::ConvT { x, w, b, stride } => json!({"op": "conv_transpose", "x": x, "w": w, "b": b, "stride": stride}),
        Op::BatchNorm { x, p, eps } => {
            json!({"op": "batch_norm", "x": x, "p": p, "eps": eps, "momentum": BATCH_NORM_MOMENTUM})
        }
        Op::Relu(x) => json!({"op": "relu", "x": x}),
        Op::Tanh(x) => json!({"op": "tanh", "x": x}),
        Op::MaxPool { x, k } => json!({"op": "max_pool", "x": x, "k": k}),
        Op::GlobalAvgPool(x) => json!({"op": "global_avg_pool", "x": x}),
        Op::Flatten(x) => json!({"op": "flatten", "x": x}),
        Op::Linear { x, w, b } => json!({"op": "linear", "x": x, "w": w, "b": b}),
        Op::Dropout { x, p } => json!({"op": "dropout", "x": x, "p": p}),
        Op::Add(a, b) => json!({"op": "add", "a": a, "b": b}),
        Op::Concat(xs) => json!({"op": "concat", "xs": xs}),
        Op::PixelShuffle { x, r } => json!({"op": "pixel_shuffle", "x": x, "r": r}),
        Op::DetectionHead { x, channels, stride, max_size } => {
            json!({"op": "detection_head", "x": x, "channels": channels, "stride": stride, "max_size": max_size})
        }
    }
}

/// The graph as JSON: name, input channels, fixed input size, parameters (name, shape, init,
/// trainable) in creation order, nodes in evaluation order, output value.
pub fn to_json(net: &Net) -> Value {
    let params: Vec<Value> = net
        .params
        .iter()
        .map(|p| json!({"name": p.name, "shape": p.shape, "init": init_name(p.init), "trainable": p.trainable}))
        .collect();
    let nodes: Vec<Value> = net
        .nodes
        .iter()
        .enumerate()
        .map(|(i, op)| {
            let mut v = node(op);
            v["id"] = json!(i + 1);
            v
        })
        .collect();
    json!({
        "name": net.name,
        "in_channels": net.in_channels,
        "fixed_size": net.fixed_size,
        "params": params,
        "nodes": nodes,
        "output": net.output,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::{self, ResNetDepth};
    use crate::graph::{Id, Param};

    fn id(v: &Value) -> Id {
        v.as_u64().expect("a value id") as Id
    }

    fn s(v: &Value) -> String {
        v.as_str().expect("a parameter name").to_string()
    }

    fn i(v: &Value) -> i64 {
        v.as_i64().expect("an integer")
    }

    /// Rebuilds a `Net` from the JSON alone, the way the Python side does.
    fn from_json(v: &Value) -> Net {
        let params = v["params"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| Param {
                name: s(&p["name"]),
                shape: p["shape"].as_array().unwrap().iter().map(i).collect(),
                init: match p["init"].as_str().unwrap() {
                    "kaiming" => Init::Kaiming,
                    "zeros" => Init::Zeros,
                    "ones" => Init::Ones,
                    other => match other.strip_prefix("channel_repeat:").and_then(|r| r.parse().ok()) {
                        Some(r) => Init::ChannelRepeat { r },
                        None => panic!("init {other}"),
                    },
                },
                trainable: p["trainable"].as_bool().unwrap(),
            })
            .collect();
        let nodes = v["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| match n["op"].as_str().unwrap() {
                "conv" => Op::Conv {
                    x: id(&n["x"]),
                    w: s(&n["w"]),
                    b: n["b"].as_str().map(str::to_string),
                    stride: i(&n["stride"]),
                    pad: i(&n["pad"]),
                    groups: i(&n["groups"]),
                },
                "conv_transpose" => Op::ConvT {
                    x: id(&n["x"]),
                    w: s(&n["w"]),
                    b: n["b"].as_str().map(str::to_string),
                    stride: i(&n["stride"]),
                },
                "batch_norm" => Op::BatchNorm { x: id(&n["x"]), p: s(&n["p"]), eps: n["eps"].as_f64().unwrap() },
                "relu" => Op::Relu(id(&n["x"])),
                "tanh" => Op::Tanh(id(&n["x"])),
                "max_pool" => Op::MaxPool { x: id(&n["x"]), k: i(&n["k"]) },
                "global_avg_pool" => Op::GlobalAvgPool(id(&n["x"])),
                "flatten" => Op::Flatten(id(&n["x"])),
                "linear" => Op::Linear { x: id(&n["x"]), w: s(&n["w"]), b: s(&n["b"]) },
                "dropout" => Op::Dropout { x: id(&n["x"]), p: n["p"].as_f64().unwrap() },
                "add" => Op::Add(id(&n["a"]), id(&n["b"])),
                "concat" => Op::Concat(n["xs"].as_array().unwrap().iter().map(id).collect()),
                "pixel_shuffle" => Op::PixelShuffle { x: id(&n["x"]), r: i(&n["r"]) },
                other => panic!("op {other}"),
            })
            .collect();
        Net {
            name: s(&v["name"]),
            in_channels: i(&v["in_channels"]),
            fixed_size: v["fixed_size"].as_i64(),
            params,
            nodes,
            output: id(&v["output"]),
        }
    }

    fn all_archs() -> Vec<Net> {
        vec![
            arch::population_cnn(4, 32),
            arch::espcn(3, 2),
            arch::srresnet(3, 2, 2, 16),
            arch::unet(14, 6, 4, 32),
            arch::resnet(13, 10, ResNetDepth::R18, 64, 64),
            arch::resnet(4, 3, ResNetDepth::R50, 32, 16),
            arch::squeezenet(4, 5, false),
            arch::squeezenet(8, 5, true),
        ]
    }

    #[test]
    fn json_rebuilds_every_architecture_node_for_node() {
        let mut kinds = std::collections::BTreeSet::new();
        for net in all_archs() {
            let v = to_json(&net);
            // Through text, as the Python side reads it.
            let v: Value = serde_json::from_str(&v.to_string()).unwrap();
            let back = from_json(&v);
            assert_eq!(back.name, net.name);
            assert_eq!(back.in_channels, net.in_channels);
            assert_eq!(back.fixed_size, net.fixed_size);
            assert_eq!(back.params, net.params, "{}", net.name);
            assert_eq!(back.nodes, net.nodes, "{}", net.name);
            assert_eq!(back.output, net.output);
            for (k, n) in v["nodes"].as_array().unwrap().iter().enumerate() {
                assert_eq!(id(&n["id"]), k + 1);
                kinds.insert(n["op"].as_str().unwrap().to_string());
            }
        }
        // The architectures above use every op kind.
        let all = [
            "add",
            "batch_norm",
            "concat",
            "conv",
            "conv_transpose",
            "dropout",
            "flatten",
            "global_avg_pool",
            "linear",
            "max_pool",
            "pixel_shuffle",
            "relu",
            "tanh",
        ];
        assert_eq!(kinds.into_iter().collect::<Vec<_>>(), all);
    }

    #[test]
    fn resnet18_json_fields() {
        let net = arch::resnet(13, 10, ResNetDepth::R18, 64, 64);
        let v = to_json(&net);
        assert_eq!(v["name"], "resnet18");
        assert_eq!(v["in_channels"], 13);
        assert!(v["fixed_size"].is_null());
        assert_eq!(v["output"], net.nodes.len());
        assert_eq!(
            v["params"][0],
            json!({"name": "conv1.weight", "shape": [64, 13, 3, 3], "init": "kaiming", "trainable": true})
        );
        assert_eq!(
            v["nodes"][0],
            json!({"id": 1, "op": "conv", "x": 0, "w": "conv1.weight", "b": null, "stride": 1, "pad": 1, "groups": 1})
        );
        assert_eq!(
            v["nodes"][1],
            json!({"id": 2, "op": "batch_norm", "x": 1, "p": "bn2", "eps": 1e-5, "momentum": 0.1})
        );
        // Trainable parameters: 11.2 M for ResNet-18 at width 64 (13 bands, 10 classes).
        let trainable: i64 = net.params.iter().filter(|p| p.trainable).map(|p| p.shape.iter().product::<i64>()).sum();
        let from_json: i64 = v["params"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["trainable"] == true)
            .map(|p| p["shape"].as_array().unwrap().iter().map(i).product::<i64>())
            .sum();
        assert_eq!(trainable, from_json);
        assert!((11_000_000..11_300_000).contains(&trainable), "{trainable}");
    }
}
