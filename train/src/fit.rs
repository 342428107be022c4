//! The training loop: Adam with weight decay, ReduceLROnPlateau, mini-batches read lazily from
//! the dataset each epoch in a seeded order. (Augmentation, class weights, early stopping,
//! checkpoints and k-fold are the next steps of issue 5.)

use rastrum::Result;
use tch::nn::{Adam, Optimizer, OptimizerConfig};
use tch::{Device, Kind, Tensor};

use crate::batch;
use crate::data::stats::BandStats;
use crate::data::Dataset;
use crate::torch::TchNet;

#[derive(Debug, Clone)]
pub struct FitConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    /// ReduceLROnPlateau: multiply the rate by `factor` after `patience` epochs without a
    /// better loss, not below `min_lr`.
    pub factor: f64,
    pub patience: usize,
    pub min_lr: f64,
    pub seed: i64,
}

impl Default for FitConfig {
    fn default() -> Self {
        FitConfig {
            epochs: 20,
            batch_size: 16,
            learning_rate: 1e-3,
            weight_decay: 0.0,
            factor: 0.5,
            patience: 3,
            min_lr: 1e-6,
            seed: 0,
        }
    }
}

fn adam(net: &TchNet, cfg: &FitConfig) -> Result<Optimizer> {
    Adam { wd: cfg.weight_decay, ..Default::default() }
        .build(&net.vs, cfg.learning_rate)
        .map_err(|e| rastrum::Error::Internal(format!("optimizer: {e}")))
}

/// ReduceLROnPlateau: after `patience` epochs without a better loss, the rate is multiplied by
/// `factor`, not below `min_lr`.
struct Plateau<'a> {
    cfg: &'a FitConfig,
    lr: f64,
    best: f64,
    stale: usize,
}

impl<'a> Plateau<'a> {
    fn new(cfg: &'a FitConfig) -> Self {
        Plateau { cfg, lr: cfg.learning_rate, best: f64::INFINITY, stale: 0 }
    }

    fn epoch_end(&mut self, loss: f64, opt: &mut Optimizer) {
        if loss < self.best {
            (self.best, self.stale) = (loss, 0);
            return;
        }
        self.stale += 1;
        if self.stale >= self.cfg.patience && self.lr > self.cfg.min_lr {
            self.lr = (self.lr * self.cfg.factor).max(self.cfg.min_lr);
            opt.set_lr(self.lr);
            self.stale = 0;
        }
    }
}

/// Trains `net` on `data` by mean squared error; returns the mean training loss of each epoch.
pub fn fit_regression(net: &TchNet, data: &dyn Dataset, stats: &BandStats, cfg: &FitConfig) -> Result<Vec<f64>> {
    tch::manual_seed(cfg.seed);
    let mut opt = adam(net, cfg)?;
    let mut schedule = Plateau::new(cfg);
    let mut history = Vec::with_capacity(cfg.epochs);
    for _ in 0..cfg.epochs {
        let order: Vec<i64> = Vec::try_from(&Tensor::randperm(data.len() as i64, (Kind::Int64, Device::Cpu)))
            .map_err(|e: tch::TchError| rastrum::Error::Internal(e.to_string()))?;
        let mut total = 0.0;
        for batch in order.chunks(cfg.batch_size) {
            let idx: Vec<usize> = batch.iter().map(|i| *i as usize).collect();
            let b = batch::load(data, &idx, stats)?;
            let loss = net.forward(&b.x, true).mse_loss(&b.y, tch::Reduction::Mean);
            opt.backward_step(&loss);
            total += loss.double_value(&[]) * idx.len() as f64;
        }
        let epoch_loss = total / data.len() as f64;
        history.push(epoch_loss);
        schedule.epoch_end(epoch_loss, &mut opt);
    }
    Ok(history)
}

/// The network's predictions (inference mode) for examples `indices`, flattened.
pub fn predict(net: &TchNet, data: &dyn Dataset, stats: &BandStats, indices: &[usize]) -> Result<Vec<f32>> {
    let b = batch::load(data, indices, stats)?;
    let y = tch::no_grad(|| net.forward(&b.x, false));
    Vec::<f32>::try_from(&y.flatten(0, -1)).map_err(|e: tch::TchError| rastrum::Error::Internal(e.to_string()))
}

/// The training objective.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Loss {
    /// Mean squared error (regression, super-resolution).
    Mse,
    /// Cross-entropy of logits [N, C] (per chip) or [N, C, H, W] (per pixel) against class ids
    /// [N] or [N, H, W] (int64).
    CrossEntropy,
}

fn loss_of(loss: Loss, out: &Tensor, y: &Tensor) -> Tensor {
    match loss {
        Loss::Mse => out.mse_loss(y, tch::Reduction::Mean),
        Loss::CrossEntropy => out.cross_entropy_loss::<Tensor>(y, None, tch::Reduction::Mean, -100, 0.0),
    }
}

/// Trains `net` on in-memory examples `x` [N, C, H, W] and targets `y` (see `Loss`); returns
/// the mean training loss of each epoch. Same optimiser and schedule as `fit_regression`.
pub fn fit_tensors(net: &TchNet, x: &Tensor, y: &Tensor, loss: Loss, cfg: &FitConfig) -> Result<Vec<f64>> {
    tch::manual_seed(cfg.seed);
    let mut opt = adam(net, cfg)?;
    let n = x.size()[0];
    let mut schedule = Plateau::new(cfg);
    let mut history = Vec::with_capacity(cfg.epochs);
    for _ in 0..cfg.epochs {
        let order = Tensor::randperm(n, (Kind::Int64, Device::Cpu));
        let mut total = 0.0;
        let mut start = 0;
        while start < n {
            let len = (cfg.batch_size as i64).min(n - start);
            let idx = order.narrow(0, start, len);
            let l = loss_of(loss, &net.forward(&x.index_select(0, &idx), true), &y.index_select(0, &idx));
            opt.backward_step(&l);
            total += l.double_value(&[]) * len as f64;
            start += len;
        }
        let epoch_loss = total / n as f64;
        history.push(epoch_loss);
        schedule.epoch_end(epoch_loss, &mut opt);
    }
    Ok(history)
}
