//! The metadata Ultralytics writes into its ONNX exports (`task`, `names` as a Python dict,
//! `imgsz`, `end2end`), read as the card keys they mean, so that a YOLO export runs unchanged.
//! The peers' own keys, when present, win.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Whether `map` is an Ultralytics export's metadata.
pub(super) fn is_export(map: &BTreeMap<String, String>) -> bool {
    map.get("author").is_some_and(|a| a.trim_matches('"') == "Ultralytics") && map.contains_key("task")
}

/// The card keys an Ultralytics export's metadata means (only those `map` does not set).
pub(super) fn card_keys(map: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let mut keys = Vec::new();
    let mut add = |k: &str, v: String| {
        if !map.contains_key(k) {
            keys.push((k.to_string(), v));
        }
    };
    let end2end = map.get("end2end").is_some_and(|v| v.trim() == "True");
    match map.get("task").map(|t| t.trim().trim_matches('\'')) {
        Some("detect") => {
            add("model_type", "\"Detector\"".into());
            add("det_type", if end2end { "\"YOLO_v10\"" } else { "\"YOLO_Ultralytics\"" }.into());
        }
        Some("segment") => {
            add("model_type", "\"Detector\"".into());
            add("det_type", "\"YOLO_Ultralytics_segmentation\"".into());
        }
        Some("obb") => {
            add("model_type", "\"Detector\"".into());
            add("det_type", "\"YOLO_Ultralytics_obb\"".into());
        }
        Some("classify") => add("model_type", "\"Classifier\"".into()),
        _ => {}
    }
    if let Some(names) = map.get("names").and_then(|n| python_names(n)) {
        add("class_names", names);
    }
    if let Some([h, w]) = map.get("imgsz").and_then(|s| serde_json::from_str::<[usize; 2]>(s).ok()) {
        if h == w {
            add("tile_size", h.to_string());
        }
    }
    keys
}

/// `{0: 'person', 1: "it's"}` (a Python dict of class names) as a JSON object text.
fn python_names(text: &str) -> Option<String> {
    let body = text.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut names = Map::new();
    let mut rest = body.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once(':')?;
        let key: usize = key.trim().parse().ok()?;
        let after = after.trim_start();
        let quote = after.chars().next().filter(|c| *c == '\'' || *c == '"')?;
        let (name, after) = quoted(&after[1..], quote)?;
        names.insert(key.to_string(), Value::String(name));
        rest = after.trim_start().strip_prefix(',').unwrap_or(after).trim_start();
    }
    Some(Value::Object(names).to_string())
}

/// The text up to the closing `quote` (backslash escapes kept as the escaped character), and what
/// follows it.
fn quoted(s: &str, quote: char) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?.1),
            c if c == quote => return Some((out, &s[i + 1..])),
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ultralytics_export_reads_as_a_detector_card() {
        let map: BTreeMap<String, String> = [
            ("author", "Ultralytics"),
            ("task", "detect"),
            ("imgsz", "[640, 640]"),
            ("names", r#"{0: 'person', 10: "it's", 2: 'a, b'}"#),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert!(is_export(&map));
        let keys: BTreeMap<String, String> = card_keys(&map).into_iter().collect();
        assert_eq!(keys["model_type"], "\"Detector\"");
        assert_eq!(keys["det_type"], "\"YOLO_Ultralytics\"");
        assert_eq!(keys["tile_size"], "640");
        let names: Value = serde_json::from_str(&keys["class_names"]).unwrap();
        assert_eq!(names["10"], "it's");
        assert_eq!(names["2"], "a, b");
    }
}
