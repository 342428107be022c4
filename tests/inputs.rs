//! Input handling: every supported data type at its extremes, validity from an alpha band and
//! from a GDAL mask band, GDAL virtual file systems, and resampling to the card's resolution.

mod common;

use std::path::Path;

use common::*;
use gdal::raster::{Buffer, GdalType, RasterCreationOptions};
use gdal::{Dataset, DriverManager};
use rastrum::{run, RunOptions};

fn write_raster<T: GdalType + Copy>(path: &Path, w: usize, h: usize, bands: &[Vec<T>], options: &[&str]) {
    let driver = DriverManager::get_driver_by_name("GTiff").unwrap();
    let co = RasterCreationOptions::from_iter(options.iter().copied());
    let mut ds = driver.create_with_band_type_with_options::<T, _>(path, w, h, bands.len(), &co).unwrap();
    ds.set_geo_transform(&[1000.0, 10.0, 0.0, 5000.0, 0.0, -10.0]).unwrap();
    for (i, data) in bands.iter().enumerate() {
        let mut b = ds.rasterband(i + 1).unwrap();
        let mut buf = Buffer::new((w, h), data.clone());
        b.write((0, 0), (w, h), &mut buf).unwrap();
    }
}

/// Values spanning the type: its minimum, maximum, zero, one and a ramp between.
fn extremes(min: f64, max: f64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| match i % 7 {
            0 => min,
            1 => max,
            2 => 0.0,
            3 => 1.0,
            // min (1 - t) + max t stays finite even for f64's full range
            _ => min * (1.0 - i as f64 / n as f64) + max * (i as f64 / n as f64),
        })
        .collect()
}

macro_rules! dtype_case {
    ($t:ty, $dir:expr, $model:expr) => {{
        let (w, h) = (83usize, 61usize);
        let vals = extremes(<$t>::MIN as f64, <$t>::MAX as f64, w * h);
        let data: Vec<$t> = vals.iter().map(|v| *v as $t).collect();
        let path = $dir.join(format!("{}.tif", stringify!($t)));
        write_raster::<$t>(&path, w, h, std::slice::from_ref(&data), &[]);
        let out = $dir.join(format!("{}_out.tif", stringify!($t)));
        let opts = RunOptions { tile_size: Some(32), overlap: Some(5), ..Default::default() };
        run($model, &path, &out, &opts, &mut |_, _| true).unwrap_or_else(|e| panic!("{}: {e}", stringify!($t)));
        let (_, _, got) = read_band(&out, 1);
        for (i, v) in data.iter().enumerate() {
            // What f32 holds comes back as f32; beyond its range (float64's extremes): nodata.
            let f = (*v as f64) as f32;
            let want = if f.is_finite() { f as f64 } else { -9999.0 };
            assert_eq!(got[i], want, "{} pixel {i}", stringify!($t));
        }
    }};
}

#[test]
fn every_data_type_is_read_at_its_extremes() {
    let dir = tmp();
    let model_path = dir.path().join("identity.onnx");
    identity_model(&model_path, 1, &[]);
    let model = load(&model_path);
    let d = dir.path();
    dtype_case!(u8, d, &model);
    dtype_case!(u16, d, &model);
    dtype_case!(i16, d, &model);
    dtype_case!(u32, d, &model);
    dtype_case!(i32, d, &model);
    dtype_case!(f32, d, &model);
    dtype_case!(f64, d, &model);
}

#[test]
fn non_finite_input_pixels_are_nodata() {
    let dir = tmp();
    let model_path = dir.path().join("identity.onnx");
    identity_model(&model_path, 1, &[]);
    let model = load(&model_path);
    let (w, h) = (40, 30);
    let mut data: Vec<f32> = (0..w * h).map(|i| i as f32).collect();
    data[5] = f32::NAN;
    data[77] = f32::INFINITY;
    data[300] = f32::NEG_INFINITY;
    let path = dir.path().join("nan.tif");
    write_raster::<f32>(&path, w, h, std::slice::from_ref(&data), &[]);
    let out = dir.path().join("out.tif");
    run(&model, &path, &out, &RunOptions { tile_size: Some(16), ..Default::default() }, &mut |_, _| true).unwrap();
    let (_, _, got) = read_band(&out, 1);
    for (i, v) in data.iter().enumerate() {
        let want = if v.is_finite() { *v as f64 } else { -9999.0 };
        assert_eq!(got[i], want, "pixel {i}");
    }
}

#[test]
fn alpha_band_and_mask_band_mark_invalid_pixels() {
    let dir = tmp();
    let model_path = dir.path().join("identity.onnx");
    identity_model(&model_path, 3, &[]);
    let model = load(&model_path);
    let (w, h) = (70, 50);
    let rgb: Vec<Vec<u8>> = (0..3).map(|b| (0..w * h).map(|i| ((i * (b + 3)) % 250 + 1) as u8).collect()).collect();
    let transparent = |i: usize| (i % w) < 20 && (i / w) < 25;

    // RGBA with an alpha band.
    let alpha: Vec<u8> = (0..w * h).map(|i| if transparent(i) { 0 } else { 255 }).collect();
    let rgba = dir.path().join("rgba.tif");
    let mut bands = rgb.clone();
    bands.push(alpha);
    write_raster::<u8>(&rgba, w, h, &bands, &["PHOTOMETRIC=RGB", "ALPHA=YES"]);

    // RGB with an internal per-dataset mask band.
    let masked = dir.path().join("masked.tif");
    write_raster::<u8>(&masked, w, h, &rgb, &[]);
    {
        let ds = Dataset::open_ex(
            &masked,
            gdal::DatasetOptions { open_flags: gdal::GdalOpenFlags::GDAL_OF_UPDATE, ..Default::default() },
        )
        .unwrap();
        let mut band = ds.rasterband(1).unwrap();
        band.create_mask_band(true).unwrap();
        let mut mask = band.open_mask_band().unwrap();
        let m: Vec<u8> = (0..w * h).map(|i| if transparent(i) { 0 } else { 255 }).collect();
        let mut buf = Buffer::new((w, h), m);
        mask.write((0, 0), (w, h), &mut buf).unwrap();
    }

    for input in [&rgba, &masked] {
        let out = dir.path().join("out.tif");
        let opts = RunOptions { bands: Some(vec![1, 2, 3]), tile_size: Some(32), ..Default::default() };
        run(&model, input, &out, &opts, &mut |_, _| true).unwrap();
        for (b, band) in rgb.iter().enumerate() {
            let (_, _, got) = read_band(&out, b + 1);
            for i in 0..w * h {
                let want = if transparent(i) { -9999.0 } else { band[i] as f64 };
                assert_eq!(got[i], want, "{} band {b} pixel {i}", input.display());
            }
        }
        std::fs::remove_file(&out).unwrap();
    }
}

#[test]
fn gdal_virtual_file_systems_are_inputs() {
    let dir = tmp();
    let model_path = dir.path().join("pointwise.onnx");
    pointwise_model(&model_path);
    let model = load(&model_path);
    let src = Dataset::open(data("rasterio/rasterio_RGB.byte.tif")).unwrap();
    let driver = DriverManager::get_driver_by_name("GTiff").unwrap();
    let vsi = Path::new("/vsimem/rastrum-test/rgb.tif");
    src.create_copy(&driver, vsi, &RasterCreationOptions::new()).unwrap().close().unwrap();
    let out = dir.path().join("out.tif");
    let summary =
        run(&model, vsi, &out, &RunOptions { tile_size: Some(256), ..Default::default() }, &mut |_, _| true).unwrap();
    assert_eq!((summary.width, summary.height), (791, 718));
    let (_, _, a) = read_band(&data("rasterio/rasterio_RGB.byte.tif"), 1);
    let (_, _, b) = read_band(&data("rasterio/rasterio_RGB.byte.tif"), 2);
    let (_, _, c) = read_band(&data("rasterio/rasterio_RGB.byte.tif"), 3);
    let (_, _, got) = read_band(&out, 2);
    for i in 0..a.len() {
        if a[i] != 0.0 && b[i] != 0.0 && c[i] != 0.0 {
            assert_eq!(got[i], pointwise(a[i] as f32, b[i] as f32, c[i] as f32)[1] as f64);
        }
    }
}

#[test]
fn input_is_resampled_to_the_cards_resolution() {
    let dir = tmp();
    let model_path = dir.path().join("identity.onnx");
    identity_model(&model_path, 3, &[("resolution", "60000")]);
    let model = load(&model_path);
    let input = data("rasterio/rasterio_RGB.byte.tif");
    let out = dir.path().join("out.tif");
    let summary =
        run(&model, &input, &out, &RunOptions { tile_size: Some(128), ..Default::default() }, &mut |_, _| true)
            .unwrap();
    assert!(summary.resampled);

    // The same resampling by GDAL's own gdal_translate.
    let want_path = dir.path().join("gdal.tif");
    let status = std::process::Command::new("gdal_translate")
        .args(["-q", "-tr", "600", "600", "-r", "average"])
        .arg(&input)
        .arg(&want_path)
        .status()
        .expect("gdal_translate (Debian gdal-bin)");
    assert!(status.success());
    assert_eq!(geo_transform(&out), geo_transform(&want_path));
    let want: Vec<Vec<f64>> = (1..=3).map(|b| read_band(&want_path, b).2).collect();
    let valid = |i: usize| want.iter().all(|band| band[i] != 0.0);
    for b in 1..=3 {
        let (w, h, _) = read_band(&want_path, b);
        let (ow, oh, got) = read_band(&out, b);
        assert_eq!((ow, oh), (w, h));
        for i in 0..w * h {
            let expected = if valid(i) { want[b - 1][i] } else { -9999.0 };
            assert_eq!(got[i], expected, "band {b} pixel {i}");
        }
    }
    // --resolution native turns it off.
    let opts = RunOptions { tile_size: Some(128), resolution: rastrum::Resolution::Native, ..Default::default() };
    let summary = run(&model, &input, &out, &opts, &mut |_, _| true).unwrap();
    assert!(!summary.resampled && summary.width == 791);
}

#[test]
fn a_polygon_mask_limits_the_run_and_skips_tiles_outside() {
    let dir = tmp();
    let model_path = dir.path().join("pointwise.onnx");
    pointwise_model(&model_path);
    let model = load(&model_path);
    let input = data("rasterio/rasterio_RGB.byte.tif");
    let gt = geo_transform(&input);
    // A rectangle over columns 200..500 and rows 100..400 (pixel edges), in the raster's CRS.
    let (x0, x1) = (gt[0] + 200.0 * gt[1], gt[0] + 500.0 * gt[1]);
    let (y0, y1) = (gt[3] + 100.0 * gt[5], gt[3] + 400.0 * gt[5]);
    let mask = dir.path().join("area.geojson");
    std::fs::write(
        &mask,
        format!(
            r#"{{"type": "FeatureCollection", "crs": {{"type": "name", "properties": {{"name": "urn:ogc:def:crs:EPSG::32618"}}}},
            "features": [{{"type": "Feature", "properties": {{}}, "geometry": {{"type": "Polygon",
            "coordinates": [[[{x0}, {y0}], [{x1}, {y0}], [{x1}, {y1}], [{x0}, {y1}], [{x0}, {y0}]]]}}}}]}}"#
        ),
    )
    .unwrap();
    let out = dir.path().join("out.tif");
    let opts = RunOptions { tile_size: Some(128), overlap: Some(0), mask: Some(mask), ..Default::default() };
    let summary = run(&model, &input, &out, &opts, &mut |_, _| true).unwrap();

    let bands: Vec<Vec<f64>> = (1..=3).map(|b| read_band(&input, b).2).collect();
    let (w, h, got) = read_band(&out, 1);
    let inside = |x: usize, y: usize| (200..500).contains(&x) && (100..400).contains(&y);
    let valid = |i: usize| inside(i % w, i / w) && bands.iter().all(|b| b[i] != 0.0);
    for i in 0..w * h {
        let want = if valid(i) {
            pointwise(bands[0][i] as f32, bands[1][i] as f32, bands[2][i] as f32)[0] as f64
        } else {
            -9999.0
        };
        assert_eq!(got[i], want, "pixel ({}, {})", i % w, i / w);
    }
    // Tiles of 128 at 0, 128, ..., the last ones moved back to end at the edge.
    let starts = |n: usize| {
        let mut s: Vec<usize> = (0..).map(|k| k * 128).take_while(|p| p + 128 < n).collect();
        s.push(n - 128);
        s
    };
    let (xs, ys) = (starts(w), starts(h));
    let runnable = ys
        .iter()
        .flat_map(|&ty| xs.iter().map(move |&tx| (tx, ty)))
        .filter(|&(tx, ty)| (ty..ty + 128).any(|y| (tx..tx + 128).any(|x| valid(y * w + x))))
        .count();
    assert_eq!(summary.tiles_run, runnable);
    assert_eq!(summary.tiles_skipped, xs.len() * ys.len() - runnable);
    assert!(summary.tiles_skipped > summary.tiles_run, "most tiles lie outside the mask");
}

#[test]
fn an_extent_selects_the_grid_gdal_translate_would() {
    let dir = tmp();
    let model_path = dir.path().join("identity.onnx");
    identity_model(&model_path, 3, &[]);
    let model = load(&model_path);
    let input = data("rasterio/rasterio_RGB.byte.tif");
    let gt = geo_transform(&input);
    let extent = [gt[0] + 100.3 * gt[1], gt[3] + 600.7 * gt[5], gt[0] + 450.2 * gt[1], gt[3] + 50.5 * gt[5]];
    let out = dir.path().join("out.tif");
    let opts = RunOptions { tile_size: Some(128), extent: Some(extent), ..Default::default() };
    run(&model, &input, &out, &opts, &mut |_, _| true).unwrap();
    let want = dir.path().join("gdal.tif");
    let e = extent.map(|v| v.to_string());
    let status = std::process::Command::new("gdal_translate")
        .args(["-q", "-projwin", &e[0], &e[3], &e[2], &e[1]])
        .arg(&input)
        .arg(&want)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(geo_transform(&out), geo_transform(&want));
    let expected: Vec<Vec<f64>> = (1..=3).map(|b| read_band(&want, b).2).collect();
    let nodata = |i: usize| expected.iter().any(|band| band[i] == 0.0);
    for (b, band) in expected.iter().enumerate() {
        let (ow, oh, got) = read_band(&out, b + 1);
        assert_eq!(ow * oh, band.len());
        for i in 0..band.len() {
            assert_eq!(got[i], if nodata(i) { -9999.0 } else { band[i] }, "band {b} pixel {i}");
        }
    }
    let err = run(
        &model,
        &input,
        &out,
        &RunOptions { extent: Some([0.0, 0.0, 1.0, 1.0]), ..Default::default() },
        &mut |_, _| true,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("extent"), "{err}");
}
