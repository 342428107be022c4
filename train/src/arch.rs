//! The architectures of the five workflows and the detector, each defined once as a `Net` (trained through
//! `torch`, exported through `export`).

use crate::graph::{Id, Net, NetBuilder};

/// The population CNN of the night-lights seed: conv3x3 32 / pool / 64 / pool / 128 / pool /
/// flatten / dropout 0.5 / dense 64 / dense 1, on `size` x `size` chips (32 in the seed).
pub fn population_cnn(in_channels: i64, size: i64) -> Net {
    let mut b = NetBuilder::new("population_cnn", in_channels, Some(size));
    let mut x = b.input();
    let mut c = in_channels;
    for out in [32, 64, 128] {
        x = b.conv(x, c, out, 3, 1, true);
        x = b.relu(x);
        x = b.max_pool(x, 2);
        c = out;
    }
    x = b.flatten(x);
    x = b.dropout(x, 0.5);
    let flat = 128 * (size / 8) * (size / 8);
    x = b.linear(x, flat, 64);
    x = b.relu(x);
    x = b.linear(x, 64, 1);
    b.finish(x)
}

/// ESPCN (sub-pixel convolution) super-resolution by `scale`: conv5x5 64 / tanh / conv3x3 32 /
/// tanh / conv3x3 (channels x scale^2) / pixel shuffle, added to the input up-sampled (a global
/// residual as in VDSR, `NetBuilder::upsample_path`: the net learns the missing detail, not the
/// whole image). Fully convolutional.
pub fn espcn(channels: i64, scale: i64) -> Net {
    let mut b = NetBuilder::new("espcn", channels, None);
    let input = b.input();
    let mut x = b.conv(input, channels, 64, 5, 1, true);
    x = b.tanh(x);
    x = b.conv(x, 64, 32, 3, 1, true);
    x = b.tanh(x);
    x = b.conv(x, 32, channels * scale * scale, 3, 1, true);
    x = b.pixel_shuffle(x, scale);
    let base = b.upsample_path(input, channels, scale);
    x = b.add(x, base);
    b.finish(x)
}

/// SRResNet generator (residual blocks of conv / BN / ReLU / conv / BN, a long skip, then
/// sub-pixel up-sampling by `scale` in one step), added to the input up-sampled (global
/// residual, `NetBuilder::upsample_path`). ReLU stands in for the paper's PReLU.
pub fn srresnet(channels: i64, scale: i64, blocks: usize, width: i64) -> Net {
    let mut b = NetBuilder::new("srresnet", channels, None);
    let input = b.input();
    let mut x = b.conv(input, channels, width, 9, 1, true);
    let head = b.relu(x);
    x = head;
    for _ in 0..blocks {
        let mut y = b.conv(x, width, width, 3, 1, false);
        y = b.batch_norm(y, width);
        y = b.relu(y);
        y = b.conv(y, width, width, 3, 1, false);
        y = b.batch_norm(y, width);
        x = b.add(x, y);
    }
    x = b.conv(x, width, width, 3, 1, false);
    x = b.batch_norm(x, width);
    x = b.add(x, head);
    x = b.conv(x, width, width * scale * scale, 3, 1, true);
    x = b.pixel_shuffle(x, scale);
    x = b.relu(x);
    x = b.conv(x, width, channels, 9, 1, true);
    let base = b.upsample_path(input, channels, scale);
    x = b.add(x, base);
    b.finish(x)
}

fn double_conv(b: &mut NetBuilder, x: Id, cin: i64, cout: i64) -> Id {
    let mut x = b.conv(x, cin, cout, 3, 1, false);
    x = b.batch_norm(x, cout);
    x = b.relu(x);
    x = b.conv(x, cout, cout, 3, 1, false);
    x = b.batch_norm(x, cout);
    b.relu(x)
}

/// The U-Net's encoder: `levels` double convolutions of `width` x 2^level channels, max-pooled
/// between levels (stride 2^(levels - 1)). Returns the deepest features, their channels, and
/// each upper level's output with its channels (the skips).
fn encoder(b: &mut NetBuilder, cin: i64, levels: usize, width: i64) -> (Id, i64, Vec<(Id, i64)>) {
    let mut x = b.input();
    let mut skips = Vec::new();
    let mut c = cin;
    for level in 0..levels {
        let out = width << level;
        x = double_conv(b, x, c, out);
        c = out;
        if level + 1 < levels {
            skips.push((x, out));
            x = b.max_pool(x, 2);
        }
    }
    (x, c, skips)
}

/// U-Net with `depth` levels (tile sizes must be multiples of 2^(depth-1)) and `width` channels
/// at the top level, doubling per level; per-pixel class logits.
pub fn unet(in_channels: i64, classes: i64, depth: usize, width: i64) -> Net {
    let mut b = NetBuilder::new("unet", in_channels, None);
    let (mut x, mut c, mut skips) = encoder(&mut b, in_channels, depth, width);
    while let Some((skip, sc)) = skips.pop() {
        let up = b.conv_transpose(x, c, sc, 2);
        let cat = b.concat(vec![skip, up]);
        x = double_conv(&mut b, cat, 2 * sc, sc);
        c = sc;
    }
    x = b.conv(x, c, classes, 1, 1, true);
    b.finish(x)
}

/// A small YOLO-style detector of `size` x `size` tiles: the U-Net's encoder (`levels` levels:
/// stride 2^(levels - 1)), a 3x3 convolution, and a 1x1 convolution to 4 + `classes` values per
/// cell that the detection head decodes into boxes of at most `max_size` pixels a side, in
/// Ultralytics' `[b, 4 + nc, N]` layout (`rastrum run` reads it as `YOLO_Ultralytics`).
pub fn yolo(in_channels: i64, classes: i64, size: i64, levels: usize, width: i64, max_size: f64) -> Net {
    let mut b = NetBuilder::new("yolo", in_channels, Some(size));
    let (mut x, c, _) = encoder(&mut b, in_channels, levels, width);
    x = b.conv(x, c, c, 3, 1, false);
    x = b.batch_norm(x, c);
    x = b.relu(x);
    x = b.conv(x, c, 4 + classes, 1, 1, true);
    x = b.detection_head(x, 4 + classes, 1 << (levels - 1), max_size);
    b.finish(x)
}

/// ResNet depth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ResNetDepth {
    /// Basic blocks [2, 2, 2, 2].
    R18,
    /// Bottleneck blocks [3, 4, 6, 3], expansion 4.
    R50,
}

/// ResNet for small chips: a 3x3 stem (no 7x7 / max-pool, which would erase 32x32 inputs; a
/// 2x2 max-pool only from 64 pixels up), four stages of `width` x (1, 2, 4, 8) channels, global
/// average pooling and a dense layer to `classes` logits.
pub fn resnet(in_channels: i64, classes: i64, depth: ResNetDepth, input_size: i64, width: i64) -> Net {
    let name = match depth {
        ResNetDepth::R18 => "resnet18",
        ResNetDepth::R50 => "resnet50",
    };
    let mut b = NetBuilder::new(name, in_channels, None);
    let mut x = b.input();
    x = b.conv(x, in_channels, width, 3, 1, false);
    x = b.batch_norm(x, width);
    x = b.relu(x);
    if input_size >= 64 {
        x = b.max_pool(x, 2);
    }
    let (blocks, expansion) = match depth {
        ResNetDepth::R18 => ([2, 2, 2, 2], 1),
        ResNetDepth::R50 => ([3, 4, 6, 3], 4),
    };
    let mut c = width;
    for (stage, n) in blocks.iter().enumerate() {
        let mid = width << stage;
        let out = mid * expansion;
        for i in 0..*n {
            let stride = if stage > 0 && i == 0 { 2 } else { 1 };
            let mut y = x;
            if expansion == 1 {
                y = b.conv(y, c, mid, 3, stride, false);
                y = b.batch_norm(y, mid);
                y = b.relu(y);
                y = b.conv(y, mid, out, 3, 1, false);
                y = b.batch_norm(y, out);
            } else {
                y = b.conv(y, c, mid, 1, 1, false);
                y = b.batch_norm(y, mid);
                y = b.relu(y);
                y = b.conv(y, mid, mid, 3, stride, false);
                y = b.batch_norm(y, mid);
                y = b.relu(y);
                y = b.conv(y, mid, out, 1, 1, false);
                y = b.batch_norm(y, out);
            }
            let shortcut = if stride != 1 || c != out {
                let s = b.conv(x, c, out, 1, stride, false);
                b.batch_norm(s, out)
            } else {
                x
            };
            let sum = b.add(y, shortcut);
            x = b.relu(sum);
            c = out;
        }
    }
    x = b.global_avg_pool(x);
    x = b.flatten(x);
    x = b.linear(x, c, classes);
    b.finish(x)
}

fn fire(b: &mut NetBuilder, x: Id, cin: i64, squeeze: i64, expand: i64) -> (Id, i64) {
    let mut s = b.conv(x, cin, squeeze, 1, 1, true);
    s = b.relu(s);
    let e1 = b.conv(s, squeeze, expand, 1, 1, true);
    let e1 = b.relu(e1);
    let e3 = b.conv(s, squeeze, expand, 3, 1, true);
    let e3 = b.relu(e3);
    (b.concat(vec![e1, e3]), 2 * expand)
}

/// A SqueezeNet-style classifier of fire modules; with `spectral`, the SpectrumNet variant
/// whose first layer is a 1x1 (per-pixel spectral) convolution.
pub fn squeezenet(in_channels: i64, classes: i64, spectral: bool) -> Net {
    let mut b = NetBuilder::new(if spectral { "spectrumnet" } else { "squeezenet" }, in_channels, None);
    let mut x = b.input();
    x = b.conv(x, in_channels, 64, if spectral { 1 } else { 3 }, 1, true);
    x = b.relu(x);
    let mut c = 64;
    for (i, (sq, ex)) in [(16, 32), (16, 32), (32, 64), (32, 64), (48, 96), (64, 128)].iter().enumerate() {
        if i == 2 || i == 4 {
            x = b.max_pool(x, 2);
        }
        (x, c) = fire(&mut b, x, c, *sq, *ex);
    }
    x = b.dropout(x, 0.5);
    x = b.conv(x, c, classes, 1, 1, true);
    x = b.relu(x);
    x = b.global_avg_pool(x);
    x = b.flatten(x);
    b.finish(x)
}
