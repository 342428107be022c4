//! Runs evaluated on demand (`lazy`, behind the GDAL driver): any block or rectangle holds the
//! bytes `rastrum run` writes there, for every task; the tile cache keeps neighbouring blocks
//! from running their shared tiles again; threads reading at once get the same values.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::*;
use rastrum::card::StitchMode;
use rastrum::inference::Model;
use rastrum::lazy::{BandValues, LazyRun};
use rastrum::{run, RunOptions};

/// The whole band `b` of a file, as the lazy values' type.
fn file_band(path: &Path, b: usize, is_u8: bool) -> BandValues {
    let (_, _, v) = read_band(path, b);
    if is_u8 {
        BandValues::U8(v.iter().map(|x| *x as u8).collect())
    } else {
        BandValues::F32(v.iter().map(|x| *x as f32).collect())
    }
}

fn crop(v: &BandValues, width: usize, [x, y, w, h]: [usize; 4]) -> BandValues {
    let rows = |i: usize| (y + i) * width + x..(y + i) * width + x + w;
    match v {
        BandValues::U8(a) => BandValues::U8((0..h).flat_map(|i| a[rows(i)].to_vec()).collect()),
        BandValues::F32(a) => BandValues::F32((0..h).flat_map(|i| a[rows(i)].to_vec()).collect()),
    }
}

fn same_bits(a: &BandValues, b: &BandValues) -> bool {
    match (a, b) {
        (BandValues::U8(a), BandValues::U8(b)) => a == b,
        (BandValues::F32(a), BandValues::F32(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
        }
        _ => false,
    }
}

/// Every block, and some odd rectangles, equal the file written by `run`.
fn check(model: Model, input: &Path, opts: &RunOptions) -> Arc<LazyRun> {
    let dir = tmp();
    let out = dir.path().join("whole.tif");
    let summary = run(&model, input, &out, opts, &mut |_, _| true).unwrap();
    let lazy = Arc::new(LazyRun::open(Arc::new(model), input, opts, 256 << 20).unwrap());
    let info = lazy.info();
    assert_eq!((info.width, info.height), (summary.width, summary.height));
    assert_eq!(info.geo_transform, Some(geo_transform(&out)));
    let ds = gdal::Dataset::open(&out).unwrap();
    assert_eq!(info.bands.len(), ds.raster_count());
    let whole: Vec<BandValues> =
        (1..=info.bands.len()).map(|b| file_band(&out, b, info.bands[b - 1].data_type == "u8")).collect();
    for (b, band) in info.bands.iter().enumerate() {
        let file = ds.rasterband(b + 1).unwrap();
        assert_eq!(file.no_data_value(), Some(band.nodata), "band {}", b + 1);
    }
    let (w, h, s) = (info.width, info.height, info.block);
    let mut rects: Vec<[usize; 4]> = Vec::new();
    for y in (0..h).step_by(s) {
        for x in (0..w).step_by(s) {
            rects.push([x, y, s.min(w - x), s.min(h - y)]);
        }
    }
    rects.extend([[0, 0, w, h], [w / 3, h / 5, w / 2, 7], [w - 1, h - 1, 1, 1], [1, 2, 3, h - 2]]);
    for rect in &rects {
        let got = lazy.read(*rect).unwrap();
        for (b, values) in got.iter().enumerate() {
            assert!(same_bits(values, &crop(&whole[b], w, *rect)), "band {} of {rect:?} differs from the file", b + 1);
        }
    }
    // Tiles are cached: reading every block ran each tile about once, not once per block.
    assert!(
        lazy.tiles_run() <= summary.tiles_run + summary.tiles_run / 4 + 4,
        "{} vs {}",
        lazy.tiles_run(),
        summary.tiles_run
    );
    lazy
}

#[test]
fn segmentation_blocks_with_probability_bands_equal_the_file() {
    let model = load(&cloud_model());
    let opts = RunOptions { overlap: Some(64), probability_bands: true, scale: Some(vec![2e-5]), ..Default::default() };
    let dir = tmp();
    let input = dir.path().join("l8.vrt");
    let bands: Vec<gdal::Dataset> =
        (2..=7).map(|b| gdal::Dataset::open(data(&format!("landsat8_l1_b2_b7/l8_B{b}.tif"))).unwrap()).collect();
    let o = gdal::programs::raster::BuildVRTOptions::new(["-separate"]).unwrap();
    drop(gdal::programs::raster::build_vrt(Some(&input), &bands, Some(o)).unwrap());
    let lazy = check(model, &input, &opts);
    let info = lazy.info();
    assert_eq!(info.bands.len(), 4);
    assert_eq!(info.bands[0].categories.len(), 3);
    assert_eq!(info.bands[1].description, "probability of class 0");
}

#[test]
fn super_resolution_and_crop_mode_blocks_equal_the_file() {
    let model = load(&data("super_resolution/super-resolution-10.onnx"));
    let opts = RunOptions { overlap: Some(16), stitch: Some(StitchMode::Crop), ..super_resolution_of_landsat() };
    check(model, &data("landsat8_l1_b2_b7/l8_B4.tif"), &opts);
}

#[test]
fn per_tile_blocks_equal_the_file() {
    let input = data("rasterio/rasterio_RGB.byte.tif");
    let dir = tmp();
    let path = dir.path().join("tile_mean.onnx");
    tile_mean_model(&path, 32);
    check(load(&path), &input, &RunOptions { overlap: Some(12), probability_bands: true, ..Default::default() });
    let path = dir.path().join("tile_sum.onnx");
    tile_sum_model(&path, 32);
    let opts = redistribution_by_light();
    check(load(&path), &input, &opts);
}

#[test]
fn threads_reading_at_once_get_the_same_values() {
    let dir = tmp();
    let input = landsat_rgb_vrt(dir.path());
    let path = dir.path().join("conv.onnx");
    conv_model(&path);
    let opts = RunOptions {
        bands: Some(vec![3]),
        scale: Some(vec![1e-4]),
        tile_size: Some(64),
        overlap: Some(16),
        ..Default::default()
    };
    let lazy = check(load(&path), &input, &opts);
    // A fresh run with a tiny cache: four threads read every block in different orders.
    let model = Arc::new(load(&path));
    let fresh = Arc::new(LazyRun::open(model, &input, &opts, 1 << 20).unwrap());
    let info = fresh.info();
    let blocks: Vec<[usize; 4]> = (0..info.height)
        .step_by(info.block)
        .flat_map(|y| (0..info.width).step_by(info.block).map(move |x| (x, y)))
        .map(|(x, y)| [x, y, info.block.min(info.width - x), info.block.min(info.height - y)])
        .collect();
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let (fresh, lazy, mut blocks) = (fresh.clone(), lazy.clone(), blocks.clone());
            std::thread::spawn(move || {
                if t % 2 == 1 {
                    blocks.reverse();
                }
                for rect in blocks.iter().skip(t) {
                    assert!(*fresh.read(*rect).unwrap() == *lazy.read(*rect).unwrap(), "{rect:?} differs");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn bad_rectangles_and_file_only_options_are_refused() {
    let model = Arc::new(load(&data("super_resolution/super-resolution-10.onnx")));
    let input = data("landsat8_l1_b2_b7/l8_B4.tif");
    let lazy = LazyRun::open(model.clone(), &input, &RunOptions::default(), 1 << 20).unwrap();
    let info = lazy.info();
    let err = lazy.read([info.width - 1, 0, 2, 1]).unwrap_err().to_string();
    assert!(err.contains("outside") && err.contains(&info.width.to_string()), "{err}");
    assert!(lazy.read([0, 0, 0, 1]).is_err());
    for opts in [
        RunOptions { probabilities: true, ..Default::default() },
        RunOptions { mask: Some("x.gpkg".into()), ..Default::default() },
    ] {
        assert!(LazyRun::open(model.clone(), &input, &opts, 1 << 20).is_err());
    }
}
