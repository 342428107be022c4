//! Option validation (what the C API, the Python binding and QGIS pass as text): any sequence of
//! `KEY=VALUE` settings is taken or refused with an error naming the key, never a panic. A
//! numeric KEY picks a known option.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rastrum::run::RunOptions;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut opts = RunOptions::default();
    for line in text.lines() {
        let (k, v) = line.split_once('=').unwrap_or((line, ""));
        let key = match k.parse::<usize>() {
            Ok(i) => RunOptions::KEYS[i % RunOptions::KEYS.len()].to_string(),
            Err(_) => k.to_string(),
        };
        if let Err(e) = opts.set(&key, v) {
            let msg = e.to_string();
            assert!(!msg.is_empty(), "an empty error for {key}={v}");
        }
    }
});
