//! Per-band statistics of a training split, written into the card as the standardisation
//! `rastrum run` applies (`standardization_mean` / `standardization_std`), and the normalisation
//! of training batches that matches it.

use rastrum::{Error, Result};
use serde_json::json;

use super::Dataset;

/// Per-band mean and standard deviation in input units.
#[derive(Debug, Clone, PartialEq)]
pub struct BandStats {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
    /// Examples the statistics were computed from.
    pub examples: usize,
}

impl BandStats {
    /// No standardisation (mean 0, std 1) for `bands` bands.
    pub fn identity(bands: usize) -> BandStats {
        BandStats { mean: vec![0.0; bands], std: vec![1.0; bands], examples: 0 }
    }

    /// Statistics over the valid (non-NaN) pixels of examples `indices` of `data`, at most
    /// `max_examples` of them evenly spaced (enough for stable moments on large datasets).
    /// A constant band gets std 1 so that standardisation stays finite.
    pub fn compute(data: &dyn Dataset, indices: &[usize], max_examples: usize) -> Result<BandStats> {
        let [c, h, w] = data.input_shape();
        if indices.is_empty() {
            return Err(Error::invalid("band statistics need at least one training example"));
        }
        let step = indices.len().div_ceil(max_examples.max(1));
        let (mut n, mut sum, mut sq) = (vec![0u64; c], vec![0f64; c], vec![0f64; c]);
        let mut used = 0;
        for &i in indices.iter().step_by(step) {
            let ex = data.example(i)?;
            for b in 0..c {
                // f64 sums: exact enough for DN in the tens of thousands over millions of pixels.
                for &v in ex.x[b * h * w..(b + 1) * h * w].iter().filter(|v| !v.is_nan()) {
                    n[b] += 1;
                    sum[b] += v as f64;
                    sq[b] += (v as f64) * (v as f64);
                }
            }
            used += 1;
        }
        let mut mean = vec![0.0; c];
        let mut std = vec![1.0; c];
        for b in 0..c {
            if n[b] == 0 {
                return Err(Error::invalid(format!("band {} has no valid pixel in the training examples", b + 1)));
            }
            let m = sum[b] / n[b] as f64;
            let var = (sq[b] / n[b] as f64 - m * m).max(0.0);
            mean[b] = m;
            std[b] = if var.sqrt() > 1e-12 * m.abs().max(1.0) { var.sqrt() } else { 1.0 };
        }
        Ok(BandStats { mean, std, examples: used })
    }

    /// Standardises an input [C, H, W] in place; invalid (NaN) pixels become 0, the band mean.
    pub fn apply(&self, x: &mut [f32]) {
        let plane = x.len() / self.mean.len();
        for (b, chunk) in x.chunks_mut(plane).enumerate() {
            let (m, s) = (self.mean[b], self.std[b]);
            for v in chunk {
                *v = if v.is_nan() { 0.0 } else { ((*v as f64 - m) / s) as f32 };
            }
        }
    }

    /// The card entries (Deepness keys, read by `rastrum run`).
    pub fn card(&self) -> Vec<(String, String)> {
        vec![
            ("standardization_mean".into(), json!(self.mean).to_string()),
            ("standardization_std".into(), json!(self.std).to_string()),
        ]
    }
}

/// Examples per class among `indices` (labelled pixels for per-pixel targets): from
/// `class_of` when the dataset knows it without reading pixels, else from the targets of at
/// most `max_examples` evenly spaced examples.
pub fn class_counts(data: &dyn Dataset, indices: &[usize], max_examples: usize) -> Result<Vec<u64>> {
    let classes = data.target().classes().ok_or_else(|| Error::invalid("class counts need a class target"))?;
    let mut counts = vec![0u64; classes];
    let mut add = |c: usize| -> Result<()> {
        *counts.get_mut(c).ok_or_else(|| Error::invalid(format!("class {c} found, but only {classes} classes")))? += 1;
        Ok(())
    };
    if indices.iter().all(|&i| data.class_of(i).is_some()) {
        for &i in indices {
            add(data.class_of(i).unwrap_or_default())?;
        }
        return Ok(counts);
    }
    let step = indices.len().div_ceil(max_examples.max(1)).max(1);
    for &i in indices.iter().step_by(step) {
        for &y in data.example(i)?.y.iter().filter(|y| **y >= 0.0) {
            add(y as usize)?;
        }
    }
    Ok(counts)
}

/// Inverse-frequency class weights, n / (classes present x n_c), so that each present class
/// weighs as much in the loss as any other; an absent class gets 1.
pub fn class_weights(counts: &[u64]) -> Vec<f64> {
    let total: u64 = counts.iter().sum();
    let present = counts.iter().filter(|c| **c > 0).count().max(1);
    counts.iter().map(|&c| if c > 0 { total as f64 / (present as f64 * c as f64) } else { 1.0 }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_balance_the_classes() {
        let w = class_weights(&[30, 10, 0, 60]);
        // 100 examples over 3 present classes: each class's total weight is 100 / 3.
        for (c, n) in [(0, 30.0), (1, 10.0), (3, 60.0)] {
            assert!((w[c] * n - 100.0 / 3.0).abs() < 1e-9);
        }
        assert_eq!(w[2], 1.0);
    }

    #[test]
    fn standardisation_maps_nan_to_the_mean() {
        let s = BandStats { mean: vec![10.0, 0.0], std: vec![2.0, 1.0], examples: 1 };
        let mut x = vec![12.0, f32::NAN, 3.0, -1.0];
        s.apply(&mut x);
        assert_eq!(x, vec![1.0, 0.0, 3.0, -1.0]);
    }
}
