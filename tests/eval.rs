//! `rastrum eval` against answers worked out by hand in the comments: a known confusion matrix
//! with its scores, regression errors and totals, block sums, PSNR of known offsets, SSIM of
//! identical images and of masked windows, nodata and ignored classes, a reference at twice the
//! resolution resampled by mode and by average onto the prediction grid, grid errors, and the
//! command line (`--json`, `--confusion-png`).

use std::path::{Path, PathBuf};
use std::process::Command;

use gdal::raster::{Buffer, GdalType};
use gdal::spatial_ref::SpatialRef;
use gdal::DriverManager;
use rastrum::eval::{evaluate, EvalKind, EvalOptions};
use serde_json::Value;

/// Where and how a test raster is georeferenced.
#[derive(Clone, Copy)]
struct Geo {
    /// Top-left corner and pixel size (north-up).
    x0: f64,
    y0: f64,
    px: f64,
    epsg: u32,
}

const UTM: Geo = Geo { x0: 500_000.0, y0: 4_000_000.0, px: 20.0, epsg: 32633 };

/// Writes a one-band GeoTIFF of `data` (`w` x `h`, row-major).
fn raster<T: GdalType + Copy>(path: &Path, w: usize, h: usize, data: &[T], geo: Option<Geo>, nodata: Option<f64>) {
    assert_eq!(data.len(), w * h);
    let driver = DriverManager::get_driver_by_name("GTiff").unwrap();
    let mut ds = driver.create_with_band_type::<T, _>(path, w, h, 1).unwrap();
    if let Some(g) = geo {
        ds.set_geo_transform(&[g.x0, g.px, 0.0, g.y0, 0.0, -g.px]).unwrap();
        ds.set_spatial_ref(&SpatialRef::from_epsg(g.epsg).unwrap()).unwrap();
    }
    let mut band = ds.rasterband(1).unwrap();
    if let Some(nd) = nodata {
        band.set_no_data_value(Some(nd)).unwrap();
    }
    band.write((0, 0), (w, h), &mut Buffer::new((w, h), data.to_vec())).unwrap();
}

/// GDAL category names (class value = index) on band 1.
fn set_category_names(path: &Path, names: &[&str]) {
    let ds = gdal::Dataset::open_ex(
        path,
        gdal::DatasetOptions { open_flags: gdal::GdalOpenFlags::GDAL_OF_UPDATE, ..Default::default() },
    )
    .unwrap();
    let band = ds.rasterband(1).unwrap();
    let c: Vec<std::ffi::CString> = names.iter().map(|n| std::ffi::CString::new(*n).unwrap()).collect();
    let mut ptrs: Vec<*mut libc::c_char> = c.iter().map(|s| s.as_ptr() as *mut _).collect();
    ptrs.push(std::ptr::null_mut());
    let err = unsafe { gdal_sys::GDALSetRasterCategoryNames(band.c_rasterband(), ptrs.as_mut_ptr()) };
    assert_eq!(err, gdal_sys::CPLErr::CE_None);
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

macro_rules! assert_close {
    ($a:expr, $b:expr) => {{
        let (a, b): (f64, f64) = ($a, $b);
        assert!(close(a, b), "{} = {a}, expected {b}", stringify!($a));
    }};
}

fn opts() -> EvalOptions {
    EvalOptions::default()
}

/// The 4 x 4 class pair of the tests, with categories on the prediction.
///
/// reference      prediction
/// 0 0 1 1        0 1 1 1
/// 0 0 1 1        0 0 1 2
/// 2 2 2 2        2 2 2 1
/// 2 2 1 0        2 0 1 0
fn class_pair(dir: &Path) -> (PathBuf, PathBuf) {
    let reference: [u8; 16] = [0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 2, 2, 2, 2, 1, 0];
    let prediction: [u8; 16] = [0, 1, 1, 1, 0, 0, 1, 2, 2, 2, 2, 1, 2, 0, 1, 0];
    let (p, r) = (dir.join("pred.tif"), dir.join("ref.tif"));
    raster(&p, 4, 4, &prediction, Some(UTM), None);
    raster(&r, 4, 4, &reference, Some(UTM), None);
    set_category_names(&p, &["water", "crop", "urban"]);
    (p, r)
}

#[test]
fn known_confusion_matrix_and_its_scores() {
    let dir = tempfile::tempdir().unwrap();
    let (p, r) = class_pair(dir.path());
    let report = evaluate(&p, &r, &opts()).unwrap();
    assert_eq!(report.kind, EvalKind::Classes, "Byte / Byte is classes");
    assert!(report.kind_from.starts_with("auto"), "{}", report.kind_from);
    assert_eq!(report.grid, "same grid (CRS, geotransform and size)");
    assert!(report.resampled.is_none());
    let c = report.classes.unwrap();
    assert_eq!(c.values, [0, 1, 2]);
    assert_eq!(c.names, ["water", "crop", "urban"]);
    // Pairs (reference, prediction), row by row:
    //   (0,0) (0,1) (1,1) (1,1) | (0,0) (0,0) (1,1) (1,2) | (2,2) (2,2) (2,2) (2,1) | (2,2) (2,0) (1,1) (0,0)
    // reference 0: predicted 0 four times, 1 once; reference 1: 1 four times, 2 once;
    // reference 2: 2 four times, 1 once, 0 once.
    assert_eq!(c.confusion, [[4, 1, 0], [0, 4, 1], [1, 1, 4]]);
    // Column sums (predicted) 5, 6, 5; row sums (support) 5, 5, 6.
    // precision 4/5, 4/6, 4/5; recall 4/5, 4/5, 4/6.
    // F1: 0.8; 2 (2/3)(4/5) / (2/3 + 4/5) = (16/15) / (22/15) = 8/11; 8/11.
    let k = &c.per_class;
    assert_eq!(k.iter().map(|k| k.support).collect::<Vec<_>>(), [5, 5, 6]);
    assert_eq!(k.iter().map(|k| k.predicted).collect::<Vec<_>>(), [5, 6, 5]);
    assert_close!(k[0].precision, 0.8);
    assert_close!(k[1].precision, 4.0 / 6.0);
    assert_close!(k[2].precision, 0.8);
    assert_close!(k[0].recall, 0.8);
    assert_close!(k[1].recall, 0.8);
    assert_close!(k[2].recall, 4.0 / 6.0);
    assert_close!(k[0].f1, 0.8);
    assert_close!(k[1].f1, 8.0 / 11.0);
    assert_close!(k[2].f1, 8.0 / 11.0);
    assert_eq!(k[2].name, "urban");
    // OA = 12 / 16; macro F1 = (0.8 + 16/11) / 3 = 24.8 / 33;
    // weighted F1 = (0.8 * 5 + 8/11 * 5 + 8/11 * 6) / 16 = (4 + 8) / 16 = 0.75;
    // pe = (5*5 + 5*6 + 6*5) / 256 = 85/256; kappa = (192/256 - 85/256) / (171/256) = 107/171.
    assert_close!(c.overall_accuracy, 0.75);
    assert_close!(c.macro_f1, 24.8 / 33.0);
    assert_close!(c.weighted_f1, 0.75);
    assert_close!(c.kappa, 107.0 / 171.0);
    assert_eq!(report.pixels.total, 16);
    assert_eq!((report.pixels.compared, report.pixels.ignored), (16, 0));
}

#[test]
fn nodata_and_ignored_classes_are_left_out_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let (p, r) = (dir.path().join("p.tif"), dir.path().join("r.tif"));
    // pixel:       0    1    2  3  4  5
    // prediction:  1  255    2  3  1  2     (nodata 255)
    // reference:   1    1    0  3  9  2     (nodata 0; 9 is ignored)
    raster::<u8>(&p, 3, 2, &[1, 255, 2, 3, 1, 2], None, Some(255.0));
    raster::<u8>(&r, 3, 2, &[1, 1, 0, 3, 9, 2], None, Some(0.0));
    let o = EvalOptions { ignore: vec![9], ..opts() };
    let report = evaluate(&p, &r, &o).unwrap();
    assert!(report.grid.starts_with("no CRS on either raster"), "{}", report.grid);
    let px = &report.pixels;
    assert_eq!((px.total, px.compared, px.ignored), (6, 3, 3));
    assert_eq!((px.nodata_prediction, px.nodata_reference, px.ignored_class), (1, 1, 1));
    assert_eq!((report.nodata.prediction, report.nodata.reference), (Some(255.0), Some(0.0)));
    let c = report.classes.unwrap();
    // Pixels 0, 3 and 5 remain: (1,1), (3,3), (2,2).
    assert_eq!(c.values, [1, 2, 3]);
    assert_eq!(c.names, ["1", "2", "3"]);
    assert_eq!(c.confusion, [[1, 0, 0], [0, 1, 0], [0, 0, 1]]);
    assert_eq!((c.overall_accuracy, c.kappa), (1.0, 1.0));
    // Everything ignored: an error that says why.
    let all = EvalOptions { ignore: vec![1, 2, 3], ..opts() };
    let e = evaluate(&p, &r, &all).unwrap_err().to_string();
    assert!(e.contains("no pixel to compare") && e.contains("1 are nodata in the prediction"), "{e}");
}

#[test]
fn regression_errors_totals_and_block_sums() {
    let dir = tempfile::tempdir().unwrap();
    let (p, r) = (dir.path().join("p.tif"), dir.path().join("r.tif"));
    let nan = f32::NAN;
    #[rustfmt::skip]
    let reference: [f32; 16] = [
        1., 2., 3., 4.,
        5., 6., 7., 8.,
        0., 0., 0., 0.,
        2., 2., 2., 2.,
    ];
    #[rustfmt::skip]
    let prediction: [f32; 16] = [
        2., 2., 3., 3.,
        5., 6., 7., 8.,
        1., 1., 1., 1.,
        2., 2., 2., nan,
    ];
    raster(&p, 4, 4, &prediction, Some(UTM), None);
    raster(&r, 4, 4, &reference, Some(UTM), None);
    let report = evaluate(&p, &r, &EvalOptions { block: Some(2), ..opts() }).unwrap();
    assert_eq!(report.kind, EvalKind::Values, "Float32 is values");
    assert_eq!((report.pixels.compared, report.pixels.nodata_prediction), (15, 1));
    let v = report.values.unwrap();
    // errors p - r: 1 0 0 -1 | 0 0 0 0 | 1 1 1 1 | 0 0 0 (NaN left out): 15 pixels.
    // sum |e| = 6, sum e^2 = 6, sum e = 4.
    assert_eq!(v.errors.count, 15);
    assert_close!(v.errors.mae, 6.0 / 15.0);
    assert_close!(v.errors.mse, 6.0 / 15.0);
    assert_close!(v.errors.rmse, (6.0f64 / 15.0).sqrt());
    assert_close!(v.errors.bias, 4.0 / 15.0);
    // totals over the 15 pixels: reference 10 + 26 + 0 + 6 = 42, prediction 10 + 26 + 4 + 6 = 46.
    assert_close!(v.total.reference, 42.0);
    assert_close!(v.total.predicted, 46.0);
    assert_close!(v.total.difference, 4.0);
    assert_close!(v.total.relative_error.unwrap(), 4.0 / 42.0);
    // 2 x 2 blocks (prediction sum vs reference sum over compared pixels):
    //   top-left 15 vs 14 (+1), top-right 21 vs 22 (-1), bottom-left 6 vs 4 (+2),
    //   bottom-right 1+1+2 = 4 vs 0+0+2 = 2 (+2; the NaN pixel is out of both sums).
    // MAE 6/4, bias 4/4, RMSE sqrt(10/4).
    let b = v.blocks.unwrap();
    assert_eq!((b.size, b.errors.count), (2, 4));
    assert_close!(b.errors.mae, 1.5);
    assert_close!(b.errors.bias, 1.0);
    assert_close!(b.errors.rmse, 2.5f64.sqrt());
    assert_close!(b.errors.total_predicted, 46.0);
    // 3 x 3 blocks: edge blocks are smaller. Blocks (cols 0-2, rows 0-2): p 2+2+3+5+6+7+1+1+1 = 28,
    // r 1+2+3+5+6+7 = 24 (+4); (col 3, rows 0-2): p 3+8+1 = 12, r 4+8+0 = 12 (0);
    // (cols 0-2, row 3): 6 vs 6 (0); (col 3, row 3): only the NaN pixel, so no block.
    let b3 = evaluate(&p, &r, &EvalOptions { block: Some(3), ..opts() }).unwrap().values.unwrap().blocks.unwrap();
    assert_eq!(b3.errors.count, 3);
    assert_close!(b3.errors.mae, 4.0 / 3.0);
    assert_close!(b3.errors.rmse, (16.0f64 / 3.0).sqrt());
}

/// A 16 x 16 image with values k / 8 in 0..=1 (exact in binary), and a shifted copy.
fn image_pair(dir: &Path, offset: f64, name: &str) -> (PathBuf, PathBuf) {
    let reference: Vec<f64> = (0..256).map(|i| ((i * 5 + i / 16) % 9) as f64 / 8.0).collect();
    assert_eq!(reference.iter().cloned().fold(f64::INFINITY, f64::min), 0.0);
    assert_eq!(reference.iter().cloned().fold(0.0, f64::max), 1.0);
    let prediction: Vec<f64> = reference.iter().map(|v| v + offset).collect();
    let (p, r) = (dir.join(format!("{name}_p.tif")), dir.join(format!("{name}_r.tif")));
    raster(&p, 16, 16, &prediction, Some(UTM), None);
    raster(&r, 16, 16, &reference, Some(UTM), None);
    (p, r)
}

#[test]
fn psnr_of_known_offsets_and_ssim_of_identical_images() {
    let dir = tempfile::tempdir().unwrap();
    let image = |o: EvalOptions| EvalOptions { kind: Some(EvalKind::Image), ..o };
    // Error 0.1 everywhere, data range 1: MSE 0.01, PSNR = 10 log10(1 / 0.01) = 20 dB.
    let (p, r) = image_pair(dir.path(), 0.1, "tenth");
    let i = evaluate(&p, &r, &image(EvalOptions { data_range: Some(1.0), ..opts() })).unwrap().image.unwrap();
    assert!((i.psnr - 20.0).abs() < 1e-9, "{}", i.psnr);
    assert_eq!(i.data_range_from, "given");
    // Error 1/8 (exact), range from the reference (0..1): MSE 1/64, PSNR = 10 log10(64).
    let (p, r) = image_pair(dir.path(), 0.125, "eighth");
    let i = evaluate(&p, &r, &image(opts())).unwrap().image.unwrap();
    assert_eq!(i.mse, 1.0 / 64.0);
    assert_close!(i.psnr, 10.0 * 64f64.log10());
    assert_eq!((i.data_range, i.data_range_from.as_str()), (1.0, "reference 0..1"));
    // Identical: SSIM 1 over (16 - 10)^2 = 36 windows, PSNR infinite.
    let (p, r) = image_pair(dir.path(), 0.0, "same");
    let i = evaluate(&p, &r, &image(opts())).unwrap().image.unwrap();
    assert_close!(i.ssim, 1.0);
    assert_eq!(i.ssim_windows, 36);
    assert_eq!(i.psnr, f64::INFINITY);
    // A nodata pixel at (0, 0) lies in the window of centre (5, 5) only: 35 windows remain.
    let mut hole: Vec<f64> = (0..256).map(|i| ((i * 5 + i / 16) % 9) as f64 / 8.0).collect();
    hole[0] = -1.0;
    let holed = dir.path().join("holed.tif");
    raster(&holed, 16, 16, &hole, Some(UTM), Some(-1.0));
    let rep = evaluate(&holed, &r, &image(opts())).unwrap();
    assert_eq!(rep.pixels.nodata_prediction, 1);
    let i = rep.image.unwrap();
    assert_eq!(i.ssim_windows, 35);
    assert_close!(i.ssim, 1.0);
}

#[test]
fn ssim_streamed_in_strips_equals_the_whole_image() {
    // 40 x 27000 pixels: SSIM strips of 2^18 / 40 = 6553 centre rows, joined by 5-row halos.
    let (w, h) = (40usize, 27000usize);
    let x: Vec<f64> =
        (0..w * h).map(|i| (((i % w) as f64 * 0.37).sin() + ((i / w) as f64 * 0.11).cos()) * 0.25 + 0.5).collect();
    let y: Vec<f64> = x.iter().enumerate().map(|(i, v)| v + if (i * 7) % 13 < 6 { 0.03 } else { -0.02 }).collect();
    let dir = tempfile::tempdir().unwrap();
    let (p, r) = (dir.path().join("p.tif"), dir.path().join("r.tif"));
    raster(&p, w, h, &y, None, None);
    raster(&r, w, h, &x, None, None);
    let o = EvalOptions { kind: Some(EvalKind::Image), data_range: Some(1.0), ..opts() };
    let i = evaluate(&p, &r, &o).unwrap().image.unwrap();
    assert_eq!(i.ssim_windows as usize, (w - 10) * (h - 10));
    let whole = rastrum::metrics::ssim(&y, &x, w, h, 1.0);
    assert!((i.ssim - whole).abs() < 1e-12, "{} vs {whole}", i.ssim);
    assert!(i.ssim < 0.999 && i.ssim > 0.5, "{}", i.ssim);
}

const FINE: Geo = Geo { px: 10.0, ..UTM };

#[test]
fn finer_reference_resampled_by_mode_onto_the_prediction_grid() {
    let dir = tempfile::tempdir().unwrap();
    let (p, r) = (dir.path().join("p.tif"), dir.path().join("r.tif"));
    // Reference at 10 m; each 20 m prediction pixel covers a 2 x 2 block:
    //   1 1 | 2 2        mode of {1,1,1,3} = 1   mode of {2,2,2,2} = 2
    //   1 3 | 2 2
    //   ----+----
    //   3 3 | 1 2        mode of {3,3,3,3} = 3   mode of {1,2,3,1} = 1
    //   3 3 | 3 1
    raster::<u8>(&r, 4, 4, &[1, 1, 2, 2, 1, 3, 2, 2, 3, 3, 1, 2, 3, 3, 3, 1], Some(FINE), None);
    // Prediction 1 2 / 3 2: pairs (1,1) (2,2) (3,3) (1,2).
    raster::<u8>(&p, 2, 2, &[1, 2, 3, 2], Some(UTM), None);
    let report = evaluate(&p, &r, &opts()).unwrap();
    assert_eq!(report.resampled.as_deref(), Some("reference 10 m -> 20 m (prediction grid) by mode"));
    assert!(report.grid.contains("EPSG:32633"), "{}", report.grid);
    let c = report.classes.unwrap();
    assert_eq!(c.values, [1, 2, 3]);
    assert_eq!(c.confusion, [[1, 1, 0], [0, 1, 0], [0, 0, 1]]);
    assert_close!(c.overall_accuracy, 0.75);
    // With nodata 0 in the reference, the mode is taken over valid pixels only:
    //   1 1 | 0 0        mode {1,1,1,3} = 1   all nodata: left out
    //   1 3 | 0 0
    //   ----+----
    //   3 0 | 1 2        mode {3} = 3         mode {1,2,3,1} = 1
    //   0 0 | 3 1
    let nd = dir.path().join("r_nodata.tif");
    raster::<u8>(&nd, 4, 4, &[1, 1, 0, 0, 1, 3, 0, 0, 3, 0, 1, 2, 0, 0, 3, 1], Some(FINE), Some(0.0));
    let report = evaluate(&p, &nd, &opts()).unwrap();
    assert_eq!((report.pixels.compared, report.pixels.nodata_reference), (3, 1));
    let c = report.classes.unwrap();
    // Pairs (1,1) (3,3) (1,2): class 2 is only predicted.
    assert_eq!(c.values, [1, 2, 3]);
    assert_eq!(c.confusion, [[1, 1, 0], [0, 0, 0], [0, 0, 1]]);
    // The same through GDAL's own command line tool, as an independent check of the grid.
    let warped = dir.path().join("warped.tif");
    let status = Command::new("gdalwarp")
        .args(["-q", "-r", "mode", "-tr", "20", "20", "-te", "500000", "3999960", "500040", "4000000"])
        .arg(&r)
        .arg(&warped)
        .status()
        .unwrap();
    assert!(status.success());
    let ds = gdal::Dataset::open(&warped).unwrap();
    let v = ds.rasterband(1).unwrap().read_as::<u8>((0, 0), (2, 2), (2, 2), None).unwrap();
    assert_eq!(v.data(), [1, 2, 3, 1]);
}

#[test]
fn finer_reference_resampled_by_average_with_nodata_and_partial_cover() {
    let dir = tempfile::tempdir().unwrap();
    let (p, r) = (dir.path().join("p.tif"), dir.path().join("r.tif"));
    let nan = f32::NAN;
    // Reference at 10 m over the left 40 m only; NaN is nodata (no nodata value declared):
    //   1 2 | 3 4      mean 3.5     mean 5.5
    //   5 6 | 7 8
    //   0 0 | 0 4      mean 0       mean of {0, 4, 8} = 4 (NaN left out)
    //   0 0 | 8 NaN
    #[rustfmt::skip]
    let reference: [f32; 16] = [1., 2., 3., 4., 5., 6., 7., 8., 0., 0., 0., 4., 0., 0., 8., nan];
    raster(&r, 4, 4, &reference, Some(FINE), None);
    // Prediction 3 x 2 at 20 m: the third column lies outside the reference.
    raster::<f32>(&p, 3, 2, &[3.5, 5.0, 9.0, 1.0, 4.0, 9.0], Some(UTM), None);
    let report = evaluate(&p, &r, &opts()).unwrap();
    assert_eq!(report.resampled.as_deref(), Some("reference 10 m -> 20 m (prediction grid) by average"));
    assert_eq!((report.pixels.compared, report.pixels.nodata_reference), (4, 2));
    let v = report.values.unwrap();
    // errors: 0, -0.5, 1, 0 -> MAE 1.5/4, bias 0.5/4, RMSE sqrt(1.25/4).
    assert_close!(v.errors.mae, 0.375);
    assert_close!(v.errors.bias, 0.125);
    assert_close!(v.errors.rmse, (1.25f64 / 4.0).sqrt());
    assert_close!(v.total.reference, 13.0);
    // Asked for another resampling: sum of the 2 x 2 blocks (1+2+5+6 = 14 for the first).
    let o = EvalOptions { resampling: Some("sum".into()), ..opts() };
    let report = evaluate(&p, &r, &o).unwrap();
    assert!(report.resampled.unwrap().ends_with("by sum"));
    // sums: 14, 22, 0, 12 -> total 48.
    assert_close!(report.values.unwrap().total.reference, 48.0);
    let bad = EvalOptions { resampling: Some("nearest-ish".into()), ..opts() };
    let e = evaluate(&p, &r, &bad).unwrap_err().to_string();
    assert!(e.contains("resampling 'nearest-ish' is not one of") && e.contains("mode"), "{e}");
}

#[test]
fn grid_errors_name_the_rasters_and_what_differs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    raster::<u8>(&d.join("utm.tif"), 2, 2, &[1, 2, 3, 4], Some(UTM), None);
    let wgs = Geo { x0: 15.0, y0: 36.0, px: 0.001, epsg: 4326 };
    raster::<u8>(&d.join("wgs.tif"), 2, 2, &[1, 2, 3, 4], Some(wgs), None);
    raster::<u8>(&d.join("plain2.tif"), 2, 2, &[1, 2, 3, 4], None, None);
    raster::<u8>(&d.join("plain3.tif"), 3, 2, &[1, 2, 3, 4, 5, 6], None, None);
    let e = evaluate(&d.join("utm.tif"), &d.join("wgs.tif"), &opts()).unwrap_err().to_string();
    assert!(e.contains("different CRSs") && e.contains("EPSG:32633") && e.contains("EPSG:4326"), "{e}");
    let e = evaluate(&d.join("plain2.tif"), &d.join("plain3.tif"), &opts()).unwrap_err().to_string();
    assert!(e.contains("2x2") && e.contains("3x2") && e.contains("same size"), "{e}");
    let e = evaluate(&d.join("utm.tif"), &d.join("plain2.tif"), &opts()).unwrap_err().to_string();
    assert!(e.contains("utm.tif has a CRS") && e.contains("plain2.tif has none"), "{e}");
    let e = evaluate(&d.join("utm.tif"), &d.join("utm.tif"), &EvalOptions { ref_band: 2, ..opts() })
        .unwrap_err()
        .to_string();
    assert!(e.contains("band 2 is out of range") && e.contains("1 band(s)"), "{e}");
    let e = evaluate(&d.join("missing.tif"), &d.join("utm.tif"), &opts()).unwrap_err().to_string();
    assert!(e.contains("missing.tif") && e.contains("does not exist"), "{e}");
    // Options that do not apply to the kind are refused, not silently dropped.
    let e = evaluate(&d.join("utm.tif"), &d.join("utm.tif"), &EvalOptions { block: Some(2), ..opts() })
        .unwrap_err()
        .to_string();
    assert!(e.contains("block applies to kind values") && e.contains("kind classes"), "{e}");
    // Continuous values are not classes.
    raster::<f32>(&d.join("f.tif"), 2, 2, &[0.5, 1.0, 2.0, 3.0], Some(UTM), None);
    let o = EvalOptions { kind: Some(EvalKind::Classes), ..opts() };
    let e = evaluate(&d.join("f.tif"), &d.join("utm.tif"), &o).unwrap_err().to_string();
    assert!(e.contains("value 0.5 at pixel (0, 0) is not an integer class value"), "{e}");
}

#[test]
fn options_from_text_as_the_c_api_sets_them() {
    let mut o = EvalOptions::default();
    o.set("kind", "values").unwrap();
    o.set("pred-band", "2").unwrap();
    o.set("ref_band", "3").unwrap();
    o.set("ignore", "0,255").unwrap();
    o.set("ignore", "-1").unwrap();
    o.set("block", "10").unwrap();
    o.set("data_range", "255").unwrap();
    o.set("resampling", "sum").unwrap();
    o.set("confusion_png", "/tmp/c.png").unwrap();
    assert_eq!(o.kind, Some(EvalKind::Values));
    assert_eq!((o.pred_band, o.ref_band, o.block), (2, 3, Some(10)));
    assert_eq!(o.ignore, [0, 255, -1]);
    assert_eq!((o.data_range, o.resampling.as_deref()), (Some(255.0), Some("sum")));
    assert_eq!(o.confusion_png.as_deref(), Some(Path::new("/tmp/c.png")));
    let e = o.set("colour", "red").unwrap_err().to_string();
    assert!(e.contains("unknown eval option 'colour'") && e.contains("pred_band"), "{e}");
    assert!(o.set("block", "0").unwrap_err().to_string().contains("option 'block'"));
    assert!(o.set("kind", "pixels").unwrap_err().to_string().contains("classes, values or image"));
}

fn cli(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rastrum")).arg("eval").args(args).output().unwrap()
}

#[test]
fn cli_json_table_and_confusion_png() {
    let dir = tempfile::tempdir().unwrap();
    let (p, r) = class_pair(dir.path());
    let png = dir.path().join("confusion.png");
    let out = cli(&[p.as_os_str(), r.as_os_str(), "--json".as_ref(), "--confusion-png".as_ref(), png.as_os_str()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kind"], "classes");
    assert_eq!(v["classes"]["confusion"], serde_json::json!([[4, 1, 0], [0, 4, 1], [1, 1, 4]]));
    assert_close!(v["classes"]["kappa"].as_f64().unwrap(), 107.0 / 171.0);
    assert_eq!(v["classes"]["per_class"][0]["name"], "water");
    assert_eq!(v["pixels"]["compared"], 16);
    assert!(v["resampled"].is_null());
    assert_eq!(v["classes"]["confusion_png"].as_str().map(PathBuf::from), Some(png.clone()));
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    assert_eq!((be(16), be(20)), (840, 840), "the documented size of a confusion figure");
    // Only the figure and the two rasters (and its aux.xml): no temporary file left.
    let mut names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["confusion.png", "pred.tif", "pred.tif.aux.xml", "ref.tif"]);

    // The table (default output).
    let out = cli(&[p.as_os_str(), r.as_os_str()]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Cohen's kappa     0.6257"), "{text}");
    assert!(text.contains("overall accuracy  0.7500"), "{text}");
    assert!(text.contains("2 urban"), "{text}");

    // Values through the CLI, with blocks.
    let (fp, fr) = (dir.path().join("fp.tif"), dir.path().join("fr.tif"));
    raster::<f32>(&fp, 2, 2, &[1.0, 2.0, 3.0, 6.0], None, None);
    raster::<f32>(&fr, 2, 2, &[1.0, 1.0, 1.0, 1.0], None, None);
    let out = cli(&[fp.as_os_str(), fr.as_os_str(), "--json".as_ref(), "--block".as_ref(), "2".as_ref()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    // errors 0, 1, 2, 5: MAE 2, bias 2; totals 12 vs 4; one block: 12 vs 4.
    assert_eq!(v["values"]["mae"], 2.0);
    assert_eq!(v["values"]["total"]["predicted"], 12.0);
    assert_eq!(v["values"]["total"]["relative_error"], 2.0);
    assert_eq!(v["values"]["blocks"]["count"], 1);
    assert_eq!(v["values"]["blocks"]["mae"], 8.0);

    // Bad input: exit status 2 and a message naming the problem, no PNG written.
    let other = dir.path().join("other.png");
    let out = cli(&[fp.as_os_str(), fr.as_os_str(), "--confusion-png".as_ref(), other.as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("confusion_png applies to kind classes"), "{err}");
    assert!(!other.exists());
}
