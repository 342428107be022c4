//! The settings of a detection run: the output format and its class count, from the card's
//! `det_type` or the output shape, the confidence and the merging of boxes across tiles.

use serde::Serialize;

use super::Shape;
use crate::card::{Card, Duplicates, Metric};
use crate::detect::merge::MergeRule;
use crate::detect::Format;
use crate::error::Result;
use crate::options::RunOptions;

/// Where an instance-segmentation detector's mask prototypes are: the output, and its
/// `[channels, height, width]` per tile.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Masks {
    pub output: usize,
    pub dims: [usize; 3],
}

/// How a detector's output is read and its boxes merged.
#[derive(Debug, Clone, Serialize)]
pub struct Detecting {
    pub format: Format,
    /// One tile's output `[a, c]` (the batch axis dropped).
    pub dims: [usize; 2],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub masks: Option<Masks>,
    /// `Separate` boxes: the outputs of the scores and the classes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scores_classes: Option<[usize; 2]>,
    /// The outputs have no batch axis (`[N, 4]`, `[N]`, `[N]`): one tile per call, and `dims`
    /// holds the probe's count of boxes, not every tile's.
    pub unbatched: bool,
    pub classes: usize,
    /// Boxes scoring less are dropped (`det_conf`, default 0.3).
    pub confidence: f64,
    pub rule: MergeRule,
}

pub(super) fn detecting(card: &Card, opts: &RunOptions, s: &Shape) -> Result<Detecting> {
    let dims = [s.out_channels, s.out_size];
    let format = Format::of(card.det_type.as_deref(), &[1, dims[0], dims[1]]).map_err(|e| s.about_card(e))?;
    let masks = if format == Format::UltralyticsSeg { Some(prototypes(s)?) } else { None };
    let coefficients = masks.map_or(0, |m| m.dims[0]);
    let classes = format.class_count(dims[0], dims[1], coefficients).map_err(|e| s.about_card(e))?;
    // An end-to-end head does not say how many classes it has: the card's names do.
    let classes = if classes == 0 { card.head_names(s.output_index)?.len().max(1) } else { classes };
    let rule = MergeRule {
        threshold: opts.det_iou_thresh.or(card.det_iou_thresh).unwrap_or(0.5),
        metric: opts.det_metric.unwrap_or(Metric::Iou),
        class_agnostic: opts.det_class_agnostic,
        duplicates: opts.det_duplicates.unwrap_or(Duplicates::Nms),
    };
    let confidence = opts.det_conf.or(card.det_conf).unwrap_or(0.3);
    let scores_classes = if format == Format::Separate { Some(scores_and_classes(s)?) } else { None };
    if s.unbatched && format != Format::Separate {
        return Err(s.error(format!(
            "boxes [N, 4] without a batch axis come with scores and classes as other outputs, not as a {format:?} \
             detector's output"
        )));
    }
    Ok(Detecting { format, dims, masks, scores_classes, classes, confidence, rule, unbatched: s.unbatched })
}

/// The scores and classes outputs beside `Separate` boxes: the two `[b, N]` outputs (`[N]`
/// without a batch axis), told apart by name (`score`/`conf`, `class`/`label`), else in the
/// model's order.
fn scores_and_classes(s: &Shape) -> Result<[usize; 2]> {
    let n = s.out_channels;
    let fits = |shape: &[usize]| match s.unbatched {
        true => shape == [n],
        false => shape.len() == 2 && shape[1] == n,
    };
    let found: Vec<usize> =
        (0..s.other_outputs.len()).filter(|&i| i != s.output_index && fits(&s.other_outputs[i])).collect();
    if found.len() < 2 {
        let (boxes, each) = if s.unbatched { ("[N, 4]", "[N]") } else { ("[b, N, 4]", "[b, N]") };
        return Err(s.error(format!(
            "boxes {boxes} need scores and classes as two more outputs of shape {each} (N = {n} for the probe); found \
             outputs of shapes {:?}",
            s.other_outputs
        )));
    }
    let named = |words: &[&str]| {
        found.iter().copied().find(|&i| {
            let name = s.output_names[i].to_ascii_lowercase();
            words.iter().any(|w| name.contains(w))
        })
    };
    match (named(&["score", "conf"]), named(&["class", "label"])) {
        (Some(scores), Some(classes)) if scores != classes => Ok([scores, classes]),
        _ => Ok([found[0], found[1]]),
    }
}

/// The mask prototypes of an instance-segmentation model: its other output of rank 4.
fn prototypes(s: &Shape) -> Result<Masks> {
    let found = s
        .other_outputs
        .iter()
        .enumerate()
        .find(|(i, shape)| *i != s.output_index && shape.len() == 4 && shape[1..].iter().all(|d| *d > 0));
    match found {
        Some((output, shape)) => Ok(Masks { output, dims: [shape[1], shape[2], shape[3]] }),
        None => Err(s.error(format!(
            "an instance-segmentation detector has a second output of mask prototypes [b, masks, h, w]; \
             found outputs of shapes {:?}",
            s.other_outputs
        ))),
    }
}

impl Detecting {
    /// The name of each class: the card's, else `class i`.
    pub(super) fn names(&self, card: &Card, s: &Shape) -> Result<Vec<String>> {
        let names = card.head_names(s.output_index).map_err(|e| s.about_card(e))?;
        Ok((0..self.classes).map(|c| names.get(&c).cloned().unwrap_or_else(|| format!("class {c}"))).collect())
    }
}
