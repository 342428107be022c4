//! Training the YOLO-style detector (`arch::yolo`): the dense targets of a tile's boxes, the
//! loss, and the score of found boxes against the planted ones (recall and precision).
//!
//! Each object is assigned to the cell that holds its box centre: that cell should score its
//! class and predict its box; every other cell should score nothing. The head's output and the
//! targets share one layout, [N, 4 + classes, cells], so batches go through `fit_tensors`.

use tch::{Kind, Reduction, Tensor};

use crate::data::planted::Planted;

/// The weight of the box term against the class term (YOLOv8 weighs its box loss 7.5 against
/// 0.5 for classes; the ratio here was chosen on the planted scenes).
const BOX_WEIGHT: f64 = 5.0;

/// The targets of one tile's `boxes` for a head with `classes` classes over `size`-pixel tiles
/// at `stride`: [4 + classes, cells], the box (centre x, centre y, width, height in pixels) and a
/// one-hot class at each object's centre cell, zero elsewhere.
pub fn targets(boxes: &[Planted], classes: usize, size: usize, stride: usize) -> Vec<f32> {
    let side = size / stride;
    let cells = side * side;
    let mut y = vec![0f32; (4 + classes) * cells];
    for b in boxes {
        let (cx, cy) = ((b.x1 + b.x2) / 2.0, (b.y1 + b.y2) / 2.0);
        let (column, row) = ((cx / stride as f64) as usize, (cy / stride as f64) as usize);
        if column >= side || row >= side || b.class >= classes {
            continue;
        }
        let k = row * side + column;
        for (i, v) in [cx, cy, b.x2 - b.x1, b.y2 - b.y1].into_iter().enumerate() {
            y[i * cells + k] = v as f32;
        }
        y[(4 + b.class) * cells + k] = 1.0;
    }
    y
}

/// The detector's loss on head outputs `out` and `targets` [N, 4 + classes, cells]: binary
/// cross-entropy of every cell's class scores plus `BOX_WEIGHT` x (1 - GIoU) of the boxes of
/// the object cells, both summed and divided by the number of objects (as YOLOv8 normalises).
pub fn loss(out: &Tensor, targets: &Tensor) -> Tensor {
    let c = out.size()[1];
    let (scores, want) = (out.narrow(1, 4, c - 4), targets.narrow(1, 4, c - 4));
    let objects = want.amax([1], false).gt(0.5).to_kind(Kind::Float);
    let n = objects.sum(Kind::Float).clamp_min(1.0);
    let classes = scores.binary_cross_entropy::<Tensor>(&want, None, Reduction::Sum);
    let overlap: Tensor = giou(&out.narrow(1, 0, 4), &targets.narrow(1, 0, 4));
    let misfit: Tensor = overlap.neg() + 1.0;
    let boxes = (misfit * &objects).sum(Kind::Float);
    (classes + boxes * BOX_WEIGHT) / n
}

/// Generalised IoU of boxes `a` and `b` [N, 4 (cx, cy, w, h), cells], per cell.
fn giou(a: &Tensor, b: &Tensor) -> Tensor {
    let corners = |t: &Tensor| {
        let (cx, cy, w, h) = (t.select(1, 0), t.select(1, 1), t.select(1, 2), t.select(1, 3));
        let (hw, hh) = (&w / 2.0, &h / 2.0);
        (&cx - &hw, &cy - &hh, cx + hw, cy + hh, w * h)
    };
    let (ax1, ay1, ax2, ay2, a_area) = corners(a);
    let (bx1, by1, bx2, by2, b_area) = corners(b);
    let iw = (ax2.minimum(&bx2) - ax1.maximum(&bx1)).clamp_min(0.0);
    let ih = (ay2.minimum(&by2) - ay1.maximum(&by1)).clamp_min(0.0);
    let inter = iw * ih;
    let union = a_area + b_area - &inter + 1e-7;
    let hull = (ax2.maximum(&bx2) - ax1.minimum(&bx1)) * (ay2.maximum(&by2) - ay1.minimum(&by1)) + 1e-7;
    &inter / &union - (&hull - &union) / hull
}

/// A found box: corners in pixels, class and score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Found {
    pub x1: f64,
    pub y1: f64,
    pub x2: f64,
    pub y2: f64,
    pub class: usize,
    pub score: f64,
}

/// Found boxes against the planted ones: a found box is right when it has the class of a
/// planted box not yet matched and an IoU of at least the threshold with it (best scores first,
/// as detection benchmarks match).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Score {
    pub planted: usize,
    pub found: usize,
    pub right: usize,
    pub recall: f64,
    pub precision: f64,
}

pub fn score(found: &[Found], planted: &[Planted], iou_threshold: f64) -> Score {
    let mut order: Vec<&Found> = found.iter().collect();
    order.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut matched = vec![false; planted.len()];
    let mut right = 0;
    for f in order {
        let best = planted
            .iter()
            .enumerate()
            .filter(|(i, p)| !matched[*i] && p.class == f.class)
            .map(|(i, p)| (i, iou([f.x1, f.y1, f.x2, f.y2], [p.x1, p.y1, p.x2, p.y2])))
            .filter(|(_, v)| *v >= iou_threshold)
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((i, _)) = best {
            matched[i] = true;
            right += 1;
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    Score {
        planted: planted.len(),
        found: found.len(),
        right,
        recall: ratio(right, planted.len()),
        precision: ratio(right, found.len()),
    }
}

/// IoU of two boxes given by corners.
pub fn iou(a: [f64; 4], b: [f64; 4]) -> f64 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planted(x1: f64, y1: f64, x2: f64, y2: f64, class: usize) -> Planted {
        Planted { x1, y1, x2, y2, class }
    }

    #[test]
    fn a_box_is_the_target_of_the_cell_of_its_centre() {
        let y = targets(&[planted(10.0, 20.0, 18.0, 30.0, 1)], 2, 32, 4);
        let cells = 64;
        let k = (25 / 4) * 8 + 14 / 4;
        assert_eq!([y[k], y[cells + k], y[2 * cells + k], y[3 * cells + k]], [14.0, 25.0, 8.0, 10.0]);
        assert_eq!((y[4 * cells + k], y[5 * cells + k]), (0.0, 1.0));
        assert_eq!(y.iter().filter(|v| **v != 0.0).count(), 5);
    }

    #[test]
    fn the_loss_is_lowest_for_the_targets_themselves() {
        let y = Tensor::from_slice(&targets(&[planted(10.0, 20.0, 18.0, 30.0, 0)], 2, 32, 4)).view([1, 6, 64]);
        let right = y.clamp(1e-4, 1e6);
        let wrong_box = right.copy();
        let _ = wrong_box.get(0).get(0).fill_(3.0);
        let (l_right, l_wrong) = (loss(&right, &y).double_value(&[]), loss(&wrong_box, &y).double_value(&[]));
        assert!(l_right < 0.1 && l_wrong > l_right + 1.0, "{l_right} {l_wrong}");
    }

    #[test]
    fn scores_count_each_planted_box_once() {
        let p = [planted(0.0, 0.0, 10.0, 10.0, 0), planted(20.0, 0.0, 30.0, 10.0, 1)];
        let f = |x1: f64, class, score| Found { x1, y1: 0.0, x2: x1 + 10.0, y2: 10.0, class, score };
        // A duplicate of the first, the second found under the wrong class, and a miss.
        let s = score(&[f(0.0, 0, 0.9), f(1.0, 0, 0.8), f(20.0, 0, 0.7)], &p, 0.5);
        assert_eq!((s.right, s.found, s.planted), (1, 3, 2));
        assert_eq!((s.recall, s.precision), (0.5, 1.0 / 3.0));
    }
}
