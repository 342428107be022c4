//! The input sanity check: before the first batch, a few tiles' model inputs (after scaling and
//! standardisation) are compared with what a model expects, values near 0..1 or a standard
//! normal. Inputs off by orders of magnitude (raw DNs into a model trained on reflectance) give
//! a warning with the likely fix, or with `strict` an error.

use crate::error::{Error, Result};
use crate::plan::Plan;

/// Tiles sampled, evenly over the plan.
const SAMPLES: usize = 6;

/// The warning for `plan`'s inputs, if they look off (None when they look like a model's).
pub(crate) fn check_inputs(plan: &Plan) -> Result<Option<String>> {
    let count = plan.count();
    if count == 0 || plan.input().is_none() {
        return Ok(None);
    }
    let (mut n, mut sum, mut sum_sq, mut largest) = (0f64, 0f64, 0f64, 0f64);
    let picks = (0..SAMPLES).map(|k| k * (count - 1) / (SAMPLES - 1).max(1));
    let mut seen = Vec::new();
    for index in picks {
        if seen.contains(&index) {
            continue;
        }
        seen.push(index);
        let tile = plan.read_tile(index)?;
        let pixels = tile.valid.len();
        for (i, v) in tile.data.iter().enumerate() {
            if tile.valid.get(i % pixels.max(1)).is_some_and(|ok| *ok != 0) && v.is_finite() {
                let v = *v as f64;
                (n, sum, sum_sq, largest) = (n + 1.0, sum + v, sum_sq + v * v, largest.max(v.abs()));
            }
        }
    }
    if n == 0.0 {
        return Ok(None);
    }
    let mean = sum / n;
    let std = (sum_sq / n - mean * mean).max(0.0).sqrt();
    if mean.abs() <= 50.0 && std <= 100.0 {
        return Ok(None);
    }
    // The scale that brings the largest value into 0..1, on top of the one used.
    let digits = largest.log10().ceil();
    let scale = plan.r.scale.first().copied().unwrap_or(1.0) * 10f64.powf(-digits);
    Ok(Some(format!(
        "the model's inputs look off: {} sampled tile(s) average {mean:.4} (std {std:.4}, largest {largest:.4}) after \
         scaling and standardisation, where models expect values near 0..1 or around 0 with std 1; they look like raw \
         values: --scale {scale:e}? (or the card's rastrum_scale / standardization_mean and _std)",
        seen.len()
    )))
}

/// The check's verdict: a warning to report, or with `strict` an error.
pub(crate) fn verdict(warning: Option<String>, strict: bool) -> Result<Option<String>> {
    match warning {
        Some(w) if strict => Err(Error::invalid(format!("{w} [refused: option 'strict']"))),
        w => Ok(w),
    }
}
