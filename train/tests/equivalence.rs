//! For every architecture, the exported ONNX run through ONNX Runtime (Rastrum's own loader)
//! equals the tch forward pass on random input, for batch 1 and batch 3 (max abs diff <= 1e-4).
//! Batch-norm running statistics are first settled on the input distribution by training-mode
//! passes (so that their export is exercised, and eval-mode activations keep a trained net's
//! scale rather than a random deep net's, which would grow with depth).

use rastrum::{Model, SessionOptions};
use rastrum_train::arch::{self, ResNetDepth};
use rastrum_train::export::export;
use rastrum_train::graph::Net;
use rastrum_train::torch::TchNet;
use tch::{Device, Kind, Tensor};

fn check(net: Net, size: i64) {
    tch::manual_seed(7);
    let name = net.name.clone();
    let channels = net.in_channels;
    let t = TchNet::new(net, Device::Cpu);
    tch::no_grad(|| {
        for _ in 0..30 {
            let _ =
                t.forward(&(Tensor::randn([4, channels, size, size], (Kind::Float, Device::Cpu)) * 2.0 + 0.5), true);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{name}.onnx"));
    export(&t.net, &t.values(), &[("rastrum_task".into(), "\"regression\"".into())], &path).unwrap();
    let model = Model::load(&path, &SessionOptions { threads: Some(2), ..Default::default() })
        .unwrap_or_else(|e| panic!("{name}: {e} (RASTRUM_ORT_LIB set?)"));
    for batch in [1usize, 3] {
        let x = Tensor::randn([batch as i64, channels, size, size], (Kind::Float, Device::Cpu));
        let want = tch::no_grad(|| t.forward(&x, false));
        let want_shape: Vec<usize> = want.size().iter().map(|d| *d as usize).collect();
        let want: Vec<f32> = Vec::try_from(&want.flatten(0, -1)).unwrap();
        let input: Vec<f32> = Vec::try_from(&x.flatten(0, -1)).unwrap();
        let got = model.run(&input, [batch, channels as usize, size as usize, size as usize], 0).unwrap();
        assert_eq!(got.shape, want_shape, "{name} batch {batch}: shapes");
        let worst = got.data.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        let scale = want.iter().map(|v| v.abs()).fold(0f32, f32::max);
        eprintln!("{name} batch {batch}: max abs diff {worst:.2e} (outputs up to {scale:.2})");
        assert!(worst <= 1e-4, "{name} batch {batch}: max abs diff {worst}");
    }
}

#[test]
fn population_cnn() {
    check(arch::population_cnn(1, 32), 32);
}

#[test]
fn espcn_x3() {
    check(arch::espcn(1, 3), 24);
}

#[test]
fn srresnet_x3() {
    check(arch::srresnet(3, 3, 2, 16), 16);
}

#[test]
fn unet() {
    check(arch::unet(14, 5, 3, 8), 32);
}

#[test]
fn resnet18_on_32() {
    check(arch::resnet(10, 17, ResNetDepth::R18, 32, 16), 32);
}

#[test]
fn resnet50_on_64() {
    check(arch::resnet(13, 10, ResNetDepth::R50, 64, 8), 64);
}

#[test]
fn squeezenet_and_spectrumnet() {
    check(arch::squeezenet(13, 10, false), 64);
    check(arch::squeezenet(13, 10, true), 64);
}

#[test]
fn yolo_detector() {
    check(arch::yolo(3, 2, 64, 3, 8, 32.0), 64);
}
