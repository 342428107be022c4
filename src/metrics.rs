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

/// Streaming sums behind [`RegressionScores`]: pairs are added a strip at a time, so that a
/// raster of any size is scored in bounded memory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegressionSums {
    count: u64,
    sum_abs: f64,
    sum_sq: f64,
    sum_err: f64,
    total_predicted: f64,
    total_reference: f64,
}

impl RegressionSums {
    /// Adds one pair (prediction, reference); a non-finite pair is skipped.
    #[inline]
    pub fn add(&mut self, p: f64, r: f64) {
        if !(p.is_finite() && r.is_finite()) {
            return;
        }
        let e = p - r;
        self.count += 1;
        self.sum_abs += e.abs();
        self.sum_sq += e * e;
        self.sum_err += e;
        self.total_predicted += p;
        self.total_reference += r;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn scores(&self) -> RegressionScores {
        let m = self.count.max(1) as f64;
        RegressionScores {
            count: self.count,
            mae: self.sum_abs / m,
            mse: self.sum_sq / m,
            rmse: (self.sum_sq / m).sqrt(),
            bias: self.sum_err / m,
            sum_abs_error: self.sum_abs,
            total_predicted: self.total_predicted,
            total_reference: self.total_reference,
        }
    }
}

/// Regression scores over pairs (prediction, reference); non-finite pairs are skipped.
pub fn regression(pairs: impl IntoIterator<Item = (f64, f64)>) -> RegressionScores {
    let mut sums = RegressionSums::default();
    for (p, r) in pairs {
        sums.add(p, r);
    }
    sums.scores()
}

/// Peak signal-to-noise ratio in dB for signals whose range is `peak` (infinite when equal).
pub fn psnr(prediction: &[f64], reference: &[f64], peak: f64) -> f64 {
    psnr_of_mse(regression(prediction.iter().copied().zip(reference.iter().copied())).mse, peak)
}

/// PSNR in dB from a mean squared error: `10 log10(peak^2 / mse)`, infinite when `mse` is 0.
pub fn psnr_of_mse(mse: f64, peak: f64) -> f64 {
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (peak * peak / mse).log10()
    }
}

/// Half the SSIM window: the window is `2 * SSIM_RADIUS + 1` = 11 pixels square. (Not `pub`:
/// cbindgen would put it into the C header.)
pub(crate) const SSIM_RADIUS: usize = 5;

/// Mean structural similarity (Wang et al. 2004) of two `width` x `height` images with a
/// Gaussian window of 11 pixels, sigma 1.5, K1 = 0.01, K2 = 0.03, over the valid (unpadded)
/// positions: scikit-image's `structural_similarity(gaussian_weights=True,
/// use_sample_covariance=False, data_range=peak)`. NaN when an image is smaller than 11 x 11.
pub fn ssim(x: &[f64], y: &[f64], width: usize, height: usize, peak: f64) -> f64 {
    let (sum, count) = ssim_sum(x, y, None, width, height, peak);
    if count == 0 {
        f64::NAN
    } else {
        sum / count as f64
    }
}

/// The sum and the number of the local SSIM values of [`ssim`] over the window centres of a
/// `width` x `height` block whose whole window lies inside the block and, when `valid` is given,
/// covers valid pixels only (values under invalid pixels are never read). A large image is
/// scored strip by strip: a strip of centre rows `c0..c1` needs the rows `c0 - 5 .. c1 + 5`.
pub fn ssim_sum(x: &[f64], y: &[f64], valid: Option<&[bool]>, width: usize, height: usize, peak: f64) -> (f64, u64) {
    const R: usize = SSIM_RADIUS;
    if width < 2 * R + 1 || height < 2 * R + 1 {
        return (0.0, 0);
    }
    let g: Vec<f64> = (0..=2 * R).map(|i| (-((i as f64 - R as f64).powi(2)) / (2.0 * 1.5 * 1.5)).exp()).collect();
    let gs: f64 = g.iter().sum();
    let g: Vec<f64> = g.iter().map(|v| v / gs).collect();
    let (w2, h2) = (width - 2 * R, height - 2 * R);
    // Invalid pixels read as 0: only windows that are skipped below ever see them.
    let masked = |img: &[f64]| -> Vec<f64> {
        match valid {
            None => img.to_vec(),
            Some(v) => img.iter().zip(v).map(|(&a, &ok)| if ok { a } else { 0.0 }).collect(),
        }
    };
    let (xs, ys) = (masked(x), masked(y));
    let blur = |f: &RowMap| gaussian_valid(&xs, &ys, f, width, height, &g);
    let mx = blur(&|a, _, o| o.copy_from_slice(a));
    let my = blur(&|_, b, o| o.copy_from_slice(b));
    let mxx = blur(&|a, _, o| o.iter_mut().zip(a).for_each(|(o, a)| *o = a * a));
    let myy = blur(&|_, b, o| o.iter_mut().zip(b).for_each(|(o, b)| *o = b * b));
    let mxy = blur(&|a, b, o| o.iter_mut().zip(a.iter().zip(b)).for_each(|(o, (a, b))| *o = a * b));
    // Windows touching an invalid pixel, from a summed-area table of the invalid ones.
    let bad_window: Box<dyn Fn(usize, usize) -> bool> = match valid {
        None => Box::new(|_, _| false),
        Some(v) => {
            let mut sat = vec![0u32; (width + 1) * (height + 1)];
            for yy in 0..height {
                for xx in 0..width {
                    sat[(yy + 1) * (width + 1) + xx + 1] = u32::from(!v[yy * width + xx])
                        + sat[yy * (width + 1) + xx + 1]
                        + sat[(yy + 1) * (width + 1) + xx]
                        - sat[yy * (width + 1) + xx];
                }
            }
            Box::new(move |cx, cy| {
                let (x1, y1) = (cx + 2 * R + 1, cy + 2 * R + 1);
                sat[y1 * (width + 1) + x1] + sat[cy * (width + 1) + cx]
                    - sat[cy * (width + 1) + x1]
                    - sat[y1 * (width + 1) + cx]
                    > 0
            })
        }
    };
    let (c1, c2) = ((0.01 * peak).powi(2), (0.03 * peak).powi(2));
    let (mut sum, mut count) = (0.0, 0u64);
    for yy in 0..h2 {
        for xx in 0..w2 {
            if bad_window(xx, yy) {
                continue;
            }
            let i = yy * w2 + xx;
            let (vx, vy, cxy) = (mxx[i] - mx[i] * mx[i], myy[i] - my[i] * my[i], mxy[i] - mx[i] * my[i]);
            sum += ((2.0 * mx[i] * my[i] + c1) * (2.0 * cxy + c2))
                / ((mx[i] * mx[i] + my[i] * my[i] + c1) * (vx + vy + c2));
            count += 1;
        }
    }
    (sum, count)
}

/// Makes one row of the image to filter from a row of each input (`f(x_row, y_row, out_row)`).
type RowMap = dyn Fn(&[f64], &[f64], &mut [f64]);

/// Separable filtering with the normalised kernel `g` (length 2R + 1) of the image that `f`
/// makes, row by row, from the rows of `x` and `y` (`f(x_row, y_row, out_row)`), over the
/// positions whose whole window lies inside: `(width - 2R) x (height - 2R)` values.
fn gaussian_valid(x: &[f64], y: &[f64], f: &RowMap, width: usize, height: usize, g: &[f64]) -> Vec<f64> {
    let taps = g.len();
    let (w2, h2) = (width + 1 - taps, height + 1 - taps);
    let mut img = vec![0.0; width * height];
    for (r, out) in img.chunks_exact_mut(width).enumerate() {
        f(&x[r * width..(r + 1) * width], &y[r * width..(r + 1) * width], out);
    }
    // Vertical pass: whole rows at a time, so the inner loop runs over contiguous memory.
    let mut tmp = vec![0.0; width * h2];
    for (yy, out) in tmp.chunks_exact_mut(width).enumerate() {
        for (k, &gk) in g.iter().enumerate() {
            let row = &img[(yy + k) * width..(yy + k + 1) * width];
            out.iter_mut().zip(row).for_each(|(o, v)| *o += gk * v);
        }
    }
    let mut out = vec![0.0; w2 * h2];
    for (yy, o) in out.chunks_exact_mut(w2).enumerate() {
        let row = &tmp[yy * width..(yy + 1) * width];
        for (xx, v) in o.iter_mut().enumerate() {
            *v = g.iter().zip(&row[xx..xx + taps]).map(|(a, b)| a * b).sum();
        }
    }
    out
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

    #[test]
    fn masked_ssim_skips_windows_touching_invalid_pixels() {
        let (w, h) = (20, 15);
        let x: Vec<f64> = (0..w * h).map(|i| ((i * 7919) % 101) as f64 / 100.0).collect();
        let y: Vec<f64> = x.iter().map(|v| v * 0.9 + 0.05).collect();
        // All valid: the same as the unmasked score, over (20 - 10) x (15 - 10) = 50 centres.
        let all = vec![true; w * h];
        let (s, n) = ssim_sum(&x, &y, Some(&all), w, h, 1.0);
        assert_eq!(n, 50);
        assert!((s / n as f64 - ssim(&x, &y, w, h, 1.0)).abs() < 1e-12);
        // One invalid pixel at (0, 0) is inside the windows of centres (5, 5) only: 49 remain,
        // and a NaN under it is never read.
        let mut valid = all.clone();
        valid[0] = false;
        let mut xn = x.clone();
        xn[0] = f64::NAN;
        let (s1, n1) = ssim_sum(&xn, &y, Some(&valid), w, h, 1.0);
        assert_eq!(n1, 49);
        assert!(s1.is_finite());
        // A pixel at (10, 7) lies in every window whose centre is within 5 of it: the 10 x 5
        // centres (5..15, 5..10) all do.
        let mut valid = all;
        valid[7 * w + 10] = false;
        assert_eq!(ssim_sum(&x, &y, Some(&valid), w, h, 1.0).1, 0);
    }

    #[test]
    fn streamed_sums_equal_one_pass() {
        let pairs = [(1.0, 2.0), (4.0, 2.0), (3.0, 3.0), (0.5, -1.0)];
        let mut sums = RegressionSums::default();
        for (p, r) in pairs {
            sums.add(p, r);
        }
        sums.add(f64::INFINITY, 0.0);
        assert_eq!(sums.count(), 4);
        assert_eq!(sums.scores(), regression(pairs));
        assert_eq!(psnr_of_mse(0.01, 1.0), 20.0);
    }
}
