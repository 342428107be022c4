//! `rastrum run` prints its processing grid and tile count on stderr before the first tile (issue
//! 22, item 4): one line, unless `-q` or `--json`. The expected numbers are computed here from
//! the raster's size and the tiling (no overlap, no margin: stride = tile size, `fit` placement).

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;

/// A `w` x `h` one-band raster; with `utm`, 10 m pixels in EPSG:32633, else no georeferencing.
fn raster_of(path: &Path, w: usize, h: usize, utm: bool) -> PathBuf {
    let driver = gdal::DriverManager::get_driver_by_name("GTiff").unwrap();
    let mut ds = driver.create_with_band_type::<u8, _>(path, w, h, 1).unwrap();
    if utm {
        ds.set_geo_transform(&[500000.0, 10.0, 0.0, 4000000.0, 0.0, -10.0]).unwrap();
        ds.set_spatial_ref(&gdal::spatial_ref::SpatialRef::from_epsg(32633).unwrap()).unwrap();
    }
    let mut buf = gdal::raster::Buffer::new((w, h), ramp(w, h));
    ds.rasterband(1).unwrap().write((0, 0), (w, h), &mut buf).unwrap();
    path.to_path_buf()
}

fn x3_model(path: &Path) -> PathBuf {
    upsample3_model(path);
    path.to_path_buf()
}

fn run_cli(model: &Path, input: &Path, output: &Path, extra: &[&str]) -> Output {
    let o = cli()
        .arg("run")
        .args([model, input, output])
        .args(["--tile-size", "32", "--overlap", "0", "--margin", "0"])
        .args(extra)
        .env("RASTRUM_ORT_LIB", std::env::var("RASTRUM_ORT_LIB").unwrap_or_default())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o
}

/// The grid lines a run printed (those naming tiles of a size).
fn grid_lines(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stderr).lines().filter(|l| l.contains(" tiles of ")).map(String::from).collect()
}

/// Tiles of `tile` px without overlap over `len` px: the last one is moved back to the edge.
fn tiles(len: usize, tile: usize) -> usize {
    len.div_ceil(tile)
}

#[test]
fn run_prints_the_grid_and_tile_count_before_the_tiles() {
    let dir = tmp();
    let model = dir.path().join("identity.onnx");
    identity_model(&model, 1, &[]);
    let (w, h) = (70, 50);
    let input = raster_of(&dir.path().join("utm.tif"), w, h, true);
    let o = run_cli(&model, &input, &dir.path().join("out.tif"), &[]);
    let (cols, rows) = (tiles(w, 32), tiles(h, 32));
    assert_eq!((cols, rows), (3, 2));
    let expected = format!(
        "rastrum: {w} x {h} px (10 m pixels) -> {cols} x {rows} = {} tiles of 32 px, output {w} x {h} px",
        cols * rows
    );
    assert_eq!(grid_lines(&o), vec![expected.clone()]);
    // Hosts (the QGIS plugin) get the same line from the layout.
    let mut opts = rastrum::RunOptions::default();
    for (k, v) in [("tile-size", "32"), ("overlap", "0"), ("margin", "0")] {
        opts.set(k, v).unwrap();
    }
    let l = rastrum::plan::layout(&load(&model), &input, &opts).unwrap();
    assert_eq!(format!("rastrum: {}", l.grid), expected);
    // Printed before the summary line that ends the run.
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(err.find(" tiles of ").unwrap() < err.find("tiles run").unwrap(), "{err}");

    // Quiet and JSON runs print no grid line.
    for flag in ["-q", "--json"] {
        let o = run_cli(&model, &input, &dir.path().join(format!("out{flag}.tif")), &[flag]);
        assert!(grid_lines(&o).is_empty(), "{flag}: {}", String::from_utf8_lossy(&o.stderr));
    }
}

#[test]
fn the_grid_line_gives_the_super_resolved_output_and_a_windows_place() {
    let dir = tmp();
    let model = x3_model(&dir.path().join("x3.onnx"));
    let (w, h) = (40, 20);
    let input = raster_of(&dir.path().join("bare.tif"), w, h, false);
    let o = run_cli(&model, &input, &dir.path().join("sr.tif"), &[]);
    let (cols, rows) = (tiles(w, 32), tiles(h, 32));
    let expected = format!(
        "rastrum: {w} x {h} px (no geotransform) -> {cols} x {rows} = {} tiles of 32 px, output {} x {} px",
        cols * rows,
        3 * w,
        3 * h
    );
    assert_eq!(grid_lines(&o), vec![expected]);

    // Tile column 1, row 1 of a 96 x 64 raster in 32 px tiles owns pixels 32..64 both ways.
    let identity = dir.path().join("identity.onnx");
    identity_model(&identity, 1, &[]);
    let input = raster_of(&dir.path().join("utm96.tif"), 96, 64, true);
    let o = run_cli(&identity, &input, &dir.path().join("w.tif"), &["--window", "1,1,1,1"]);
    let expected = "rastrum: 96 x 64 px (10 m pixels) -> 1 x 1 = 1 tiles of 32 px, output 32 x 32 px \
                    at (32, 32) of the whole 96 x 64 px";
    assert_eq!(grid_lines(&o), vec![expected.to_string()]);
}
