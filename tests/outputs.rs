//! The output policy of every command, through the built CLI: a run stopped by a signal leaves
//! nothing; an output that is an input, a special file or a folder is refused before any work;
//! a raster and its sidecar are replaced together, and a failure writing either leaves nothing;
//! a full disk is named. docs/reliability.md lists the cases and what users see.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use gdal::raster::GdalType;
use gdal::DriverManager;

/// What every temporary output's name holds (`rastrum::atomic::TEMP_MARKER`).
const MARKER: &str = ".rastrum-tmp-";

/// A `w` x `h` GeoTIFF (UTM 33N, 10 m pixels) of one band per vector of `bands`.
fn raster<T: GdalType + Copy>(path: &Path, w: usize, h: usize, bands: &[Vec<T>]) -> PathBuf {
    let driver = DriverManager::get_driver_by_name("GTiff").unwrap();
    let mut ds = driver.create_with_band_type::<T, _>(path, w, h, bands.len()).unwrap();
    ds.set_geo_transform(&[500000.0, 10.0, 0.0, 4000000.0, 0.0, -10.0]).unwrap();
    ds.set_projection(&gdal::spatial_ref::SpatialRef::from_epsg(32633).unwrap().to_wkt().unwrap()).unwrap();
    for (i, data) in bands.iter().enumerate() {
        let mut buf = gdal::raster::Buffer::new((w, h), data.clone());
        ds.rasterband(i + 1).unwrap().write((0, 0), (w, h), &mut buf).unwrap();
    }
    path.to_path_buf()
}

fn ramp(w: usize, h: usize) -> Vec<u8> {
    (0..w * h).map(|i| (i * 7 % 251) as u8).collect()
}

/// A large raster that costs nothing to make: a VRT without sources reads as zeros. One degree
/// square in WGS 84, so that `rastrum tiles` has thousands of tiles to draw at zoom 14.
fn zeros_vrt(path: &Path, side: usize) -> PathBuf {
    let px = 1.0 / side as f64;
    std::fs::write(
        path,
        format!(
            r#"<VRTDataset rasterXSize="{side}" rasterYSize="{side}">
  <SRS>EPSG:4326</SRS>
  <GeoTransform>10.0, {px}, 0.0, 45.0, 0.0, -{px}</GeoTransform>
  <VRTRasterBand dataType="Float32" band="1"/>
</VRTDataset>"#
        ),
    )
    .unwrap();
    path.to_path_buf()
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

fn temporaries_in(dir: &Path) -> Vec<String> {
    names_in(dir).into_iter().filter(|n| n.contains(MARKER)).collect()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Starts `cmd`, waits until a temporary output appears in `folder` and a moment more (the
/// writing is under way), sends `signal`, and returns what the program did.
fn interrupt(mut cmd: Command, folder: &Path, signal: i32) -> Output {
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let started = Instant::now();
    while temporaries_in(folder).is_empty() {
        assert!(started.elapsed() < Duration::from_secs(60), "no temporary output appeared in {}", folder.display());
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill(2) on the pid of our own child, which has not been waited for yet.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    child.wait_with_output().unwrap()
}

/// SIGINT, SIGTERM and SIGHUP during `rastrum run` and `rastrum tiles`: the program removes
/// its temporary output (the GeoTIFF being written, the tile pyramid's staging folder) and
/// exits with status 128 + the signal. Before, the signal's default action ended the program
/// and left them (7 MB and 212 MB seen).
#[test]
fn a_signal_removes_the_temporary_outputs() {
    let dir = tmp();
    let model = dir.path().join("identity.onnx");
    identity_model(&model, 1, &[]);
    let big = zeros_vrt(&dir.path().join("big.vrt"), 20000);
    for (signal, name) in [(libc::SIGINT, "SIGINT"), (libc::SIGTERM, "SIGTERM"), (libc::SIGHUP, "SIGHUP")] {
        let out = tmp();
        let mut run = cli();
        run.args(["run", "-q", "--tile-size", "512"]).args([&model, &big, &out.path().join("out.tif")]);
        let o = interrupt(run, out.path(), signal);
        assert_eq!(o.status.code(), Some(128 + signal), "run, {name}: {:?} {}", o.status, stderr(&o));
        assert!(stderr(&o).contains(name), "{}", stderr(&o));
        assert!(names_in(out.path()).is_empty(), "run, {name}: left {:?}", names_in(out.path()));

        let mut tiles = cli();
        tiles.arg("tiles").arg(&big).arg(out.path().join("pyramid")).args(["--zoom", "0-14", "--range", "0,1", "-q"]);
        let o = interrupt(tiles, out.path(), signal);
        assert_eq!(o.status.code(), Some(128 + signal), "tiles, {name}: {:?} {}", o.status, stderr(&o));
        assert!(names_in(out.path()).is_empty(), "tiles, {name}: left {:?}", names_in(out.path()));
    }
}
