//! The input check before the first batch: raw values (Landsat-like DNs) into a model that
//! expects 0..1 are said before the run with the likely scale, refused with `strict`, and a
//! well-scaled run says nothing.

mod common;

use common::*;
use rastrum::{run, RunOptions};

#[test]
fn raw_values_into_a_scaled_model_are_said_before_the_run() {
    let dir = tmp();
    let (w, h) = (120, 90);
    let dn: Vec<u16> = (0..w * h).map(|i| 1000 + (i * 37 % 11000) as u16).collect();
    let input = raster::<u16>(&dir.path().join("dn.tif"), w, h, &[dn], None);
    let model = dir.path().join("m.onnx");
    identity_model(&model, 1, &[]);
    let m = load(&model);

    let summary = run(&m, &input, &dir.path().join("a.tif"), &RunOptions::default(), &mut |_, _| true).unwrap();
    assert_eq!(summary.warnings.len(), 1, "{:?}", summary.warnings);
    assert!(summary.warnings[0].contains("look like raw values: --scale 1e-5?"), "{}", summary.warnings[0]);
    // The layout (what hosts ask before a run) carries it too.
    let layout = rastrum::plan::layout(&m, &input, &RunOptions::default()).unwrap();
    assert_eq!(layout.warnings, summary.warnings);

    let strict = RunOptions { strict: true, ..Default::default() };
    let err = run(&m, &input, &dir.path().join("b.tif"), &strict, &mut |_, _| true).unwrap_err().to_string();
    assert!(err.contains("option 'strict'"), "{err}");
    assert!(!dir.path().join("b.tif").exists());

    let scaled = RunOptions { scale: Some(vec![1e-4]), ..Default::default() };
    let summary = run(&m, &input, &dir.path().join("c.tif"), &scaled, &mut |_, _| true).unwrap();
    assert!(summary.warnings.is_empty(), "{:?}", summary.warnings);

    // The CLI says it on stderr before the run's summary line.
    let out = cli().args(["run"]).args([&model, &input, &dir.path().join("d.tif")]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warned = stderr.find("rastrum: warning: the model's inputs look off").expect("no warning");
    assert!(warned < stderr.find("rastrum: wrote").unwrap(), "{stderr}");
}
