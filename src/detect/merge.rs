//! The tiles' boxes joined into one set over the raster, streaming. Each tile keeps only the
//! boxes it sees whole (`keep_whole`: a box reaching a tile side inside the raster is the
//! neighbour's, which overlaps it); boxes seen whole by two tiles are merged by non-maximum
//! suppression. A group of overlapping boxes is decided once no later tile can add to it
//! (`Merger::flush_above`), in an order of its own (score, then position), so the set written
//! does not depend on the tiling's order and memory holds about two tile rows of boxes.

use serde::Serialize;

use super::Detection;
pub use crate::card::{Duplicates, Metric};

/// When one box suppresses another.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct MergeRule {
    /// Suppress when the metric exceeds this.
    pub threshold: f64,
    pub metric: Metric,
    /// Boxes of different classes suppress each other too.
    pub class_agnostic: bool,
    /// Duplicates dropped, or merged into the box that wins (axis-aligned boxes; a rotated
    /// box or an instance keeps its own shape).
    pub duplicates: Duplicates,
}

impl MergeRule {
    /// Whether the boxes may suppress each other: same class (unless agnostic), envelopes
    /// overlapping (a superset of the boxes overlapping, for rotated ones).
    fn overlaps(&self, a: &Detection, b: &Detection) -> bool {
        let ([ax1, ay1, ax2, ay2], [bx1, by1, bx2, by2]) = (a.envelope(), b.envelope());
        (self.class_agnostic || a.class == b.class) && ax1 < bx2 && bx1 < ax2 && ay1 < by2 && by1 < ay2
    }

    fn suppresses(&self, a: &Detection, b: &Detection) -> bool {
        if !self.class_agnostic && a.class != b.class {
            return false;
        }
        let inter = a.intersection(b);
        let base = match self.metric {
            Metric::Iou => a.area() + b.area() - inter,
            Metric::Ios => a.area().min(b.area()),
        };
        base > 0.0 && inter / base > self.threshold
    }
}

/// Whether a box of the tile `[x, y, size]` (input pixels) is seen whole: it does not reach a
/// side of the tile that lies inside the raster (`width` x `height`), within `edge` pixels.
pub fn keep_whole(d: &Detection, tile: [i64; 3], width: usize, height: usize, edge: f64) -> bool {
    let [x, y, size] = tile.map(|v| v as f64);
    let [x1, y1, x2, y2] = d.envelope();
    let inner_left = x > 0.0;
    let inner_top = y > 0.0;
    let inner_right = x + size < width as f64;
    let inner_bottom = y + size < height as f64;
    !((inner_left && x1 < x + edge)
        || (inner_top && y1 < y + edge)
        || (inner_right && x2 > x + size - edge)
        || (inner_bottom && y2 > y + size - edge))
}

/// Boxes waiting for their group to be complete.
pub struct Merger {
    rule: MergeRule,
    pending: Vec<Detection>,
}

impl Merger {
    pub fn new(rule: MergeRule) -> Merger {
        Merger { rule, pending: Vec::new() }
    }

    pub fn add(&mut self, boxes: impl IntoIterator<Item = Detection>) {
        self.pending.extend(boxes);
    }

    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    pub fn pending_boxes(&self) -> impl Iterator<Item = &Detection> {
        self.pending.iter()
    }

    /// The merged boxes of every group lying wholly above row `y` (no later tile reaches above
    /// it), in a fixed order; the rest stay.
    pub fn flush_above(&mut self, y: f64) -> Vec<Detection> {
        let groups = groups(&self.pending, &self.rule);
        let mut done_group = vec![true; self.pending.len()];
        for (i, d) in self.pending.iter().enumerate() {
            if d.envelope()[3] > y {
                done_group[groups[i]] = false;
            }
        }
        let (mut ready, mut stay) = (Vec::new(), Vec::new());
        for (i, d) in std::mem::take(&mut self.pending).into_iter().enumerate() {
            if done_group[groups[i]] {
                ready.push((groups[i], d));
            } else {
                stay.push(d);
            }
        }
        self.pending = stay;
        suppress(ready, &self.rule)
    }

    /// Every box left, merged.
    pub fn finish(&mut self) -> Vec<Detection> {
        self.flush_above(f64::INFINITY)
    }
}

/// The group (connected set of overlapping boxes) of each box: a sweep along x, so sparse
/// boxes cost about n log n.
fn groups(boxes: &[Detection], rule: &MergeRule) -> Vec<usize> {
    let mut parent: Vec<usize> = (0..boxes.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let env: Vec<[f64; 4]> = boxes.iter().map(Detection::envelope).collect();
    let mut order: Vec<usize> = (0..boxes.len()).collect();
    order.sort_by(|&a, &b| env[a][0].total_cmp(&env[b][0]));
    let mut active: Vec<usize> = Vec::new();
    for &i in &order {
        active.retain(|&j| env[j][2] > env[i][0]);
        for &j in &active {
            if rule.overlaps(&boxes[i], &boxes[j]) {
                let (ri, rj) = (root(&mut parent, i), root(&mut parent, j));
                parent[ri.max(rj)] = ri.min(rj);
            }
        }
        active.push(i);
    }
    (0..boxes.len()).map(|i| root(&mut parent, i)).collect()
}

/// The winning box `k` grown to cover `d` too (non-maximum merging; rotated boxes keep theirs).
fn grow(k: &mut Detection, d: &Detection) {
    if k.angle == 0.0 && d.angle == 0.0 {
        k.x1 = k.x1.min(d.x1);
        k.y1 = k.y1.min(d.y1);
        k.x2 = k.x2.max(d.x2);
        k.y2 = k.y2.max(d.y2);
    }
}

/// Greedy non-maximum suppression (or merging) within each group, highest score first (ties: top, left,
/// class, then size), and the survivors in that order.
fn suppress(mut ready: Vec<(usize, Detection)>, rule: &MergeRule) -> Vec<Detection> {
    ready.sort_by(|(ga, a), (gb, b)| {
        ga.cmp(gb)
            .then(b.score.total_cmp(&a.score))
            .then(a.y1.total_cmp(&b.y1))
            .then(a.x1.total_cmp(&b.x1))
            .then(a.class.cmp(&b.class))
            .then(a.y2.total_cmp(&b.y2))
            .then(a.x2.total_cmp(&b.x2))
            .then(a.angle.total_cmp(&b.angle))
    });
    let mut kept: Vec<(usize, Detection)> = Vec::new();
    let mut start = 0;
    for (g, d) in ready {
        if kept.get(start).is_some_and(|(kg, _)| *kg != g) {
            start = kept.len();
        }
        match kept[start..].iter().position(|(_, k)| rule.suppresses(k, &d)) {
            None => kept.push((g, d)),
            Some(i) if rule.duplicates == Duplicates::Nmm => grow(&mut kept[start + i].1, &d),
            Some(_) => {}
        }
    }
    // Written top to bottom within what is flushed: a fixed order whatever the groups' ids.
    let mut out: Vec<Detection> = kept.into_iter().map(|(_, d)| d).collect();
    out.sort_by(|a, b| a.y1.total_cmp(&b.y1).then(a.x1.total_cmp(&b.x1)).then(b.score.total_cmp(&a.score)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x1: f64, y1: f64, w: f64, score: f32, class: u32) -> Detection {
        Detection { x1, y1, x2: x1 + w, y2: y1 + w, angle: 0.0, score, class, tile: 0, index: 0 }
    }

    const RULE: MergeRule =
        MergeRule { threshold: 0.5, metric: Metric::Iou, class_agnostic: false, duplicates: Duplicates::Nms };

    #[test]
    fn duplicates_merge_and_groups_wait_for_their_last_box() {
        let mut m = Merger::new(RULE);
        // Two copies of one box (seen by two tiles), a neighbour overlapping little, a box of
        // another class on top, and a box reaching below row 30.
        m.add([det(0.0, 0.0, 10.0, 0.9, 0), det(0.0, 0.0, 10.0, 0.9, 0), det(8.0, 0.0, 10.0, 0.8, 0)]);
        m.add([det(0.0, 0.0, 10.0, 0.7, 1), det(50.0, 25.0, 10.0, 0.6, 0)]);
        let out = m.flush_above(30.0);
        assert_eq!(out.len(), 3, "{out:?}");
        assert_eq!(m.pending(), 1);
        // A box joining the waiting one's group later merges with it.
        m.add([det(51.0, 26.0, 10.0, 0.95, 0)]);
        let rest = m.finish();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].score, 0.95);
    }

    #[test]
    fn merging_grows_the_winner_over_its_duplicates() {
        let boxes = [det(0.0, 0.0, 10.0, 0.9, 0), det(2.0, 1.0, 10.0, 0.8, 0), det(40.0, 0.0, 5.0, 0.7, 0)];
        let mut m = Merger::new(MergeRule { duplicates: Duplicates::Nmm, ..RULE });
        m.add(boxes);
        let out = m.finish();
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].x1, out[0].y1, out[0].x2, out[0].y2, out[0].score), (0.0, 0.0, 12.0, 11.0, 0.9));
        assert_eq!((out[1].x1, out[1].x2), (40.0, 45.0));
    }

    #[test]
    fn ios_drops_a_small_box_inside_a_large_one() {
        let boxes = [det(0.0, 0.0, 20.0, 0.9, 0), det(2.0, 2.0, 5.0, 0.8, 0)];
        let mut iou = Merger::new(RULE);
        iou.add(boxes);
        assert_eq!(iou.finish().len(), 2);
        let mut ios = Merger::new(MergeRule { metric: Metric::Ios, ..RULE });
        ios.add(boxes);
        assert_eq!(ios.finish().len(), 1);
    }

    #[test]
    fn a_box_reaching_an_inner_tile_side_belongs_to_the_neighbour() {
        let tile = [100, 0, 64];
        assert!(!keep_whole(&det(99.0, 10.0, 5.0, 0.9, 0), tile, 400, 64, 1.0));
        assert!(keep_whole(&det(110.0, 10.0, 5.0, 0.9, 0), tile, 400, 64, 1.0));
        assert!(!keep_whole(&det(160.0, 10.0, 5.0, 0.9, 0), tile, 400, 64, 1.0));
        // The raster's own edges cut nothing.
        assert!(keep_whole(&det(110.0, 0.0, 5.0, 0.9, 0), tile, 400, 64, 1.0));
    }
}
