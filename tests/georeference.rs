//! Where output pixels sit on the ground: an `extent` reaching past the raster (the outside is
//! nodata, never made-up zeros; an extent missing the raster is an error), and inputs georeferenced
//! by ground control points or RPCs instead of a geotransform (kept, mapped onto the output's
//! grid: super-resolution and per-tile grids included). Expectations are computed here from the
//! input's numbers, and read back with GDAL.

mod common;

use common::*;
use gdal::{Dataset, Gcp, Metadata};
use rastrum::{run, RunOptions};

/// The raster's origin is (500000, 4000000) with 10 m pixels (common::raster): 40 x 40 pixels.
fn ramp_raster(dir: &std::path::Path) -> std::path::PathBuf {
    // 1..=250, never 0: a zero in the output can only come from outside the raster.
    let values: Vec<u8> = (0..40 * 40).map(|i| (i * 7 % 250 + 1) as u8).collect();
    raster(&dir.join("in.tif"), 40, 40, &[values], None)
}

fn identity(dir: &std::path::Path) -> rastrum::Model {
    let p = dir.join("identity.onnx");
    identity_model(&p, 1, &[]);
    load(&p)
}

#[test]
fn an_extent_reaching_past_the_raster_is_nodata_outside_it() {
    let dir = tmp();
    let (input, model) = (ramp_raster(dir.path()), identity(dir.path()));
    let (_, _, source) = read_band(&input, 1);
    // 10 pixels left of the raster and 20 below it, 20 x 30 pixels inside.
    let mut opts = RunOptions { tile_size: Some(32), ..Default::default() };
    opts.set("extent", "499900,3999500,500200,3999900").unwrap();
    let out = dir.path().join("out.tif");
    run(&model, &input, &out, &opts, &mut |_, _| true).unwrap();
    let (w, h, got) = read_band(&out, 1);
    assert_eq!((w, h), (30, 40));
    assert_eq!(geo_transform(&out), [499900.0, 10.0, 0.0, 3999900.0, 0.0, -10.0]);
    for (i, v) in got.iter().enumerate() {
        let (col, row) = ((i % w) as i64 - 10, (i / w) as i64 + 10);
        if (0..40).contains(&col) && (0..40).contains(&row) {
            assert_eq!(*v, source[row as usize * 40 + col as usize], "pixel {col},{row}");
        } else {
            assert_eq!(*v, -9999.0, "output pixel {i} lies outside the raster but holds {v}");
        }
    }
}

#[test]
fn an_extent_missing_the_raster_is_an_error_naming_both_extents() {
    let dir = tmp();
    let (input, model) = (ramp_raster(dir.path()), identity(dir.path()));
    let mut opts = RunOptions { tile_size: Some(32), ..Default::default() };
    opts.set("extent", "600000,3000000,600100,3000100").unwrap();
    let out = dir.path().join("out.tif");
    let e = run(&model, &input, &out, &opts, &mut |_, _| true).unwrap_err().to_string();
    assert!(e.contains("lies wholly outside the raster, whose extent is 500000,3999600,500400,4000000"), "{e}");
    assert!(!out.exists());
}

/// A 60 x 45 raster of 3 bands without geotransform, georeferenced by four GCPs in EPSG:4326
/// and RPCs.
fn scene(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("scene.tif");
    let driver = gdal::DriverManager::get_driver_by_name("GTiff").unwrap();
    let mut ds = driver.create_with_band_type::<u8, _>(&path, 60, 45, 3).unwrap();
    for b in 1..=3 {
        let values: Vec<u8> = (0..60 * 45).map(|i| ((i * b) % 200 + 1) as u8).collect();
        let mut buf = gdal::raster::Buffer::new((60, 45), values);
        ds.rasterband(b).unwrap().write((0, 0), (60, 45), &mut buf).unwrap();
    }
    let gcp = |id: &str, pixel: f64, line: f64, x: f64, y: f64| Gcp {
        id: id.into(),
        info: String::new(),
        pixel,
        line,
        x,
        y,
        z: 0.0,
    };
    let gcps = vec![
        gcp("1", 0.0, 0.0, 10.0, 50.0),
        gcp("2", 60.0, 0.0, 10.6, 50.02),
        gcp("3", 0.0, 45.0, 9.98, 49.55),
        gcp("4", 60.0, 45.0, 10.58, 49.57),
    ];
    ds.set_gcps(gcps, &gdal::spatial_ref::SpatialRef::from_epsg(4326).unwrap()).unwrap();
    // A complete RPC model (GeoTIFF stores only complete ones): offsets and scales, and the
    // 20 coefficients of each polynomial.
    let coeffs = |first: &str| format!("{first} {}", ["0"; 19].join(" "));
    let rpc = [
        ("LINE_OFF", "22".to_string()),
        ("SAMP_OFF", "30".into()),
        ("LINE_SCALE", "23".into()),
        ("SAMP_SCALE", "31".into()),
        ("LAT_OFF", "49.8".into()),
        ("LONG_OFF", "10.3".into()),
        ("HEIGHT_OFF", "0".into()),
        ("LAT_SCALE", "0.25".into()),
        ("LONG_SCALE", "0.3".into()),
        ("HEIGHT_SCALE", "100".into()),
        ("LINE_NUM_COEFF", format!("0 0 -1 {}", ["0"; 17].join(" "))),
        ("LINE_DEN_COEFF", coeffs("1")),
        ("SAMP_NUM_COEFF", format!("0 1 {}", ["0"; 18].join(" "))),
        ("SAMP_DEN_COEFF", coeffs("1")),
    ];
    for (k, v) in rpc {
        ds.set_metadata_item(k, &v, "RPC").unwrap();
    }
    drop(ds);
    path
}

fn gcps(path: &std::path::Path) -> (Vec<(f64, f64, f64, f64)>, String) {
    let ds = Dataset::open(path).unwrap();
    let points = ds.gcps().iter().map(|g| (g.pixel(), g.line(), g.x(), g.y())).collect();
    (points, ds.gcp_projection().unwrap_or_default())
}

fn rpc(path: &std::path::Path, key: &str) -> f64 {
    let ds = Dataset::open(path).unwrap();
    ds.metadata_item(key, "RPC").unwrap_or_else(|| panic!("{key} missing")).parse().unwrap()
}

#[test]
fn gcps_and_rpcs_are_kept_and_follow_the_output_grid() {
    let dir = tmp();
    let input = scene(dir.path());
    let (points, srs) = gcps(&input);
    assert_eq!(points.len(), 4);
    // Same grid (identity): the same points and coefficients.
    let model = identity(dir.path());
    let out = dir.path().join("same.tif");
    run(&model, &input, &out, &RunOptions { tile_size: Some(32), ..Default::default() }, &mut |_, _| true).unwrap();
    assert_eq!(gcps(&out), (points.clone(), srs.clone()));
    assert_eq!((rpc(&out, "LINE_OFF"), rpc(&out, "SAMP_SCALE"), rpc(&out, "LAT_OFF")), (22.0, 31.0, 49.8));
    // x3 super-resolution: pixel and line times 3; RPC pixel centres map to (c + 0.5) * 3 - 0.5.
    let x3 = dir.path().join("x3.onnx");
    upsample3_model(&x3);
    let out = dir.path().join("x3.tif");
    run(&load(&x3), &input, &out, &RunOptions { tile_size: Some(16), ..Default::default() }, &mut |_, _| true).unwrap();
    let expected: Vec<_> = points.iter().map(|(p, l, x, y)| (p * 3.0, l * 3.0, *x, *y)).collect();
    assert_eq!(gcps(&out), (expected, srs.clone()));
    assert_eq!((rpc(&out, "LINE_OFF"), rpc(&out, "SAMP_OFF")), (67.0, 91.0));
    assert_eq!((rpc(&out, "LINE_SCALE"), rpc(&out, "SAMP_SCALE")), (69.0, 93.0));
    // A per-tile grid: 20-pixel tiles every 20 pixels (cell u is input pixels 20u..20u+20).
    let mean = dir.path().join("mean.onnx");
    tile_mean_model(&mean, 20);
    let out = dir.path().join("cells.tif");
    let opts = RunOptions { overlap: Some(0), ..Default::default() };
    run(&load(&mean), &input, &out, &opts, &mut |_, _| true).unwrap();
    let expected: Vec<_> = points.iter().map(|(p, l, x, y)| (p / 20.0, l / 20.0, *x, *y)).collect();
    assert_eq!(gcps(&out), (expected, srs));
}

/// A card's `resolution` far from the raster's (5.5 cm on 30 m: x545) stops the run before any
/// tile, within a second, naming both resolutions, the size and tile count it would make and
/// the ways out; `--resolution-limit` lets a larger factor through, and a factor within the
/// limit resamples as before.
#[test]
fn a_card_resolution_far_from_the_rasters_is_refused_before_any_tile() {
    let dir = tmp();
    let input = dir.path().join("utm30.tif");
    let driver = gdal::DriverManager::get_driver_by_name("GTiff").unwrap();
    let mut ds = driver.create_with_band_type::<u8, _>(&input, 200, 100, 1).unwrap();
    ds.set_geo_transform(&[500000.0, 30.0, 0.0, 4000000.0, 0.0, -30.0]).unwrap();
    ds.set_spatial_ref(&gdal::spatial_ref::SpatialRef::from_epsg(32633).unwrap()).unwrap();
    drop(ds);
    let model = dir.path().join("fine.onnx");
    identity_model(&model, 1, &[("resolution", "5.5")]);
    let out = dir.path().join("out.tif");
    let started = std::time::Instant::now();
    let done = cli().args(["run", "--tile-size", "256"]).args([&model, &input, &out]).output().unwrap();
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(started.elapsed().as_secs_f64() < 5.0 && !done.status.success(), "{stderr}");
    // 30 m / 5.5 cm = x545.45: 109091 x 54545 pixels; 256-pixel tiles overlapping by 32 step by
    // 224: ceil(109091 / 224) x ceil(54545 / 224) = 488 x 244 tiles.
    for needle in [
        "resolution is 5.5 cm per pixel and the raster's 3000",
        "resampling by x545.4545",
        "109091 x 54545 raster of about 119072 tiles",
        "--resolution native",
        "--resolution-limit 546",
    ] {
        assert!(stderr.contains(needle), "'{needle}' missing from: {stderr}");
    }
    assert!(!out.exists());
    // x2 is within the default limit of 4: the run resamples to 15 m.
    let coarse = dir.path().join("coarse.onnx");
    identity_model(&coarse, 1, &[("resolution", "1500")]);
    let done = cli().args(["run", "-q", "--tile-size", "64"]).args([&coarse, &input, &out]).output().unwrap();
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    assert_eq!(read_band(&out, 1).0, 400);
    // The limit is an option: x2 refused under a limit of 1.5.
    let done = cli()
        .args(["run", "-q", "--tile-size", "64", "--resolution-limit", "1.5"])
        .args([&coarse, &input, &dir.path().join("o2.tif")])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&done.stderr).contains("past the limit of 1.5"));
}
