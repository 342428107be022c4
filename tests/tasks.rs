//! Per-tile tasks on a real raster: classification on the stride grid (values, grid and
//! georeferencing), regression redistributed by light (mass preserved, the exp rule, skipped
//! all-nodata tiles counted), and the segmentation outputs (class names, colours, nodata).

mod common;

use common::*;
use gdal::Dataset;
use rastrum::{run, RunOptions};

#[test]
fn classification_writes_one_class_per_tile_on_the_stride_grid() {
    let input = data("rasterio/rasterio_RGB.byte.tif");
    let dir = tmp();
    let (tile, stride) = (32usize, 10usize);
    let model_path = dir.path().join("tile_mean.onnx");
    tile_mean_model(&model_path, tile as i64);
    let model = load(&model_path);
    let out = dir.path().join("classes.tif");
    let opts = RunOptions { overlap: Some(tile - stride), probabilities: true, ..Default::default() };
    let summary = run(&model, &input, &out, &opts, &mut |_, _| true).unwrap();

    let (w, h, _) = read_band(&input, 1);
    let nx = (w - tile).div_ceil(stride) + 1;
    let ny = (h - tile).div_ceil(stride) + 1;
    assert_eq!((summary.width, summary.height), (nx, ny));

    // Each cell is the stride x stride block centred on its tile.
    let gt_in = geo_transform(&input);
    let gt = geo_transform(&out);
    let d = (tile - stride) as f64 / 2.0;
    let want = [gt_in[0] + d * gt_in[1], gt_in[1] * 10.0, 0.0, gt_in[3] + d * gt_in[5], 0.0, gt_in[5] * 10.0];
    for k in 0..6 {
        assert!((gt[k] - want[k]).abs() < 1e-6, "geotransform {gt:?} expected {want:?}");
    }

    // Expected classes: argmax of the band means over each (reflect-padded) window; tiles whose
    // in-raster pixels are all nodata are skipped and written as nodata.
    let bands: Vec<Vec<f64>> = (1..=3).map(|b| read_band(&input, b).2).collect();
    let (_, _, got) = read_band(&out, 1);
    let (_, _, prob_green) = read_band(&rastrum::stitch::sink::probabilities_path(&out), 2);
    let mut skipped = 0;
    for r in 0..ny {
        for c in 0..nx {
            let (x0, y0) = ((c * stride) as i64, (r * stride) as i64);
            let mut sums = [0f64; 3];
            let mut any_valid = false;
            for i in 0..tile as i64 {
                for j in 0..tile as i64 {
                    let idx = mirror(y0 + i, h) * w + mirror(x0 + j, w);
                    let valid = bands.iter().all(|b| b[idx] != 0.0);
                    if valid && y0 + i < h as i64 && x0 + j < w as i64 {
                        any_valid = true;
                    }
                    if valid {
                        for (k, b) in bands.iter().enumerate() {
                            sums[k] += b[idx];
                        }
                    }
                }
            }
            let g = got[r * nx + c];
            if !any_valid {
                skipped += 1;
                assert_eq!(g, 255.0, "cell ({c}, {r}) should be nodata");
                continue;
            }
            let best = (0..3).max_by(|a, b| sums[*a].partial_cmp(&sums[*b]).unwrap()).unwrap();
            assert_eq!(g as usize, best, "cell ({c}, {r}): sums {sums:?}");
            let mean_green = sums[1] / (tile * tile) as f64;
            assert!((prob_green[r * nx + c] - mean_green).abs() < 1e-3);
        }
    }
    assert!(skipped > 0, "the nodata corners must give skipped tiles");
    assert_eq!(summary.tiles_skipped, skipped);
    assert_eq!(summary.tiles_run + summary.tiles_skipped, nx * ny);

    let ds = Dataset::open(&out).unwrap();
    let band = ds.rasterband(1).unwrap();
    assert_eq!(band.no_data_value(), Some(255.0));
    assert!(band.color_table().is_some());
}

#[test]
fn redistribution_by_light_preserves_each_tile_total() {
    let input = data("rasterio/rasterio_RGB.byte.tif");
    let dir = tmp();
    let tile = 32usize;
    let model_path = dir.path().join("tile_sum.onnx");
    tile_sum_model(&model_path, tile as i64);
    let model = load(&model_path);
    let out = dir.path().join("population.tif");
    let opts = redistribution_by_light();
    let summary = run(&model, &input, &out, &opts, &mut |_, _| true).unwrap();
    let (w, h, light) = read_band(&input, 1);
    let (ow, oh, got) = read_band(&out, 1);
    assert_eq!((ow, oh), (w, h));
    assert_eq!(geo_transform(&out), geo_transform(&input));

    let (nx, ny) = (w.div_ceil(tile), h.div_ceil(tile));
    let mut skipped = 0;
    let mut checked = 0;
    for r in 0..ny {
        for c in 0..nx {
            let (x0, y0) = (c * tile, r * tile);
            // The model's prediction: the sum over its (reflect-padded) input tile.
            let mut predicted = 0.0;
            for i in 0..tile as i64 {
                for j in 0..tile as i64 {
                    let v = light[mirror(y0 as i64 + i, h) * w + mirror(x0 as i64 + j, w)];
                    predicted += if v != 0.0 { v * 0.01 } else { 0.0 };
                }
            }
            let cells: Vec<usize> =
                (y0..(y0 + tile).min(h)).flat_map(|y| (x0..(x0 + tile).min(w)).map(move |x| y * w + x)).collect();
            let valid: Vec<usize> = cells.iter().copied().filter(|&i| light[i] != 0.0).collect();
            if valid.is_empty() {
                skipped += 1;
                assert!(cells.iter().all(|&i| got[i] == -9999.0));
                continue;
            }
            let total: f64 = valid.iter().map(|&i| got[i]).sum();
            let rel = (total - predicted).abs() / predicted.abs().max(1e-12);
            assert!(rel <= 1e-5, "tile ({c}, {r}): written total {total}, prediction {predicted}");
            // The exp rule, pixel by pixel.
            let max = valid.iter().map(|&i| light[i]).fold(0.0, f64::max);
            let wsum: f64 = valid.iter().map(|&i| (light[i] / max).exp() - 1.0).sum();
            for &i in &valid {
                let want = predicted * ((light[i] / max).exp() - 1.0) / wsum;
                assert!((got[i] - want).abs() <= 1e-4 * want.abs().max(1.0), "pixel {i}: {} vs {want}", got[i]);
            }
            for &i in cells.iter().filter(|&&i| light[i] == 0.0) {
                assert_eq!(got[i], -9999.0);
            }
            checked += 1;
        }
    }
    assert!(checked > 100 && skipped > 0);
    assert_eq!(summary.tiles_skipped, skipped);
    assert_eq!(summary.tiles_run, checked);
}

/// The threshold model over band 1 of the rasterio scene in 200-pixel tiles with `opts`' outputs:
/// (input, output, summary, the temporary folder that holds the output).
fn segment(opts: RunOptions) -> (std::path::PathBuf, std::path::PathBuf, rastrum::RunSummary, tempfile::TempDir) {
    let input = data("rasterio/rasterio_RGB.byte.tif");
    let dir = tmp();
    let model_path = dir.path().join("threshold.onnx");
    threshold_model(&model_path);
    let out = dir.path().join("seg.tif");
    let opts = RunOptions { bands: Some(vec![1]), tile_size: Some(200), ..opts };
    let summary = run(&load(&model_path), &input, &out, &opts, &mut |_, _| true).unwrap();
    (input, out, summary, dir)
}

#[test]
fn segmentation_writes_named_coloured_classes_and_probabilities() {
    // Deepness convention: inputs divided by 255 unless the card says otherwise.
    let (input, out, summary, _dir) = segment(RunOptions { probabilities: true, ..Default::default() });
    let (w, h, raw) = read_band(&input, 1);
    let (_, _, got) = read_band(&out, 1);
    let (_, _, p_dark) = read_band(&rastrum::stitch::sink::probabilities_path(&out), 2);
    for i in 0..w * h {
        if raw[i] == 0.0 {
            assert_eq!(got[i], 255.0);
            assert_eq!(p_dark[i], -9999.0);
        } else {
            let x = (raw[i] * (1.0 / 255.0)) as f32;
            // logits (x, 0.5) and Deepness models output probabilities as they are (no softmax)
            assert_eq!(got[i], if 0.5 > x { 1.0 } else { 0.0 }, "pixel {i}");
            assert!((p_dark[i] - 0.5).abs() < 1e-6);
        }
    }
    let ds = Dataset::open(&out).unwrap();
    let band = ds.rasterband(1).unwrap();
    let table = band.color_table().expect("colour table");
    assert!(table.entry_count() >= 2);
    assert_eq!(class_names(&band), ["bright", "dark"]);
    let dark = raw.iter().filter(|v| **v != 0.0 && (**v * (1.0 / 255.0)) < 0.5).count() as u64;
    assert_eq!(summary.class_counts.get("dark"), Some(&dark));
}

#[test]
fn probability_bands_follow_the_class_band_in_one_file() {
    let (input, out, _, _dir) = segment(RunOptions { probability_bands: true, ..Default::default() });
    assert!(!rastrum::stitch::sink::probabilities_path(&out).exists(), "no separate file unless asked");
    let (w, h, raw) = read_band(&input, 1);
    let (_, _, class) = read_band(&out, 1);
    let (_, _, p_bright) = read_band(&out, 2);
    let (_, _, p_dark) = read_band(&out, 3);
    for i in 0..w * h {
        if raw[i] == 0.0 {
            assert_eq!((class[i], p_bright[i], p_dark[i]), (255.0, 255.0, 255.0), "pixel {i}");
        } else {
            // The model's outputs are (x, 0.5) with x = raw / 255; stored as round(p * 250).
            let x = raw[i] / 255.0;
            assert_eq!(class[i], if 0.5 > x as f32 { 1.0 } else { 0.0 }, "pixel {i}");
            assert_eq!(p_bright[i], (x * 250.0).round(), "pixel {i}");
            assert_eq!(p_dark[i], 125.0, "pixel {i}");
        }
    }
    let ds = Dataset::open(&out).unwrap();
    assert_eq!(ds.raster_count(), 3);
    // GDAL loads a GeoTIFF's PAM sidecar (where the category names are) lazily, on the first
    // georeferencing query; category names alone do not trigger it.
    assert!(ds.geo_transform().is_ok());
    let b1 = ds.rasterband(1).unwrap();
    assert_eq!(b1.band_type(), gdal::raster::GdalDataType::UInt8);
    assert_eq!(b1.color_interpretation(), gdal::raster::ColorInterpretation::GrayIndex);
    assert_eq!(class_names(&b1), ["bright", "dark"]);
    use gdal::Metadata;
    for (b, name) in [(2, "bright"), (3, "dark")] {
        let band = ds.rasterband(b).unwrap();
        assert_eq!(band.description().unwrap(), format!("probability of {name}"));
        assert!((band.scale().unwrap() - 0.004).abs() < 1e-12);
        assert_eq!(band.no_data_value(), Some(255.0));
    }
}

/// GDAL category names of a band.
fn class_names(band: &gdal::raster::RasterBand) -> Vec<String> {
    let names = unsafe { gdal_sys::GDALGetRasterCategoryNames(band.c_rasterband()) };
    let mut out = Vec::new();
    while !names.is_null() && !unsafe { *names.add(out.len()) }.is_null() {
        out.push(unsafe { std::ffi::CStr::from_ptr(*names.add(out.len())) }.to_string_lossy().into_owned());
    }
    out
}
