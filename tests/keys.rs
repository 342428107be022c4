//! One list of run options and one key grammar: the keys of `RunOptions::KEYS`, the arms of
//! `RunOptions::set`, the flags of `rastrum run`, the list in the C header and the table of
//! docs/model-card.md are the same; and every options object (run, eval, tiles) takes `tile_size`
//! and `tile-size` (any case, with or without `--`) as one key.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use rastrum::eval::EvalOptions;
use rastrum::tiles::TilesOptions;
use rastrum::RunOptions;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn keys() -> BTreeSet<String> {
    RunOptions::KEYS.iter().map(|k| k.to_string()).collect()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn the_set_arms_are_the_keys() {
    let source = read("src/options.rs");
    let body = &source[source.find("pub fn set(").expect("RunOptions::set")..];
    let body = &body[..body.find("\n    }\n}").expect("end of set")];
    // The arms of the outer match: the indentation of its first arm, `"task" =>`.
    let indent =
        body.lines().find(|l| l.trim_start().starts_with("\"task\" =>")).map(|l| l.len() - l.trim_start().len());
    let arms: BTreeSet<String> = body
        .lines()
        .filter(|l| Some(l.len() - l.trim_start().len()) == indent)
        .filter_map(|l| l.trim().strip_prefix('"'))
        .filter_map(|l| l.split_once("\" =>").map(|(k, _)| k.to_string()))
        .collect();
    assert_eq!(arms, keys());
    // And each key is one `set` knows (an error, if any, is about the value).
    let mut o = RunOptions::default();
    for k in RunOptions::KEYS {
        if let Err(e) = o.set(k, "") {
            assert!(!e.to_string().contains("unknown option"), "{k}: {e}");
        }
    }
    assert!(o.set("tiles-size", "1").unwrap_err().to_string().contains("unknown option 'tiles-size'"));
}

#[test]
fn the_command_line_has_a_flag_for_every_key_and_no_other_run_option() {
    let out = Command::new(env!("CARGO_BIN_EXE_rastrum")).args(["run", "--help"]).output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    let flags: BTreeSet<String> = help
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("--"))
        .map(|w| w.trim_end_matches([',', '.']).to_string())
        .filter(|w| !w.is_empty())
        .collect();
    // The flags of the command itself, not run options.
    let own: BTreeSet<String> = ["device", "allow-fallback", "threads", "plan", "json", "quiet", "help"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let run_flags: BTreeSet<String> = flags.difference(&own).cloned().collect();
    assert_eq!(run_flags, keys(), "rastrum run --help:\n{help}");
}

#[test]
fn the_c_header_lists_every_key() {
    let header = read("include/rastrum.h");
    let at = header.find("int32_t rastrum_options_set(").expect("rastrum_options_set in the header");
    let comment = &header[header[..at].rfind("/*").expect("its comment")..at];
    let listed: BTreeSet<String> = comment[comment.find("Keys:").expect("a 'Keys:' list in its comment")..]
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- `"))
        .filter_map(|l| l.split_once('`').map(|(k, _)| k.to_string()))
        .collect();
    assert_eq!(listed, keys());
}

#[test]
fn the_model_card_doc_tables_every_key() {
    let doc = read("docs/model-card.md");
    let section = &doc[doc.find("## Run options").expect("a Run options section")..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let tabled: BTreeSet<String> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`').map(|(k, _)| k.to_string()))
        .collect();
    assert_eq!(tabled, keys());
}

#[test]
fn run_options_take_one_key_in_any_spelling() {
    for key in ["tile_size", "tile-size", "--tile-size", "Tile_Size"] {
        let mut o = RunOptions::default();
        o.set(key, "128").unwrap();
        assert_eq!(o.tile_size, Some(128), "{key}");
    }
    let mut o = RunOptions::default();
    o.set("probability_bands", "on").unwrap();
    o.set("PAD_MODE", "symmetric").unwrap();
    assert!(o.probability_bands);
    assert_eq!(o.pad_mode, Some(rastrum::grid::PadMode::Symmetric));
}

#[test]
fn eval_options_take_one_key_in_any_spelling() {
    for key in ["pred_band", "pred-band", "--pred-band", "Pred_Band"] {
        let mut o = EvalOptions::default();
        o.set(key, "2").unwrap();
        assert_eq!(o.pred_band, 2, "{key}");
    }
}

#[test]
fn tiles_options_take_one_key_in_any_spelling() {
    for key in ["gif_zoom", "gif-zoom", "--gif-zoom", "GIF_ZOOM"] {
        let mut o = TilesOptions::default();
        o.set(key, "3").unwrap();
        assert_eq!(o.gif_zoom, Some(3), "{key}");
    }
    // The boolean vocabulary is the run options'.
    let mut o = TilesOptions::default();
    o.set("overwrite", "on").unwrap();
    assert!(o.overwrite);
}

/// The C API's three options objects, through their exported entry points: each spelling is
/// accepted (status OK), a near miss is refused by name (INVALID_ARGUMENT).
#[test]
fn the_c_api_takes_one_key_in_any_spelling() {
    use rastrum::ffi::{eval, options, tiles, RASTRUM_INVALID_ARGUMENT, RASTRUM_OK};
    use std::ffi::CString;

    macro_rules! check {
        ($new:path, $set:path, $free:path, $good:expr, $value:expr, $bad:expr) => {{
            let mut h = std::ptr::null_mut();
            // SAFETY: a valid out-pointer; the handle is freed below and used by this thread only.
            assert_eq!(unsafe { $new(&mut h) }, RASTRUM_OK);
            let value = CString::new($value).unwrap();
            for key in $good {
                let k = CString::new(key.as_str()).unwrap();
                assert_eq!(unsafe { $set(h, k.as_ptr(), value.as_ptr()) }, RASTRUM_OK, "{key}");
            }
            let bad = CString::new($bad).unwrap();
            assert_eq!(unsafe { $set(h, bad.as_ptr(), value.as_ptr()) }, RASTRUM_INVALID_ARGUMENT, "{}", $bad);
            unsafe { $free(h) };
        }};
    }
    let spellings =
        |k: &str| [k.replace('-', "_"), k.to_string(), format!("--{k}"), k.replace('-', "_").to_uppercase()];
    check!(
        options::rastrum_options_new,
        options::rastrum_options_set,
        options::rastrum_options_free,
        spellings("tile-size"),
        "128",
        "tiles-size"
    );
    check!(
        eval::rastrum_eval_options_new,
        eval::rastrum_eval_options_set,
        eval::rastrum_eval_options_free,
        spellings("pred-band"),
        "2",
        "pred-bands"
    );
    check!(
        tiles::rastrum_tiles_options_new,
        tiles::rastrum_tiles_options_set,
        tiles::rastrum_tiles_options_free,
        spellings("gif-zoom"),
        "3",
        "gif-zooms"
    );
}
