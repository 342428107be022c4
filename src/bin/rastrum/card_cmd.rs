//! `rastrum card MODEL`: show a model's card, or write it (`--set`, `--unset`, `--from-json`,
//! `-o OUT.onnx`), every other byte of the model kept (`rastrum::onnx::metadata`). Needs no
//! ONNX Runtime: the card is read from the file itself.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use rastrum::card::edits::{self, Edit};
use rastrum::card::{Card, KEYS};
use rastrum::onnx::metadata;
use rastrum::Error;

#[derive(Args)]
pub struct CardArgs {
    model: PathBuf,
    /// Set a key: KEY=VALUE, VALUE as JSON text (a bare word is a string); repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Remove a key (repeatable).
    #[arg(long, value_name = "KEY")]
    unset: Vec<String>,
    /// Keys from a JSON file: a card object (what --json prints; null removes a key) or a
    /// model's side file (ukis-csmask's model_*.json). Applied before --set and --unset.
    #[arg(long, value_name = "FILE")]
    from_json: Option<PathBuf>,
    /// The model to write (may be MODEL itself); required with changes.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Print the card as one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(a: CardArgs) -> rastrum::Result<()> {
    let mut changes: Vec<Edit> = Vec::new();
    if let Some(file) = &a.from_json {
        let text = std::fs::read_to_string(file).map_err(|e| Error::io(file, e.to_string()))?;
        changes.extend(edits::from_json(&text, &file.display().to_string())?);
    }
    for s in &a.set {
        changes.push(edits::parse_set(s)?);
    }
    for k in &a.unset {
        changes.push(edits::parse_unset(k)?);
    }
    let card = match (&a.output, changes.is_empty()) {
        (Some(out), _) => {
            let card = metadata::write(&a.model, out, &changes)?;
            eprintln!("rastrum: wrote {} ({} card keys)", out.display(), card.len());
            card
        }
        (None, true) => metadata::read(&a.model)?,
        (None, false) => {
            return Err(Error::invalid("changes to the card need -o OUT.onnx (the model itself to change it in place)"))
        }
    };
    show(&card, a.json);
    Ok(())
}

fn show(card: &[(String, String)], json: bool) {
    if json {
        out!("{}", serde_json::to_string_pretty(&edits::as_json(card)).unwrap_or_default());
        return;
    }
    if card.is_empty() {
        out!("(no card: the model's shapes and the documented defaults apply)");
    }
    for (k, v) in card {
        let known = KEYS.iter().any(|(key, _)| key == k);
        out!("{k} = {v}{}", if known { "" } else { "   (not one of the card keys `rastrum info` lists)" });
    }
    let map: BTreeMap<String, String> = card.iter().cloned().collect();
    if let Err(e) = Card::from_metadata(&map) {
        out!("error: {e}");
    }
}
