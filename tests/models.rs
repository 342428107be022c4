//! Model shapes that real exports have: a fixed batch, an output smaller than the input
//! (centred crop, as 512 in / 484 out), several outputs chosen by name or index, and `info`.

mod common;

use common::*;
use rastrum::card::OutputSelector;
use rastrum::onnx::GraphBuilder;
use rastrum::{run, RunOptions};

/// The pointwise graph with a fixed batch of 2 on 64x64 tiles, cropped by 6 pixels per side
/// (output 52x52), plus a second output `second` = y1 alone.
fn cropped_static_model(path: &std::path::Path) {
    let g = GraphBuilder::new("cropped")
        .input("x", &[2.into(), 3.into(), 64.into(), 64.into()])
        .initializer_i64("starts", &[2], &[6, 6])
        .initializer_i64("ends", &[2], &[58, 58])
        .initializer_i64("axes", &[2], &[2, 3]);
    pointwise_nodes(g)
        .node("Slice", &["y", "starts", "ends", "axes"], &["first"], &[])
        .node("Slice", &["y1", "starts", "ends", "axes"], &["second"], &[])
        .output("first", &[2.into(), 2.into(), 64.into(), 64.into()])
        .output("second", &[2.into(), 1.into(), 64.into(), 64.into()])
        .meta("rastrum_task", "\"regression\"")
        .save(path)
        .unwrap();
}

#[test]
fn fixed_batch_and_centred_crop_outputs_stitch_exactly() {
    let dir = tmp();
    let model_path = dir.path().join("cropped.onnx");
    cropped_static_model(&model_path);
    let model = load(&model_path);
    let input = data("rasterio/rasterio_RGB.byte.tif");
    let (w, h, a) = read_band(&input, 1);
    let (_, _, b) = read_band(&input, 2);
    let (_, _, c) = read_band(&input, 3);
    let valid = |i: usize| a[i] != 0.0 && b[i] != 0.0 && c[i] != 0.0;

    for (output, band, channel) in [
        (None, 1, 0),
        (None, 2, 1),
        (Some(OutputSelector::Name("second".into())), 1, 1),
        (Some(OutputSelector::Index(1)), 1, 1),
    ] {
        for stitch in [rastrum::StitchMode::Blend, rastrum::StitchMode::Crop] {
            let out = dir.path().join("out.tif");
            let opts =
                RunOptions { output: output.clone(), overlap: Some(8), stitch: Some(stitch), ..Default::default() };
            let s = run(&model, &input, &out, &opts, &mut |_, _| true).unwrap();
            assert_eq!((s.width, s.height, s.batch, s.tile_size), (w, h, 2, 64));
            let (_, _, got) = read_band(&out, band);
            for i in 0..w * h {
                let want =
                    if valid(i) { pointwise(a[i] as f32, b[i] as f32, c[i] as f32)[channel] as f64 } else { -9999.0 };
                assert_eq!(got[i], want, "{output:?} {stitch} band {band} pixel {i}");
            }
        }
    }

    // A fixed input size cannot be changed, and a missing output is named.
    let out = dir.path().join("bad.tif");
    let err = run(&model, &input, &out, &RunOptions { tile_size: Some(128), ..Default::default() }, &mut |_, _| true)
        .unwrap_err()
        .to_string();
    assert!(err.contains("fixed at 64x64"), "{err}");
    let opts = RunOptions { output: Some(OutputSelector::Name("third".into())), ..Default::default() };
    let err = run(&model, &input, &out, &opts, &mut |_, _| true).unwrap_err().to_string();
    assert!(err.contains("no output 'third'") && err.contains("first, second"), "{err}");
    assert!(!out.exists());
}

#[test]
fn info_prints_the_resolved_card() {
    let dir = tmp();
    let model_path = dir.path().join("cropped.onnx");
    cropped_static_model(&model_path);
    let out = cli().args(["info"]).arg(&model_path).arg("--json").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["resolved"]["task"], "regression");
    assert_eq!(v["resolved"]["tile_size"], 64);
    assert_eq!(v["resolved"]["model_crop"], 6);
    assert_eq!(v["resolved"]["batch"], 2);
    assert_eq!(v["metadata"]["rastrum_task"], "\"regression\"");
    assert_eq!(v["outputs"][1]["name"], "second");
    assert_eq!(v["provider"], "cpu");
}
