//! The tch backend: a `Net`'s parameters in a `VarStore` and its forward pass, layer by layer,
//! with the same semantics the ONNX export writes (see `export`).

use std::collections::HashMap;

use tch::nn::{Init as TchInit, VarStore};
use tch::{Device, Kind, Tensor};

use crate::graph::{head_constants, Init, Net, Op};

/// A network with its parameters on a device.
pub struct TchNet {
    pub net: Net,
    pub vs: VarStore,
    params: HashMap<String, Tensor>,
}

impl TchNet {
    /// Creates the parameters (Kaiming-uniform weights, zero biases, unit scales).
    pub fn new(net: Net, device: Device) -> TchNet {
        let vs = VarStore::new(device);
        let root = vs.root();
        let mut params = HashMap::new();
        for p in &net.params {
            // tch separates path segments with '.': "conv1.weight" is variable "weight" under
            // "conv1", and VarStore names it back "conv1.weight".
            let (path, leaf) = p.name.rsplit_once('.').unwrap_or(("", p.name.as_str()));
            let root = if path.is_empty() { root.clone() } else { &root / path };
            let t = match (p.init, p.trainable) {
                (Init::Kaiming, _) => root.var(
                    leaf,
                    &p.shape,
                    TchInit::Kaiming {
                        dist: tch::nn::init::NormalOrUniform::Uniform,
                        fan: tch::nn::init::FanInOut::FanIn,
                        non_linearity: tch::nn::init::NonLinearity::ReLU,
                    },
                ),
                (Init::Zeros, true) => root.zeros(leaf, &p.shape),
                (Init::Ones, true) => root.ones(leaf, &p.shape),
                (Init::Zeros, false) => root.zeros_no_train(leaf, &p.shape),
                (Init::Ones, false) => root.ones_no_train(leaf, &p.shape),
                (Init::ChannelRepeat { r }, trainable) => {
                    let t = if trainable { root.zeros(leaf, &p.shape) } else { root.zeros_no_train(leaf, &p.shape) };
                    let per = r * r;
                    tch::no_grad(|| {
                        for o in 0..p.shape[0] {
                            let _ = t.get(o).get(o / per).fill_(1.0);
                        }
                    });
                    t
                }
            };
            params.insert(p.name.clone(), t);
        }
        TchNet { net, vs, params }
    }

    fn p(&self, name: &str) -> &Tensor {
        &self.params[name]
    }

    /// The forward pass on `x` [N, C, H, W]; `train` enables dropout and batch statistics.
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let mut values: Vec<Tensor> = Vec::with_capacity(self.net.nodes.len() + 1);
        values.push(x.shallow_clone());
        for op in &self.net.nodes {
            let v = |i: &usize| &values[*i];
            let out = match op {
                Op::Conv { x, w, b, stride, pad, groups } => {
                    v(x).conv2d(self.p(w), b.as_ref().map(|b| self.p(b)), [*stride; 2], [*pad; 2], [1, 1], *groups)
                }
                Op::ConvT { x, w, b, stride } => v(x).conv_transpose2d(
                    self.p(w),
                    b.as_ref().map(|b| self.p(b)),
                    [*stride; 2],
                    [0, 0],
                    [0, 0],
                    1,
                    [1, 1],
                ),
                Op::BatchNorm { x, p, eps } => v(x).batch_norm(
                    Some(self.p(&format!("{p}.weight"))),
                    Some(self.p(&format!("{p}.bias"))),
                    Some(self.p(&format!("{p}.running_mean"))),
                    Some(self.p(&format!("{p}.running_var"))),
                    train,
                    0.1,
                    *eps,
                    false,
                ),
                Op::Relu(x) => v(x).relu(),
                Op::Tanh(x) => v(x).tanh(),
                Op::MaxPool { x, k } => v(x).max_pool2d([*k; 2], [*k; 2], [0, 0], [1, 1], false),
                Op::GlobalAvgPool(x) => v(x).adaptive_avg_pool2d([1, 1]),
                Op::Flatten(x) => v(x).flatten(1, -1),
                Op::Linear { x, w, b } => v(x).linear(self.p(w), Some(self.p(b))),
                Op::Dropout { x, p } => v(x).dropout(*p, train),
                Op::Add(a, b) => v(a) + v(b),
                Op::Concat(xs) => Tensor::cat(&xs.iter().map(|i| &values[*i]).collect::<Vec<_>>(), 1),
                Op::PixelShuffle { x, r } => v(x).pixel_shuffle(*r),
                Op::DetectionHead { x, channels, stride, max_size } => {
                    detection_head(v(x), *channels, *stride, *max_size)
                }
            };
            values.push(out);
        }
        values.swap_remove(self.net.output)
    }

    /// Every parameter and buffer as f32 values, for the export.
    pub fn values(&self) -> HashMap<String, Vec<f32>> {
        self.params
            .iter()
            .map(|(k, t)| {
                let flat = t.detach().to_device(Device::Cpu).to_kind(Kind::Float).flatten(0, -1);
                (k.clone(), Vec::<f32>::try_from(&flat).unwrap_or_default())
            })
            .collect()
    }
}

/// `Op::DetectionHead` on a feature map [N, channels, rows, columns].
fn detection_head(x: &Tensor, channels: i64, stride: i64, max_size: f64) -> Tensor {
    let size = x.size();
    let (rows, columns) = (size[2], size[3]);
    let (scale, offset) = head_constants(channels, rows, columns, stride, max_size);
    let scale = Tensor::from_slice(&scale).view([1, channels, 1]).to_device(x.device());
    let offset = Tensor::from_slice(&offset).view([1, channels, rows * columns]).to_device(x.device());
    x.reshape([size[0], channels, rows * columns]).sigmoid() * scale + offset
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::NetBuilder;

    #[test]
    fn the_upsample_path_starts_as_nearest_neighbour_upsampling() {
        let mut b = NetBuilder::new("up", 2, None);
        let x = b.input();
        let y = b.upsample_path(x, 2, 3);
        let net = TchNet::new(b.finish(y), Device::Cpu);
        let input = Tensor::arange(2 * 2 * 3, (tch::Kind::Float, Device::Cpu)).reshape([1, 2, 2, 3]);
        let got = net.forward(&input, false);
        // Each input pixel becomes a 3 x 3 block of its value, band by band.
        let want = input.repeat_interleave_self_int(3, 2, None).repeat_interleave_self_int(3, 3, None);
        assert_eq!(got.size(), [1, 2, 6, 9]);
        assert_eq!(f64::try_from((got - want).abs().max()).unwrap(), 0.0);
    }
}
