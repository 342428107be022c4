//! Changes to a model's card, as `rastrum card` (and `rastrum_model_card_write`) take them:
//! `key=value` (JSON text, or a bare word taken as a string), removals, and whole cards from
//! JSON: a flat object of card keys (what `rastrum card --json` prints), or the side file of a
//! model that keeps its card beside it (ukis-csmask's `model_*.json`). Values are stored as JSON
//! text, as Deepness writes them (`json.dumps` per key).

use std::collections::BTreeMap;

use serde_json::Value;

use super::Card;
use crate::error::{Error, Result};

/// One change to a card.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// Set `key` to `value` (JSON text).
    Set(String, String),
    Unset(String),
}

/// `key=value`: the value as JSON text when it is JSON, else as a JSON string.
pub fn parse_set(arg: &str) -> Result<Edit> {
    let (key, value) = arg
        .split_once('=')
        .ok_or_else(|| Error::invalid(format!("card edit {arg:?}: expected key=value, e.g. tiles_size=256")))?;
    let key = checked_key(key)?;
    let value = value.trim();
    let text = match serde_json::from_str::<Value>(value) {
        Ok(_) => value.to_string(),
        Err(_) => Value::String(value.to_string()).to_string(),
    };
    Ok(Edit::Set(key, text))
}

pub fn parse_unset(key: &str) -> Result<Edit> {
    Ok(Edit::Unset(checked_key(key)?))
}

fn checked_key(key: &str) -> Result<String> {
    let key = key.trim();
    if key.is_empty() || key.chars().any(char::is_whitespace) {
        return Err(Error::invalid(format!("card key {key:?}: expected a name without spaces, e.g. class_names")));
    }
    Ok(key.to_string())
}

/// The edits a JSON object gives (`origin` names it in errors): a side file of a known layout
/// is translated into card keys; any other object is a card, each value set as its JSON text
/// (`null` removes the key).
pub fn from_json(text: &str, origin: &str) -> Result<Vec<Edit>> {
    let v: Value = serde_json::from_str(text).map_err(|e| Error::invalid(format!("{origin}: not JSON ({e})")))?;
    let Value::Object(map) = &v else {
        return Err(Error::invalid(format!("{origin}: expected a JSON object of card keys")));
    };
    if let Some(stats) = v.pointer("/data/dataset_statistics/img") {
        return ukis_csmask(&v, stats, origin);
    }
    map.iter()
        .map(|(k, value)| {
            let key = checked_key(k)?;
            Ok(match value {
                Value::Null => Edit::Unset(key),
                other => Edit::Set(key, other.to_string()),
            })
        })
        .collect()
}

/// ukis-csmask's side file: `data.dataset_statistics.img` is [means, stds] of the reflectance
/// bands, `data.target_size` the tile, `data.classes` the class count; its class ids are
/// documented in its `mask.py` (0 background, 1 clouds, 2 cloud shadows).
fn ukis_csmask(v: &Value, stats: &Value, origin: &str) -> Result<Vec<Edit>> {
    let wrong = |what: &str| Error::invalid(format!("{origin}: ukis-csmask side file: {what}"));
    let pair = stats
        .as_array()
        .filter(|a| a.len() == 2)
        .ok_or_else(|| wrong("data.dataset_statistics.img is not [means, stds]"))?;
    let mut edits = vec![
        Edit::Set("standardization_mean".into(), pair[0].to_string()),
        Edit::Set("standardization_std".into(), pair[1].to_string()),
        Edit::Set("rastrum_task".into(), "\"segmentation\"".into()),
    ];
    if let Some(size) = v.pointer("/data/target_size").and_then(Value::as_array) {
        match size.as_slice() {
            [h, w] if h == w && h.is_u64() => edits.push(Edit::Set("tiles_size".into(), h.to_string())),
            _ => return Err(wrong("data.target_size is not a square [n, n]")),
        }
    }
    if v.pointer("/data/classes").and_then(Value::as_u64) == Some(3) {
        edits.push(Edit::Set("class_names".into(), r#"{"0": "clear", "1": "cloud", "2": "cloud shadow"}"#.into()));
    }
    Ok(edits)
}

/// A card as one JSON object of key -> value (each value parsed from its JSON text, or a string
/// when it is not JSON): what `from_json` reads back.
pub fn as_json(card: &[(String, String)]) -> Value {
    card.iter()
        .map(|(k, v)| (k.clone(), serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.clone()))))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// Applies `edits` in order to `card` (entries keep their place; new keys come last), then
/// checks that the card still parses: a bad value is refused, naming its key.
pub fn apply(card: &mut Vec<(String, String)>, edits: &[Edit]) -> Result<()> {
    for e in edits {
        match e {
            Edit::Set(key, value) => match card.iter_mut().find(|(k, _)| k == key) {
                Some(entry) => entry.1 = value.clone(),
                None => card.push((key.clone(), value.clone())),
            },
            Edit::Unset(key) => card.retain(|(k, _)| k != key),
        }
    }
    let map: BTreeMap<String, String> = card.iter().cloned().collect();
    Card::from_metadata(&map)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_json_text_and_bare_words_strings() {
        assert_eq!(parse_set("tiles_size=256").unwrap(), Edit::Set("tiles_size".into(), "256".into()));
        assert_eq!(parse_set("model_type=Segmentor").unwrap(), Edit::Set("model_type".into(), "\"Segmentor\"".into()));
        assert!(parse_set("no value").is_err());
        let mut card = vec![("model_type".to_string(), "\"Segmentor\"".to_string())];
        apply(&mut card, &[parse_set("tiles_size=256").unwrap(), parse_unset("model_type").unwrap()]).unwrap();
        assert_eq!(card, [("tiles_size".to_string(), "256".to_string())]);
        let e = apply(&mut card, &[parse_set("tiles_size=-3").unwrap()]).unwrap_err().to_string();
        assert!(e.contains("tiles_size"), "{e}");
    }

    #[test]
    fn the_ukis_csmask_side_file_becomes_its_card() {
        let side = r#"{"data": {"in_channels": 2, "classes": 3, "target_size": [256, 256],
            "dataset_statistics": {"img": [[0.2, 0.3], [0.1, 0.12]], "band_names": ["red", "nir"]}}}"#;
        let mut card = Vec::new();
        apply(&mut card, &from_json(side, "side.json").unwrap()).unwrap();
        let map: BTreeMap<String, String> = card.into_iter().collect();
        let c = Card::from_metadata(&map).unwrap();
        assert_eq!(
            (c.mean.clone(), c.std.clone(), c.tile_size),
            (Some(vec![0.2, 0.3]), Some(vec![0.1, 0.12]), Some(256))
        );
        assert_eq!(c.head_names(0).unwrap().get(&2).map(String::as_str), Some("cloud shadow"));
    }
}
