//! Accuracy metrics shared by the trainer's reports and raster evaluation: confusion matrix,
//! per-class precision / recall / F1, macro and weighted F1, overall accuracy, Cohen's kappa;
//! regression errors (MAE, MSE, RMSE, bias, sum of absolute errors, totals); PSNR and SSIM.

use serde::Serialize;

/// Confusion matrix, `counts[truth][prediction]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Confusion {
    pub counts: Vec<Vec<u64>>,
}

/// Per-class and overall scores of a confusion matrix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassScores {
    pub precision: Vec<f64>,
    pub recall: Vec<f64>,
    pub f1: Vec<f64>,
    /// Reference pixels per class.
    pub support: Vec<u64>,
    pub overall_accuracy: f64,
    pub macro_f1: f64,
    pub weighted_f1: f64,
    pub kappa: f64,
}

impl Confusion {
    pub fn new(classes: usize) -> Confusion {
        Confusion { counts: vec![vec![0; classes]; classes] }
    }

    /// Counts pairs (truth, prediction); pairs with a class outside the matrix are ignored
    /// (nodata).
    pub fn add(&mut self, truth: usize, prediction: usize) {
        let n = self.counts.len();
        if truth < n && prediction < n {
            self.counts[truth][prediction] += 1;
        }
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    /// Scores; a class absent from both truth and prediction scores 0 and weighs nothing.
    pub fn scores(&self) -> ClassScores {
        let k = self.counts.len();
        let n = self.total() as f64;
        let row: Vec<u64> = self.counts.iter().map(|r| r.iter().sum()).collect();
        let col: Vec<u64> = (0..k).map(|j| self.counts.iter().map(|r| r[j]).sum()).collect();
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let precision: Vec<f64> = (0..k).map(|i| ratio(self.counts[i][i], col[i])).collect();
        let recall: Vec<f64> = (0..k).map(|i| ratio(self.counts[i][i], row[i])).collect();
        let f1: Vec<f64> = (0..k)
            .map(|i| {
                let (p, r) = (precision[i], recall[i]);
                if p + r == 0.0 {
                    0.0
                } else {
                    2.0 * p * r / (p + r)
                }
            })
            .collect();
        let correct: u64 = (0..k).map(|i| self.counts[i][i]).sum();
        let po = if n == 0.0 { 0.0 } else { correct as f64 / n };
        let pe = if n == 0.0 { 0.0 } else { (0..k).map(|i| row[i] as f64 * col[i] as f64).sum::<f64>() / (n * n) };
        let present: Vec<usize> = (0..k).filter(|&i| row[i] + col[i] > 0).collect();
        let macro_f1 =
            if present.is_empty() { 0.0 } else { present.iter().map(|&i| f1[i]).sum::<f64>() / present.len() as f64 };
        let weighted_f1 = if n == 0.0 { 0.0 } else { (0..k).map(|i| f1[i] * row[i] as f64).sum::<f64>() / n };
        let kappa = if pe >= 1.0 {
            if po >= 1.0 {
                1.0
            } else {
                0.0
            }
        } else {
            (po - pe) / (1.0 - pe)
        };
        ClassScores { precision, recall, f1, support: row, overall_accuracy: po, macro_f1, weighted_f1, kappa }
    }
}

/// Errors of predicted values against reference values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegressionScores {
    pub count: u64,
    pub mae: f64,
    pub mse: f64,
    pub rmse: f64,
    /// Mean of prediction - reference.
    pub bias: f64,
    pub sum_abs_error: f64,
    pub total_predicted: f64,
    pub total_reference: f64,
}

/// Regression scores over pairs (prediction, reference); non-finite pairs are skipped.
pub fn regression(pairs: impl IntoIterator<Item = (f64, f64)>) -> RegressionScores {
    let (mut n, mut sae, mut sse, mut se, mut tp, mut tr) = (0u64, 0.0, 0.0, 0.0, 0.0, 0.0);
    for (p, r) in pairs {
        if !(p.is_finite() && r.is_finite()) {
            continue;
        }
        let e = p - r;
        n += 1;
        sae += e.abs();
        sse += e * e;
        se += e;
        tp += p;
        tr += r;
    }
    let m = n.max(1) as f64;
    RegressionScores {
        count: n,
        mae: sae / m,
        mse: sse / m,
        rmse: (sse / m).sqrt(),
        bias: se / m,
        sum_abs_error: sae,
        total_predicted: tp,
        total_reference: tr,
    }
}

/// Peak signal-to-noise ratio in dB for signals whose range is `peak` (infinite when equal).
pub fn psnr(prediction: &[f64], reference: &[f64], peak: f64) -> f64 {
    let mse = regression(prediction.iter().copied().zip(reference.iter().copied())).mse;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (peak * peak / mse).log10()
    }
}

/// Mean structural similarity (Wang et al. 2004) of two `width` x `height` images with a
/// Gaussian window of 11 pixels, sigma 1.5, K1 = 0.01, K2 = 0.03, over the valid (unpadded)
/// positions, as scikit-image's `structural_similarity(gaussian_weights=True)`.
pub fn ssim(x: &[f64], y: &[f64], width: usize, height: usize, peak: f64) -> f64 {
    const R: usize = 5;
    if width < 2 * R + 1 || height < 2 * R + 1 {
        return f64::NAN;
    }
    let g: Vec<f64> = (0..=2 * R).map(|i| (-((i as f64 - R as f64).powi(2)) / (2.0 * 1.5 * 1.5)).exp()).collect();
    let gs: f64 = g.iter().sum();
    let g: Vec<f64> = g.iter().map(|v| v / gs).collect();
    // Separable Gaussian filtering of an image over the valid region.
    let blur = |img: &dyn Fn(usize) -> f64| -> Vec<f64> {
        let (w2, h2) = (width - 2 * R, height - 2 * R);
        let mut tmp = vec![0.0; width * h2];
        for yy in 0..h2 {
            for xx in 0..width {
                tmp[yy * width + xx] = (0..=2 * R).map(|k| g[k] * img((yy + k) * width + xx)).sum();
            }
        }
        let mut out = vec![0.0; w2 * h2];
        for yy in 0..h2 {
            for xx in 0..w2 {
                out[yy * w2 + xx] = (0..=2 * R).map(|k| g[k] * tmp[yy * width + xx + k]).sum();
            }
        }
        out
    };
    let mx = blur(&|i| x[i]);
    let my = blur(&|i| y[i]);
    let mxx = blur(&|i| x[i] * x[i]);
    let myy = blur(&|i| y[i] * y[i]);
    let mxy = blur(&|i| x[i] * y[i]);
    let (c1, c2) = ((0.01 * peak).powi(2), (0.03 * peak).powi(2));
    let s: f64 = (0..mx.len())
        .map(|i| {
            let (vx, vy, cxy) = (mxx[i] - mx[i] * mx[i], myy[i] - my[i] * my[i], mxy[i] - mx[i] * my[i]);
            ((2.0 * mx[i] * my[i] + c1) * (2.0 * cxy + c2)) / ((mx[i] * mx[i] + my[i] * my[i] + c1) * (vx + vy + c2))
        })
        .sum();
    s / mx.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_scores_match_a_hand_worked_example() {
        // truth:      0 0 0 1 1 2
        // prediction: 0 0 1 1 2 2
        let mut c = Confusion::new(3);
        for (t, p) in [(0, 0), (0, 0), (0, 1), (1, 1), (1, 2), (2, 2)] {
            c.add(t, p);
        }
        c.add(255, 0); // nodata: ignored
        let s = c.scores();
        assert_eq!(c.total(), 6);
        assert_eq!(s.support, vec![3, 2, 1]);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(close(s.precision[0], 1.0) && close(s.precision[1], 0.5) && close(s.precision[2], 0.5));
        assert!(close(s.recall[0], 2.0 / 3.0) && close(s.recall[1], 0.5) && close(s.recall[2], 1.0));
        assert!(close(s.f1[0], 0.8) && close(s.f1[1], 0.5) && close(s.f1[2], 2.0 / 3.0));
        assert!(close(s.overall_accuracy, 4.0 / 6.0));
        assert!(close(s.macro_f1, (0.8 + 0.5 + 2.0 / 3.0) / 3.0));
        assert!(close(s.weighted_f1, (0.8 * 3.0 + 0.5 * 2.0 + 2.0 / 3.0) / 6.0));
        // pe = (3*2 + 2*2 + 1*2) / 36 = 1/3; kappa = (2/3 - 1/3) / (2/3) = 0.5
        assert!(close(s.kappa, 0.5), "{}", s.kappa);
    }

    #[test]
    fn perfect_and_empty_matrices() {
        let mut c = Confusion::new(2);
        c.add(1, 1);
        c.add(1, 1);
        let s = c.scores();
        assert_eq!((s.overall_accuracy, s.kappa, s.macro_f1), (1.0, 1.0, 1.0));
        let s = Confusion::new(2).scores();
        assert_eq!((s.overall_accuracy, s.macro_f1), (0.0, 0.0));
    }

    #[test]
    fn regression_errors() {
        let s = regression([(1.0, 2.0), (4.0, 2.0), (f64::NAN, 1.0), (3.0, 3.0)]);
        assert_eq!(s.count, 3);
        assert!((s.mae - 1.0).abs() < 1e-12);
        assert!((s.mse - 5.0 / 3.0).abs() < 1e-12);
        assert!((s.bias - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!((s.sum_abs_error, s.total_predicted, s.total_reference), (3.0, 8.0, 7.0));
    }

    #[test]
    fn psnr_and_ssim_properties() {
        let (w, h) = (32, 24);
        let x: Vec<f64> = (0..w * h).map(|i| ((i % w) as f64 * 0.3).sin() * 0.4 + 0.5).collect();
        assert_eq!(psnr(&x, &x, 1.0), f64::INFINITY);
        let y: Vec<f64> = x.iter().map(|v| v + 0.1).collect();
        assert!((psnr(&y, &x, 1.0) - 20.0).abs() < 1e-9); // mse 0.01
        assert!((ssim(&x, &x, w, h, 1.0) - 1.0).abs() < 1e-12);
        let noisy: Vec<f64> = x.iter().enumerate().map(|(i, v)| v + if i % 2 == 0 { 0.2 } else { -0.2 }).collect();
        let s = ssim(&noisy, &x, w, h, 1.0);
        assert!(s < 0.8 && s > 0.0, "{s}");
        // A constant shift keeps structure: SSIM stays near 1 and above the noisy one.
        assert!(ssim(&y, &x, w, h, 1.0) > s);
    }
}
