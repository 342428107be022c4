//! The one definition of an architecture: a small graph of layers with named parameters. The
//! tch backend (`torch`) evaluates it to train, the ONNX backend (`export`) writes the same graph
//! as ONNX nodes, so the exported model cannot drift from the trained one.

/// A value in the graph: 0 is the input, node `i` produces value `i + 1`.
pub type Id = usize;

/// How a parameter starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// Kaiming-uniform over the fan-in (weights of convolutions and dense layers).
    Kaiming,
    Zeros,
    Ones,
    /// Fixed weights [C r^2, C, 1, 1] of a 1x1 convolution that repeats each channel r^2 times
    /// (w[c r^2 + k][c] = 1): a pixel shuffle by r after it is nearest-neighbour up-sampling.
    ChannelRepeat {
        r: i64,
    },
}

/// A named tensor of the model: trainable, or a buffer (batch-norm running statistics).
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: String,
    pub shape: Vec<i64>,
    pub init: Init,
    pub trainable: bool,
}

/// The layers the supported architectures are made of.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// 2-D convolution, NCHW; `w` is [out, in / groups, k, k].
    Conv {
        x: Id,
        w: String,
        b: Option<String>,
        stride: i64,
        pad: i64,
        groups: i64,
    },
    /// Transposed convolution with kernel = stride (U-Net up-sampling); `w` is [in, out, k, k].
    ConvT {
        x: Id,
        w: String,
        b: Option<String>,
        stride: i64,
    },
    /// Batch normalisation over channels; parameters `{p}.weight`, `.bias`, `.running_mean`,
    /// `.running_var`.
    BatchNorm {
        x: Id,
        p: String,
        eps: f64,
    },
    Relu(Id),
    Tanh(Id),
    /// Max pooling with kernel = stride = `k`.
    MaxPool {
        x: Id,
        k: i64,
    },
    /// Mean over height and width, keeping [N, C, 1, 1].
    GlobalAvgPool(Id),
    /// [N, ...] -> [N, rest].
    Flatten(Id),
    /// Dense layer, `w` is [out, in].
    Linear {
        x: Id,
        w: String,
        b: String,
    },
    /// Dropout with probability `p` while training; the identity in inference.
    Dropout {
        x: Id,
        p: f64,
    },
    Add(Id, Id),
    /// Concatenation along channels.
    Concat(Vec<Id>),
    /// Sub-pixel rearrangement [N, C r^2, H, W] -> [N, C, H r, W r] (ESPCN).
    PixelShuffle {
        x: Id,
        r: i64,
    },
    /// YOLO-style anchor-free detection head: a feature map [N, `channels` = 4 + classes, H / s,
    /// W / s] becomes boxes in input pixels, [N, 4 + classes, cells] (Ultralytics' `[b, 4 + nc, N]`
    /// layout, cells row by row). Every value goes through a sigmoid; a cell's box centre is
    /// (cell + sigmoid) * `stride`, its width and height sigmoid * `max_size`, its class scores
    /// the sigmoids themselves (`head_constants`).
    DetectionHead {
        x: Id,
        channels: i64,
        stride: i64,
        max_size: f64,
    },
}

/// The constants of a `DetectionHead` over a `rows` x `columns` grid of cells: the scale of
/// each channel [channels] and the offset of each channel and cell [channels * cells], so that
/// the head's output is `sigmoid(x) * scale + offset`. One definition for training and export.
pub fn head_constants(channels: i64, rows: i64, columns: i64, stride: i64, max_size: f64) -> (Vec<f32>, Vec<f32>) {
    let cells = (rows * columns) as usize;
    let mut scale = vec![1.0f32; channels as usize];
    scale[0] = stride as f32;
    scale[1] = stride as f32;
    scale[2] = max_size as f32;
    scale[3] = max_size as f32;
    let mut offset = vec![0.0f32; channels as usize * cells];
    for k in 0..cells {
        let (row, column) = (k as i64 / columns, k as i64 % columns);
        offset[k] = (column * stride) as f32;
        offset[cells + k] = (row * stride) as f32;
    }
    (scale, offset)
}

/// A whole network: its input, parameters, layers and output.
#[derive(Debug, Clone)]
pub struct Net {
    pub name: String,
    pub in_channels: i64,
    /// Input height and width when the architecture needs one (a dense head); `None` for fully
    /// convolutional networks (exported with dynamic height and width).
    pub fixed_size: Option<i64>,
    pub params: Vec<Param>,
    pub nodes: Vec<Op>,
    pub output: Id,
}

/// Builds a `Net` layer by layer, naming parameters `{prefix}.weight` etc.
pub struct NetBuilder {
    net: Net,
    counter: usize,
}

impl NetBuilder {
    pub fn new(name: &str, in_channels: i64, fixed_size: Option<i64>) -> NetBuilder {
        NetBuilder {
            net: Net { name: name.into(), in_channels, fixed_size, params: Vec::new(), nodes: Vec::new(), output: 0 },
            counter: 0,
        }
    }

    pub fn input(&self) -> Id {
        0
    }

    fn push(&mut self, op: Op) -> Id {
        self.net.nodes.push(op);
        self.net.nodes.len()
    }

    fn param(&mut self, name: String, shape: Vec<i64>, init: Init, trainable: bool) -> String {
        self.net.params.push(Param { name: name.clone(), shape, init, trainable });
        name
    }

    fn prefix(&mut self, kind: &str) -> String {
        self.counter += 1;
        format!("{kind}{}", self.counter)
    }

    /// k x k convolution, 'same' padding for odd k at stride 1.
    pub fn conv(&mut self, x: Id, cin: i64, cout: i64, k: i64, stride: i64, bias: bool) -> Id {
        self.conv_groups(x, cin, cout, k, stride, 1, bias)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn conv_groups(&mut self, x: Id, cin: i64, cout: i64, k: i64, stride: i64, groups: i64, bias: bool) -> Id {
        let p = self.prefix("conv");
        let w = self.param(format!("{p}.weight"), vec![cout, cin / groups, k, k], Init::Kaiming, true);
        let b = bias.then(|| self.param(format!("{p}.bias"), vec![cout], Init::Zeros, true));
        self.push(Op::Conv { x, w, b, stride, pad: k / 2, groups })
    }

    pub fn conv_transpose(&mut self, x: Id, cin: i64, cout: i64, k: i64) -> Id {
        let p = self.prefix("up");
        let w = self.param(format!("{p}.weight"), vec![cin, cout, k, k], Init::Kaiming, true);
        let b = Some(self.param(format!("{p}.bias"), vec![cout], Init::Zeros, true));
        self.push(Op::ConvT { x, w, b, stride: k })
    }

    pub fn batch_norm(&mut self, x: Id, c: i64) -> Id {
        let p = self.prefix("bn");
        self.param(format!("{p}.weight"), vec![c], Init::Ones, true);
        self.param(format!("{p}.bias"), vec![c], Init::Zeros, true);
        self.param(format!("{p}.running_mean"), vec![c], Init::Zeros, false);
        self.param(format!("{p}.running_var"), vec![c], Init::Ones, false);
        self.push(Op::BatchNorm { x, p, eps: 1e-5 })
    }

    pub fn relu(&mut self, x: Id) -> Id {
        self.push(Op::Relu(x))
    }

    pub fn tanh(&mut self, x: Id) -> Id {
        self.push(Op::Tanh(x))
    }

    pub fn max_pool(&mut self, x: Id, k: i64) -> Id {
        self.push(Op::MaxPool { x, k })
    }

    pub fn global_avg_pool(&mut self, x: Id) -> Id {
        self.push(Op::GlobalAvgPool(x))
    }

    pub fn flatten(&mut self, x: Id) -> Id {
        self.push(Op::Flatten(x))
    }

    pub fn linear(&mut self, x: Id, fin: i64, fout: i64) -> Id {
        let p = self.prefix("fc");
        let w = self.param(format!("{p}.weight"), vec![fout, fin], Init::Kaiming, true);
        let b = self.param(format!("{p}.bias"), vec![fout], Init::Zeros, true);
        self.push(Op::Linear { x, w, b })
    }

    pub fn dropout(&mut self, x: Id, p: f64) -> Id {
        self.push(Op::Dropout { x, p })
    }

    pub fn add(&mut self, a: Id, b: Id) -> Id {
        self.push(Op::Add(a, b))
    }

    pub fn concat(&mut self, xs: Vec<Id>) -> Id {
        self.push(Op::Concat(xs))
    }

    pub fn pixel_shuffle(&mut self, x: Id, r: i64) -> Id {
        self.push(Op::PixelShuffle { x, r })
    }

    /// The input up-sampled by `r` through a 1x1 convolution and a pixel shuffle: initialised to
    /// nearest-neighbour up-sampling (each channel repeated r^2 times), trainable with a bias so
    /// that it learns to map standardised inputs to target units. A global residual path made of
    /// existing layers: it exports to ONNX and runs in tch without a new operator.
    pub fn upsample_path(&mut self, x: Id, channels: i64, r: i64) -> Id {
        let p = self.prefix("upsample");
        let w =
            self.param(format!("{p}.weight"), vec![channels * r * r, channels, 1, 1], Init::ChannelRepeat { r }, true);
        let b = Some(self.param(format!("{p}.bias"), vec![channels * r * r], Init::Zeros, true));
        let y = self.push(Op::Conv { x, w, b, stride: 1, pad: 0, groups: 1 });
        self.pixel_shuffle(y, r)
    }

    /// The detection head over `x` [N, `channels`, H / stride, W / stride] (`Op::DetectionHead`).
    pub fn detection_head(&mut self, x: Id, channels: i64, stride: i64, max_size: f64) -> Id {
        self.push(Op::DetectionHead { x, channels, stride, max_size })
    }

    pub fn finish(mut self, output: Id) -> Net {
        self.net.output = output;
        self.net
    }
}
