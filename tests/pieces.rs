//! Tiling and stitching on their own (`Plan`, `Stitcher`: the C API's rastrum_plan_* and
//! rastrum_stitcher_*). A host that reads the plan's tiles, runs the model itself and adds the
//! outputs in shuffled order gets the bytes of `run`, for every kind of output: a convolution in
//! blend and crop mode, super-resolution, per-tile classes with probabilities, redistribution by
//! light, and a window; with the shapes declared in options (no model) or taken from the model.

mod common;

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;

use common::*;
use rastrum::card::{Redistribute, StitchMode, Task, TileWindow};
use rastrum::inference::Model;
use rastrum::plan::Plan;
use rastrum::stitch::sink::BandsOut;
use rastrum::stitch::Stitcher;
use rastrum::{run, RunOptions};

/// A fixed permutation of `0..n` (a linear congruential shuffle: no dependency needed).
fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut s = seed;
    for i in (1..n).rev() {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        order.swap(i, (s >> 33) as usize % (i + 1));
    }
    order
}

/// The host: reads each tile of `plan` in `order`, runs `model` on it alone, adds the output.
fn feed(plan: &Plan, model: &Model, stitcher: &mut Stitcher, order: &[usize]) -> usize {
    let r = plan.resolved();
    let mut most_held = 0;
    for &i in order {
        let tile = plan.read_tile(i).unwrap();
        let out = tile.any_valid.then(|| {
            let shape = [1, r.bands.len(), r.tile_size, r.tile_size];
            model.run(&tile.data, shape, r.output_index).unwrap().data
        });
        stitcher.add(i, out.as_deref(), Some(&tile.valid), tile.weight.as_deref()).unwrap();
        most_held = most_held.max(stitcher.progress().1);
    }
    most_held
}

/// `run` with `opts` against the host with `host_opts` (model given to the plan or not), files
/// compared band by band with their metadata.
fn check(model: &Model, input: &Path, opts: &RunOptions, host_opts: &RunOptions, plan_model: bool, suffixes: &[&str]) {
    let dir = tmp();
    let whole = dir.path().join("run.tif");
    run(model, input, &whole, opts, &mut |_, _| true).unwrap();
    let plan = Plan::open(input, plan_model.then_some(model), host_opts).unwrap();
    assert!(plan.count() > 1);
    // Plan order; batches of 4 in plan order finishing last first (a host running 4 at once);
    // a shuffle of the whole plan.
    let n = plan.count();
    let batched: Vec<usize> = (0..n).collect::<Vec<_>>().chunks(4).flat_map(|c| c.iter().rev().copied()).collect();
    for (seed, order) in [(0, (0..n).collect()), (4, batched), (7, shuffled(n, 7))] {
        let out = dir.path().join(format!("host{seed}.tif"));
        let mut stitcher = Stitcher::to_file(&plan, &out).unwrap();
        let held = feed(&plan, model, &mut stitcher, &order);
        match seed {
            0 => assert_eq!(held, 0, "in plan order no tile is held"),
            4 => assert!(held > 0 && held <= 3, "a batch of 4 holds at most 3, held {held}"),
            _ => assert!(held > 0),
        }
        assert!(!out.exists(), "the file appears at finish only");
        let written = stitcher.finish().unwrap();
        assert_eq!(written.len(), suffixes.len());
        for suffix in suffixes {
            let named =
                |p: &Path| p.with_file_name(format!("{}{suffix}.tif", p.file_stem().unwrap().to_string_lossy()));
            assert!(contents(&named(&out), None) == contents(&named(&whole), None), "{suffix} differs (order {seed})");
            assert_eq!(geo_transform(&named(&out)), geo_transform(&named(&whole)));
            assert_eq!(projection(&named(&out)), projection(&named(&whole)));
        }
    }
}

fn conv_setup(dir: &Path) -> (Model, std::path::PathBuf) {
    let path = dir.join("conv.onnx");
    conv_model(&path);
    (load(&path), data("landsat8_l1_b2_b7/l8_B4.tif"))
}

#[test]
fn a_convolution_in_both_stitch_modes_without_a_model_in_the_plan() {
    let dir = tmp();
    let (model, input) = conv_setup(dir.path());
    for stitch in [StitchMode::Blend, StitchMode::Crop] {
        let opts = RunOptions {
            scale: Some(vec![1e-4]),
            tile_size: Some(96),
            overlap: Some(10),
            margin: Some(2),
            stitch: Some(stitch),
            ..Default::default()
        };
        // Without a model the options declare the shape: one channel, per pixel, regression.
        let host = RunOptions { task: Some(Task::Regression), output_channels: Some(1), ..opts.clone() };
        check(&model, &input, &opts, &host, false, &[""]);
    }
}

#[test]
fn super_resolution_with_the_model_in_the_plan() {
    let model = load(&data("super_resolution/super-resolution-10.onnx"));
    let opts = RunOptions { overlap: Some(16), ..super_resolution_of_landsat() };
    check(&model, &data("landsat8_l1_b2_b7/l8_B4.tif"), &opts, &opts, true, &[""]);
}

#[test]
fn per_tile_classes_and_redistribution_by_light() {
    let input = data("rasterio/rasterio_RGB.byte.tif");
    let dir = tmp();
    let path = dir.path().join("tile_mean.onnx");
    tile_mean_model(&path, 32);
    let model = load(&path);
    let opts = RunOptions { overlap: Some(12), probabilities: true, probability_bands: true, ..Default::default() };
    // The card's keys the run reads from the model, given as card overrides.
    let mut host =
        RunOptions { tile_size: Some(32), task: Some(Task::Classification), output_channels: Some(3), ..opts.clone() };
    host.set("set", r#"class_names={"0": "red", "1": "green", "2": "blue"}"#).unwrap();
    host.set("activation", "none").unwrap();
    check(&model, &input, &opts, &host, false, &["", "_probabilities"]);

    let path = dir.path().join("tile_sum.onnx");
    tile_sum_model(&path, 32);
    let model = load(&path);
    let opts = RunOptions { tile_size: Some(32), ..redistribution_by_light() };
    let host = RunOptions { task: Some(Task::Regression), output_size: Some(1), ..opts.clone() };
    assert_eq!(host.redistribute, Some(Redistribute::Weight));
    check(&model, &input, &opts, &host, false, &[""]);
}

#[test]
fn a_window_of_the_plan_equals_the_window_run() {
    let dir = tmp();
    let (model, input) = conv_setup(dir.path());
    let opts = RunOptions {
        scale: Some(vec![1e-4]),
        tile_size: Some(96),
        overlap: Some(10),
        window: Some(TileWindow { col: 1, row: 2, cols: 3, rows: 2 }),
        ..Default::default()
    };
    check(&model, &input, &opts, &opts, true, &[""]);
}

#[test]
fn rows_to_the_host_equal_the_file_and_come_once_top_to_bottom() {
    let dir = tmp();
    let (model, input) = conv_setup(dir.path());
    let opts = RunOptions { scale: Some(vec![1e-4]), tile_size: Some(64), overlap: Some(8), ..Default::default() };
    let whole = dir.path().join("run.tif");
    run(&model, &input, &whole, &opts, &mut |_, _| true).unwrap();
    let plan = Plan::open(&input, Some(&model), &opts).unwrap();
    let (w, h) = (plan.grid().width, plan.grid().height);
    let got = Rc::new(RefCell::new((Vec::<f32>::new(), 0usize)));
    let sink = got.clone();
    let mut stitcher = Stitcher::to_rows(
        &plan,
        Box::new(move |rows| {
            let mut g = sink.borrow_mut();
            assert_eq!((rows.raster, rows.y0), (0, g.1), "rows in order");
            let BandsOut::F32(bands) = rows.bands else { panic!("regression rows are f32") };
            assert_eq!(bands.len(), 1);
            assert_eq!(bands[0].len(), rows.rows * w);
            g.0.extend_from_slice(&bands[0]);
            g.1 += rows.rows;
            Ok(())
        }),
    )
    .unwrap();
    feed(&plan, &model, &mut stitcher, &shuffled(plan.count(), 3));
    assert!(stitcher.finish().unwrap().is_empty());
    let (values, rows) = got.borrow().clone();
    assert_eq!(rows, h);
    let (_, _, want) = read_band(&whole, 1);
    assert!(values.iter().zip(&want).all(|(a, b)| (*a as f64).to_bits() == b.to_bits()));
    assert_eq!(values.len(), want.len());
}

#[test]
fn a_plan_from_a_size_matches_the_plan_of_the_raster() {
    let dir = tmp();
    let (model, input) = conv_setup(dir.path());
    let opts = RunOptions { tile_size: Some(96), overlap: Some(10), margin: Some(2), ..Default::default() };
    let opened = Plan::open(&input, Some(&model), &opts).unwrap();
    let (w, h) = (opened.raster().width, opened.raster().height);
    let mut sized = Plan::new(w, h, 1, None, &RunOptions { output_channels: Some(1), ..opts.clone() }).unwrap();
    assert_eq!(sized.count(), opened.count());
    for i in 0..opened.count() {
        assert_eq!(sized.tile(i).unwrap(), opened.tile(i).unwrap());
    }
    // Tile geometry against an independent reading: padding + read window = the tile, and the
    // last tile of a row ends at the raster's edge (627 is no multiple of the stride 76).
    let [cols, _] = opened.columns_rows();
    let last = opened.tile(cols - 1).unwrap();
    assert_eq!(last.read[0] + last.read[2], w);
    assert_eq!(last.padding[0] + last.read[2] + last.padding[2], 96);
    assert_ne!(w % (96 - 10 - 4), 0);

    // Georeferenced afterwards, the host's file carries the raster's grid; nothing to read.
    assert!(sized.read_tile(0).unwrap_err().to_string().contains("reads its tiles itself"));
    sized.set_georeference(geo_transform(&input), &projection(&input)).unwrap();
    let out = dir.path().join("sized.tif");
    let whole = dir.path().join("run.tif");
    run(&model, &input, &whole, &RunOptions { task: Some(Task::Segmentation), ..opts.clone() }, &mut |_, _| true)
        .unwrap();
    let sized = Plan::new(w, h, 1, None, &RunOptions { task: Some(Task::Segmentation), ..opts.clone() })
        .and_then(|mut p| p.set_georeference(geo_transform(&input), &projection(&input)).map(|_| p))
        .unwrap();
    let mut stitcher = Stitcher::to_file(&sized, &out).unwrap();
    // The host reads the tiles through another plan of the same raster.
    let mut order: Vec<usize> = (0..opened.count()).collect();
    order.reverse();
    for i in order {
        let tile = opened.read_tile(i).unwrap();
        let out = model.run(&tile.data, [1, 1, 96, 96], 0).unwrap().data;
        stitcher.add(i, Some(&out), Some(&tile.valid), None).unwrap();
    }
    stitcher.finish().unwrap();
    assert!(contents(&out, None) == contents(&whole, None));
    assert_eq!(geo_transform(&out), geo_transform(&whole));
}

#[test]
fn misuse_is_refused_with_the_problem_named() {
    let dir = tmp();
    let input = data("landsat8_l1_b2_b7/l8_B4.tif");
    let err = |r: rastrum::Result<Plan>| r.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err(Plan::open(&input, None, &RunOptions::default())).contains("'tile-size' is required"));
    let o = RunOptions { tile_size: Some(64), ..Default::default() };
    assert!(err(Plan::new(100, 100, 1, None, &RunOptions { extent: Some([0., 0., 1., 1.]), ..o.clone() }))
        .contains("need the raster"));
    assert!(err(Plan::new(100, 100, 2, None, &RunOptions { bands: Some(vec![3]), ..o.clone() })).contains("band 3"));
    assert!(err(Plan::new(0, 100, 1, None, &o)).contains("0 x 100"));
    let e = err(Plan::new(100, 100, 1, None, &RunOptions { output_size: Some(65), ..o.clone() }));
    assert!(e.contains("output size 65"), "{e}");
    // With a model, declared shapes must be the model's.
    let (model, _) = conv_setup(dir.path());
    let e = err(Plan::open(&input, Some(&model), &RunOptions { output_channels: Some(2), ..o.clone() }));
    assert!(e.contains("'output-channels' is 2") && e.contains("has 1"), "{e}");

    let plan = Plan::open(&input, None, &o).unwrap();
    assert!(plan.tile(plan.count()).unwrap_err().to_string().contains("outside the plan"));
    let out = dir.path().join("out.tif");
    let mut s = Stitcher::to_file(&plan, &out).unwrap();
    let values = vec![0f32; 64 * 64];
    let e = s.add(0, Some(&values[..10]), None, None).unwrap_err().to_string();
    assert!(e.contains("tile 0: the output has 10 values, expected 4096"), "{e}");
    let e = s.add(0, Some(&values), Some(&[1u8; 3]), None).unwrap_err().to_string();
    assert!(e.contains("validity mask has 3 values"), "{e}");
    s.add(1, Some(&values), None, None).unwrap();
    assert!(s.add(1, Some(&values), None, None).unwrap_err().to_string().contains("tile 1 was already added"));
    assert!(s.add(plan.count(), None, None, None).unwrap_err().to_string().contains("outside the plan"));
    let e = s.finish().unwrap_err().to_string();
    assert!(e.contains("tile 0 has not been added") && e.contains("1 waiting"), "{e}");
    drop(s);
    assert!(!out.exists());
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["conv.onnx"], "no temporary file left");

    // A rows function that fails stops the stitcher: later calls name why.
    let mut s = Stitcher::to_rows(&plan, Box::new(|_| Err(rastrum::Error::Cancelled))).unwrap();
    let [cols, _] = plan.columns_rows();
    let mut failed = None;
    for i in 0..cols {
        if let Err(e) = s.add(i, Some(&values), None, None) {
            failed = Some(e);
            break;
        }
    }
    assert!(matches!(failed, Some(rastrum::Error::Cancelled)));
    assert!(s.add(cols, Some(&values), None, None).unwrap_err().to_string().contains("stopped after an error"));
}
