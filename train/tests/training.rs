//! Every architecture learns a planted signal from a small generated dataset, on 2 cores in
//! seconds: the loss falls and the result clears a bar well above chance.
//! - classifiers (ResNet-18, ResNet-50, SqueezeNet, SpectrumNet): class k brightens band k;
//!   bar: training accuracy >= 0.8 (chance 0.25);
//! - U-Net: each pixel's class is the brightest of three bands; bar: pixel accuracy >= 0.75
//!   (chance 1/3);
//! - ESPCN, SRResNet x3: smooth fields, low resolution = 3x3 area mean; bar: PSNR above the
//!   nearest-neighbour up-sampling of the same inputs.
//!
//! The population CNN is trained in closed_loop.rs (R^2 >= 0.8).

use rastrum::metrics::{psnr, Confusion};
use rastrum_train::arch::{self, ResNetDepth};
use rastrum_train::fit::{fit_tensors, FitConfig, Loss};
use rastrum_train::graph::Net;
use rastrum_train::torch::TchNet;
use tch::{Device, Kind, Tensor};

const CPU: (Kind, Device) = (Kind::Float, Device::Cpu);

fn accuracy(pred: &Tensor, truth: &Tensor, classes: usize) -> f64 {
    let p: Vec<i64> = Vec::try_from(&pred.flatten(0, -1)).unwrap();
    let t: Vec<i64> = Vec::try_from(&truth.flatten(0, -1)).unwrap();
    let mut c = Confusion::new(classes);
    for (t, p) in t.iter().zip(&p) {
        c.add(*t as usize, *p as usize);
    }
    c.scores().overall_accuracy
}

fn classifier(net: Net, bands: i64, size: i64, epochs: usize) {
    tch::manual_seed(11);
    let name = net.name.clone();
    let n = 64;
    let y = Tensor::randint(4, [n], (Kind::Int64, Device::Cpu));
    let x =
        Tensor::randn([n, bands, size, size], CPU) * 0.5 + y.one_hot(bands).to_kind(Kind::Float).view([n, bands, 1, 1]);
    let t = TchNet::new(net, Device::Cpu);
    let cfg = FitConfig { epochs, batch_size: 16, learning_rate: 5e-4, seed: 11, ..Default::default() };
    let history = fit_tensors(&t, &x, &y, Loss::CrossEntropy, &cfg).unwrap().train_losses();
    let pred = tch::no_grad(|| t.forward(&x, false)).argmax(1, false);
    let acc = accuracy(&pred, &y, 4);
    eprintln!("{name}: loss {:.3} -> {:.3}, accuracy {acc:.3}", history[0], history.last().unwrap());
    assert!(history.last().unwrap() < &history[0], "{name}: the loss must fall");
    assert!(acc >= 0.8, "{name}: accuracy {acc} below the bar 0.8");
}

#[test]
fn resnet18_learns_a_planted_class() {
    classifier(arch::resnet(10, 4, ResNetDepth::R18, 32, 8), 10, 32, 8);
}

#[test]
fn resnet50_learns_a_planted_class() {
    classifier(arch::resnet(13, 4, ResNetDepth::R50, 32, 4), 13, 32, 15);
}

#[test]
fn squeezenet_and_spectrumnet_learn_a_planted_class() {
    classifier(arch::squeezenet(13, 4, false), 13, 32, 12);
    classifier(arch::squeezenet(13, 4, true), 13, 32, 12);
}

#[test]
fn unet_learns_planted_pixel_classes() {
    tch::manual_seed(5);
    let (n, size) = (32, 32);
    let x = Tensor::randn([n, 14, size, size], CPU);
    // Smooth the first three bands so that classes form regions, then take the brightest.
    let smooth = x.narrow(1, 0, 3).avg_pool2d([5, 5], [1, 1], [2, 2], false, true, None::<i64>) * 3.0;
    let x = Tensor::cat(&[&smooth, &x.narrow(1, 3, 11)], 1);
    let y = smooth.argmax(1, false);
    let t = TchNet::new(arch::unet(14, 3, 2, 8), Device::Cpu);
    let cfg = FitConfig { epochs: 25, batch_size: 8, learning_rate: 3e-3, seed: 5, ..Default::default() };
    let history = fit_tensors(&t, &x, &y, Loss::CrossEntropy, &cfg).unwrap().train_losses();
    let pred = tch::no_grad(|| t.forward(&x, false)).argmax(1, false);
    let acc = accuracy(&pred, &y, 3);
    eprintln!("unet: loss {:.3} -> {:.3}, pixel accuracy {acc:.3}", history[0], history.last().unwrap());
    assert!(history.last().unwrap() < &history[0], "unet: the loss must fall");
    assert!(acc >= 0.75, "unet: pixel accuracy {acc} below the bar 0.75");
}

fn super_resolution(net: Net, epochs: usize) {
    tch::manual_seed(9);
    let name = net.name.clone();
    let (n, hi) = (48, 36);
    // Smooth fields: a few random sinusoids per image, values in about [0, 1].
    let grid = Tensor::arange(hi, (Kind::Float, Device::Cpu)) / hi as f64;
    let (yy, xx) = (grid.view([1, 1, hi, 1]), grid.view([1, 1, 1, hi]));
    let mut high = Tensor::zeros([n, 1, hi, hi], CPU) + 0.5;
    for _ in 0..3 {
        let (fx, fy, ph) = (
            Tensor::rand([n, 1, 1, 1], CPU) * 6.0,
            Tensor::rand([n, 1, 1, 1], CPU) * 6.0,
            Tensor::rand([n, 1, 1, 1], CPU) * std::f64::consts::TAU,
        );
        high += ((&xx * &fx + &yy * &fy) * std::f64::consts::TAU + &ph).sin() * 0.15;
    }
    let low = high.avg_pool2d([3, 3], [3, 3], [0, 0], false, true, None::<i64>);
    let nearest = low.upsample_nearest2d([hi, hi], None, None);
    let t = TchNet::new(net, Device::Cpu);
    let cfg = FitConfig { epochs, batch_size: 8, learning_rate: 2e-3, seed: 9, ..Default::default() };
    let history = fit_tensors(&t, &low, &high, Loss::Mse, &cfg).unwrap().train_losses();
    let out = tch::no_grad(|| t.forward(&low, false));
    let v = |t: &Tensor| Vec::<f64>::try_from(&t.to_kind(Kind::Double).flatten(0, -1)).unwrap();
    let (model_psnr, base_psnr) = (psnr(&v(&out), &v(&high), 1.0), psnr(&v(&nearest), &v(&high), 1.0));
    eprintln!(
        "{name}: loss {:.4} -> {:.4}, PSNR {model_psnr:.2} dB vs nearest {base_psnr:.2} dB",
        history[0],
        history.last().unwrap()
    );
    assert!(history.last().unwrap() < &history[0], "{name}: the loss must fall");
    assert!(model_psnr > base_psnr, "{name}: PSNR {model_psnr} does not beat nearest-neighbour {base_psnr}");
}

#[test]
fn espcn_beats_nearest_neighbour() {
    super_resolution(arch::espcn(1, 3), 40);
}

#[test]
fn srresnet_beats_nearest_neighbour() {
    super_resolution(arch::srresnet(1, 3, 2, 16), 80);
}
