//! Checkpoints: saved weights and batch-norm buffers come back exactly, into a fresh network of
//! the same architecture; a different architecture is refused with a message naming it.

use rastrum_train::arch::{self, ResNetDepth};
use rastrum_train::checkpoint::{load, save};
use rastrum_train::torch::TchNet;
use tch::{Device, Kind, Tensor};

#[test]
fn a_checkpoint_restores_the_same_network() {
    tch::manual_seed(3);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resnet.safetensors");
    let trained = TchNet::new(arch::resnet(4, 3, ResNetDepth::R18, 32, 8), Device::Cpu);
    // Move the batch-norm running statistics so that the buffers matter.
    tch::no_grad(|| {
        let _ = trained.forward(&(Tensor::randn([4, 4, 32, 32], (Kind::Float, Device::Cpu)) * 3.0 + 1.0), true);
    });
    save(&trained, &path).unwrap();
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");

    tch::manual_seed(99);
    let mut resumed = TchNet::new(arch::resnet(4, 3, ResNetDepth::R18, 32, 8), Device::Cpu);
    let x = Tensor::randn([2, 4, 32, 32], (Kind::Float, Device::Cpu));
    let before = tch::no_grad(|| resumed.forward(&x, false));
    load(&mut resumed, &path).unwrap();
    let (a, b) = tch::no_grad(|| (trained.forward(&x, false), resumed.forward(&x, false)));
    assert_eq!(Vec::<f32>::try_from(&a.flatten(0, -1)).unwrap(), Vec::<f32>::try_from(&b.flatten(0, -1)).unwrap());
    assert!((&before - &b).abs().max().double_value(&[]) > 1e-3, "loading must change the fresh network");

    let mut other = TchNet::new(arch::unet(4, 3, 2, 8), Device::Cpu);
    let err = load(&mut other, &path).unwrap_err().to_string();
    assert!(err.contains("unet") && err.contains("resnet.safetensors"), "{err}");
    assert!(save(&trained, &dir.path().join("x.pt")).is_err());
}
