//! Band statistics come from the training split only, skip invalid pixels, and standardise
//! batches the way `rastrum run` standardises tiles; class counts and weights follow the labels.

use gdal::raster::{Buffer, RasterCreationOptions};
use gdal::DriverManager;
use rastrum_train::data::raster::{ChipFilter, ChipTarget, Labels, RasterChips};
use rastrum_train::data::stats::{class_counts, class_weights, BandStats};
use rastrum_train::data::Dataset;

const S: usize = 16;

/// Band 1: x + 100 y (nodata -1 on the first row); band 2: 7 everywhere; band 3: labels
/// (class = x / 8, so the left half is class 0 and the right half class 1).
fn raster(path: &std::path::Path) {
    let driver = DriverManager::get_driver_by_name("GTiff").unwrap();
    let ds = driver.create_with_band_type_with_options::<f32, _>(path, S, S, 3, &RasterCreationOptions::new()).unwrap();
    let b1: Vec<f32> = (0..S * S).map(|i| if i < S { -1.0 } else { (i % S + 100 * (i / S)) as f32 }).collect();
    let b3: Vec<f32> = (0..S * S).map(|i| ((i % S) / 8) as f32).collect();
    for (b, data) in [b1, vec![7.0; S * S], b3].into_iter().enumerate() {
        let mut band = ds.rasterband(b + 1).unwrap();
        if b == 0 {
            band.set_no_data_value(Some(-1.0)).unwrap();
        }
        band.write((0, 0), (S, S), &mut Buffer::new((S, S), data)).unwrap();
    }
}

#[test]
fn statistics_of_the_training_chips_skip_nodata() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.tif");
    raster(&path);
    let filter = ChipFilter { min_label_sum: None, min_labelled: 1.0 };
    let chips =
        RasterChips::grid(&path, &[1, 2], &[0.5], &[1.0], Labels::Band(3), ChipTarget::PixelClass(None), 8, 8, filter)
            .unwrap();
    assert_eq!(chips.len(), 4);
    // Training split: the two top chips (origins (0, 0) and (8, 0)).
    let train: Vec<usize> = (0..4).filter(|&i| chips.origins[i].1 == 0).collect();
    let stats = BandStats::compute(&chips, &train, 100).unwrap();
    // Independent expectation: rows 1..8 of band 1 (row 0 is nodata), in units 0.5 raw + 1.
    let v: Vec<f64> = (1..8).flat_map(|y| (0..16).map(move |x| 0.5 * (x + 100 * y) as f64 + 1.0)).collect();
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let std = (v.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
    assert!((stats.mean[0] - mean).abs() < 1e-9 && (stats.std[0] - std).abs() < 1e-6, "{stats:?} vs {mean} {std}");
    // A constant band keeps std 1 so standardisation stays finite.
    assert_eq!((stats.mean[1], stats.std[1]), (4.5, 1.0));

    // Standardised example: nodata becomes 0 (the mean); valid pixels (v - mean) / std.
    let mut ex = chips.example(train[0]).unwrap();
    assert!(ex.x[0].is_nan());
    stats.apply(&mut ex.x);
    assert_eq!(ex.x[0], 0.0);
    let want = ((0.5 * (3 + 100 * 2) as f64 + 1.0 - mean) / std) as f32;
    assert!((ex.x[2 * 8 + 3] - want).abs() < 1e-5);
    // Labels of nodata input pixels are left out of the loss.
    assert_eq!(ex.y[0], -100.0);

    // Class counts over labelled pixels with valid input: the first row is nodata.
    let counts = class_counts(&chips, &train, 100).unwrap();
    assert_eq!(counts, vec![56, 56]);
    assert_eq!(class_weights(&counts), vec![1.0, 1.0]);
}
