//! Evaluation reports of a trained network on examples of a dataset: the metrics of
//! `rastrum::metrics` for the target's kind, in target units.
//! - classes (per chip or per pixel): confusion matrix, per-class precision / recall / F1,
//!   macro and weighted F1, overall accuracy, Cohen's kappa;
//! - values: MAE, MSE, RMSE, bias, sum of absolute errors, totals, R^2;
//! - images (super-resolution): PSNR and SSIM, beside the same for bicubic up-sampling of the
//!   input, the baseline a model has to beat.

use rastrum::metrics::{self, ClassScores, Confusion, RegressionScores};
use rastrum::{Error, Result};
use serde::Serialize;
use serde_json::json;
use tch::{Device, Kind, Tensor};

use crate::batch::{self, Batch};
use crate::data::stats::BandStats;
use crate::data::{Dataset, Target, IGNORE};
use crate::torch::TchNet;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Report {
    Classes {
        class_names: Vec<String>,
        confusion: Confusion,
        scores: ClassScores,
    },
    Values {
        scores: RegressionScores,
        r2: f64,
    },
    Images {
        /// Over all pixels, with the reference's range as the peak.
        psnr: f64,
        /// Mean over examples and channels, each with its own reference range.
        ssim: f64,
        bicubic_psnr: f64,
        bicubic_ssim: f64,
        examples: usize,
    },
}

/// Vec<T> of a CPU tensor.
fn values<T>(t: &Tensor) -> Result<Vec<T>>
where
    for<'a> Vec<T>: TryFrom<&'a Tensor, Error = tch::TchError>,
{
    Vec::<T>::try_from(&t.to_device(Device::Cpu).flatten(0, -1).contiguous())
        .map_err(|e| Error::Internal(e.to_string()))
}

/// The batches of examples `indices` with the network's outputs (inference mode, on the CPU).
fn for_each_output(
    net: &TchNet,
    data: &dyn Dataset,
    indices: &[usize],
    stats: &BandStats,
    batch_size: usize,
    mut f: impl FnMut(&Batch, &Tensor) -> Result<()>,
) -> Result<()> {
    for chunk in indices.chunks(batch_size.max(1)) {
        let b = batch::load(data, chunk, stats)?;
        let out = tch::no_grad(|| net.forward(&b.x.to_device(net.vs.device()), false)).to_device(Device::Cpu);
        f(&b, &out)?;
    }
    Ok(())
}

/// Evaluates `net` on examples `indices` of `data` (inputs standardised by `stats`; float
/// outputs divided by `target_scale`), `batch_size` at a time.
pub fn evaluate(
    net: &TchNet,
    data: &dyn Dataset,
    indices: &[usize],
    stats: &BandStats,
    target_scale: f64,
    batch_size: usize,
) -> Result<Report> {
    if indices.is_empty() {
        return Err(Error::invalid("no example to evaluate"));
    }
    match data.target() {
        Target::Class { classes } | Target::PixelClass { classes } => {
            let mut confusion = Confusion::new(classes);
            for_each_output(net, data, indices, stats, batch_size, |b, out| {
                let pred: Vec<i64> = values(&out.argmax(1, false))?;
                let truth: Vec<i64> = values(&b.y)?;
                for (t, p) in truth.iter().zip(&pred) {
                    if *t != IGNORE {
                        confusion.add(*t as usize, (*p as usize).min(classes - 1));
                    }
                }
                Ok(())
            })?;
            let mut class_names = data.class_names();
            class_names.resize_with(classes, String::new);
            for (i, n) in class_names.iter_mut().enumerate().filter(|(_, n)| n.is_empty()) {
                *n = format!("class {i}");
            }
            Ok(Report::Classes { class_names, scores: confusion.scores(), confusion })
        }
        Target::Value { .. } => {
            let mut pairs = Vec::new();
            for_each_output(net, data, indices, stats, batch_size, |b, out| {
                let (p, t): (Vec<f32>, Vec<f32>) = (values(&(out / target_scale))?, values(&b.y)?);
                pairs.extend(p.iter().zip(&t).map(|(p, t)| (*p as f64, *t as f64)));
                Ok(())
            })?;
            let scores = metrics::regression(pairs.iter().copied());
            let finite: Vec<f64> = pairs.iter().filter(|(p, t)| p.is_finite() && t.is_finite()).map(|p| p.1).collect();
            let mean = finite.iter().sum::<f64>() / finite.len().max(1) as f64;
            let ss_tot: f64 = finite.iter().map(|t| (t - mean).powi(2)).sum();
            let r2 = if ss_tot > 0.0 { 1.0 - scores.mse * scores.count as f64 / ss_tot } else { f64::NAN };
            Ok(Report::Values { scores, r2 })
        }
        Target::Image { scale, .. } => images(net, data, indices, stats, target_scale, batch_size, scale),
    }
}

fn images(
    net: &TchNet,
    data: &dyn Dataset,
    indices: &[usize],
    stats: &BandStats,
    target_scale: f64,
    batch_size: usize,
    scale: usize,
) -> Result<Report> {
    let [c, h, w] = data.input_shape();
    let (hh, ww) = (h * scale, w * scale);
    let mean = Tensor::from_slice(&stats.mean).to_kind(Kind::Float).view([1, c as i64, 1, 1]);
    let std = Tensor::from_slice(&stats.std).to_kind(Kind::Float).view([1, c as i64, 1, 1]);
    let (mut sse_model, mut sse_bicubic, mut n, mut lo, mut hi) = (0.0, 0.0, 0usize, f64::INFINITY, f64::NEG_INFINITY);
    let (mut ssim_model, mut ssim_bicubic, mut planes) = (0.0, 0.0, 0usize);
    for_each_output(net, data, indices, stats, batch_size, |b, out| {
        // The baseline sees the same input, back in input units (invalid pixels at the mean).
        let units = &b.x * &std + &mean;
        let bicubic = units.upsample_bicubic2d([hh as i64, ww as i64], false, None, None);
        let (model, base, truth): (Vec<f32>, Vec<f32>, Vec<f32>) =
            (values(&(out / target_scale))?, values(&bicubic)?, values(&b.y)?);
        let plane = hh * ww;
        for (k, t) in truth.chunks(plane).enumerate() {
            let (m, bc) = (&model[k * plane..(k + 1) * plane], &base[k * plane..(k + 1) * plane]);
            let ok: Vec<usize> = (0..plane).filter(|&i| t[i].is_finite()).collect();
            for &i in &ok {
                let r = t[i] as f64;
                sse_model += (m[i] as f64 - r).powi(2);
                sse_bicubic += (bc[i] as f64 - r).powi(2);
                (lo, hi) = (lo.min(r), hi.max(r));
            }
            n += ok.len();
            if ok.len() == plane {
                let f = |v: &[f32]| v.iter().map(|x| *x as f64).collect::<Vec<f64>>();
                let (t, m, bc) = (f(t), f(m), f(bc));
                let range =
                    t.iter().fold(f64::NEG_INFINITY, |a, b| a.max(*b)) - t.iter().fold(f64::INFINITY, |a, b| a.min(*b));
                let peak = if range > 0.0 { range } else { 1.0 };
                ssim_model += metrics::ssim(&m, &t, ww, hh, peak);
                ssim_bicubic += metrics::ssim(&bc, &t, ww, hh, peak);
                planes += 1;
            }
        }
        Ok(())
    })?;
    let peak = if hi > lo { hi - lo } else { 1.0 };
    let psnr =
        |sse: f64| if sse == 0.0 { f64::INFINITY } else { 10.0 * (peak * peak / (sse / n.max(1) as f64)).log10() };
    let per = |s: f64| if planes > 0 { s / planes as f64 } else { f64::NAN };
    Ok(Report::Images {
        psnr: psnr(sse_model),
        ssim: per(ssim_model),
        bicubic_psnr: psnr(sse_bicubic),
        bicubic_ssim: per(ssim_bicubic),
        examples: indices.len(),
    })
}

impl Report {
    /// The headline metrics, by name (for k-fold summaries and the card's provenance).
    pub fn headline(&self) -> Vec<(&'static str, f64)> {
        match self {
            Report::Classes { scores, .. } => vec![
                ("accuracy", scores.overall_accuracy),
                ("macro_f1", scores.macro_f1),
                ("weighted_f1", scores.weighted_f1),
                ("kappa", scores.kappa),
            ],
            Report::Values { scores, r2 } => vec![
                ("mae", scores.mae),
                ("mse", scores.mse),
                ("rmse", scores.rmse),
                ("bias", scores.bias),
                ("sum_abs_error", scores.sum_abs_error),
                ("r2", *r2),
            ],
            Report::Images { psnr, ssim, bicubic_psnr, bicubic_ssim, .. } => {
                vec![("psnr", *psnr), ("ssim", *ssim), ("bicubic_psnr", *bicubic_psnr), ("bicubic_ssim", *bicubic_ssim)]
            }
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_else(|e| json!({ "error": e.to_string() }))
    }

    /// A short human-readable summary.
    pub fn summary(&self) -> String {
        let mut s: Vec<String> = self.headline().iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
        if let Report::Classes { class_names, scores, confusion } = self {
            // Classes neither present nor predicted (e.g. 14 of So2Sat's 17 zones in a region).
            let predicted = |i: usize| confusion.counts.iter().any(|row| row[i] > 0);
            for (i, name) in class_names.iter().enumerate().filter(|(i, _)| scores.support[*i] > 0 || predicted(*i)) {
                s.push(format!(
                    "\n  {name}: precision {:.3} recall {:.3} F1 {:.3} (n={})",
                    scores.precision[i], scores.recall[i], scores.f1[i], scores.support[i]
                ));
            }
        }
        s.join(", ").replace(", \n", "\n")
    }
}

/// Mean and standard deviation (sample, n - 1) of each headline metric over folds.
pub fn across_folds(reports: &[Report]) -> Vec<(&'static str, f64, f64)> {
    let Some(first) = reports.first() else { return vec![] };
    first
        .headline()
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            let v: Vec<f64> = reports.iter().map(|r| r.headline()[i].1).collect();
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            let var = if v.len() > 1 {
                v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (v.len() - 1) as f64
            } else {
                0.0
            };
            (*name, mean, var.sqrt())
        })
        .collect()
}
