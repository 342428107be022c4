//! The model card parser on arbitrary metadata: any map of keys to text gives a card or an
//! error, never a panic. Lines are `KEY=VALUE`; a numeric KEY picks a known key, so that the
//! fuzzer spends its time in the value parsers.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use rastrum::card::{Card, KEYS};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut map = BTreeMap::new();
    for line in text.lines() {
        let (k, v) = line.split_once('=').unwrap_or((line, ""));
        let key = match k.parse::<usize>() {
            Ok(i) => KEYS[i % KEYS.len()].0.to_string(),
            Err(_) => k.to_string(),
        };
        map.insert(key, v.to_string());
    }
    if let Ok(card) = Card::from_metadata(&map) {
        // A parsed card is usable: it serialises, and class names resolve.
        let _ = serde_json::to_string(&card).expect("a card serialises");
        let _ = card.class_name(0);
    }
});
