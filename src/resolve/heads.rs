//! Which outputs of a model a run writes (its heads) and their settings: the one chosen, or all
//! (`all-outputs`, or a card naming several heads).

use super::{card_with_overrides, detects, model_input, probe, settle, Resolved};
use crate::card::{Card, OutputSelector};
use crate::error::{Error, Result};
use crate::inference::Model;
use crate::options::RunOptions;

/// [`resolve`] for every head a run writes ([`chosen_heads`]), first head first. The heads run
/// in one pass, so they share the batch: one that falls back to batch 1 takes the others along.
pub fn resolve_heads(model: &Model, opts: &RunOptions, raster_bands: Option<usize>) -> Result<Vec<Resolved>> {
    let card = card_with_overrides(model.card()?, opts)?;
    let input = model_input(model, opts, &card, raster_bands)?;
    let mut heads = Vec::new();
    for index in chosen_heads(model, opts, &card)? {
        heads.push(settle(card.clone(), opts, probe(model, opts, input.clone(), index, detects(&card, opts))?)?);
    }
    if let Some(fallback) = heads.iter().find(|h| h.batch_fallback.is_some()).cloned() {
        for h in &mut heads {
            h.batch = fallback.batch;
            h.batch_fallback.clone_from(&fallback.batch_fallback);
        }
    }
    Ok(heads)
}

/// The outputs a run writes: all with `all-outputs` (or a card naming several heads and no
/// output chosen), else the one chosen (the first by default).
fn chosen_heads(model: &Model, opts: &RunOptions, card: &Card) -> Result<Vec<usize>> {
    let chosen = opts.output.is_some() || card.output.is_some();
    let n = model.outputs.len();
    if opts.all_outputs {
        if opts.output.is_some() {
            return Err(Error::invalid("options 'all-outputs' and 'output-name' / 'output-index' exclude each other"));
        }
        return Ok((0..n).collect());
    }
    let heads = card.class_names.len();
    if heads > 1 && !chosen {
        if heads > n {
            return Err(Error::model(
                &model.path,
                format!("its card names {heads} output heads in 'class_names', but the model has {n} output(s)"),
            ));
        }
        return Ok((0..heads).collect());
    }
    Ok(vec![chosen_output(model, opts, card)?])
}

pub(super) fn chosen_output(model: &Model, opts: &RunOptions, card: &Card) -> Result<usize> {
    match opts.output.clone().or(card.output.clone()) {
        None => Ok(0),
        Some(OutputSelector::Index(i)) if i < model.outputs.len() => Ok(i),
        Some(OutputSelector::Index(i)) => {
            Err(Error::invalid(format!("output index {i} asked, but the model has {} output(s)", model.outputs.len())))
        }
        Some(OutputSelector::Name(n)) => model.output_index(&n),
    }
}
