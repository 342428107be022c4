//! The random-forest baseline reported beside the CNN (the So2Sat seed): per-band summary
//! statistics of each chip, classified by smartcore's random forest. It says how much the CNN
//! gains over what band statistics alone give.

use std::panic::{catch_unwind, AssertUnwindSafe};

use rastrum::{Error, Result};
use smartcore::ensemble::random_forest_classifier::{RandomForestClassifier, RandomForestClassifierParameters};
use smartcore::linalg::basic::matrix::DenseMatrix;

/// Features per band, in this order: mean, standard deviation (population), minimum, maximum.
pub const PER_BAND: usize = 4;

/// Per-band `[mean, std, min, max]` over the valid (non-NaN) pixels of one chip laid out as
/// `[C, H, W]`, concatenated band after band (`4 * C` values). A band without any valid pixel
/// gives zeros, so the forest always sees finite values. Panics if `x.len() != C*H*W` (a
/// caller's bug, like an out-of-bounds index).
pub fn features(x: &[f32], shape: [usize; 3]) -> Vec<f32> {
    let [c, h, w] = shape;
    assert_eq!(x.len(), c * h * w, "chip of {} values does not match shape {shape:?}", x.len());
    let mut out = Vec::with_capacity(PER_BAND * c);
    for band in x.chunks(h * w).take(c) {
        let valid = band.iter().filter(|v| !v.is_nan()).map(|&v| v as f64);
        // Sums in f64: chips of reflectances in the thousands lose precision in f32.
        let (n, sum, sq, lo, hi) = valid.fold((0usize, 0.0, 0.0, f64::INFINITY, f64::NEG_INFINITY), |a, v| {
            (a.0 + 1, a.1 + v, a.2 + v * v, a.3.min(v), a.4.max(v))
        });
        if n == 0 {
            out.extend([0.0; PER_BAND]);
            continue;
        }
        let mean = sum / n as f64;
        let var = (sq / n as f64 - mean * mean).max(0.0);
        out.extend([mean as f32, var.sqrt() as f32, lo as f32, hi as f32]);
    }
    // h * w == 0: no pixel at all, every band is "NaN-only".
    out.resize(PER_BAND * c, 0.0);
    out
}

type Forest = RandomForestClassifier<f32, usize, DenseMatrix<f32>, Vec<usize>>;

/// A fitted random forest over fixed-length feature rows (e.g. from [`features`]).
pub struct RandomForest {
    forest: Forest,
    width: usize,
}

impl RandomForest {
    /// Fits `trees` trees (at least 1) on the rows and their class labels; the same `seed` and
    /// data give the same forest.
    pub fn fit(features: &[Vec<f32>], labels: &[usize], trees: u16, seed: u64) -> Result<Self> {
        if features.is_empty() {
            return Err(Error::invalid("random forest: empty training set"));
        }
        if labels.len() != features.len() {
            return Err(Error::invalid(format!(
                "random forest: {} labels for {} feature rows",
                labels.len(),
                features.len()
            )));
        }
        if trees == 0 {
            return Err(Error::invalid("random forest: the number of trees must be at least 1"));
        }
        let x = matrix(features, None)?;
        let params = RandomForestClassifierParameters::default().with_n_trees(trees).with_seed(seed);
        let y = labels.to_vec();
        // smartcore unwraps internally in places: a panic must not take the training run down.
        let forest = guard(|| Forest::fit(&x, &y, params))?;
        Ok(RandomForest { forest, width: features[0].len() })
    }

    /// Class of each row; rows must have as many features as the training rows.
    pub fn predict(&self, features: &[Vec<f32>]) -> Result<Vec<usize>> {
        if features.is_empty() {
            return Ok(Vec::new());
        }
        let x = matrix(features, Some(self.width))?;
        guard(|| self.forest.predict(&x))
    }
}

/// Row-major rows to smartcore's matrix, rejecting ragged rows, a width other than `width`
/// (smartcore would index out of bounds) and non-finite values (trees cannot split on NaN).
fn matrix(rows: &[Vec<f32>], width: Option<usize>) -> Result<DenseMatrix<f32>> {
    let want = width.unwrap_or(rows[0].len());
    if want == 0 {
        return Err(Error::invalid("random forest: feature rows are empty"));
    }
    if let Some(i) = rows.iter().position(|r| r.len() != want) {
        return Err(Error::invalid(format!(
            "random forest: feature row {i} has {} values, expected {want}",
            rows[i].len()
        )));
    }
    if let Some(i) = rows.iter().position(|r| r.iter().any(|v| !v.is_finite())) {
        return Err(Error::invalid(format!("random forest: feature row {i} has a NaN or infinite value")));
    }
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    DenseMatrix::new(rows.len(), want, flat, false).map_err(|e| Error::invalid(format!("random forest: {e}")))
}

fn guard<T>(f: impl FnOnce() -> std::result::Result<T, smartcore::error::Failed>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Error::invalid(format!("random forest: {e}"))),
        Err(_) => Err(Error::Internal("random forest: smartcore panicked".into())),
    }
}
