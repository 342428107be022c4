//! Outputs of a raster without geotransform nor GCPs keep their pixel relation to it (issue 22,
//! item 6). GDAL puts such a raster on the pixel grid (0, 1, 0, 0, 0, 1); an output on another
//! grid (x3 super-resolution, a per-tile grid, a window away from the corner) gets the
//! geotransform derived from it, and an output on the very same grid stays without one. The
//! expected numbers are computed here from the model's geometry; `gdaltransform` then checks
//! that GDAL maps an output pixel's centre into the input pixel whose value it holds.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use gdal::Dataset;
use rastrum::card::TileWindow;
use rastrum::plan::layout;
use rastrum::{run, RunOptions};

/// `bands` bands of `w` x `h` pixels, no geotransform, no GCPs: band b holds 1 + (7i + 31b) % 250.
fn bare_raster(path: &Path, w: usize, h: usize, bands: usize) -> PathBuf {
    let driver = gdal::DriverManager::get_driver_by_name("GTiff").unwrap();
    let ds = driver.create_with_band_type::<u8, _>(path, w, h, bands).unwrap();
    for b in 0..bands {
        let data: Vec<u8> = (0..w * h).map(|i| (1 + (i * 7 + b * 31) % 250) as u8).collect();
        let mut buf = gdal::raster::Buffer::new((w, h), data);
        ds.rasterband(b + 1).unwrap().write((0, 0), (w, h), &mut buf).unwrap();
    }
    drop(ds);
    assert!(Dataset::open(path).unwrap().geo_transform().is_err(), "the test input must have no geotransform");
    path.to_path_buf()
}

/// x3 super-resolution by nearest-neighbour upsampling, one band.
fn x3_model(path: &Path) -> rastrum::Model {
    upsample3_model(path);
    load(path)
}

/// The output geotransform's numbers, or None when the file has none.
fn gt_of(path: &Path) -> Option<[f64; 6]> {
    Dataset::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).geo_transform().ok()
}

/// Where GDAL's own transformer (`gdaltransform`) puts output pixel (u, v)'s centre: with the
/// input on GDAL's pixel grid, these are input pixel coordinates.
fn gdal_centre(output: &Path, u: usize, v: usize) -> (f64, f64) {
    let mut child = Command::new("gdaltransform")
        .arg(output)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gdaltransform (GDAL's command-line tools) must be installed");
    use std::io::Write;
    writeln!(child.stdin.take().unwrap(), "{} {}", u as f64 + 0.5, v as f64 + 0.5).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let xy: Vec<f64> = text.split_whitespace().take(2).map(|s| s.parse().unwrap()).collect();
    assert_eq!(xy.len(), 2, "gdaltransform printed {text:?}");
    (xy[0], xy[1])
}

#[test]
fn a_x3_super_resolution_of_a_raster_without_geotransform_is_on_its_pixel_grid_divided_by_3() {
    let dir = tmp();
    let input = bare_raster(&dir.path().join("in.tif"), 20, 15, 1);
    let model = x3_model(&dir.path().join("x3.onnx"));
    let out = dir.path().join("sr.tif");
    run(&model, &input, &out, &RunOptions { tile_size: Some(16), ..Default::default() }, &mut |_, _| true).unwrap();
    let (w, h, got) = read_band(&out, 1);
    assert_eq!((w, h), (60, 45));
    // Output pixel u is input pixel u / 3 on GDAL's pixel grid (0, 1, 0, 0, 0, 1).
    let third = 1.0 / 3.0;
    assert_eq!(gt_of(&out), Some([0.0, third, 0.0, 0.0, 0.0, third]));
    let (_, _, source) = read_band(&input, 1);
    for (u, v) in [(0, 0), (4, 7), (59, 44), (31, 20)] {
        let (x, y) = gdal_centre(&out, u, v);
        let (col, row) = (x.floor() as usize, y.floor() as usize);
        assert_eq!((col, row), (u / 3, v / 3), "output pixel ({u}, {v}) centre at ({x}, {y})");
        assert_eq!(got[v * w + u], source[row * 20 + col], "output pixel ({u}, {v})");
    }
}

#[test]
fn a_per_tile_class_map_of_a_raster_without_geotransform_is_on_the_stride_grid() {
    let dir = tmp();
    // Tiles of 16 with an overlap of 4: stride 12, and each cell is the 12 x 12 block centred
    // on its tile, so cell (i, j) starts at input pixel (2 + 12 i, 2 + 12 j). 64 = 16 + 4 x 12.
    let (tile, overlap) = (16usize, 4usize);
    let stride = tile - overlap;
    let input = bare_raster(&dir.path().join("in.tif"), 64, 52, 3);
    let model_path = dir.path().join("mean.onnx");
    tile_mean_model(&model_path, tile as i64);
    let model = load(&model_path);
    let out = dir.path().join("classes.tif");
    let opts = RunOptions { tile_size: Some(tile), overlap: Some(overlap), ..Default::default() };
    run(&model, &input, &out, &opts, &mut |_, _| true).unwrap();
    let ds = Dataset::open(&out).unwrap();
    let (cols, rows) = ds.raster_size();
    assert_eq!((cols, rows), ((64 - tile) / stride + 1, (52 - tile) / stride + 1));
    let half = (tile - stride) as f64 / 2.0;
    let s = stride as f64;
    assert_eq!(gt_of(&out), Some([half, s, 0.0, half, 0.0, s]));
    // Each cell's centre lies at its tile's centre, and GDAL says so.
    for (i, j) in [(0, 0), (1, 2), (cols - 1, rows - 1)] {
        let (x, y) = gdal_centre(&out, i, j);
        let centre = |k: usize| (k * stride) as f64 + tile as f64 / 2.0;
        assert!((x - centre(i)).abs() < 1e-9 && (y - centre(j)).abs() < 1e-9, "cell ({i}, {j}) at ({x}, {y})");
    }
}

#[test]
fn windows_of_a_raster_without_geotransform_sit_at_their_offset_and_the_corner_one_stays_bare() {
    let dir = tmp();
    let input = bare_raster(&dir.path().join("in.tif"), 50, 40, 1);
    let model_path = dir.path().join("identity.onnx");
    identity_model(&model_path, 1, &[]);
    let model = load(&model_path);
    let opts = RunOptions { tile_size: Some(16), ..Default::default() };
    let whole = dir.path().join("whole.tif");
    run(&model, &input, &whole, &opts, &mut |_, _| true).unwrap();
    // The same pixel grid as its input: no geotransform, as the input.
    assert_eq!(gt_of(&whole), None);
    let l = layout(&model, &input, &opts).unwrap();
    let (_, _, source) = read_band(&input, 1);
    for (col, row) in [(0, 0), (1, 1), (l.tile_columns - 1, 0)] {
        let part = dir.path().join(format!("w{col}_{row}.tif"));
        let o = RunOptions { window: Some(TileWindow { col, row, cols: 1, rows: 1 }), ..opts.clone() };
        let s = run(&model, &input, &part, &o, &mut |_, _| true).unwrap();
        let (x, y) = (l.columns[col][0], l.rows[row][0]);
        let expected = ((x, y) != (0, 0)).then_some([x as f64, 1.0, 0.0, y as f64, 0.0, 1.0]);
        assert_eq!(gt_of(&part), expected, "window {col},{row}");
        let (w, _, got) = read_band(&part, 1);
        assert_eq!((w, s.width), (s.width, l.columns[col][1] - x));
        if expected.is_some() {
            let (u, v) = (w - 1, 0);
            let (gx, gy) = gdal_centre(&part, u, v);
            assert_eq!((gx.floor() as usize, gy.floor() as usize), (x + u, y + v));
        }
        for (i, value) in got.iter().enumerate() {
            let (u, v) = (i % w, i / w);
            assert_eq!(*value, source[(y + v) * 50 + x + u], "window {col},{row} pixel ({u}, {v})");
        }
    }
}

#[test]
fn a_window_of_a_x3_super_resolution_composes_both_grids() {
    let dir = tmp();
    let input = bare_raster(&dir.path().join("in.tif"), 40, 20, 1);
    let model = x3_model(&dir.path().join("x3.onnx"));
    let opts = RunOptions { tile_size: Some(16), ..Default::default() };
    let l = layout(&model, &input, &opts).unwrap();
    let part = dir.path().join("w.tif");
    let o = RunOptions { window: Some(TileWindow { col: 1, row: 0, cols: 1, rows: 1 }), ..opts.clone() };
    run(&model, &input, &part, &o, &mut |_, _| true).unwrap();
    // Output pixel x of the whole run is input pixel x / 3.
    let x = l.columns[1][0];
    let third = 1.0 / 3.0;
    assert!(x > 0);
    let gt = gt_of(&part).expect("a window of a super-resolution has a geotransform");
    let expected = [x as f64 * third, third, 0.0, 0.0, 0.0, third];
    assert!(gt.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-12), "{gt:?} != {expected:?}");
    let (gx, _) = gdal_centre(&part, 0, 0);
    assert_eq!(gx.floor() as usize, x / 3);
}

#[test]
fn an_input_georeferenced_by_gcps_gets_no_geotransform_from_the_pixel_grid() {
    let dir = tmp();
    let input = bare_raster(&dir.path().join("in.tif"), 20, 15, 1);
    {
        let ds = Dataset::open_ex(
            &input,
            gdal::DatasetOptions { open_flags: gdal::GdalOpenFlags::GDAL_OF_UPDATE, ..Default::default() },
        )
        .unwrap();
        let gcp = |pixel: f64, line: f64| gdal::Gcp {
            id: String::new(),
            info: String::new(),
            pixel,
            line,
            x: 10.0 + pixel / 100.0,
            y: 50.0 - line / 100.0,
            z: 0.0,
        };
        let srs = gdal::spatial_ref::SpatialRef::from_epsg(4326).unwrap();
        ds.set_gcps(vec![gcp(0.0, 0.0), gcp(20.0, 0.0), gcp(0.0, 15.0), gcp(20.0, 15.0)], &srs).unwrap();
    }
    let model = x3_model(&dir.path().join("x3.onnx"));
    let out = dir.path().join("sr.tif");
    run(&model, &input, &out, &RunOptions { tile_size: Some(16), ..Default::default() }, &mut |_, _| true).unwrap();
    assert_eq!(gt_of(&out), None, "GCPs win: no geotransform from the pixel grid");
    let ds = Dataset::open(&out).unwrap();
    let gcps = ds.gcps();
    assert_eq!(gcps.len(), 4);
    // The GCP at input pixel (20, 15) sits at output pixel (60, 45).
    assert!(gcps.iter().any(|g| g.pixel() == 60.0 && g.line() == 45.0), "{gcps:?}");

    // Its windows carry GCPs of their own: joining them is refused, naming why.
    let mut parts = Vec::new();
    for col in 0..2 {
        let part = dir.path().join(format!("w{col}.tif"));
        let o = RunOptions {
            tile_size: Some(16),
            window: Some(TileWindow { col, row: 0, cols: 1, rows: 1 }),
            ..Default::default()
        };
        run(&model, &input, &part, &o, &mut |_, _| true).unwrap();
        parts.push(part);
    }
    let e = rastrum::raster::mosaic::assemble(&parts, &dir.path().join("j.tif"), &Default::default()).unwrap_err();
    assert!(e.to_string().contains("georeferenced by GCPs or RPCs"), "{e}");
}

/// Every 1 x 1 window of `model` over `input`, assembled into a VRT and a GeoTIFF: each has the
/// one-pass output's size, geotransform (or none) and pixels.
fn check_assembly(model: &rastrum::Model, input: &Path, dir: &Path) -> Option<[f64; 6]> {
    let opts = RunOptions { tile_size: Some(16), ..Default::default() };
    let whole = dir.join("whole.tif");
    run(model, input, &whole, &opts, &mut |_, _| true).unwrap();
    let l = layout(model, input, &opts).unwrap();
    let mut parts = Vec::new();
    for row in 0..l.tile_rows {
        for col in 0..l.tile_columns {
            let part = dir.join(format!("w{col}_{row}.tif"));
            let o = RunOptions { window: Some(TileWindow { col, row, cols: 1, rows: 1 }), ..opts.clone() };
            run(model, input, &part, &o, &mut |_, _| true).unwrap();
            parts.push(part);
        }
    }
    assert!(parts.len() > 1);
    let (ww, wh, expected) = read_band(&whole, 1);
    for name in ["joined.vrt", "joined.tif"] {
        let joined = dir.join(name);
        rastrum::raster::mosaic::assemble(&parts, &joined, &Default::default())
            .unwrap_or_else(|e| panic!("assembling {name}: {e}"));
        let (w, h, got) = read_band(&joined, 1);
        assert_eq!((w, h), (ww, wh), "{name}");
        assert_eq!(gt_of(&joined), gt_of(&whole), "{name}");
        assert!(got == expected, "{name}: the assembled pixels differ from the one-pass output");
    }
    gt_of(&whole)
}

#[test]
fn windows_of_a_raster_without_geotransform_assemble_to_the_one_pass_output() {
    let dir = tmp();
    let input = bare_raster(&dir.path().join("in.tif"), 50, 40, 1);
    let model_path = dir.path().join("identity.onnx");
    identity_model(&model_path, 1, &[]);
    // Same grid as the input: no geotransform, assembled as such.
    assert_eq!(check_assembly(&load(&model_path), &input, dir.path()), None);

    let dir = tmp();
    let input = bare_raster(&dir.path().join("in.tif"), 40, 20, 1);
    let model = x3_model(&dir.path().join("x3.onnx"));
    // The derived pixel grid (positive y step, which gdalbuildvrt refuses) is kept.
    let third = 1.0 / 3.0;
    assert_eq!(check_assembly(&model, &input, dir.path()), Some([0.0, third, 0.0, 0.0, 0.0, third]));
}
