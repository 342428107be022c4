//! Option validation (what the C API, the Python binding and QGIS pass as text): any sequence of
//! settings is taken or refused with an error, never a panic.
#![no_main]

mod settings;

use libfuzzer_sys::fuzz_target;
use rastrum::RunOptions;

fuzz_target!(|data: &[u8]| {
    let mut opts = RunOptions::default();
    for (key, value) in settings::settings(data, &RunOptions::KEYS) {
        if let Err(e) = opts.set(&key, &value) {
            assert!(!e.to_string().is_empty(), "an empty error for {key}={value}");
        }
    }
});
