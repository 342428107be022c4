//! The training loop: Adam with weight decay, ReduceLROnPlateau, seeded shuffling and
//! augmentation, class weights, validation each epoch with early stopping and the best weights
//! kept, checkpoints with resume, a progress bar and a per-epoch log. One loop serves datasets
//! read lazily (`fit`) and examples already in memory (`fit_tensors`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use rastrum::{Error, Result};
use serde::{Deserialize, Serialize};
use tch::nn::{Adam, Optimizer, OptimizerConfig};
use tch::{Device, Kind, Reduction, Tensor};

use crate::batch::{self, Augment, Batch};
use crate::data::stats::BandStats;
use crate::data::{Dataset, Target, IGNORE};
use crate::torch::TchNet;
use crate::{atomic, checkpoint, detector};

#[derive(Debug, Clone)]
pub struct FitConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    /// ReduceLROnPlateau: multiply the rate by `factor` after `patience` epochs without a
    /// better loss (validation loss when there is a validation set), not below `min_lr`.
    pub factor: f64,
    pub patience: usize,
    pub min_lr: f64,
    /// Seeds tch's generator at each epoch (seed + epoch): shuffling, augmentation, dropout and
    /// so a resumed run draw what an uninterrupted one would.
    pub seed: i64,
    pub augment: Augment,
    /// Cross-entropy weight per class (see `stats::class_weights`).
    pub class_weights: Option<Vec<f64>>,
    /// Stop after this many epochs without a better validation loss.
    pub early_stopping: Option<usize>,
    /// Folder for `last.safetensors`, `best.safetensors` and `state.json`.
    pub checkpoints: Option<PathBuf>,
    /// Continue from the checkpoint folder's last epoch, when there is one.
    pub resume: bool,
    pub progress: bool,
    /// Per-epoch log: JSON lines when the name ends in .jsonl / .json, else CSV.
    pub log: Option<PathBuf>,
    /// Float targets (values, images) are multiplied by this while training, so that the loss
    /// works near unit scale; the card's `reg_output_scaling` undoes it at run time.
    pub target_scale: f64,
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
            augment: Augment::default(),
            class_weights: None,
            early_stopping: None,
            checkpoints: None,
            resume: false,
            progress: false,
            log: None,
            target_scale: 1.0,
        }
    }
}

/// The training objective.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Loss {
    /// Mean squared error over finite targets (regression, super-resolution).
    Mse,
    /// Cross-entropy of logits [N, C] (per chip) or [N, C, H, W] (per pixel) against class ids
    /// [N] or [N, H, W] (int64); `IGNORE` labels are left out.
    CrossEntropy,
    /// The detector's loss on head outputs and dense targets [N, 4 + classes, cells]
    /// (`detector::loss`).
    Detection,
}

impl Loss {
    pub fn of(target: Target) -> Loss {
        match target {
            Target::Class { .. } | Target::PixelClass { .. } => Loss::CrossEntropy,
            Target::Value { .. } | Target::Image { .. } => Loss::Mse,
        }
    }
}

/// One epoch's record (the log's row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Epoch {
    /// From 1.
    pub epoch: usize,
    pub train_loss: f64,
    pub val_loss: Option<f64>,
    /// Validation accuracy (class targets) or R^2 (value and image targets).
    pub val_metric: Option<f64>,
    pub lr: f64,
    pub seconds: f64,
}

/// What training did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub epochs: Vec<Epoch>,
    /// The epoch whose weights the network holds at the end (the best validation loss, or
    /// the last epoch without validation).
    pub best_epoch: usize,
    pub stopped_early: bool,
    /// Name of `val_metric`.
    pub metric: String,
}

impl History {
    pub fn train_losses(&self) -> Vec<f64> {
        self.epochs.iter().map(|e| e.train_loss).collect()
    }
}

/// ReduceLROnPlateau, and the early-stopping count on the same monitored loss.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Schedule {
    lr: f64,
    best: f64,
    stale: usize,
    since_best: usize,
}

impl Schedule {
    /// Returns true when the loss is the best so far.
    fn epoch_end(&mut self, loss: f64, cfg: &FitConfig, opt: &mut Optimizer) -> bool {
        if loss < self.best {
            (self.best, self.stale, self.since_best) = (loss, 0, 0);
            return true;
        }
        self.stale += 1;
        self.since_best += 1;
        if self.stale >= cfg.patience && self.lr > cfg.min_lr {
            self.lr = (self.lr * cfg.factor).max(cfg.min_lr);
            opt.set_lr(self.lr);
            self.stale = 0;
        }
        false
    }
}

/// What a checkpoint folder holds besides the weights.
#[derive(Debug, Serialize, Deserialize)]
struct State {
    architecture: String,
    schedule: Schedule,
    history: History,
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(e.to_string())
}

fn loss_of(loss: Loss, out: &Tensor, y: &Tensor, weights: Option<&Tensor>) -> Tensor {
    match loss {
        Loss::Mse => {
            let valid = y.isfinite();
            let diff = (out - y.nan_to_num(0.0, None::<f64>, None::<f64>)) * valid.to_kind(Kind::Float);
            diff.square().sum(Kind::Float) / valid.sum(Kind::Float).clamp_min(1.0)
        }
        Loss::CrossEntropy => out.cross_entropy_loss(y, weights, Reduction::Mean, IGNORE, 0.0),
        Loss::Detection => detector::loss(out, y),
    }
}

/// Copies of every variable (parameters and batch-norm buffers), to keep the best weights.
fn snapshot(net: &TchNet) -> HashMap<String, Tensor> {
    net.vs.variables().into_iter().map(|(k, t)| (k, t.detach().copy())).collect()
}

/// The variables of a checkpoint of `net`'s architecture.
fn load_weights(net: &TchNet, path: &Path) -> Result<HashMap<String, Tensor>> {
    let mut loaded = TchNet::new(net.net.clone(), net.vs.device());
    checkpoint::load(&mut loaded, path)?;
    Ok(snapshot(&loaded))
}

fn restore(net: &TchNet, saved: &HashMap<String, Tensor>) {
    tch::no_grad(|| {
        for (k, mut t) in net.vs.variables() {
            if let Some(s) = saved.get(&k) {
                t.copy_(s);
            }
        }
    });
}

/// Trains `net` on examples `train` of `data`, validating on `val` (may be empty), inputs
/// standardised by `stats`.
pub fn fit(
    net: &TchNet,
    data: &dyn Dataset,
    train: &[usize],
    val: &[usize],
    stats: &BandStats,
    cfg: &FitConfig,
) -> Result<History> {
    let target = data.target();
    let scale = cfg.target_scale;
    let load = |idx: &[usize]| -> Result<Batch> {
        let b = batch::load(data, idx, stats)?;
        Ok(match Loss::of(target) {
            Loss::Mse if scale != 1.0 => Batch { x: b.x, y: b.y * scale },
            _ => b,
        })
    };
    let train_batch = |idx: &[usize]| -> Result<Batch> { Ok(cfg.augment.apply(load(idx)?, target)) };
    run(net, train.len(), val.len(), Loss::of(target), cfg, &|i| train_batch(&pick(train, i)), &|i| load(&pick(val, i)))
}

fn pick(indices: &[usize], positions: &[usize]) -> Vec<usize> {
    positions.iter().map(|&p| indices[p]).collect()
}

/// Trains `net` on in-memory examples `x` [N, C, H, W] and targets `y` (see `Loss`), without
/// validation; returns the history.
pub fn fit_tensors(net: &TchNet, x: &Tensor, y: &Tensor, loss: Loss, cfg: &FitConfig) -> Result<History> {
    let select = |idx: &[usize]| -> Result<Batch> {
        let i = Tensor::from_slice(&idx.iter().map(|&i| i as i64).collect::<Vec<_>>());
        Ok(Batch { x: x.index_select(0, &i), y: y.index_select(0, &i) })
    };
    run(net, x.size()[0] as usize, 0, loss, cfg, &select, &select)
}

type Loader<'a> = dyn Fn(&[usize]) -> Result<Batch> + 'a;

/// The loop. `train_batch` / `val_batch` make batches from positions 0..n_train / 0..n_val.
fn run(
    net: &TchNet,
    n_train: usize,
    n_val: usize,
    loss: Loss,
    cfg: &FitConfig,
    train_batch: &Loader,
    val_batch: &Loader,
) -> Result<History> {
    if n_train == 0 {
        return Err(Error::invalid("no training examples"));
    }
    if cfg.batch_size == 0 || cfg.epochs == 0 {
        return Err(Error::invalid("epochs and batch size must be positive"));
    }
    let device = net.vs.device();
    let weights = cfg
        .class_weights
        .as_ref()
        .map(|w| Tensor::from_slice(&w.iter().map(|v| *v as f32).collect::<Vec<_>>()).to_device(device));
    let mut opt = Adam { wd: cfg.weight_decay, ..Default::default() }
        .build(&net.vs, cfg.learning_rate)
        .map_err(|e| internal(format!("optimizer: {e}")))?;
    let metric = match loss {
        Loss::CrossEntropy => "accuracy",
        Loss::Mse => "r2",
        Loss::Detection => "loss",
    };
    let mut schedule = Schedule { lr: cfg.learning_rate, best: f64::INFINITY, stale: 0, since_best: 0 };
    let mut history = History { epochs: vec![], best_epoch: 0, stopped_early: false, metric: metric.into() };
    if cfg.resume {
        if let Some(state) = resume(net, cfg)? {
            (schedule, history) = (state.schedule, state.history);
            opt.set_lr(schedule.lr);
        }
    }
    // A resumed run keeps the interrupted run's best weights, not its last.
    let mut best = match (&cfg.checkpoints, n_val > 0 && history.best_epoch > 0) {
        (Some(dir), true) => Some(load_weights(net, &dir.join("best.safetensors"))?),
        _ => None,
    };

    while history.epochs.len() < cfg.epochs && !history.stopped_early {
        let epoch = history.epochs.len() + 1;
        let start = Instant::now();
        tch::manual_seed(cfg.seed.wrapping_add(epoch as i64));
        let order: Vec<i64> = Vec::try_from(&Tensor::randperm(n_train as i64, (Kind::Int64, Device::Cpu)))
            .map_err(|e: tch::TchError| internal(e))?;
        let bar = progress_bar(cfg, epoch, n_train.div_ceil(cfg.batch_size));
        let (mut total, mut seen) = (0.0, 0usize);
        for chunk in order.chunks(cfg.batch_size) {
            let idx: Vec<usize> = chunk.iter().map(|i| *i as usize).collect();
            let b = train_batch(&idx)?.to(device);
            let l = loss_of(loss, &net.forward(&b.x, true), &b.y, weights.as_ref());
            opt.backward_step(&l);
            let v = l.double_value(&[]);
            if !v.is_finite() {
                return Err(Error::invalid(format!(
                    "the training loss became {v} at epoch {epoch}: lower the learning rate or check the data"
                )));
            }
            total += v * idx.len() as f64;
            seen += idx.len();
            bar.inc(1);
            bar.set_message(format!("{:.4}", total / seen as f64));
        }
        bar.finish_and_clear();
        let train_loss = total / n_train as f64;
        let (val_loss, val_metric) = if n_val > 0 {
            let (l, m) = validate(net, n_val, loss, cfg.batch_size, weights.as_ref(), val_batch)?;
            (Some(l), Some(m))
        } else {
            (None, None)
        };
        let improved = schedule.epoch_end(val_loss.unwrap_or(train_loss), cfg, &mut opt);
        history.epochs.push(Epoch {
            epoch,
            train_loss,
            val_loss,
            val_metric,
            lr: schedule.lr,
            seconds: start.elapsed().as_secs_f64(),
        });
        if improved || n_val == 0 {
            history.best_epoch = epoch;
            if n_val > 0 {
                best = Some(snapshot(net));
            }
        }
        if n_val > 0 && cfg.early_stopping.is_some_and(|p| schedule.since_best >= p) {
            history.stopped_early = true;
        }
        save_epoch(net, cfg, &schedule, &history, improved)?;
    }
    if let Some(best) = &best {
        restore(net, best);
    }
    Ok(history)
}

fn progress_bar(cfg: &FitConfig, epoch: usize, batches: usize) -> ProgressBar {
    if !cfg.progress {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(batches as u64).with_prefix(format!("epoch {epoch}/{}", cfg.epochs));
    if let Ok(style) = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} loss {msg} ({eta})") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Validation loss (mean per example) and metric: accuracy for classes, R^2 for values.
fn validate(
    net: &TchNet,
    n: usize,
    loss: Loss,
    batch_size: usize,
    weights: Option<&Tensor>,
    val_batch: &Loader,
) -> Result<(f64, f64)> {
    let positions: Vec<usize> = (0..n).collect();
    let (mut total, mut right, mut counted) = (0.0, 0.0, 0.0);
    let (mut sy, mut syy, mut sse) = (0.0, 0.0, 0.0);
    for chunk in positions.chunks(batch_size) {
        let b = val_batch(chunk)?.to(net.vs.device());
        let out = tch::no_grad(|| net.forward(&b.x, false));
        total += tch::no_grad(|| loss_of(loss, &out, &b.y, weights)).double_value(&[]) * chunk.len() as f64;
        match loss {
            Loss::CrossEntropy => {
                let labelled = b.y.ne(IGNORE);
                right += out.argmax(1, false).eq_tensor(&b.y).logical_and(&labelled).sum(Kind::Float).double_value(&[]);
                counted += labelled.sum(Kind::Float).double_value(&[]);
            }
            Loss::Mse => {
                let valid = b.y.isfinite();
                let y = b.y.masked_select(&valid).to_kind(Kind::Double);
                let o = out.masked_select(&valid).to_kind(Kind::Double);
                sy += y.sum(Kind::Double).double_value(&[]);
                syy += y.square().sum(Kind::Double).double_value(&[]);
                sse += (o - &y).square().sum(Kind::Double).double_value(&[]);
                counted += y.numel() as f64;
            }
            Loss::Detection => {}
        }
    }
    let metric = match loss {
        Loss::CrossEntropy => right / counted.max(1.0),
        Loss::Mse => {
            let ss_tot = syy - sy * sy / counted.max(1.0);
            if ss_tot > 0.0 {
                1.0 - sse / ss_tot
            } else {
                f64::NAN
            }
        }
        Loss::Detection => f64::NAN,
    };
    Ok((total / n as f64, metric))
}

/// Checkpoints (last, and best when it improved), the resume state and the log.
fn save_epoch(net: &TchNet, cfg: &FitConfig, schedule: &Schedule, history: &History, improved: bool) -> Result<()> {
    if let Some(dir) = &cfg.checkpoints {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, format!("creating the checkpoint folder: {e}")))?;
        checkpoint::save(net, &dir.join("last.safetensors"))?;
        if improved {
            checkpoint::save(net, &dir.join("best.safetensors"))?;
        }
        let state = State { architecture: net.net.name.clone(), schedule: schedule.clone(), history: history.clone() };
        atomic::write_text(&dir.join("state.json"), &serde_json::to_string_pretty(&state).map_err(internal)?)?;
    }
    if let Some(log) = &cfg.log {
        atomic::write_text(log, &log_text(log, history))?;
    }
    Ok(())
}

/// Loads the checkpoint folder's last epoch into `net`, if there is one.
fn resume(net: &TchNet, cfg: &FitConfig) -> Result<Option<State>> {
    let Some(dir) = &cfg.checkpoints else {
        return Err(Error::invalid("resuming needs the checkpoint folder of the interrupted run"));
    };
    let path = dir.join("state.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let state: State =
        serde_json::from_str(&text).map_err(|e| Error::io(&path, format!("not a training state: {e}")))?;
    if state.architecture != net.net.name {
        return Err(Error::invalid(format!(
            "{} holds a {} run; it cannot resume into a {}",
            dir.display(),
            state.architecture,
            net.net.name
        )));
    }
    restore(net, &load_weights(net, &dir.join("last.safetensors"))?);
    Ok(Some(state))
}

/// The log as CSV (header + one row per epoch) or JSON lines.
pub fn log_text(path: &Path, history: &History) -> String {
    let json = path.extension().and_then(|e| e.to_str()).is_some_and(|e| e == "jsonl" || e == "json");
    let mut out = String::new();
    if json {
        for e in &history.epochs {
            out += &serde_json::to_string(e).unwrap_or_default();
            out.push('\n');
        }
        return out;
    }
    let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    out += &format!("epoch,train_loss,val_loss,val_{},lr,seconds\n", history.metric);
    for e in &history.epochs {
        out += &format!(
            "{},{},{},{},{},{:.3}\n",
            e.epoch,
            e.train_loss,
            opt(e.val_loss),
            opt(e.val_metric),
            e.lr,
            e.seconds
        );
    }
    out
}

/// The network's outputs (inference mode) for examples `indices`, flattened, in target units
/// (divided by `target_scale`).
pub fn predict(
    net: &TchNet,
    data: &dyn Dataset,
    stats: &BandStats,
    indices: &[usize],
    target_scale: f64,
) -> Result<Vec<f32>> {
    let b = batch::load(data, indices, stats)?.to(net.vs.device());
    let y = (tch::no_grad(|| net.forward(&b.x, false)) / target_scale).to_device(Device::Cpu);
    Vec::<f32>::try_from(&y.flatten(0, -1)).map_err(|e: tch::TchError| internal(e))
}
