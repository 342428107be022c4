//! Scale-out windows (`window` option, `rastrum run --window`): each block of the tile grid run
//! on its own gives the bytes a whole run gives there, and `assemble` joins the blocks into the
//! whole run's raster (VRT and GeoTIFF), for every task and stitch mode, on real rasters whose
//! size is no multiple of the stride. Bad windows and incomplete or mixed sets are refused.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use gdal::Metadata;
use rastrum::card::{StitchMode, TileWindow};
use rastrum::inference::Model;
use rastrum::plan::layout;
use rastrum::raster::mosaic::assemble;
use rastrum::raster::output::WriteOptions;
use rastrum::{run, RunOptions};

fn window_of(path: &Path) -> serde_json::Value {
    let ds = gdal::Dataset::open(path).unwrap();
    serde_json::from_str(&ds.metadata_item("RASTRUM_WINDOW", "").expect("window metadata")).unwrap()
}

/// Runs `opts` whole, then in blocks of `bx` x `by` tiles; checks every block against the whole
/// run and the assembled VRT and GeoTIFF against it, for each output (`suffixes`).
fn check_windows(model: &Model, input: &Path, opts: &RunOptions, blocks: &[(usize, usize)], suffixes: &[&str]) {
    let dir = tmp();
    let whole = dir.path().join("whole.tif");
    let summary = run(model, input, &whole, opts, &mut |_, _| true).unwrap();
    let l = layout(model, input, opts).unwrap();
    assert_eq!((l.width, l.height), (summary.width, summary.height));
    assert_eq!([l.tile_columns, l.tile_rows], summary.tile_grid);
    // The columns' and rows' owned spans partition the output.
    for (spans, len) in [(&l.columns, l.width), (&l.rows, l.height)] {
        assert_eq!(spans[0][0], 0);
        assert_eq!(spans.last().unwrap()[1], len);
        assert!(spans.windows(2).all(|p| p[0][1] == p[1][0]));
    }
    let named = |stem: &Path, suffix: &str| PathBuf::from(format!("{}{suffix}.tif", stem.with_extension("").display()));
    for &(bx, by) in blocks {
        let mut parts: Vec<PathBuf> = Vec::new();
        let mut tiles_run = 0;
        for row in (0..l.tile_rows).step_by(by) {
            for col in (0..l.tile_columns).step_by(bx) {
                let w = TileWindow { col, row, cols: bx.min(l.tile_columns - col), rows: by.min(l.tile_rows - row) };
                let part = dir.path().join(format!("w_{bx}x{by}_{col}_{row}.tif"));
                let o = RunOptions { window: Some(w), ..opts.clone() };
                let s = run(model, input, &part, &o, &mut |_, _| true).unwrap();
                tiles_run += s.tiles_run + s.tiles_skipped;
                let at = s.window.clone().expect("placement");
                assert_eq!((at.x, at.y), (l.columns[col][0], l.rows[row][0]));
                assert_eq!(
                    (s.width, s.height),
                    (l.columns[col + w.cols - 1][1] - at.x, l.rows[row + w.rows - 1][1] - at.y)
                );
                for suffix in suffixes {
                    let p = named(&part, suffix);
                    assert_eq!(window_of(&p)["x"], at.x);
                    let expect = contents(&named(&whole, suffix), Some((at.x, at.y, s.width, s.height)));
                    assert!(expect == contents(&p, None), "window {w:?} ({suffix}) differs from the whole run");
                }
                parts.push(part);
            }
        }
        // Halos: blending needs neighbouring tiles, so windows run at least every tile once.
        assert!(tiles_run >= summary.tiles_run + summary.tiles_skipped);
        for suffix in suffixes {
            let files: Vec<PathBuf> = parts.iter().map(|p| named(p, suffix)).collect();
            let want = contents(&named(&whole, suffix), None);
            for out in [format!("joined_{bx}x{by}{suffix}.vrt"), format!("joined_{bx}x{by}{suffix}.tif")] {
                let out = dir.path().join(out);
                assemble(&files, &out, &WriteOptions::default()).unwrap();
                assert!(contents(&out, None) == want, "{} differs from the whole run", out.display());
                let (a, b) = (gdal::Dataset::open(&out).unwrap(), gdal::Dataset::open(named(&whole, suffix)).unwrap());
                assert_eq!(a.geo_transform().unwrap(), b.geo_transform().unwrap());
                assert_eq!(a.projection(), b.projection());
                assert!(a.metadata_item("RASTRUM_WINDOW", "").is_none());
                let names = |d: &gdal::Dataset| unsafe {
                    let p = gdal_sys::GDALGetRasterCategoryNames(d.rasterband(1).unwrap().c_rasterband());
                    !p.is_null()
                };
                assert_eq!(names(&a), names(&b), "class names");
            }
        }
    }
}

#[test]
fn convolution_windows_equal_the_whole_run_in_both_stitch_modes() {
    let dir = tmp();
    let input = landsat_rgb_vrt(dir.path());
    let model_path = dir.path().join("conv.onnx");
    conv_model(&model_path);
    let model = load(&model_path);
    // No margin: the tiles disagree near their edges (zero padding inside the model), so
    // blending really mixes neighbours and a window must run them all.
    for stitch in [StitchMode::Blend, StitchMode::Crop] {
        let opts = RunOptions {
            bands: Some(vec![3]),
            scale: Some(vec![1e-4]),
            tile_size: Some(96),
            overlap: Some(20),
            margin: Some(0),
            stitch: Some(stitch),
            ..Default::default()
        };
        check_windows(&model, &input, &opts, &[(1, 1), (2, 3), (4, 4)], &[""]);
    }
}

#[test]
fn super_resolution_windows_equal_the_whole_run() {
    let model = load(&data("super_resolution/super-resolution-10.onnx"));
    let opts = RunOptions { overlap: Some(16), margin: Some(4), ..super_resolution_of_landsat() };
    check_windows(&model, &data("landsat8_l1_b2_b7/l8_B4.tif"), &opts, &[(1, 1), (3, 2)], &[""]);
}

#[test]
fn class_windows_with_probabilities_equal_the_whole_run() {
    let dir = tmp();
    let model_path = dir.path().join("threshold.onnx");
    threshold_model(&model_path);
    let model = load(&model_path);
    let opts = RunOptions {
        bands: Some(vec![2]),
        scale: Some(vec![1.0 / 255.0]),
        tile_size: Some(100),
        overlap: Some(30),
        probabilities: true,
        probability_bands: true,
        ..Default::default()
    };
    check_windows(&model, &data("rasterio/rasterio_RGB.byte.tif"), &opts, &[(2, 2)], &["", "_probabilities"]);
}

#[test]
fn per_tile_windows_equal_the_whole_run() {
    let input = data("rasterio/rasterio_RGB.byte.tif");
    let dir = tmp();
    let model_path = dir.path().join("tile_mean.onnx");
    tile_mean_model(&model_path, 32);
    let model = load(&model_path);
    let opts = RunOptions { overlap: Some(12), probabilities: true, ..Default::default() };
    check_windows(&model, &input, &opts, &[(5, 7)], &["", "_probabilities"]);

    let model_path = dir.path().join("tile_sum.onnx");
    tile_sum_model(&model_path, 32);
    let model = load(&model_path);
    let opts = redistribution_by_light();
    check_windows(&model, &input, &opts, &[(3, 4)], &[""]);
}

#[test]
fn bad_windows_and_window_sets_are_refused() {
    let dir = tmp();
    let input = data("rasterio/rasterio_RGB.byte.tif");
    let model_path = dir.path().join("threshold.onnx");
    threshold_model(&model_path);
    let model = load(&model_path);
    let base = RunOptions { bands: Some(vec![2]), tile_size: Some(256), overlap: Some(32), ..Default::default() };
    let l = layout(&model, &input, &base).unwrap();
    let (nx, ny) = (l.tile_columns, l.tile_rows);
    assert!(nx >= 2 && ny >= 2, "{nx} x {ny}");

    // Past the grid: named with the grid's size; nothing written.
    let out = dir.path().join("bad.tif");
    let w = TileWindow { col: nx - 1, row: 0, cols: 2, rows: 1 };
    let err = run(&model, &input, &out, &RunOptions { window: Some(w), ..base.clone() }, &mut |_, _| true)
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("{nx} x {ny} tiles")), "{err}");
    assert!(!out.exists());
    // Malformed text.
    let mut o = RunOptions::default();
    for bad in ["1,2,3", "0,0,0,1", "a,b,c,d", "-1,0,1,1"] {
        let err = o.set("window", bad).unwrap_err().to_string();
        assert!(err.contains("window"), "{bad}: {err}");
    }
    o.set("window", "1, 0, 1, 2").unwrap();
    assert_eq!(o.window, Some(TileWindow { col: 1, row: 0, cols: 1, rows: 2 }));

    // Windows: the left column of tiles, then the rest.
    let left = dir.path().join("left.tif");
    let right = dir.path().join("right.tif");
    let w = |col, cols| Some(TileWindow { col, row: 0, cols, rows: ny });
    run(&model, &input, &left, &RunOptions { window: w(0, 1), ..base.clone() }, &mut |_, _| true).unwrap();
    run(&model, &input, &right, &RunOptions { window: w(1, nx - 1), ..base.clone() }, &mut |_, _| true).unwrap();
    let joined = dir.path().join("joined.tif");
    let write = WriteOptions::default();

    let err = assemble(std::slice::from_ref(&left), &joined, &write).unwrap_err().to_string();
    assert!(err.contains("windows are missing") && err.contains(&format!("{} x {}", l.width, l.height)), "{err}");
    let err = assemble(&[left.clone(), right.clone(), left.clone()], &joined, &write).unwrap_err().to_string();
    assert!(err.contains("overlaps"), "{err}");
    let err = assemble(&[], &joined, &write).unwrap_err().to_string();
    assert!(err.contains("no window files"), "{err}");
    // A whole run's output is no window.
    let whole = dir.path().join("whole.tif");
    run(&model, &input, &whole, &base, &mut |_, _| true).unwrap();
    let err = assemble(&[whole.clone(), right.clone()], &joined, &write).unwrap_err().to_string();
    assert!(err.contains("RASTRUM_WINDOW") && err.contains("whole.tif"), "{err}");
    // A window of another run (other tiles, so another grid).
    let other = dir.path().join("other.tif");
    let o = RunOptions {
        tile_size: Some(128),
        window: Some(TileWindow { col: 0, row: 0, cols: 1, rows: 1 }),
        ..base.clone()
    };
    run(&model, &input, &other, &o, &mut |_, _| true).unwrap();
    let err = assemble(&[left.clone(), other], &joined, &write);
    assert!(err.is_err());
    // A COG is a GeoTIFF, never a VRT.
    let err = assemble(
        &[left.clone(), right.clone()],
        &dir.path().join("x.vrt"),
        &WriteOptions { cog: true, ..write.clone() },
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("VRT"), "{err}");
    assert!(!joined.exists(), "a refused assembly leaves nothing");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("rastrum-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // The right set works, as a COG too.
    assemble(&[right, left], &joined, &WriteOptions { cog: true, ..write }).unwrap();
    assert!(contents(&joined, None) == contents(&whole, None));
}

#[test]
fn the_cli_runs_windows_prints_the_plan_and_assembles() {
    let dir = tmp();
    let input = data("landsat8_l1_b2_b7/l8_B4.tif");
    let model = data("super_resolution/super-resolution-10.onnx");
    let args = ["--task", "super_resolution", "--scale", "2e-5", "--offset", "-0.1", "--overlap", "16", "-q"];
    let whole = dir.path().join("whole.tif");
    assert!(cli().arg("run").arg(&model).arg(&input).arg(&whole).args(args).status().unwrap().success());
    let out = cli()
        .arg("run")
        .arg(&model)
        .arg(&input)
        .arg(dir.path().join("x.tif"))
        .args(args)
        .arg("--plan")
        .output()
        .unwrap();
    assert!(out.status.success());
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!dir.path().join("x.tif").exists(), "--plan writes nothing");
    let (nx, ny) = (plan["tile_columns"].as_u64().unwrap(), plan["tile_rows"].as_u64().unwrap());
    let mut parts = Vec::new();
    for row in 0..ny {
        let part = dir.path().join(format!("row{row}.tif"));
        let st = cli()
            .arg("run")
            .arg(&model)
            .arg(&input)
            .arg(&part)
            .args(args)
            .args(["--window", &format!("0,{row},{nx},1")])
            .status()
            .unwrap();
        assert!(st.success());
        parts.push(part);
    }
    let joined = dir.path().join("joined.vrt");
    let st = cli().arg("assemble").arg(&joined).args(&parts).status().unwrap();
    assert!(st.success());
    assert!(contents(&joined, None) == contents(&whole, None));
    let out = cli().arg("assemble").arg(dir.path().join("j2.tif")).arg(&parts[0]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("windows are missing"));
}

#[test]
fn windows_of_a_cropped_and_resampled_input_equal_the_whole_run() {
    let dir = tmp();
    let input = landsat_rgb_vrt(dir.path());
    let model_path = dir.path().join("conv.onnx");
    conv_model(&model_path);
    let model = load(&model_path);
    let gt = geo_transform(&input);
    // An extent off the pixel grid, then GDAL's warper to 45 m (the input is 30 m).
    let extent = [gt[0] + 20.3 * gt[1], gt[3] + 580.7 * gt[5], gt[0] + 600.2 * gt[1], gt[3] + 10.5 * gt[5]];
    let opts = RunOptions {
        bands: Some(vec![2]),
        scale: Some(vec![1e-4]),
        tile_size: Some(80),
        overlap: Some(16),
        extent: Some(extent),
        resolution: rastrum::Resolution::Cm(4500.0),
        resampling: "bilinear".into(),
        ..Default::default()
    };
    check_windows(&model, &input, &opts, &[(1, 1), (2, 3)], &[""]);
}

#[test]
fn an_assembled_vrt_moves_with_its_folder() {
    let dir = tmp();
    let model = load(&data("super_resolution/super-resolution-10.onnx"));
    let input = data("landsat8_l1_b2_b7/l8_B4.tif");
    let opts = RunOptions { overlap: Some(16), ..super_resolution_of_landsat() };
    let whole = dir.path().join("whole.tif");
    run(&model, &input, &whole, &opts, &mut |_, _| true).unwrap();
    let l = layout(&model, &input, &opts).unwrap();
    let run_dir = dir.path().join("run");
    std::fs::create_dir_all(run_dir.join("parts")).unwrap();
    let parts: Vec<PathBuf> = (0..l.tile_rows)
        .map(|row| {
            let part = run_dir.join("parts").join(format!("row{row}.tif"));
            let w = TileWindow { col: 0, row, cols: l.tile_columns, rows: 1 };
            run(&model, &input, &part, &RunOptions { window: Some(w), ..opts.clone() }, &mut |_, _| true).unwrap();
            part
        })
        .collect();
    assemble(&parts, &run_dir.join("out.vrt"), &WriteOptions::default()).unwrap();
    let text = std::fs::read_to_string(run_dir.join("out.vrt")).unwrap();
    assert!(text.contains(r#"<SourceFilename relativeToVRT="1">parts/row0.tif</SourceFilename>"#), "{text}");
    // Moved elsewhere, the VRT still finds its windows.
    let moved = dir.path().join("moved");
    std::fs::rename(&run_dir, &moved).unwrap();
    assert!(contents(&moved.join("out.vrt"), None) == contents(&whole, None));
}
