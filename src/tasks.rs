//! What class tasks make of model outputs: the class head (activation per tile before blending)
//! and the class of a pixel (argmax, threshold) after it; class bands' nodata.

use crate::card::Activation;

/// Nodata of class bands (u8): class ids are 0..=254.
pub(crate) const CLASS_NODATA: u8 = 255;

/// Applies the class head in place over `[channels, pixels]` values.
pub fn activate(values: &mut [f32], channels: usize, activation: Activation) {
    if channels == 0 || values.is_empty() {
        return;
    }
    let pixels = values.len() / channels;
    match activation {
        Activation::None => {}
        Activation::Sigmoid => {
            for v in values.iter_mut() {
                *v = 1.0 / (1.0 + (-*v).exp());
            }
        }
        Activation::Softmax => {
            for p in 0..pixels {
                let mut max = f32::NEG_INFINITY;
                for c in 0..channels {
                    max = max.max(values[c * pixels + p]);
                }
                let mut sum = 0.0;
                for c in 0..channels {
                    let e = (values[c * pixels + p] - max).exp();
                    values[c * pixels + p] = e;
                    sum += e;
                }
                for c in 0..channels {
                    values[c * pixels + p] /= sum;
                }
            }
        }
    }
}

/// Class of one pixel from its probabilities: argmax (first wins ties); one channel means
/// foreground when p >= threshold (default 0.5); with a threshold, a winner below it is class 0.
#[inline]
pub fn class_of(probs: impl Iterator<Item = f32>, channels: usize, thresh: Option<f64>) -> u8 {
    if channels == 1 {
        let p = probs.into_iter().next().unwrap_or(0.0);
        return (p as f64 >= thresh.unwrap_or(0.5)) as u8;
    }
    let (mut best, mut best_p) = (0usize, f32::NEG_INFINITY);
    for (c, p) in probs.enumerate() {
        if p > best_p {
            best = c;
            best_p = p;
        }
    }
    match thresh {
        Some(t) if (best_p as f64) < t => 0,
        _ => best as u8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_is_normalised_and_order_preserving() {
        let mut v = vec![1.0, -2.0, 3.0, 0.5, 0.5, 0.5];
        activate(&mut v, 3, Activation::Softmax);
        // pixel 0: channels (1.0, 3.0, 0.5); pixel 1: (-2.0, 0.5, 0.5)
        let p0 = [v[0], v[2], v[4]];
        assert!((p0.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(class_of(p0.into_iter(), 3, None), 1);
        let e = [1f64.exp(), 3f64.exp(), 0.5f64.exp()];
        assert!((v[0] as f64 - e[0] / e.iter().sum::<f64>()).abs() < 1e-6);
    }

    #[test]
    fn thresholds_follow_deepness() {
        assert_eq!(class_of([0.7f32].into_iter(), 1, None), 1);
        assert_eq!(class_of([0.3f32].into_iter(), 1, None), 0);
        assert_eq!(class_of([0.3f32].into_iter(), 1, Some(0.2)), 1);
        assert_eq!(class_of([0.2f32, 0.45, 0.35].into_iter(), 3, Some(0.5)), 0);
        assert_eq!(class_of([0.2f32, 0.45, 0.35].into_iter(), 3, None), 1);
    }
}
