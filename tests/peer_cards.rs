//! Models of the peers run unchanged: the card vocabulary of Deepness (PUTvision/qgis-plugin-
//! deepness, `processing/models/model_base.py`) and GeoDeep (uav4geo/GeoDeep, `inference.py`) as
//! they write it, class names per output head, `[batch, H, W]` outputs, graphs that only run at
//! batch 1, fixed batches, and outputs that are already probabilities. Every model is generated
//! here with a known answer, computed again in the test.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use rastrum::card::{Activation, Card, OutputSelector};
use rastrum::onnx::build::Attr;
use rastrum::onnx::{Dim, GraphBuilder};
use rastrum::resolve::resolve;
use rastrum::{run, RunOptions};

fn nchw(c: i64) -> Vec<Dim> {
    vec!["n".into(), c.into(), "h".into(), "w".into()]
}

fn meta(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Three bytes per pixel, all different from each other: no ties in any argmax below.
fn three_bands(w: usize, h: usize) -> [Vec<u8>; 3] {
    let a: Vec<u8> = weights(w * h, 7).iter().map(|v| ((v + 0.5) * 255.0) as u8).collect();
    let b = a.iter().map(|v| v.wrapping_add(100)).collect();
    let c = a.iter().map(|v| 255 - v).collect();
    [a, b, c]
}

/// Two softmax heads over channel pairs of a 3-band input: `head0` = softmax(a, b) and
/// `head1` = softmax(c, a), with `card` on top.
fn two_head_model(path: &Path, card: &[(&str, &str)]) {
    let mut g = GraphBuilder::new("two_heads")
        .input("x", &nchw(3))
        .node("Split", &["x"], &["a", "b", "c"], &[("axis", Attr::Int(1))])
        .node("Concat", &["a", "b"], &["ab"], &[("axis", Attr::Int(1))])
        .node("Concat", &["c", "a"], &["ca"], &[("axis", Attr::Int(1))])
        .node("Softmax", &["ab"], &["head0"], &[("axis", Attr::Int(1))])
        .node("Softmax", &["ca"], &["head1"], &[("axis", Attr::Int(1))])
        .output("head0", &nchw(2))
        .output("head1", &nchw(2));
    for (k, v) in card {
        g = g.meta(k, v);
    }
    g.save(path).unwrap();
}

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().filter(|(_, n)| *n > 0).map(|(k, n)| (k.to_string(), *n)).collect()
}

#[test]
fn deepness_list_of_heads_names_each_output_by_its_own_head() {
    let dir = tmp();
    let (w, h) = (40, 40);
    let [a, b, c] = three_bands(w, h);
    let input = raster::<u8>(&dir.path().join("in.tif"), w, h, &[a.clone(), b.clone(), c.clone()], None);
    let model_path = dir.path().join("heads.onnx");
    // As Deepness's documentation writes it (json.dumps of a list of dicts), with GeoDeep's
    // bare-number tile size.
    two_head_model(
        &model_path,
        &[
            ("model_type", "\"Segmentor\""),
            ("class_names", r#"[{"0": "Coffee", "1": "Tea"}, {"0": "Juice", "1": "Beer"}]"#),
            ("tiles_size", "32"),
        ],
    );
    // Expected classes, from the bytes: head0 picks b over a, head1 picks a over c.
    let tea = (0..w * h).filter(|&i| b[i] > a[i]).count() as u64;
    let beer = (0..w * h).filter(|&i| a[i] > c[i]).count() as u64;
    let n = (w * h) as u64;

    let model = load(&model_path);
    let summary = run(&model, &input, &dir.path().join("out0.tif"), &RunOptions::default(), &mut |_, _| true).unwrap();
    assert_eq!(summary.class_counts, counts(&[("Coffee", n - tea), ("Tea", tea)]));

    // The CLI stopped at this card before ("expected an object ... or a list of names").
    let out1 = dir.path().join("out1.tif");
    let done = cli()
        .args(["run"])
        .args([&model_path, &input, &out1])
        .args(["--output-index", "1", "--json", "-q"])
        .output()
        .unwrap();
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    let json: serde_json::Value = serde_json::from_slice(&done.stdout).unwrap();
    let got: BTreeMap<String, u64> = serde_json::from_value(json["class_counts"].clone()).unwrap();
    assert_eq!(got, counts(&[("Juice", n - beer), ("Beer", beer)]));
    let (_, _, classes) = read_band(&out1, 1);
    for i in 0..w * h {
        assert_eq!(classes[i], if a[i] > c[i] { 1.0 } else { 0.0 }, "pixel {i}");
    }
}

#[test]
fn a_card_naming_several_heads_writes_one_raster_per_head_in_one_pass() {
    let dir = tmp();
    let (w, h) = (40, 30);
    let [a, b, c] = three_bands(w, h);
    let input = raster::<u8>(&dir.path().join("in.tif"), w, h, &[a.clone(), b.clone(), c.clone()], None);
    let model_path = dir.path().join("heads.onnx");
    let names = r#"[{"0": "Coffee", "1": "Tea"}, {"0": "Juice", "1": "Beer"}]"#;
    two_head_model(&model_path, &[("model_type", "\"Segmentor\""), ("class_names", names), ("tiles_size", "16")]);
    let model = load(&model_path);
    let out = dir.path().join("out.tif");
    let summary = run(&model, &input, &out, &RunOptions::default(), &mut |_, _| true).unwrap();
    let second = dir.path().join("out_head1.tif");
    assert_eq!(summary.outputs, vec![out.clone(), second.clone()]);
    assert_eq!(summary.heads.iter().map(|h| h.name.as_str()).collect::<Vec<_>>(), ["head0", "head1"]);
    let (_, _, first) = read_band(&out, 1);
    let (_, _, other) = read_band(&second, 1);
    for i in 0..w * h {
        assert_eq!(first[i], if b[i] > a[i] { 1.0 } else { 0.0 }, "head 0, pixel {i}");
        assert_eq!(other[i], if a[i] > c[i] { 1.0 } else { 0.0 }, "head 1, pixel {i}");
    }
    let beer = (0..w * h).filter(|&i| a[i] > c[i]).count() as u64;
    assert_eq!(summary.heads[1].class_counts, counts(&[("Juice", (w * h) as u64 - beer), ("Beer", beer)]));
    assert_eq!(class_names(&second), ["Juice", "Beer"]);

    // Choosing one head writes that head only; asking for all and one is a contradiction.
    let one = dir.path().join("one.tif");
    let opts = RunOptions { output: Some(OutputSelector::Index(1)), ..Default::default() };
    let summary = run(&model, &input, &one, &opts, &mut |_, _| true).unwrap();
    assert_eq!(summary.outputs, vec![one.clone()]);
    let both = RunOptions { all_outputs: true, ..opts };
    let err = run(&model, &input, &dir.path().join("x.tif"), &both, &mut |_, _| true).unwrap_err().to_string();
    assert!(err.contains("'all-outputs' and 'output-name' / 'output-index' exclude each other"), "{err}");

    // A card naming more heads than the model has outputs is named as such.
    let three = dir.path().join("three.onnx");
    two_head_model(&three, &[("class_names", r#"[{"0": "a"}, {"0": "b"}, {"0": "c"}]"#)]);
    let err = run(&load(&three), &input, &dir.path().join("y.tif"), &RunOptions::default(), &mut |_, _| true)
        .unwrap_err()
        .to_string();
    assert!(err.contains("names 3 output heads in 'class_names', but the model has 2 output(s)"), "{err}");
    assert!(!dir.path().join("x.tif").exists() && !dir.path().join("y.tif").exists());
}

#[test]
fn heads_on_different_grids_are_refused_together_and_run_alone() {
    let dir = tmp();
    let input = raster::<u8>(&dir.path().join("in.tif"), 20, 20, &three_bands(20, 20), None);
    let model_path = dir.path().join("mixed.onnx");
    GraphBuilder::new("mixed")
        .input("x", &nchw(3))
        .node("Identity", &["x"], &["pixels"], &[])
        .node("GlobalAveragePool", &["x"], &["pooled"], &[])
        .node("Flatten", &["pooled"], &["per_tile"], &[("axis", Attr::Int(1))])
        .output("pixels", &nchw(3))
        .output("per_tile", &["n".into(), 3.into()])
        .meta("tiles_size", "8")
        .save(&model_path)
        .unwrap();
    let model = load(&model_path);
    let all = RunOptions { all_outputs: true, task: Some(rastrum::Task::Regression), ..Default::default() };
    let out = dir.path().join("out.tif");
    let err = run(&model, &input, &out, &all, &mut |_, _| true).unwrap_err().to_string();
    assert!(err.contains("output 'per_tile'") && err.contains("needs another tile grid than output 'pixels'"), "{err}");
    assert!(!out.exists());
    let alone = RunOptions { output: Some(OutputSelector::Index(1)), ..all };
    let alone = RunOptions { all_outputs: false, ..alone };
    run(&model, &input, &out, &alone, &mut |_, _| true).unwrap();
}

#[test]
fn a_one_channel_sigmoid_head_of_batch_height_width_is_the_foreground_class() {
    // Deepness's `[{"0": "Coffee"}]` on a `[batch, H, W]` sigmoid output: the one name is the
    // foreground (class 1), after 'background', as Deepness's Segmentor names it.
    let dir = tmp();
    let (w, h) = (37, 29);
    let [a, _, _] = three_bands(w, h);
    let input = raster::<u8>(&dir.path().join("in.tif"), w, h, &[a.clone()], None);
    let model_path = dir.path().join("sigmoid.onnx");
    GraphBuilder::new("sigmoid_bhw")
        .input("x", &nchw(1))
        .initializer("half", &[1], &[0.5], false)
        .initializer_i64("axis1", &[1], &[1])
        .node("Sub", &["x", "half"], &["d"], &[])
        .node("Sigmoid", &["d"], &["p"], &[])
        .node("Squeeze", &["p", "axis1"], &["y"], &[])
        .output("y", &["n".into(), "h".into(), "w".into()])
        .meta("model_type", "\"segmentor\"")
        .meta("class_names", r#"[{"0": "Coffee"}]"#)
        .meta("tile_size", "\"16\"")
        .save(&model_path)
        .unwrap();
    let model = load(&model_path);
    let r = resolve(&model, &RunOptions::default(), Some(1)).unwrap();
    assert_eq!((r.out_channels, r.tile_size), (1, 16));
    assert_eq!(r.class_names, ["background", "Coffee"]);
    assert_eq!(r.activation, Activation::None);

    let out = dir.path().join("out.tif");
    let summary = run(&model, &input, &out, &RunOptions::default(), &mut |_, _| true).unwrap();
    // Inputs are divided by 255 (Deepness); sigmoid(x - 0.5) >= 0.5 (seg_thresh's default for
    // one channel) where x >= 0.5, i.e. raw >= 128.
    let fg = a.iter().filter(|v| **v >= 128).count() as u64;
    assert_eq!(summary.class_counts, counts(&[("background", (w * h) as u64 - fg), ("Coffee", fg)]));
    let (_, _, classes) = read_band(&out, 1);
    for i in 0..w * h {
        assert_eq!(classes[i], if a[i] >= 128 { 1.0 } else { 0.0 }, "pixel {i}");
    }
}

#[test]
fn the_card_vocabulary_of_both_peers_is_read_as_they_write_it() {
    // Deepness: every value json.dumps'ed; model_type in any case (it .capitalize()s).
    let deepness = Card::from_metadata(&meta(&[
        ("model_type", "\"SEGMENTOR\""),
        ("names", r#"{"0": "old", "1": "names"}"#),
        ("class_names", r#"{"0": "not_road", "1": "road"}"#),
        ("resolution", "21"),
        ("tile_size", "512"),
        ("tiles_overlap", "10"),
        ("standardization_mean", r#"["0.485", "0.456", "0.406"]"#),
        ("standardization_std", "[0.229, 0.224, 0.225]"),
        ("seg_thresh", "0.5"),
        ("seg_small_segment", "7"),
        ("reg_output_scaling", "2.5"),
        ("det_conf", "\"0.3\""),
        ("det_iou_thresh", "0.8"),
        ("det_type", "\"YOLO_v5_or_v7_default\""),
    ]))
    .unwrap();
    assert_eq!(deepness.task, Some(rastrum::Task::Segmentation));
    // class_names wins over names, whatever the order of the keys in the file.
    let names: Vec<String> = deepness.head_names(0).unwrap().into_values().collect();
    assert_eq!(names, ["not_road", "road"]);
    assert_eq!(deepness.resolution_cm, Some(21.0));
    assert_eq!(deepness.tile_size, Some(512));
    assert_eq!(deepness.overlap_percent, Some(10.0));
    assert_eq!(deepness.mean, Some(vec![0.485, 0.456, 0.406]));
    assert_eq!(deepness.std, Some(vec![0.229, 0.224, 0.225]));
    assert_eq!((deepness.seg_thresh, deepness.seg_small_segment), (Some(0.5), Some(7)));
    assert_eq!(deepness.reg_output_scaling, Some(2.5));
    assert_eq!((deepness.det_conf, deepness.det_iou_thresh), (Some(0.3), Some(0.8)));
    assert_eq!(deepness.det_type.as_deref(), Some("YOLO_v5_or_v7_default"));

    // GeoDeep: numbers read with float()/int() from the raw text, so bare numbers and numeric
    // strings; its tile size key is `tiles_size`; `names` alone is Deepness's older spelling.
    let geodeep = Card::from_metadata(&meta(&[
        ("model_type", "\"regressor\""),
        ("names", "[\"water\", \"land\"]"),
        ("tiles_size", "\"256\""),
        ("tiles_overlap", "5.5"),
        ("seg_small_segment", "\"11\""),
        ("det_conf", "0.25"),
    ]))
    .unwrap();
    assert_eq!(geodeep.task, Some(rastrum::Task::Regression));
    assert_eq!(geodeep.head_names(3).unwrap().get(&1).map(String::as_str), Some("land"));
    assert_eq!((geodeep.tile_size, geodeep.overlap_percent), (Some(256), Some(5.5)));
    assert_eq!((geodeep.seg_small_segment, geodeep.det_conf), (Some(11), Some(0.25)));

    // Wrong values name the key and what was found.
    for (key, value, expected) in [
        ("det_conf", "1.5", "[0, 1]"),
        ("class_names", r#"[{"0": "a"}, "b"]"#, "one per output"),
        ("seg_small_segment", "-3", "non-negative integer"),
        ("standardization_mean", r#"["x"]"#, "list of numbers"),
    ] {
        let err = Card::from_metadata(&meta(&[(key, value)])).unwrap_err().to_string();
        assert!(err.contains(key) && err.contains(value) && err.contains(expected), "{err}");
    }
    // Two heads, output 2: no head names it.
    let two = Card::from_metadata(&meta(&[("class_names", r#"[{"0": "a"}, {"0": "b"}]"#)])).unwrap();
    assert_eq!(two.head_names(1).unwrap().get(&0).map(String::as_str), Some("b"));
    let err = two.head_names(2).unwrap_err().to_string();
    assert!(err.contains("class_names") && err.contains("2 output heads") && err.contains("output 2"), "{err}");
}

#[test]
fn recognition_and_unknown_cards_are_refused_by_name_unless_a_task_is_asked() {
    let dir = tmp();
    // A Detector card runs detection (tests/detection.rs): on a per-pixel graph its output is named.
    let detector = dir.path().join("Detector.onnx");
    two_head_model(&detector, &[("model_type", "\"Detector\"")]);
    let err = resolve(&load(&detector), &RunOptions::default(), Some(3)).unwrap_err().to_string();
    assert!(err.contains("a detector's output is [b, N, 5 + classes]") && err.contains("[4, 2, 256, 256]"), "{err}");
    for (model_type, what) in [("RECOGNITION", "recognition"), ("Foo", "unknown")] {
        let model_path = dir.path().join(format!("{model_type}.onnx"));
        two_head_model(&model_path, &[("model_type", &format!("\"{model_type}\""))]);
        let model = load(&model_path);
        let err = resolve(&model, &RunOptions::default(), Some(3)).unwrap_err().to_string();
        assert!(err.contains("model_type") && err.contains(model_type) && err.contains(what), "{err}");
        assert!(err.contains(&model_path.display().to_string()), "{err}");
        // An explicit task runs the output as that task.
        let opts = RunOptions { task: Some(rastrum::Task::Segmentation), ..Default::default() };
        let r = resolve(&model, &opts, Some(3)).unwrap();
        assert_eq!(r.out_channels, 2);
    }
    // The chosen output picks its head; the output index from the card works the same.
    let model_path = dir.path().join("named.onnx");
    two_head_model(&model_path, &[("class_names", r#"[{"0": "Coffee", "1": "Tea"}, {"0": "Juice", "1": "Beer"}]"#)]);
    let model = load(&model_path);
    let opts = RunOptions { output: Some(OutputSelector::Name("head1".into())), ..Default::default() };
    assert_eq!(resolve(&model, &opts, Some(3)).unwrap().class_names, ["Juice", "Beer"]);
}

/// y = 2x on one band, as `[batch, H, W]` through a `Reshape` to a fixed `{1, 16, 16}` (the
/// batch axis still declared dynamic), or on a fixed `batch`: a regression card on top.
fn doubling_model(path: &Path, fixed_batch: Option<i64>) {
    let x_dims: Vec<Dim> = match fixed_batch {
        Some(n) => vec![n.into(), 1.into(), 16.into(), 16.into()],
        None => vec!["n".into(), 1.into(), 16.into(), 16.into()],
    };
    let g = GraphBuilder::new("doubling").input("x", &x_dims).initializer("two", &[1], &[2.0], false).node(
        "Mul",
        &["x", "two"],
        &["d"],
        &[],
    );
    let g = match fixed_batch {
        Some(_) => g.node("Identity", &["d"], &["y"], &[]).output("y", &x_dims),
        None => g
            .initializer_i64("one_tile", &[3], &[1, 16, 16])
            .node("Reshape", &["d", "one_tile"], &["y"], &[])
            .output("y", &["n".into(), 16.into(), 16.into()]),
    };
    g.meta("rastrum_task", "\"regression\"").save(path).unwrap();
}

fn assert_doubled(out: &Path, raw: &[u8]) {
    let (_, _, got) = read_band(out, 1);
    for (i, (g, r)) in got.iter().zip(raw).enumerate() {
        // Blending equal values may round in the last bit.
        assert!((g - 2.0 * *r as f64).abs() <= 1e-4 * (1.0 + *r as f64), "pixel {i}: {g} for raw {r}");
    }
}

#[test]
fn a_graph_that_fails_at_the_batch_chosen_runs_at_batch_1_and_says_so() {
    let dir = tmp();
    let (w, h) = (45, 38);
    let [a, _, _] = three_bands(w, h);
    let input = raster::<u8>(&dir.path().join("in.tif"), w, h, &[a.clone()], None);
    let model_path = dir.path().join("reshape_1.onnx");
    doubling_model(&model_path, None);
    let model = load(&model_path);

    // The graph really cannot run 4 tiles at once (the probe is not guessing).
    assert!(model.run(&vec![0.0; 4 * 256], [4, 1, 16, 16], 0).is_err());

    let out = dir.path().join("out.tif");
    let opts = RunOptions { batch: Some(4), ..Default::default() };
    let summary = run(&model, &input, &out, &opts, &mut |_, _| true).unwrap();
    assert_eq!(summary.batch, 1);
    let why = summary.batch_fallback.clone().expect("the fallback is reported");
    assert!(why.contains("batch 4") && why.contains("running at batch 1"), "{why}");
    assert!(summary.tiles_run > 4, "{} tiles: several batches", summary.tiles_run);
    assert_doubled(&out, &a);

    // The CLI says it on stderr and in its JSON summary; a model that runs at its batch does not.
    let out = dir.path().join("cli.tif");
    let done = cli().args(["run"]).args([&model_path, &input, &out]).args(["--json"]).output().unwrap();
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(stderr.contains("running at batch 1"), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&done.stdout).unwrap();
    assert_eq!(json["batch"], 1);
    assert!(json["batch_fallback"].as_str().is_some_and(|s| s.contains("batch 4")), "{json}");
    assert_doubled(&out, &a);

    let fine = dir.path().join("fine.onnx");
    identity_model(&fine, 1, &[("tile_size", "16")]);
    let fine_run =
        run(&load(&fine), &input, &dir.path().join("fine.tif"), &RunOptions::default(), &mut |_, _| true).unwrap();
    assert_eq!((fine_run.batch, fine_run.batch_fallback), (4, None));
}

#[test]
fn a_fixed_batch_larger_than_the_last_batch_is_padded() {
    let dir = tmp();
    // 16-pixel tiles with the default overlap of 2: tiles at x = 0 and 14, one row. The model
    // takes exactly 3 tiles, so the run only succeeds if the batch of 2 is padded to 3.
    let (w, h) = (30, 16);
    let [a, _, _] = three_bands(w, h);
    let input = raster::<u8>(&dir.path().join("in.tif"), w, h, &[a.clone()], None);
    let model_path = dir.path().join("fixed3.onnx");
    doubling_model(&model_path, Some(3));
    let model = load(&model_path);
    let out = dir.path().join("out.tif");
    let summary = run(&model, &input, &out, &RunOptions::default(), &mut |_, _| true).unwrap();
    assert_eq!((summary.batch, summary.batch_fallback.as_deref()), (3, None));
    assert_eq!(summary.tiles_run, 2, "two tiles: one batch of 3 with one padding tile");
    assert_doubled(&out, &a);
}

/// A Keras-like classifier exported with its head: per-tile band means m, two softmax heads
/// softmax(10 m) and softmax(4 m), averaged (Add, then Mul by a `Constant` 0.5).
fn averaged_softmax_classifier(path: &Path) {
    GraphBuilder::new("averaged_softmax")
        .input("x", &nchw(3))
        .initializer("ten", &[1], &[10.0], false)
        .initializer("four", &[1], &[4.0], false)
        .node("ReduceMean", &["x"], &["m"], &[("axes", Attr::Ints(vec![2, 3])), ("keepdims", Attr::Int(0))])
        .node("Mul", &["m", "ten"], &["l0"], &[])
        .node("Mul", &["four", "m"], &["l1"], &[])
        .node("Softmax", &["l0"], &["p0"], &[("axis", Attr::Int(1))])
        .node("Softmax", &["l1"], &["p1"], &[("axis", Attr::Int(1))])
        .node("Add", &["p0", "p1"], &["s"], &[])
        .node("Constant", &[], &["half"], &[("value_float", Attr::Float(0.5))])
        .node("Mul", &["s", "half"], &["y"], &[])
        .output("y", &["n".into(), 3.into()])
        .meta("tile_size", "16")
        .save(path)
        .unwrap();
}

fn softmax(v: &[f64]) -> Vec<f64> {
    let e: Vec<f64> = v.iter().map(|x| x.exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|x| x / s).collect()
}

#[test]
fn an_averaged_softmax_classifier_keeps_its_probabilities() {
    let dir = tmp();
    let (w, h, tile) = (48, 32, 16);
    let bands = three_bands(w, h);
    let input = raster::<u8>(&dir.path().join("in.tif"), w, h, &bands, None);
    let model_path = dir.path().join("averaged.onnx");
    averaged_softmax_classifier(&model_path);
    let model = load(&model_path);

    let r = resolve(&model, &RunOptions::default(), Some(3)).unwrap();
    assert_eq!(r.activation, Activation::None);
    assert!(
        r.activation_reason.contains("Add of 2 x Softmax") && r.activation_reason.contains("Mul by 0.5"),
        "{}",
        r.activation_reason
    );

    // The model's probabilities per tile, computed here: 3 x 2 tiles, no overlap.
    let expected: Vec<Vec<f64>> = (0..(w / tile) * (h / tile))
        .map(|t| {
            let (x0, y0) = ((t % (w / tile)) * tile, (t / (w / tile)) * tile);
            let m: Vec<f64> = bands
                .iter()
                .map(|b| {
                    let sum: f64 =
                        (0..tile * tile).map(|k| b[(y0 + k / tile) * w + x0 + k % tile] as f64 / 255.0).sum();
                    sum / (tile * tile) as f64
                })
                .collect();
            let (p0, p1) = (
                softmax(&m.iter().map(|v| 10.0 * v).collect::<Vec<_>>()),
                softmax(&m.iter().map(|v| 4.0 * v).collect::<Vec<_>>()),
            );
            (0..3).map(|c| (p0[c] + p1[c]) / 2.0).collect()
        })
        .collect();

    let scale = Some(vec![1.0 / 255.0]);
    for (activation, twice) in [(None, false), (Some(Activation::Softmax), true)] {
        let out = dir.path().join(format!("classes_{twice}.tif"));
        let opts = RunOptions { scale: scale.clone(), probabilities: true, activation, ..Default::default() };
        let summary = run(&model, &input, &out, &opts, &mut |_, _| true).unwrap();
        assert_eq!((summary.width, summary.height), (w / tile, h / tile));
        let probs = rastrum::stitch::sink::probabilities_path(&out);
        let got: Vec<Vec<f64>> = (1..=3).map(|b| read_band(&probs, b).2).collect();
        let (_, _, classes) = read_band(&out, 1);
        let mut far_from_softmax = 0;
        for (t, p) in expected.iter().enumerate() {
            // An explicit activation always wins: softmax(probabilities) when asked.
            let want = if twice { softmax(p) } else { p.clone() };
            for c in 0..3 {
                assert!((got[c][t] - want[c]).abs() < 1e-5, "tile {t} class {c}: {} vs {}", got[c][t], want[c]);
            }
            let best = (0..3).max_by(|a, b| p[*a].total_cmp(&p[*b])).unwrap();
            assert_eq!(classes[t] as usize, best, "tile {t}");
            if (0..3).any(|c| (softmax(p)[c] - p[c]).abs() > 0.05) {
                far_from_softmax += 1;
            }
        }
        // The data tell the two apart: a second softmax would have moved these tiles.
        assert!(far_from_softmax > 0);
    }

    // `rastrum info` says why.
    let done = cli().args(["info"]).arg(&model_path).output().unwrap();
    let text = String::from_utf8_lossy(&done.stdout);
    assert!(
        done.status.success() && text.contains("activation     none (output 'y' is a probability distribution already"),
        "{text}"
    );
}

#[test]
fn the_graph_shows_probabilities_through_moves_means_and_scales_but_not_logits() {
    let dir = tmp();
    let x = || GraphBuilder::new("g").input("x", &nchw(2));
    let cases: Vec<(&str, GraphBuilder, bool)> = vec![
        (
            "sigmoid, transposed",
            x().node("Sigmoid", &["x"], &["s"], &[])
                .node("Transpose", &["s"], &["t"], &[("perm", Attr::Ints(vec![0, 1, 3, 2]))])
                .node("Identity", &["t"], &["y"], &[]),
            true,
        ),
        (
            "two sigmoids concatenated",
            x().node("Sigmoid", &["x"], &["a"], &[]).node("Sigmoid", &["x"], &["b"], &[]).node(
                "Concat",
                &["a", "b"],
                &["y"],
                &[("axis", Attr::Int(1))],
            ),
            true,
        ),
        (
            "three softmaxes added, divided by 3",
            x().initializer("three", &[], &[3.0], false)
                .node("Softmax", &["x"], &["a"], &[("axis", Attr::Int(1))])
                .node("Add", &["a", "a"], &["ab"], &[])
                .node("Add", &["ab", "a"], &["abc"], &[])
                .node("Div", &["abc", "three"], &["y"], &[]),
            true,
        ),
        (
            "softmax doubled",
            x().initializer("two", &[1], &[2.0], false).node("Softmax", &["x"], &["a"], &[]).node(
                "Mul",
                &["a", "two"],
                &["y"],
                &[],
            ),
            false,
        ),
        (
            "two softmaxes added, not averaged",
            x().node("Softmax", &["x"], &["a"], &[]).node("Add", &["a", "a"], &["y"], &[]),
            false,
        ),
        (
            "one sigmoid channel gathered",
            x().initializer_i64("first", &[], &[0])
                .node("Sigmoid", &["x"], &["s"], &[])
                .node("Gather", &["s", "first"], &["g"], &[("axis", Attr::Int(1))])
                .node("Unsqueeze", &["g", "axes"], &["y"], &[])
                .initializer_i64("axes", &[1], &[1]),
            true,
        ),
        (
            "one softmax class sliced",
            x().initializer_i64("s0", &[1], &[0])
                .initializer_i64("s1", &[1], &[1])
                .initializer_i64("ax", &[1], &[1])
                .node("Softmax", &["x"], &["a"], &[("axis", Attr::Int(1))])
                .node("Slice", &["a", "s0", "s1", "ax"], &["y"], &[]),
            false,
        ),
        ("log-softmax", x().node("LogSoftmax", &["x"], &["y"], &[]), false),
        (
            "softmax times a tensor",
            x().node("Softmax", &["x"], &["a"], &[]).node("Mul", &["a", "x"], &["y"], &[]),
            false,
        ),
        ("logits", x().node("Identity", &["x"], &["y"], &[]), false),
    ];
    for (what, g, probabilities) in cases {
        let path = dir.path().join("g.onnx");
        g.output("y", &nchw(2)).save(&path).unwrap();
        let why = rastrum::onnx::graph::probabilities(&path, "y");
        assert_eq!(why.is_some(), probabilities, "{what}: {why:?}");
        // The default follows: none on probabilities, else softmax (sigmoid for one channel).
        let r = resolve(&load(&path), &RunOptions { tile_size: Some(8), ..Default::default() }, Some(2)).unwrap();
        let want = match (probabilities, r.out_channels) {
            (true, _) => Activation::None,
            (false, 1) => Activation::Sigmoid,
            (false, _) => Activation::Softmax,
        };
        assert_eq!(r.activation, want, "{what}: {}", r.activation_reason);
    }
}

/// The class map of `seg_small_segment` by definition: each valid pixel the lower median of the
/// valid classes in its k x k window (k = size / 2 * 2 + 1, edges replicated, as OpenCV's
/// medianBlur that Deepness runs); nodata (255) stays.
fn median_by_definition(img: &[u8], w: usize, h: usize, size: usize) -> Vec<u8> {
    let r = (size / 2) as i64;
    (0..h as i64)
        .flat_map(|y| (0..w as i64).map(move |x| (x, y)))
        .map(|(x, y)| {
            let centre = img[(y * w as i64 + x) as usize];
            if centre == 255 {
                return 255;
            }
            let mut v: Vec<u8> = Vec::new();
            for dy in -r..=r {
                for dx in -r..=r {
                    let (yy, xx) = ((y + dy).clamp(0, h as i64 - 1), (x + dx).clamp(0, w as i64 - 1));
                    let c = img[(yy * w as i64 + xx) as usize];
                    if c != 255 {
                        v.push(c);
                    }
                }
            }
            v.sort();
            v[(v.len() - 1) / 2]
        })
        .collect()
}

/// Deepness's small-segment removal, from the card (`seg_small_segment`) or the option: the
/// class map is the median of the stitched map, whatever the tiling; a window and another task
/// are refused.
#[test]
fn small_segments_are_removed_as_deepness_does_whatever_the_tiling() {
    let dir = tmp();
    // Scores -(x - c)^2 for c = 0, 1, 2: the class is the input's value.
    let model = dir.path().join("classes_of_values.onnx");
    GraphBuilder::new("classes_of_values")
        .input("x", &nchw(1))
        .initializer("c", &[1, 3, 1, 1], &[0.0, 1.0, 2.0], false)
        .node("Sub", &["x", "c"], &["d"], &[])
        .node("Mul", &["d", "d"], &["d2"], &[])
        .node("Neg", &["d2"], &["y"], &[])
        .output("y", &nchw(3))
        // A Rastrum card (raw values in; a Deepness card would scale bytes to 0..1).
        .meta("rastrum_task", "\"segmentation\"")
        .meta("class_names", r#"{"0": "a", "1": "b", "2": "c"}"#)
        .meta("seg_small_segment", "7")
        .save(&model)
        .unwrap();
    let model = load(&model);
    // Blocks of classes with speckles, and a few nodata pixels (9).
    let (w, h) = (70, 53);
    let values: Vec<u8> = (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            if (x * 7 + y * 3) % 41 == 0 {
                9
            } else if (x * 13 + y * 17) % 23 == 0 {
                ((x + y) % 3) as u8
            } else {
                ((x / 20 + y / 15) % 3) as u8
            }
        })
        .collect();
    let input = raster(&dir.path().join("classes.tif"), w, h, &[values.clone()], Some(9.0));
    let raw: Vec<u8> = values.iter().map(|v| if *v == 9 { 255 } else { *v }).collect();
    let expected = median_by_definition(&raw, w, h, 7);
    assert_ne!(expected, raw, "the speckles must be filtered away");
    for (tile, overlap) in [(32, 8), (48, 0), (64, 16)] {
        let out = dir.path().join(format!("seg_{tile}.tif"));
        let opts = RunOptions { tile_size: Some(tile), overlap: Some(overlap), ..Default::default() };
        let summary = run(&model, &input, &out, &opts, &mut |_, _| true).unwrap();
        let (_, _, got) = read_band(&out, 1);
        let got: Vec<u8> = got.iter().map(|v| *v as u8).collect();
        let differ = got.iter().zip(&expected).filter(|(a, b)| a != b).count();
        assert!(got.len() == expected.len() && differ == 0, "tile {tile}, overlap {overlap}: {differ} pixels differ");
        // The summary counts the filtered map.
        assert_eq!(summary.class_counts["b"], expected.iter().filter(|c| **c == 1).count() as u64);
    }
    // The option overrides the card: 0 keeps every segment; 3 is a 3 x 3 median.
    for (size, want) in [(0, raw.clone()), (3, median_by_definition(&raw, w, h, 3))] {
        let out = dir.path().join(format!("size_{size}.tif"));
        let mut opts = RunOptions { tile_size: Some(32), ..Default::default() };
        opts.set("small-segment", &size.to_string()).unwrap();
        run(&model, &input, &out, &opts, &mut |_, _| true).unwrap();
        let got: Vec<u8> = read_band(&out, 1).2.iter().map(|v| *v as u8).collect();
        let differ = got.iter().zip(&want).filter(|(a, b)| a != b).count();
        assert!(got.len() == want.len() && differ == 0, "small-segment {size}: {differ} pixels differ");
    }
    // A window cannot see its neighbours' rows.
    let mut opts = RunOptions { tile_size: Some(32), ..Default::default() };
    opts.set("window", "0,0,1,1").unwrap();
    let e = run(&model, &input, &dir.path().join("w.tif"), &opts, &mut |_, _| true).unwrap_err().to_string();
    assert!(e.contains("without 'window'"), "{e}");
}
