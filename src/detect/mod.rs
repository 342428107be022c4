//! What detection models give per tile: the output formats in use (`Format`, named by the peers'
//! `det_type`), decoded into boxes in tile pixels (`decode`); `merge` joins the tiles' boxes
//! into one set over the raster whatever the tiling.

pub mod instances;
pub mod merge;

use serde::Serialize;

use crate::error::{Error, Result};

pub mod oriented;

/// An object found: a box in pixels (x right, y down; of the tile until mapped, then of the
/// raster), `x1..x2` by `y1..y2` before its rotation by `angle` radians about its centre (0 for
/// the axis-aligned boxes of most formats), its class and score, and the tile that saw it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Detection {
    pub x1: f64,
    pub y1: f64,
    pub x2: f64,
    pub y2: f64,
    pub angle: f64,
    pub score: f32,
    pub class: u32,
    pub tile: u32,
    /// Which box of its tile's output it is (column or row): its mask coefficients' place.
    pub index: u32,
}

impl Detection {
    pub fn area(&self) -> f64 {
        (self.x2 - self.x1).max(0.0) * (self.y2 - self.y1).max(0.0)
    }

    /// The area shared with `o` (rotated boxes: their polygons' intersection).
    pub fn intersection(&self, o: &Detection) -> f64 {
        if self.angle == 0.0 && o.angle == 0.0 {
            let w = self.x2.min(o.x2) - self.x1.max(o.x1);
            let h = self.y2.min(o.y2) - self.y1.max(o.y1);
            return w.max(0.0) * h.max(0.0);
        }
        oriented::intersection(&self.corners(), &o.corners())
    }

    /// The four corners, rotated.
    pub fn corners(&self) -> [(f64, f64); 4] {
        let (cx, cy) = ((self.x1 + self.x2) / 2.0, (self.y1 + self.y2) / 2.0);
        let (hw, hh) = ((self.x2 - self.x1) / 2.0, (self.y2 - self.y1) / 2.0);
        let (sin, cos) = self.angle.sin_cos();
        [(-hw, -hh), (hw, -hh), (hw, hh), (-hw, hh)].map(|(x, y)| (cx + x * cos - y * sin, cy + x * sin + y * cos))
    }

    /// The axis-aligned envelope `[x1, y1, x2, y2]` of the (rotated) box.
    pub fn envelope(&self) -> [f64; 4] {
        if self.angle == 0.0 {
            return [self.x1, self.y1, self.x2, self.y2];
        }
        let c = self.corners();
        let xs = c.map(|p| p.0);
        let ys = c.map(|p| p.1);
        let min = |v: [f64; 4]| v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = |v: [f64; 4]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        [min(xs), min(ys), max(xs), max(ys)]
    }
}

/// The output formats of the detectors in use, as the peers name them (`det_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// YOLOv5 / v7: `[b, N, 5 + nc]` rows of cx, cy, w, h, objectness, class scores; the score is
    /// objectness times the class score (YOLOv5's `detect.py`).
    YoloV5,
    /// YOLOv6: `[b, N, 5 + nc]` as v5, the objectness ignored (Deepness's `YOLO_v6`).
    YoloV6,
    /// Ultralytics v8 / 11 and YOLOv9: `[b, 4 + nc, N]` columns of cx, cy, w, h, class scores.
    Ultralytics,
    /// Ultralytics oriented boxes: `[b, 4 + nc + 1, N]`, the last value the rotation in radians.
    UltralyticsObb,
    /// Ultralytics instance segmentation: `[b, 4 + nc + nm, N]` boxes with nm mask
    /// coefficients, and another output `[b, nm, mh, mw]` of mask prototypes (`instances`).
    UltralyticsSeg,
    /// End-to-end heads with NMS inside (YOLOv10, Ultralytics `nms=True` exports): `[b, N, 6]`
    /// rows of x1, y1, x2, y2, score, class.
    EndToEnd,
    /// Graphs with NMS inside returning three outputs: boxes `[b, N, 4]` (x1, y1, x2, y2),
    /// scores `[b, N]` and classes `[b, N]` (integers or floats); or, without a batch axis and
    /// with as many boxes as the tile has, `[N, 4]`, `[N]` and `[N]` (torchvision's RetinaNet
    /// exports: GeoDeep's `retinanet`).
    Separate,
}

impl Format {
    /// The format a card's `det_type` names (both peers' spellings, any case), or, without one,
    /// the one the output shape `[b, a, c]` shows.
    pub fn of(det_type: Option<&str>, shape: &[usize]) -> Result<Format> {
        if let Some(t) = det_type {
            return Format::named(t);
        }
        let (a, c) = match shape {
            [_, a, c] => (*a, *c),
            _ => return Err(shape_error(shape)),
        };
        // Boxes outnumber the values per box: the long axis is the boxes'.
        Ok(if c == 4 {
            Format::Separate
        } else if a < c {
            Format::Ultralytics
        } else if c == 6 {
            Format::EndToEnd
        } else {
            Format::YoloV5
        })
    }

    fn named(t: &str) -> Result<Format> {
        Ok(match t.to_ascii_lowercase().replace(['-', ' '], "_").as_str() {
            "yolo_v5_or_v7_default" | "yolo_v5" | "yolo_v7" | "yolov5" | "yolov7" => Format::YoloV5,
            "yolo_v6" | "yolov6" => Format::YoloV6,
            "yolo_v9" | "yolo_ultralytics" | "yolo_v8" | "yolo_v11" | "yolov8" | "yolov11" | "yolov9" => {
                Format::Ultralytics
            }
            "yolo_v10" | "yolov10" | "end_to_end" => Format::EndToEnd,
            "boxes_scores_classes" | "separate" | "retinanet" => Format::Separate,
            "yolo_ultralytics_obb" | "yolo_v8_obb" | "yolov8_obb" | "yolo11_obb" => Format::UltralyticsObb,
            "yolo_ultralytics_segmentation" | "yolo_v8_seg" | "yolov8_seg" | "yolo11_seg" => Format::UltralyticsSeg,
            _ => {
                return Err(Error::invalid(format!(
                    "model card key 'det_type': unknown detector type '{t}'; expected one of YOLO_v5_or_v7_default, \
                     YOLO_v6, YOLO_v9, YOLO_Ultralytics, YOLO_v8, YOLO_v10, YOLO_Ultralytics_obb, \
                     YOLO_Ultralytics_segmentation, retinanet"
                )))
            }
        })
    }

    /// The class count of a per-tile output `[a, c]` in this format (with `coefficients` mask
    /// coefficients per box for instance masks), checked.
    pub fn class_count(self, a: usize, c: usize, coefficients: usize) -> Result<usize> {
        let (values, what) = match self {
            Format::UltralyticsSeg => (a.checked_sub(4 + coefficients), "[b, 4 + classes + masks, N]"),
            Format::YoloV5 | Format::YoloV6 => (c.checked_sub(5), "[b, N, 5 + classes]"),
            Format::Ultralytics => (a.checked_sub(4), "[b, 4 + classes, N]"),
            Format::UltralyticsObb => (a.checked_sub(5), "[b, 4 + classes + 1, N]"),
            Format::EndToEnd => ((c == 6).then_some(0), "[b, N, 6]"),
            Format::Separate => ((c == 4).then_some(0), "boxes [b, N, 4] beside scores and classes [b, N]"),
        };
        match values {
            Some(n) if n > 0 || matches!(self, Format::EndToEnd | Format::Separate) => Ok(n),
            _ => Err(Error::invalid(format!(
                "a {self:?} detector's output is {what}, found [b, {a}, {c}]: set 'det_type' to the model's format"
            ))),
        }
    }
}

fn shape_error(shape: &[usize]) -> Error {
    Error::invalid(format!(
        "a detector's output is [b, N, 5 + classes], [b, 4 + classes, N], [b, N, 6], or boxes [b, N, 4] / [N, 4] \
         beside scores and classes; found {shape:?}"
    ))
}

/// The boxes of one tile's output `values` (`[a, c]`, row-major) scoring at least `conf`, in the
/// tile's pixels; `coefficients`: the mask coefficients after the class scores (instance masks).
pub fn decode(
    format: Format,
    values: &[f32],
    [a, c]: [usize; 2],
    coefficients: usize,
    conf: f32,
    tile: u32,
) -> Vec<Detection> {
    let mut out = Vec::new();
    let mut push = |[cx, cy, w, h, angle]: [f32; 5], score: f32, class: usize, index: usize| {
        if score >= conf && [score, cx, cy, w, h, angle].iter().all(|v| v.is_finite()) {
            let (cx, cy, w, h) = (cx as f64, cy as f64, w.max(0.0) as f64, h.max(0.0) as f64);
            let (x1, y1) = (cx - w / 2.0, cy - h / 2.0);
            let (x2, y2, angle, class) = (x1 + w, y1 + h, angle as f64, class as u32);
            out.push(Detection { x1, y1, x2, y2, angle, score, class, tile, index: index as u32 });
        }
    };
    match format {
        Format::YoloV5 | Format::YoloV6 => {
            for (index, row) in values.chunks_exact(c).enumerate() {
                let (class, p) = best(&row[5..]);
                let score = if format == Format::YoloV5 { row[4] * p } else { p };
                push([row[0], row[1], row[2], row[3], 0.0], score, class, index);
            }
        }
        Format::Ultralytics | Format::UltralyticsObb | Format::UltralyticsSeg => {
            // Column k holds box k: value v of box k is values[v * c + k].
            let scores_end = match format {
                Format::UltralyticsObb => a - 1,
                _ => a - coefficients,
            };
            for k in 0..c {
                let at = |v: usize| values[v * c + k];
                let (class, p) = (4..scores_end).map(at).enumerate().fold((0, f32::NEG_INFINITY), pick);
                let angle = if format == Format::UltralyticsObb { at(a - 1) } else { 0.0 };
                push([at(0), at(1), at(2), at(3), angle], p, class, k);
            }
        }
        // The scores and classes are other outputs: `decode_separate`.
        Format::Separate => {}
        Format::EndToEnd => {
            for (index, row) in values.chunks_exact(c).enumerate() {
                let (w, h) = (row[2] - row[0], row[3] - row[1]);
                let class = if row[5] >= 0.0 { row[5].round() as usize } else { continue };
                push([row[0] + w / 2.0, row[1] + h / 2.0, w, h, 0.0], row[4], class, index);
            }
        }
    }
    out
}

/// The boxes of a graph returning boxes `[N, 4]` (x1, y1, x2, y2), scores `[N]` and classes
/// `[N]` as three outputs (one tile's part of each), scoring at least `conf`.
pub fn decode_separate(boxes: &[f32], scores: &[f32], classes: &[f32], conf: f32, tile: u32) -> Vec<Detection> {
    let mut out = Vec::new();
    for (index, ((b, &score), &class)) in boxes.chunks_exact(4).zip(scores).zip(classes).enumerate() {
        let finite = b.iter().chain([&score, &class]).all(|v| v.is_finite());
        if !finite || score < conf || class < 0.0 || b[2] < b[0] || b[3] < b[1] {
            continue;
        }
        let [x1, y1, x2, y2] = [b[0], b[1], b[2], b[3]].map(|v| v as f64);
        let (class, index) = (class.round() as u32, index as u32);
        out.push(Detection { x1, y1, x2, y2, angle: 0.0, score, class, tile, index });
    }
    out
}

/// The best class of a row of class scores (the first wins ties) and its score.
fn best(scores: &[f32]) -> (usize, f32) {
    scores.iter().copied().enumerate().fold((0, f32::NEG_INFINITY), pick)
}

fn pick(best: (usize, f32), (c, p): (usize, f32)) -> (usize, f32) {
    if p > best.1 {
        (c, p)
    } else {
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_decode_the_same_box() {
        // One box at (10, 20) of 4 x 6 with class 1 of two at 0.8 (objectness 0.5 for v5).
        let v5 = [10.0, 20.0, 4.0, 6.0, 0.5, 0.1, 0.8];
        let d = decode(Format::YoloV5, &v5, [1, 7], 0, 0.3, 0);
        assert_eq!((d[0].x1, d[0].y1, d[0].x2, d[0].y2, d[0].class), (8.0, 17.0, 12.0, 23.0, 1));
        assert!((d[0].score - 0.4).abs() < 1e-6);
        assert_eq!(decode(Format::YoloV6, &v5, [1, 7], 0, 0.3, 0)[0].score, 0.8);
        // Ultralytics: [4 + 2, 2] columns: box 0 as above, box 1 below the threshold.
        let u = [10.0, 0.0, 20.0, 0.0, 4.0, 1.0, 6.0, 1.0, 0.1, 0.1, 0.8, 0.2];
        let d = decode(Format::Ultralytics, &u, [6, 2], 0, 0.3, 0);
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].x1, d[0].y2, d[0].score, d[0].class), (8.0, 23.0, 0.8, 1));
        let e = [8.0, 17.0, 12.0, 23.0, 0.9, 3.0];
        let d = decode(Format::EndToEnd, &e, [1, 6], 0, 0.3, 0);
        assert_eq!((d[0].x1, d[0].y1, d[0].x2, d[0].y2, d[0].class), (8.0, 17.0, 12.0, 23.0, 3));
    }

    #[test]
    fn det_types_of_both_peers_are_known_and_others_named() {
        assert_eq!(Format::of(Some("YOLO_v5_or_v7_default"), &[]).unwrap(), Format::YoloV5);
        assert_eq!(Format::of(Some("YOLO_Ultralytics"), &[]).unwrap(), Format::Ultralytics);
        assert_eq!(Format::of(Some("yolo_v8"), &[]).unwrap(), Format::Ultralytics);
        assert_eq!(Format::of(Some("retinanet"), &[]).unwrap(), Format::Separate);
        let e = Format::of(Some("ssd"), &[]).unwrap_err().to_string();
        assert!(e.contains("unknown detector type 'ssd'"), "{e}");
        assert_eq!(Format::of(None, &[1, 84, 8400]).unwrap(), Format::Ultralytics);
        assert_eq!(Format::of(None, &[1, 25200, 85]).unwrap(), Format::YoloV5);
        assert_eq!(Format::of(None, &[1, 300, 6]).unwrap(), Format::EndToEnd);
        let e = Format::YoloV5.class_count(100, 4, 0).unwrap_err().to_string();
        assert!(e.contains("[b, N, 5 + classes], found [b, 100, 4]"), "{e}");
    }
}
