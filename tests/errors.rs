//! Bad input gets an error that names the problem, and leaves no output file behind: missing
//! files, a model that is not ONNX, bands out of range, channel mismatch, unwritable outputs,
//! a missing ONNX Runtime, a provider that is not there, and cancellation.

mod common;

use std::path::Path;

use common::*;
use rastrum::inference::{Device, SessionOptions};
use rastrum::{run, RunOptions};
use rastrum::{Error, Model};

/// Runs the CLI, expects failure, returns stderr.
fn fails(args: &[&std::ffi::OsStr]) -> String {
    let out = cli().args(args).output().unwrap();
    assert!(!out.status.success(), "expected failure for {args:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

#[test]
fn cli_errors_name_the_problem_and_leave_nothing() {
    let dir = tmp();
    let model = dir.path().join("pointwise.onnx");
    pointwise_model(&model);
    let rgb = data("rasterio/rasterio_RGB.byte.tif");
    let out = dir.path().join("out.tif");
    let os = |s: &str| std::ffi::OsString::from(s);

    let missing = dir.path().join("nope.tif");
    let err = fails(&[&os("run"), model.as_os_str(), missing.as_os_str(), out.as_os_str()]);
    assert!(err.contains("nope.tif") && err.contains("does not exist"), "{err}");

    let not_onnx = dir.path().join("model.onnx");
    std::fs::write(&not_onnx, "this is not a model").unwrap();
    let err = fails(&[&os("run"), not_onnx.as_os_str(), rgb.as_os_str(), out.as_os_str()]);
    assert!(err.contains("model.onnx") && err.contains("not a valid ONNX"), "{err}");

    let err = fails(&[&os("run"), model.as_os_str(), rgb.as_os_str(), out.as_os_str(), &os("--bands"), &os("1,2,9")]);
    assert!(err.contains("band 9 is out of range") && err.contains("3 band(s)"), "{err}");

    let err = fails(&[&os("run"), model.as_os_str(), rgb.as_os_str(), out.as_os_str(), &os("--bands"), &os("1,2")]);
    assert!(
        err.contains("channel count mismatch") && err.contains("3 channel(s)") && err.contains("2 band(s)"),
        "{err}"
    );

    let no_dir = dir.path().join("no/such/folder/out.tif");
    let err = fails(&[&os("run"), model.as_os_str(), rgb.as_os_str(), no_dir.as_os_str()]);
    assert!(err.contains("does not exist") && err.contains("folder"), "{err}");

    let err = fails(&[&os("run"), model.as_os_str(), rgb.as_os_str(), dir.path().as_os_str()]);
    assert!(err.contains("is a directory"), "{err}");

    let copy = dir.path().join("input.tif");
    std::fs::copy(&rgb, &copy).unwrap();
    let before = std::fs::read(&copy).unwrap();
    let err = fails(&[&os("run"), model.as_os_str(), copy.as_os_str(), copy.as_os_str()]);
    assert!(err.contains("is the input"), "{err}");
    assert_eq!(std::fs::read(&copy).unwrap(), before, "the input must be untouched");

    let err = fails(&[&os("run"), model.as_os_str(), rgb.as_os_str(), out.as_os_str(), &os("--tile-size"), &os("0")]);
    assert!(err.contains("tile size"), "{err}");

    let err = fails(&[
        &os("run"),
        model.as_os_str(),
        rgb.as_os_str(),
        out.as_os_str(),
        &os("--set"),
        &os("tiles_size=\"big\""),
    ]);
    assert!(err.contains("tiles_size") && err.contains("big"), "{err}");

    let mut left = entries(dir.path());
    left.sort();
    assert_eq!(left, vec!["input.tif", "model.onnx", "pointwise.onnx"], "no output or temporary file may remain");
}

#[test]
fn a_missing_onnx_runtime_is_named() {
    let dir = tmp();
    let model = dir.path().join("pointwise.onnx");
    pointwise_model(&model);
    let out =
        cli().env("RASTRUM_ORT_LIB", "/nonexistent/libonnxruntime.so").args(["info"]).arg(&model).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/libonnxruntime.so") && err.contains("does not exist"), "{err}");
}

#[test]
fn cuda_without_a_gpu_is_an_error_unless_fallback_is_allowed() {
    let dir = tmp();
    let path = dir.path().join("pointwise.onnx");
    pointwise_model(&path);
    let strict = SessionOptions { device: Device::Cuda, ..Default::default() };
    match Model::load(&path, &strict) {
        Err(Error::Provider(msg)) => assert!(msg.contains("cuda"), "{msg}"),
        Err(other) => panic!("expected a provider error, got {other}"),
        // A machine with onnxruntime-gpu and a GPU binds CUDA: then the provider says so.
        Ok(m) => assert_eq!(m.provider, "cuda"),
    }
    let lenient = SessionOptions { device: Device::Cuda, allow_fallback: true, ..Default::default() };
    let m = Model::load(&path, &lenient).unwrap();
    assert!(m.provider == "cuda" || m.provider.starts_with("cpu (fallback"), "{}", m.provider);
}

#[test]
fn cancelling_leaves_no_output() {
    let dir = tmp();
    let path = dir.path().join("pointwise.onnx");
    pointwise_model(&path);
    let model = load(&path);
    let out = dir.path().join("out.tif");
    let opts = RunOptions { tile_size: Some(64), batch: Some(1), ..Default::default() };
    let mut calls = 0;
    let result = run(&model, &data("rasterio/rasterio_RGB.byte.tif"), &out, &opts, &mut |frac, _| {
        calls += 1;
        frac < 0.3
    });
    assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");
    assert!(calls > 1);
    let mut left = entries(dir.path());
    left.sort();
    assert_eq!(left, vec!["pointwise.onnx"]);
}

#[test]
fn cog_and_creation_options_are_honoured() {
    let dir = tmp();
    let path = dir.path().join("pointwise.onnx");
    pointwise_model(&path);
    let out = dir.path().join("cog.tif");
    let status = cli()
        .args(["run"])
        .arg(&path)
        .arg(data("rasterio/rasterio_RGB.byte.tif"))
        .arg(&out)
        .args(["--cog", "--co", "COMPRESS=LZW", "-q"])
        .status()
        .unwrap();
    assert!(status.success());
    let ds = gdal::Dataset::open(&out).unwrap();
    use gdal::Metadata;
    assert_eq!(ds.metadata_item("LAYOUT", "IMAGE_STRUCTURE").as_deref(), Some("COG"));
    assert_eq!(ds.metadata_item("COMPRESSION", "IMAGE_STRUCTURE").as_deref(), Some("LZW"));
}

/// A graph that fails inside ONNX Runtime (a Reshape to a fixed 7 values, run on 32 x 32 tiles):
/// its message reaches the user once, as the error, in plain text; ONNX Runtime's own logger
/// printed it a second time in ANSI colours. `ORT_LOG=error` shows its log again, plain.
#[test]
fn onnx_runtime_failures_are_reported_once_without_colour_codes() {
    use rastrum::onnx::{Dim, GraphBuilder};
    let dir = tmp();
    let model = dir.path().join("reshape7.onnx");
    let nchw: Vec<Dim> = vec!["n".into(), 1.into(), "h".into(), "w".into()];
    GraphBuilder::new("reshape7")
        .input("x", &nchw)
        .initializer_i64("shape", &[2], &[1, 7])
        .node("Reshape", &["x", "shape"], &["y"], &[])
        .output_unknown("y")
        .save(&model)
        .unwrap();
    let input = data("rasterio/rasterio_RGB.byte.tif");
    let out = dir.path().join("out.tif");
    let args = ["run", "--tile-size", "32", "--bands", "1"];
    let run = |log: Option<&str>| {
        let mut c = cli();
        c.args(args).args([&model, &input, &out]).env_remove("ORT_LOG");
        if let Some(level) = log {
            c.env("ORT_LOG", level);
        }
        let done = c.output().unwrap();
        assert!(!done.status.success());
        String::from_utf8_lossy(&done.stderr).into_owned()
    };
    let stderr = run(None);
    assert!(!stderr.contains('\x1b'), "{stderr}");
    assert_eq!(stderr.matches("Non-zero status code returned").count(), 1, "{stderr}");
    let stderr = run(Some("error"));
    assert!(!stderr.contains('\x1b') && stderr.contains("rastrum: ONNX Runtime Error:"), "{stderr}");
}

/// An output name of NAME_MAX (255) bytes is written: the hidden temporary name beside it is
/// shortened to fit (it used to be 25 bytes longer, and the run failed after inference).
#[test]
fn an_output_name_of_name_max_bytes_is_written() {
    let dir = tmp();
    let model = dir.path().join("identity.onnx");
    identity_model(&model, 1, &[]);
    for name in ["o".repeat(251) + ".tif", "é".repeat(124) + "abc.tif"] {
        assert_eq!(name.len(), 255);
        let out = dir.path().join(&name);
        let done = cli()
            .args(["run", "-q", "--tile-size", "64"])
            .args([&model, &data("landsat8_l1_b2_b7/l8_B4.tif"), &out])
            .args(["--cog"])
            .output()
            .unwrap();
        assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
        assert_eq!(read_band(&out, 1).0, 627);
        assert_eq!(entries(dir.path()).len(), 2, "{:?}", entries(dir.path()));
        std::fs::remove_file(&out).unwrap();
    }
}
