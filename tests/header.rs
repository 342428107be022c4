//! The checked-in C header is what the pinned cbindgen generates from src/ffi (set
//! RASTRUM_UPDATE_HEADER=1 to rewrite it), and its version macros agree with Cargo.toml and the
//! library's SONAME.

use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn generate() -> String {
    let config = cbindgen::Config::from_file(root().join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_crate(root())
        .with_config(config)
        .generate()
        .expect("cbindgen could not generate the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("UTF-8 header")
}

#[test]
fn checked_in_header_matches_the_generated_one() {
    let generated = generate();
    let path = root().join("include/rastrum.h");
    if std::env::var_os("RASTRUM_UPDATE_HEADER").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "include/rastrum.h differs from what cbindgen generates from src/ffi: run `make header` and commit it"
    );
}

fn define(header: &str, name: &str) -> String {
    header
        .lines()
        .find_map(|l| l.strip_prefix(&format!("#define {name} ")))
        .unwrap_or_else(|| panic!("{name} missing from the header"))
        .trim()
        .trim_matches('"')
        .to_string()
}

#[test]
fn version_macros_match_cargo_toml_and_the_soname() {
    let header = std::fs::read_to_string(root().join("include/rastrum.h")).unwrap();
    assert_eq!(define(&header, "RASTRUM_VERSION_MAJOR"), env!("CARGO_PKG_VERSION_MAJOR"));
    assert_eq!(define(&header, "RASTRUM_VERSION_MINOR"), env!("CARGO_PKG_VERSION_MINOR"));
    assert_eq!(define(&header, "RASTRUM_VERSION_PATCH"), env!("CARGO_PKG_VERSION_PATCH"));
    assert_eq!(define(&header, "RASTRUM_VERSION_STRING"), env!("CARGO_PKG_VERSION"));
    let abi = define(&header, "RASTRUM_ABI_VERSION");
    assert_eq!(abi, rastrum::ffi::RASTRUM_ABI_VERSION.to_string());
    let build_rs = std::fs::read_to_string(root().join("build.rs")).unwrap();
    assert!(build_rs.contains(&format!("librastrum.so.{abi}")), "build.rs SONAME must be librastrum.so.{abi}");
    let version = unsafe { std::ffi::CStr::from_ptr(rastrum::ffi::rastrum_version_string()) };
    assert_eq!(version.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}

/// Every function of the header is declared by the Python binding (ctypes signatures) and has
/// a panic injected by tests/c/panic_each.c: a new entry point cannot be forgotten by either.
#[test]
fn every_entry_point_is_bound_in_python_and_checked_for_panics() {
    let header = std::fs::read_to_string(root().join("include/rastrum.h")).unwrap();
    let functions: Vec<&str> = header
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .zip(header.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).skip(1))
        .filter(|(name, _)| name.starts_with("rastrum_"))
        .map(|(name, _)| name)
        .collect();
    let declared: std::collections::BTreeSet<&str> = functions
        .iter()
        .copied()
        .filter(|name| header.contains(&format!("{name}(")))
        .filter(|name| !name.ends_with("_fn"))
        .collect();
    assert!(declared.len() >= 33, "{declared:?}");
    let python = std::fs::read_to_string(root().join("qgis_plugin/rastrum/_native.py")).unwrap();
    let panics = std::fs::read_to_string(root().join("tests/c/panic_each.c")).unwrap();
    for name in &declared {
        assert!(python.contains(&format!("\"{name}\": (")), "{name} is not declared in _native.py's _SIGNATURES");
        let injected = panics.contains(&format!("CALL(\"{name}\"")) || panics.contains(&format!("inject(\"{name}\")"));
        let exempt =
            ["rastrum_version_string", "rastrum_abi_version", "rastrum_status_str", "rastrum_last_error_message"];
        assert!(injected || exempt.contains(name), "{name} has no injected panic in tests/c/panic_each.c");
    }
}
