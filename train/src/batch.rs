//! Mini-batches as tensors: examples read from a `Dataset`, standardised with the training
//! split's band statistics, targets in the form the loss expects; and the flips / rot90
//! augmentation applied to inputs and (spatial) targets alike.

use rastrum::{Error, Result};
use tch::{Kind, Tensor};

use crate::data::stats::BandStats;
use crate::data::{Dataset, Target};

/// Inputs [N, C, H, W] (f32) and targets: [N] int64 classes, [N, H, W] int64 pixel classes,
/// [N, len] f32 values or [N, C, H s, W s] f32 images.
pub struct Batch {
    pub x: Tensor,
    pub y: Tensor,
}

impl Batch {
    pub fn to(self, device: tch::Device) -> Batch {
        Batch { x: self.x.to_device(device), y: self.y.to_device(device) }
    }
}

pub fn load(data: &dyn Dataset, indices: &[usize], stats: &BandStats) -> Result<Batch> {
    let [c, h, w] = data.input_shape();
    let n = indices.len() as i64;
    let mut xs = Vec::with_capacity(indices.len() * c * h * w);
    let mut ys = Vec::new();
    for &i in indices {
        let mut ex = data.example(i)?;
        if ex.x.len() != c * h * w {
            return Err(Error::Internal(format!(
                "example {i} has {} input values, expected {}",
                ex.x.len(),
                c * h * w
            )));
        }
        stats.apply(&mut ex.x);
        xs.extend_from_slice(&ex.x);
        ys.extend_from_slice(&ex.y);
    }
    let x = Tensor::from_slice(&xs).view([n, c as i64, h as i64, w as i64]);
    let y = match data.target() {
        Target::Class { .. } => Tensor::from_slice(&ys).to_kind(Kind::Int64).view([n]),
        Target::PixelClass { .. } => Tensor::from_slice(&ys).to_kind(Kind::Int64).view([n, h as i64, w as i64]),
        Target::Value { len } => Tensor::from_slice(&ys).view([n, len as i64]),
        Target::Image { channels, scale } => {
            Tensor::from_slice(&ys).view([n, channels as i64, (h * scale) as i64, (w * scale) as i64])
        }
    };
    Ok(Batch { x, y })
}

/// One of the 8 symmetries of the square: `k` quarter turns, then a horizontal flip if `flip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dihedral {
    pub k: i64,
    pub flip: bool,
}

impl Dihedral {
    /// Applies the symmetry to the last two dimensions of `t`.
    pub fn apply(&self, t: &Tensor) -> Tensor {
        let d = t.dim() as i64;
        let mut t = if self.k % 4 == 0 { t.shallow_clone() } else { t.rot90(self.k, [d - 2, d - 1]) };
        if self.flip {
            t = t.flip([d - 1]);
        }
        t
    }
}

/// Which augmentations training draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Augment {
    pub flips: bool,
    /// Quarter turns (square chips only).
    pub rot90: bool,
}

impl Augment {
    pub fn any(&self) -> bool {
        self.flips || self.rot90
    }

    /// Draws one symmetry per example (from tch's seeded generator) and applies it to the input
    /// and, when the target is spatial, to the target too.
    pub fn apply(&self, batch: Batch, target: Target) -> Batch {
        if !self.any() {
            return batch;
        }
        let n = batch.x.size()[0];
        let draws = Tensor::randint(8, [n], (Kind::Int64, tch::Device::Cpu));
        let draws: Vec<i64> = Vec::try_from(&draws).unwrap_or_default();
        let spatial = matches!(target, Target::PixelClass { .. } | Target::Image { .. });
        let (mut xs, mut ys) = (Vec::with_capacity(n as usize), Vec::with_capacity(n as usize));
        for (i, d) in draws.iter().enumerate() {
            let sym = Dihedral { k: if self.rot90 { d % 4 } else { 0 }, flip: self.flips && d / 4 == 1 };
            let (x, y) = (batch.x.get(i as i64), batch.y.get(i as i64));
            xs.push(sym.apply(&x));
            ys.push(if spatial { sym.apply(&y) } else { y });
        }
        Batch { x: Tensor::stack(&xs, 0), y: Tensor::stack(&ys, 0) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(t: &Tensor) -> Vec<f32> {
        Vec::<f32>::try_from(&t.flatten(0, -1).contiguous()).unwrap()
    }

    #[test]
    fn the_eight_symmetries_are_distinct_and_rotate_counterclockwise() {
        // [[1, 2], [3, 4]]
        let t = Tensor::from_slice(&[1f32, 2., 3., 4.]).view([1, 2, 2]);
        assert_eq!(values(&Dihedral { k: 1, flip: false }.apply(&t)), [2., 4., 1., 3.]);
        assert_eq!(values(&Dihedral { k: 0, flip: true }.apply(&t)), [2., 1., 4., 3.]);
        let mut seen: Vec<Vec<f32>> = Vec::new();
        for k in 0..4 {
            for flip in [false, true] {
                let v = values(&Dihedral { k, flip }.apply(&t));
                assert!(!seen.contains(&v), "k {k} flip {flip} repeats a symmetry");
                seen.push(v);
            }
        }
    }

    #[test]
    fn spatial_targets_move_with_their_inputs() {
        // Each pixel's target is its input value: the relation must survive augmentation.
        tch::manual_seed(3);
        let x = Tensor::arange(4 * 2 * 5 * 5, (Kind::Float, tch::Device::Cpu)).view([4, 2, 5, 5]);
        let y = x.select(1, 0).to_kind(Kind::Int64);
        let aug = Augment { flips: true, rot90: true };
        let b = aug.apply(Batch { x: x.shallow_clone(), y }, Target::PixelClass { classes: 200 });
        assert_eq!(values(&b.x.select(1, 0)), values(&b.y.to_kind(Kind::Float)));
        assert_ne!(values(&b.x), values(&x), "some example was transformed");
        // Per-chip targets stay as they are.
        let y = Tensor::from_slice(&[0i64, 1, 2, 3]);
        let b = aug.apply(Batch { x, y: y.shallow_clone() }, Target::Class { classes: 4 });
        assert_eq!(Vec::<i64>::try_from(&b.y).unwrap(), [0, 1, 2, 3]);
    }
}
