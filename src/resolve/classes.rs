//! The class head of class tasks: the activation (asked, the card's, Deepness's convention, what
//! the graph shows, or the default) and the class names.

use super::Shape;
use crate::card::{Activation, Card, Task};
use crate::error::Result;
use crate::onnx::graph;
use crate::options::RunOptions;

/// The class head and class names of class tasks (a one-channel model has two classes), with
/// why that head: asked, the card's, Deepness's conventions, the graph, or the default.
pub(super) fn class_head(
    card: &Card,
    opts: &RunOptions,
    task: Task,
    s: &Shape,
) -> Result<(Activation, String, Vec<String>)> {
    let out_channels = s.out_channels;
    let is_class = matches!(task, Task::Segmentation | Task::Classification);
    let (activation, why) = if let Some(a) = opts.activation {
        (a, "option 'activation'".to_string())
    } else if let Some(a) = card.activation {
        (a, "card key 'rastrum_activation'".to_string())
    } else if !is_class {
        (Activation::None, format!("{task} outputs are values"))
    } else if card.is_deepness() {
        (Activation::None, "Deepness conventions (model_type): outputs are probabilities".to_string())
    } else if let Some(why) = s.source.and_then(|path| graph::probabilities(path, &s.output_name)) {
        // Softmax over probabilities would flatten them towards uniform.
        (Activation::None, why)
    } else if out_channels == 1 {
        (Activation::Sigmoid, "default for one channel".to_string())
    } else {
        (Activation::Softmax, "default for several channels".to_string())
    };
    let n_classes = if out_channels == 1 { 2 } else { out_channels };
    if is_class && n_classes > 255 {
        return Err(s.error(format!("{n_classes} classes do not fit a u8 class band (at most 255)")));
    }
    let names = card.head_names(s.output_index).map_err(|e| s.about_card(e))?;
    // Deepness names a one-channel (sigmoid) head by its one channel: the foreground, class 1,
    // after a 'background' class 0.
    if out_channels == 1 && names.len() == 1 {
        if let Some(fg) = names.get(&0) {
            return Ok((activation, why, vec!["background".to_string(), fg.clone()]));
        }
    }
    let name = |c: usize| names.get(&c).cloned().unwrap_or_else(|| format!("class {c}"));
    Ok((activation, why, (0..n_classes).map(name).collect()))
}
