//! Train / validation splits: random hold-out, k-fold, and spatial blocks. Random splits of
//! overlapping or neighbouring chips leak: a validation chip's pixels (or their immediate
//! neighbours, which are strongly correlated) are seen in training. Spatial blocks assign whole
//! blocks of the raster to one side and drop training chips that overlap a validation chip.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rastrum::{Error, Result};

use super::Dataset;

/// Indices of the training and validation examples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub train: Vec<usize>,
    pub val: Vec<usize>,
}

/// How examples are split.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Strategy {
    /// Hold out a random fraction for validation.
    Random { val_fraction: f64 },
    /// `k` folds: each example is validated exactly once.
    KFold { k: usize },
    /// Square blocks of `block` pixels: a random fraction of blocks is held out.
    Blocks { block: usize, val_fraction: f64 },
    /// Square blocks of `block` pixels dealt into `k` folds.
    BlockFolds { block: usize, k: usize },
}

fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    v.shuffle(&mut StdRng::seed_from_u64(seed));
    v
}

fn check_fraction(f: f64) -> Result<()> {
    if f > 0.0 && f < 1.0 {
        Ok(())
    } else {
        Err(Error::invalid(format!("validation fraction {f} must lie strictly between 0 and 1")))
    }
}

fn check_k(k: usize, groups: usize, what: &str) -> Result<()> {
    if k < 2 || k > groups {
        return Err(Error::invalid(format!("{k} folds need 2 <= k <= {groups} (the number of {what})")));
    }
    Ok(())
}

/// Each of `groups` groups to a fold 0..k, in a seeded random order, dealt round-robin.
fn deal(groups: usize, k: usize, seed: u64) -> Vec<usize> {
    let mut fold = vec![0; groups];
    for (pos, g) in shuffled(groups, seed).into_iter().enumerate() {
        fold[g] = pos % k;
    }
    fold
}

/// Which groups are validation: a seeded random `fraction` of them (at least one, not all).
fn hold_out(groups: usize, fraction: f64, seed: u64) -> Vec<bool> {
    let n_val = ((groups as f64 * fraction).round() as usize).clamp(1, groups - 1);
    let mut val = vec![false; groups];
    for g in shuffled(groups, seed).into_iter().take(n_val) {
        val[g] = true;
    }
    val
}

/// The splits of `data` for `strategy`: one for hold-out strategies, `k` for fold strategies.
pub fn splits(data: &dyn Dataset, strategy: Strategy, seed: u64) -> Result<Vec<Split>> {
    let n = data.len();
    if n < 2 {
        return Err(Error::invalid(format!("a split needs at least 2 examples, the dataset has {n}")));
    }
    match strategy {
        Strategy::Random { val_fraction } => {
            check_fraction(val_fraction)?;
            let val = hold_out(n, val_fraction, seed);
            Ok(vec![by_group(&(0..n).collect::<Vec<_>>(), |g| val[g])])
        }
        Strategy::KFold { k } => {
            check_k(k, n, "examples")?;
            let fold = deal(n, k, seed);
            Ok((0..k).map(|f| by_group(&(0..n).collect::<Vec<_>>(), |g| fold[g] == f)).collect())
        }
        Strategy::Blocks { block, val_fraction } => {
            check_fraction(val_fraction)?;
            let (groups, count) = blocks(data, block)?;
            if count < 2 {
                return Err(Error::invalid(format!("all chips fall into one {block}-pixel block: use smaller blocks")));
            }
            let val = hold_out(count, val_fraction, seed);
            Ok(vec![no_overlap(data, by_group(&groups, |g| val[g]))])
        }
        Strategy::BlockFolds { block, k } => {
            let (groups, count) = blocks(data, block)?;
            check_k(k, count, "blocks holding chips")?;
            let fold = deal(count, k, seed);
            Ok((0..k).map(|f| no_overlap(data, by_group(&groups, |g| fold[g] == f))).collect())
        }
    }
}

/// Examples whose group is a validation group go to validation, the others to training.
fn by_group(groups: &[usize], is_val: impl Fn(usize) -> bool) -> Split {
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for (i, &g) in groups.iter().enumerate() {
        if is_val(g) {
            val.push(i)
        } else {
            train.push(i)
        }
    }
    Split { train, val }
}

/// The block of each example (by the centre of its footprint), renumbered 0..count over the
/// blocks that hold examples.
fn blocks(data: &dyn Dataset, block: usize) -> Result<(Vec<usize>, usize)> {
    if block == 0 {
        return Err(Error::invalid("the spatial block size must be positive"));
    }
    let mut ids = std::collections::BTreeMap::new();
    let mut groups = Vec::with_capacity(data.len());
    for i in 0..data.len() {
        let (x, y, w, h) = data.footprint(i).ok_or_else(|| {
            Error::invalid("spatial-block splits need examples cut from one raster (chips with a position)")
        })?;
        let key = ((x + w / 2) / block, (y + h / 2) / block);
        let next = ids.len();
        groups.push(*ids.entry(key).or_insert(next));
    }
    Ok((groups, ids.len()))
}

/// Drops training examples whose footprint overlaps a validation example's. Validation
/// footprints are bucketed on a grid of chip-sized cells, so each training chip is checked only
/// against its neighbours.
fn no_overlap(data: &dyn Dataset, split: Split) -> Split {
    type Rect = (usize, usize, usize, usize);
    let fp = |i: usize| -> Rect { data.footprint(i).unwrap_or((0, 0, 0, 0)) };
    let cell = split.val.iter().map(|&i| fp(i).2.max(fp(i).3)).max().unwrap_or(1).max(1);
    let cells = |r: Rect| {
        let (x1, y1) = ((r.0 + r.2.max(1) - 1) / cell, (r.1 + r.3.max(1) - 1) / cell);
        (r.1 / cell..=y1).flat_map(move |cy| (r.0 / cell..=x1).map(move |cx| (cx, cy)))
    };
    let mut grid: std::collections::HashMap<(usize, usize), Vec<Rect>> = std::collections::HashMap::new();
    for &i in &split.val {
        for c in cells(fp(i)) {
            grid.entry(c).or_default().push(fp(i));
        }
    }
    let overlaps = |a: Rect, b: Rect| a.0 < b.0 + b.2 && b.0 < a.0 + a.2 && a.1 < b.1 + b.3 && b.1 < a.1 + a.3;
    let train = split
        .train
        .into_iter()
        .filter(|&i| {
            let r = fp(i);
            !cells(r).any(|c| grid.get(&c).is_some_and(|v| v.iter().any(|v| overlaps(r, *v))))
        })
        .collect();
    Split { train, val: split.val }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Example, InputSpec, Target};

    /// Chips of `size` on a grid with `stride` over a `side` x `side` raster (positions only).
    struct Grid {
        origins: Vec<(usize, usize)>,
        size: usize,
    }

    impl Grid {
        fn new(side: usize, size: usize, stride: usize) -> Grid {
            let mut origins = Vec::new();
            for y in (0..=side - size).step_by(stride) {
                for x in (0..=side - size).step_by(stride) {
                    origins.push((x, y));
                }
            }
            Grid { origins, size }
        }
    }

    impl Dataset for Grid {
        fn len(&self) -> usize {
            self.origins.len()
        }
        fn input_shape(&self) -> [usize; 3] {
            [1, self.size, self.size]
        }
        fn target(&self) -> Target {
            Target::Value { len: 1 }
        }
        fn example(&self, _: usize) -> Result<Example> {
            Ok(Example { x: vec![], y: vec![] })
        }
        fn footprint(&self, i: usize) -> Option<(usize, usize, usize, usize)> {
            let (x, y) = self.origins[i];
            Some((x, y, self.size, self.size))
        }
        fn input_spec(&self) -> InputSpec {
            InputSpec { bands: vec![1], scale: vec![1.0], offset: vec![0.0], band_names: vec![] }
        }
        fn describe(&self) -> serde_json::Value {
            serde_json::Value::Null
        }
    }

    fn sorted(mut v: Vec<usize>) -> Vec<usize> {
        v.sort();
        v
    }

    #[test]
    fn random_holds_out_the_fraction_disjointly_and_reproducibly() {
        let g = Grid::new(100, 10, 10);
        let s = &splits(&g, Strategy::Random { val_fraction: 0.2 }, 7).unwrap()[0];
        assert_eq!((s.train.len(), s.val.len()), (80, 20));
        assert_eq!(sorted([s.train.clone(), s.val.clone()].concat()), (0..100).collect::<Vec<_>>());
        assert_eq!(s, &splits(&g, Strategy::Random { val_fraction: 0.2 }, 7).unwrap()[0]);
        assert_ne!(s, &splits(&g, Strategy::Random { val_fraction: 0.2 }, 8).unwrap()[0]);
    }

    #[test]
    fn kfold_validates_every_example_exactly_once() {
        let g = Grid::new(100, 10, 10);
        let folds = splits(&g, Strategy::KFold { k: 3 }, 1).unwrap();
        assert_eq!(folds.len(), 3);
        let all: Vec<usize> = folds.iter().flat_map(|f| f.val.clone()).collect();
        assert_eq!(sorted(all), (0..100).collect::<Vec<_>>());
        for f in &folds {
            assert!(f.val.len() == 33 || f.val.len() == 34);
            assert_eq!(f.train.len() + f.val.len(), 100);
        }
    }

    #[test]
    fn spatial_blocks_leave_no_training_chip_overlapping_a_validation_chip() {
        // Overlapping chips (stride half the size): a random split would leak.
        let g = Grid::new(256, 32, 16);
        for s in splits(&g, Strategy::BlockFolds { block: 64, k: 4 }, 3).unwrap() {
            assert!(!s.val.is_empty() && !s.train.is_empty());
            for &t in &s.train {
                for &v in &s.val {
                    let (a, b) = (g.footprint(t).unwrap(), g.footprint(v).unwrap());
                    let overlap = a.0 < b.0 + b.2 && b.0 < a.0 + a.2 && a.1 < b.1 + b.3 && b.1 < a.1 + a.3;
                    assert!(!overlap, "training chip {a:?} overlaps validation chip {b:?}");
                }
            }
            // Chips are grouped by block: every validation chip's block holds only validation.
            let block_of = |i: usize| {
                let (x, y, w, h) = g.footprint(i).unwrap();
                ((x + w / 2) / 64, (y + h / 2) / 64)
            };
            for &t in &s.train {
                assert!(s.val.iter().all(|&v| block_of(v) != block_of(t)));
            }
        }
        let hold = &splits(&g, Strategy::Blocks { block: 64, val_fraction: 0.25 }, 3).unwrap()[0];
        assert!(!hold.val.is_empty() && hold.train.len() + hold.val.len() < g.len(), "overlapping chips dropped");
    }

    #[test]
    fn bad_parameters_are_refused() {
        let g = Grid::new(64, 32, 32);
        assert!(splits(&g, Strategy::Random { val_fraction: 1.0 }, 0).is_err());
        assert!(splits(&g, Strategy::KFold { k: 5 }, 0).is_err());
        assert!(splits(&g, Strategy::Blocks { block: 1000, val_fraction: 0.5 }, 0).is_err());
        assert!(splits(&g, Strategy::BlockFolds { block: 0, k: 2 }, 0).is_err());
    }
}
