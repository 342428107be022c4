//! The model card parser on arbitrary metadata: any map of keys to text gives a card or an
//! error, never a panic.
#![no_main]

mod settings;

use libfuzzer_sys::fuzz_target;
use rastrum::card::{Card, KEYS};

fuzz_target!(|data: &[u8]| {
    let known: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
    let map = settings::settings(data, &known).into_iter().collect();
    if let Ok(card) = Card::from_metadata(&map) {
        // A parsed card is usable: it serialises, class names resolve for any output (or say
        // why not), and model_type is checked without panicking.
        let _ = serde_json::to_string(&card).expect("a card serialises");
        for output in 0..3 {
            let _ = card.head_names(output);
        }
        let _ = card.check_model_type();
    }
});
