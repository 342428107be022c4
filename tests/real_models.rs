//! The two real trained models: the ukis-csmask cloud mask (U-Net / EfficientNet-B4) against the
//! hand labels of a real Sentinel-2 scene, through the `rastrum` command line; the ONNX Model Zoo
//! x3 super-resolution model against its golden output, and on a real Landsat-8 band.

mod common;

use common::*;
use rastrum::onnx::proto::read_tensor;

/// The model's standardisation, from its own JSON (models/cloud_mask/model_6b_l1c.json).
fn cloud_stats() -> (String, String) {
    let text = std::fs::read_to_string(root().join("models/cloud_mask/model_6b_l1c.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let img = &v["data"]["dataset_statistics"]["img"];
    let join = |a: &serde_json::Value| {
        a.as_array().unwrap().iter().map(|x| x.as_f64().unwrap().to_string()).collect::<Vec<_>>().join(",")
    };
    (join(&img[0]), join(&img[1]))
}

#[test]
fn cloud_mask_reaches_the_upstream_kappa_on_sentinel2_hand_labels() {
    let dir = tmp();
    let out = dir.path().join("mask.tif");
    let (mean, std) = cloud_stats();
    let status = cli()
        .args(["run"])
        .arg(cloud_model())
        .arg(data("sentinel2_sample/sentinel2_img_6band_toa.tif"))
        .arg(&out)
        .args(["--mean", &mean, "--std", &std, "--tile-size", "256", "--overlap", "51", "--stitch", "blend", "-q"])
        .status()
        .unwrap();
    assert!(status.success());
    let (w, h, pred) = read_band(&out, 1);
    let (lw, lh, labels) = read_band(&data("sentinel2_sample/sentinel2_msk_label.tif"), 1);
    assert_eq!((w, h), (lw, lh));
    // Upstream mapping: 0 -> shadow (2), 1/2/3 -> clear (0), 4 -> cloud (1).
    let truth: Vec<u8> = labels
        .iter()
        .map(|l| match *l as u8 {
            0 => 2,
            1..=3 => 0,
            4 => 1,
            other => panic!("unexpected label {other}"),
        })
        .collect();
    let pred: Vec<u8> = pred.iter().map(|p| *p as u8).collect();
    assert!(pred.iter().all(|p| *p < 3));
    let mut confusion = rastrum::metrics::Confusion::new(3);
    for (t, p) in truth.iter().zip(&pred) {
        confusion.add(*t as usize, *p as usize);
    }
    let k = confusion.scores().kappa;
    eprintln!("cloud mask: Cohen's kappa against the hand labels = {k:.4}");
    assert!(k >= 0.60, "kappa {k} below the upstream bar 0.60");
}

#[test]
fn super_resolution_reproduces_its_golden_output() {
    let model = load(&data("super_resolution/super-resolution-10.onnx"));
    // The initialisers listed as graph inputs are not inputs.
    assert_eq!(model.input.name, "input");
    let input = read_tensor(&std::fs::read(data("super_resolution/test_data_set_0/input_0.pb")).unwrap()).unwrap();
    let golden = read_tensor(&std::fs::read(data("super_resolution/test_data_set_0/output_0.pb")).unwrap()).unwrap();
    let x = input.floats().unwrap();
    assert_eq!(x.len(), 224 * 224);
    let out = model.run(&x, [1, 1, 224, 224], 0).unwrap();
    assert_eq!(out.shape, vec![1, 1, 672, 672]);
    let want = golden.floats().unwrap();
    assert_eq!(want.len(), out.data.len());
    let worst = out.data.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst <= 1e-5, "max abs diff to the golden output: {worst}");
}

#[test]
fn super_resolution_gives_a_3x_grid_on_a_real_landsat_band() {
    let dir = tmp();
    let input = data("landsat8_l1_b2_b7/l8_B4.tif");
    let out = dir.path().join("sr.tif");
    let output = cli()
        .args(["run"])
        .arg(data("super_resolution/super-resolution-10.onnx"))
        .arg(&input)
        .arg(&out)
        .args(["--task", "super_resolution", "--scale", "2e-5", "--offset", "-0.1", "--overlap", "16", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["task"], "super_resolution");
    let (w, h, _) = read_band(&input, 1);
    let (ow, oh, values) = read_band(&out, 1);
    assert_eq!((ow, oh), (3 * w, 3 * h));
    let gi = geo_transform(&input);
    let go = geo_transform(&out);
    assert_eq!((go[0], go[3]), (gi[0], gi[3]), "origin must not move");
    assert!((go[1] - gi[1] / 3.0).abs() < 1e-9 && (go[5] - gi[5] / 3.0).abs() < 1e-9);
    assert_eq!(projection(&out), projection(&input));
    // A real image, not a constant: the x3 output follows the input's reflectance.
    let mean: f64 = values.iter().sum::<f64>() / values.len() as f64;
    let (_, _, raw) = read_band(&input, 1);
    let in_mean: f64 = raw.iter().map(|v| v * 2e-5 - 0.1).sum::<f64>() / raw.len() as f64;
    assert!((mean - in_mean).abs() < 0.05 * in_mean.abs().max(0.01), "output mean {mean}, input mean {in_mean}");
}
