//! The one text grammar of everything settable by name: run, eval and tiles options, card
//! overrides, the C API, Python and QGIS's extra options. Keys ignore case, a leading `--`, and
//! `-` versus `_` (`tile_size`, `tile-size` and `--Tile-Size` are one key); booleans, numbers and
//! comma-separated lists read the same everywhere.

use std::str::FromStr;

use crate::error::{Error, Result};

/// The canonical spelling of an option key: lower case, words joined by `-`.
pub fn key(k: &str) -> String {
    k.trim().trim_start_matches("--").to_ascii_lowercase().replace('_', "-")
}

/// Whether two spellings name the same key.
pub fn same_key(a: &str, b: &str) -> bool {
    key(a) == key(b)
}

/// `1 true yes on` / `0 false no off`, any case.
pub fn boolean(key: &str, value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(Error::invalid(format!("option '{key}': expected true or false, found '{value}'"))),
    }
}

/// One number; `what` says what was expected ("a positive integer").
pub fn number<T: FromStr>(key: &str, value: &str, what: &str) -> Result<T> {
    value.trim().parse::<T>().map_err(|_| Error::invalid(format!("option '{key}': expected {what}, found '{value}'")))
}

/// A comma-separated list of numbers.
pub fn list<T: FromStr>(key: &str, value: &str) -> Result<Vec<T>> {
    value.split(',').map(|v| v.trim().parse::<T>()).collect::<std::result::Result<Vec<T>, _>>().map_err(|_| {
        Error::invalid(format!("option '{key}': expected a comma-separated list of numbers, found '{value}'"))
    })
}

/// A named value (an enum's `FromStr`), its error prefixed with the key.
pub fn named<T: FromStr<Err = Error>>(key: &str, value: &str) -> Result<T> {
    value.trim().parse::<T>().map_err(|e| {
        Error::invalid(format!("option '{key}': {}", e.to_string().trim_start_matches("invalid argument: ")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_ignore_case_dashes_and_underscores() {
        for k in ["tile_size", "tile-size", "--tile-size", " Tile_Size "] {
            assert_eq!(key(k), "tile-size");
        }
        assert!(same_key("gif_zoom", "gif-zoom"));
        assert!(!same_key("tile-size", "tiles-size"));
    }

    #[test]
    fn booleans_have_one_vocabulary() {
        for t in ["1", "true", "YES", "on"] {
            assert!(boolean("k", t).unwrap());
        }
        for f in ["0", "False", "no", "OFF"] {
            assert!(!boolean("k", f).unwrap());
        }
        assert!(boolean("cog", "maybe").unwrap_err().to_string().contains("option 'cog'"));
    }
}
