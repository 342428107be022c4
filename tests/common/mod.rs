//! Helpers shared by the integration tests: paths of the bundled real data, generated ONNX models
//! whose answers the tests compute independently, and raster readers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use gdal::raster::GdalType;
use gdal::{Dataset, DriverManager, Metadata};
use rastrum::onnx::build::Attr;
use rastrum::onnx::{Dim, GraphBuilder};
use rastrum::{Model, SessionOptions};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn data(p: &str) -> PathBuf {
    root().join("data").join(p)
}

pub fn cloud_model() -> PathBuf {
    let p = root().join("models/cloud_mask/model_6b_l1c.onnx");
    assert!(p.is_file(), "{} is missing: run scripts/setup.sh (make test does)", p.display());
    p
}

pub fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

pub fn load(path: &Path) -> Model {
    Model::load(path, &SessionOptions { threads: Some(2), ..Default::default() })
        .unwrap_or_else(|e| panic!("loading {}: {e} (make test sets RASTRUM_ORT_LIB)", path.display()))
}

pub fn cli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rastrum"))
}

/// Band `b` (1-based) of a raster as f64, with its size.
pub fn read_band(path: &Path, b: usize) -> (usize, usize, Vec<f64>) {
    let ds = Dataset::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (w, h) = ds.raster_size();
    let band = ds.rasterband(b).unwrap();
    let buf = band.read_as::<f64>((0, 0), (w, h), (w, h), None).unwrap();
    (w, h, buf.data().to_vec())
}

pub fn geo_transform(path: &Path) -> [f64; 6] {
    Dataset::open(path).unwrap().geo_transform().unwrap()
}

pub fn projection(path: &Path) -> String {
    Dataset::open(path).unwrap().projection()
}

/// A 3-band uint16 Landsat-8 stack (B2, B3, B4 of the bundled scene) as a VRT in `dir`.
pub fn landsat_rgb_vrt(dir: &Path) -> PathBuf {
    let out = dir.join("l8_b2_b4.vrt");
    let bands: Vec<Dataset> = ["l8_B2.tif", "l8_B3.tif", "l8_B4.tif"]
        .iter()
        .map(|b| Dataset::open(data("landsat8_l1_b2_b7").join(b)).unwrap())
        .collect();
    let opts = gdal::programs::raster::BuildVRTOptions::new(["-separate"]).unwrap();
    let vrt = gdal::programs::raster::build_vrt(Some(&out), &bands, Some(opts)).unwrap();
    drop(vrt);
    out
}

fn nchw(c: i64) -> Vec<Dim> {
    vec!["n".into(), c.into(), "h".into(), "w".into()]
}

/// The pointwise graph over input `x` with 3 bands a, b, c: y0 = (a - b) / ((a + b) + 1) and
/// y1 = c * 0.5 + a, concatenated as `y` (y1 alone stays available as `y1`).
pub fn pointwise_nodes(g: GraphBuilder) -> GraphBuilder {
    g.initializer("one", &[1], &[1.0], false)
        .initializer("half", &[1], &[0.5], false)
        .node("Split", &["x"], &["a", "b", "c"], &[("axis", Attr::Int(1))])
        .node("Sub", &["a", "b"], &["d"], &[])
        .node("Add", &["a", "b"], &["s"], &[])
        .node("Add", &["s", "one"], &["s1"], &[])
        .node("Div", &["d", "s1"], &["y0"], &[])
        .node("Mul", &["c", "half"], &["c2"], &[])
        .node("Add", &["c2", "a"], &["y1"], &[])
        .node("Concat", &["y0", "y1"], &["y"], &[("axis", Attr::Int(1))])
}

/// The pointwise graph with dynamic batch and size. Its declared output shape is deliberately
/// wrong.
pub fn pointwise_model(path: &Path) {
    pointwise_nodes(GraphBuilder::new("pointwise").input("x", &nchw(3)))
        .output("y", &["n".into(), 7.into(), "n".into(), 1.into()])
        .meta("rastrum_task", "\"regression\"")
        .save(path)
        .unwrap();
}

/// y = x for `channels` channels (per-pixel regression), with extra card keys.
pub fn identity_model(path: &Path, channels: i64, meta: &[(&str, &str)]) {
    let mut g = GraphBuilder::new("identity")
        .input("x", &nchw(channels))
        .node("Identity", &["x"], &["y"], &[])
        .output("y", &nchw(channels))
        .meta("rastrum_task", "\"regression\"");
    for (k, v) in meta {
        g = g.meta(k, v);
    }
    g.save(path).unwrap();
}

/// The pointwise model's answer for one pixel, computed in f32 like the graph.
pub fn pointwise(a: f32, b: f32, c: f32) -> [f32; 2] {
    [(a - b) / ((a + b) + 1.0), c * 0.5 + a]
}

/// Deterministic pseudo-random weights in [-0.5, 0.5).
pub fn weights(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect()
}

/// Two 3x3 convolutions with zero 'same' padding: receptive radius 2. One band in, one out.
pub fn conv_model(path: &Path) {
    GraphBuilder::new("conv")
        .input("x", &nchw(1))
        .initializer("w1", &[4, 1, 3, 3], &weights(36, 1), true)
        .initializer("b1", &[4], &weights(4, 2), true)
        .initializer("w2", &[1, 4, 3, 3], &weights(36, 3), false)
        .initializer("b2", &[1], &weights(1, 4), false)
        .node(
            "Conv",
            &["x", "w1", "b1"],
            &["h1"],
            &[("pads", Attr::Ints(vec![1, 1, 1, 1])), ("kernel_shape", Attr::Ints(vec![3, 3]))],
        )
        .node("Relu", &["h1"], &["r1"], &[])
        .node(
            "Conv",
            &["r1", "w2", "b2"],
            &["y"],
            &[("pads", Attr::Ints(vec![1, 1, 1, 1])), ("kernel_shape", Attr::Ints(vec![3, 3]))],
        )
        .output("y", &nchw(1))
        .meta("rastrum_task", "\"regression\"")
        .save(path)
        .unwrap();
}

/// Per-tile class scores: the mean of each of 3 bands over the tile ([n, 3]).
pub fn tile_mean_model(path: &Path, tile: i64) {
    GraphBuilder::new("tile_mean")
        .input("x", &["n".into(), 3.into(), tile.into(), tile.into()])
        .node("GlobalAveragePool", &["x"], &["p"], &[])
        .node("Flatten", &["p"], &["y"], &[("axis", Attr::Int(1))])
        .output("y", &["n".into(), 3.into()])
        .meta("rastrum_task", "\"classification\"")
        .meta("rastrum_activation", "\"none\"")
        .meta("class_names", "{\"0\": \"red\", \"1\": \"green\", \"2\": \"blue\"}")
        .save(path)
        .unwrap();
}

/// Per-tile regression: the sum of the one input band over the tile ([n]).
pub fn tile_sum_model(path: &Path, tile: i64) {
    GraphBuilder::new("tile_sum")
        .input("x", &["n".into(), 1.into(), tile.into(), tile.into()])
        .initializer_i64("axes", &[3], &[1, 2, 3])
        .node("ReduceSum", &["x", "axes"], &["y"], &[("keepdims", Attr::Int(0))])
        .output("y", &["n".into()])
        .meta("rastrum_task", "\"regression\"")
        .save(path)
        .unwrap();
}

/// Two-class segmentation by a 1x1 convolution of one band: logits (x, 0.5), so class 1 where
/// x < 0.5. Cheap, for the streaming test.
pub fn threshold_model(path: &Path) {
    GraphBuilder::new("threshold")
        .input("x", &nchw(1))
        .initializer("w", &[2, 1, 1, 1], &[1.0, 0.0], false)
        .initializer("b", &[2], &[0.0, 0.5], false)
        .node("Conv", &["x", "w", "b"], &["y"], &[("kernel_shape", Attr::Ints(vec![1, 1]))])
        .output("y", &nchw(2))
        .meta("model_type", "\"Segmentor\"")
        .meta("class_names", "{\"0\": \"bright\", \"1\": \"dark\"}")
        .save(path)
        .unwrap();
}

/// Numpy-style reflect index, written independently of the library's.
pub fn mirror(i: i64, n: usize) -> usize {
    let n = n as i64;
    let mut i = i;
    loop {
        if i < 0 {
            i = -i;
        } else if i >= n {
            i = 2 * (n - 1) - i;
        } else {
            return i as usize;
        }
        if n == 1 {
            return 0;
        }
    }
}

/// Population by light over band 1 of the RGB sample: per-tile totals redistributed by
/// w = exp(L / max L) - 1 of the same band (the tile_sum model's test setting).
pub fn redistribution_by_light() -> rastrum::RunOptions {
    rastrum::RunOptions {
        bands: Some(vec![1]),
        scale: Some(vec![0.01]),
        redistribute: Some(rastrum::card::Redistribute::Weight),
        weight_band: Some(1),
        ..Default::default()
    }
}

/// The x3 super-resolution model on a Landsat-8 reflectance band (DN * 2e-5 - 0.1).
pub fn super_resolution_of_landsat() -> rastrum::RunOptions {
    rastrum::RunOptions {
        task: Some(rastrum::card::Task::SuperResolution),
        scale: Some(vec![2e-5]),
        offset: Some(vec![-0.1]),
        ..Default::default()
    }
}

/// Every band's values as bits (f32 and u8 values are exact in f64), with the band's metadata.
pub fn contents(path: &Path, window: Option<(usize, usize, usize, usize)>) -> Vec<(Vec<u64>, String)> {
    let ds = gdal::Dataset::open(path).unwrap();
    let (w, h) = ds.raster_size();
    let (x, y, ww, wh) = window.unwrap_or((0, 0, w, h));
    (1..=ds.raster_count())
        .map(|b| {
            let band = ds.rasterband(b).unwrap();
            let values = band.read_as::<f64>((x as isize, y as isize), (ww, wh), (ww, wh), None).unwrap();
            let meta = format!(
                "{:?} {:?} {:?} {:?} {:?}",
                band.band_type(),
                band.no_data_value(),
                band.description().unwrap(),
                band.scale().filter(|s| *s != 1.0),
                band.color_table().map(|t| t.entry_count())
            );
            (values.data().iter().map(|v| v.to_bits()).collect(), meta)
        })
        .collect()
}

/// A `w` x `h` GeoTIFF of one band per vector of `bands`, with an optional nodata value.
pub fn raster<T: GdalType + Copy>(path: &Path, w: usize, h: usize, bands: &[Vec<T>], nodata: Option<f64>) -> PathBuf {
    let driver = DriverManager::get_driver_by_name("GTiff").unwrap();
    let mut ds = driver.create_with_band_type::<T, _>(path, w, h, bands.len()).unwrap();
    ds.set_geo_transform(&[500000.0, 10.0, 0.0, 4000000.0, 0.0, -10.0]).unwrap();
    for (i, data) in bands.iter().enumerate() {
        let mut b = ds.rasterband(i + 1).unwrap();
        let mut buf = gdal::raster::Buffer::new((w, h), data.clone());
        b.write((0, 0), (w, h), &mut buf).unwrap();
        if let Some(nd) = nodata {
            b.set_no_data_value(Some(nd)).unwrap();
        }
    }
    drop(ds);
    path.to_path_buf()
}

pub fn ramp(w: usize, h: usize) -> Vec<u8> {
    (0..w * h).map(|i| (i * 7 % 251) as u8).collect()
}

/// Runs `cmd` under a file size limit of `bytes` (RLIMIT_FSIZE, as `ulimit -f`), with SIGXFSZ
/// ignored so that a write past it fails with EFBIG, as a full disk does, instead of killing it.
pub fn limit_file_size(cmd: &mut Command, bytes: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit { rlim_cur: bytes, rlim_max: bytes };
            libc::setrlimit(libc::RLIMIT_FSIZE, &limit);
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
}

/// x3 super-resolution by nearest-neighbour upsampling, one band, any size.
pub fn upsample3_model(path: &Path) {
    let nchw: Vec<rastrum::onnx::Dim> = vec!["n".into(), 1.into(), "h".into(), "w".into()];
    GraphBuilder::new("x3")
        .input("x", &nchw)
        .initializer("scales", &[4], &[1.0, 1.0, 3.0, 3.0], false)
        .node("Resize", &["x", "", "scales"], &["y"], &[("mode", Attr::Str("nearest".into()))])
        .output_unknown("y")
        .meta("rastrum_task", "\"super_resolution\"")
        .save(path)
        .unwrap();
}

/// Class names of band 1 (GDAL's category names, from the PAM sidecar).
pub fn class_names(path: &Path) -> Vec<String> {
    let ds = gdal::Dataset::open(path).unwrap();
    // GDAL loads a GeoTIFF's sidecar on the first georeferencing query.
    let _ = ds.geo_transform();
    let band = ds.rasterband(1).unwrap();
    // SAFETY: the band is live for the borrow; the NULL-terminated list is GDAL's, copied out.
    let names = unsafe { gdal_sys::GDALGetRasterCategoryNames(band.c_rasterband()) };
    let mut out = Vec::new();
    while !names.is_null() && !unsafe { *names.add(out.len()) }.is_null() {
        out.push(unsafe { std::ffi::CStr::from_ptr(*names.add(out.len())) }.to_string_lossy().into_owned());
    }
    out
}
