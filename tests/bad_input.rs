//! The bad-input suite: every case below is a file or an option a user may hand Rastrum. Each
//! one either runs to a defined result or fails with an error that names the problem; in every
//! case nothing is left in the output folder unless the run succeeded, and the input raster is
//! byte for byte what it was. The inputs and models are generated here. docs/reliability.md lists
//! the cases and what users see.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use gdal::DriverManager;
use rastrum::onnx::build::Attr;
use rastrum::onnx::{Dim, GraphBuilder};
use rastrum::{run, RunOptions, RunSummary};
use rastrum::{Model, SessionOptions};

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

/// Runs `model` on `input` into an empty folder; checks the input is untouched and, on error,
/// that the folder stays empty. Returns the result and the output path.
fn attempt(
    model: &Model,
    input: &Path,
    opts: &RunOptions,
) -> (rastrum::Result<RunSummary>, PathBuf, tempfile::TempDir) {
    let before = std::fs::read(input).ok();
    let out_dir = tmp();
    let out = out_dir.path().join("out.tif");
    let result = run(model, input, &out, opts, &mut |_, _| true);
    assert_eq!(std::fs::read(input).ok(), before, "{}: the input changed", input.display());
    if result.is_err() {
        assert!(files_in(out_dir.path()).is_empty(), "{}: left {:?}", input.display(), files_in(out_dir.path()));
    }
    (result, out, out_dir)
}

/// The case must fail with an error containing every one of `needles`.
#[track_caller]
fn must_fail(case: &str, result: rastrum::Result<RunSummary>, needles: &[&str]) {
    match result {
        Ok(_) => panic!("{case}: succeeded, expected an error mentioning {needles:?}"),
        Err(e) => {
            let msg = e.to_string();
            for n in needles {
                assert!(msg.contains(n), "{case}: error '{msg}' does not mention '{n}'");
            }
        }
    }
}

fn nchw(c: i64) -> Vec<Dim> {
    vec!["n".into(), c.into(), "h".into(), "w".into()]
}

fn identity(dir: &Path) -> Model {
    let p = dir.join("identity.onnx");
    identity_model(&p, 1, &[]);
    load(&p)
}

fn small_tiles() -> RunOptions {
    RunOptions { tile_size: Some(32), overlap: Some(4), batch: Some(2), ..Default::default() }
}

#[test]
fn unreadable_inputs_are_named() {
    let dir = tmp();
    let model = identity(dir.path());
    let good = raster(&dir.path().join("good.tif"), 64, 48, &[ramp(64, 48)], None);

    let (r, ..) = attempt(&model, &dir.path().join("missing.tif"), &small_tiles());
    must_fail("missing input", r, &["missing.tif", "does not exist"]);

    let corrupt = dir.path().join("corrupt.tif");
    let mut bytes = b"II*\0".to_vec();
    bytes.extend((0..4000u32).map(|i| (i * 31 % 256) as u8));
    std::fs::write(&corrupt, &bytes).unwrap();
    let (r, ..) = attempt(&model, &corrupt, &small_tiles());
    must_fail("corrupt GeoTIFF", r, &["corrupt.tif", "GDAL cannot open it"]);

    let text = dir.path().join("notes.tif");
    std::fs::write(&text, "not a raster at all\n").unwrap();
    let (r, ..) = attempt(&model, &text, &small_tiles());
    must_fail("text file", r, &["notes.tif", "GDAL cannot open it"]);

    // A tiled, compressed GeoTIFF cut short: GDAL opens it, the blocks past the cut fail to read.
    let tiled = dir.path().join("tiled.tif");
    let opts = gdal::raster::RasterCreationOptions::from_iter(["TILED=YES", "BLOCKXSIZE=16", "BLOCKYSIZE=16"]);
    let driver = DriverManager::get_driver_by_name("GTiff").unwrap();
    let src = gdal::Dataset::open(&good).unwrap();
    src.create_copy(&driver, &tiled, &opts).unwrap();
    drop(src);
    let full = std::fs::read(&tiled).unwrap();
    let truncated = dir.path().join("truncated.tif");
    std::fs::write(&truncated, &full[..full.len() / 2]).unwrap();
    let (r, ..) = attempt(&model, &truncated, &small_tiles());
    must_fail("truncated GeoTIFF", r, &["truncated.tif"]);

    let zero = dir.path().join("zero.vrt");
    std::fs::write(&zero, "<VRTDataset rasterXSize=\"0\" rasterYSize=\"0\"></VRTDataset>").unwrap();
    let (r, ..) = attempt(&model, &zero, &small_tiles());
    must_fail("zero-size raster", r, &["zero.vrt"]);

    let no_bands = dir.path().join("nobands.vrt");
    std::fs::write(&no_bands, "<VRTDataset rasterXSize=\"10\" rasterYSize=\"10\"></VRTDataset>").unwrap();
    let (r, ..) = attempt(&model, &no_bands, &small_tiles());
    must_fail("raster without bands", r, &["band"]);
}

#[test]
fn tiny_rasters_run_exactly() {
    let dir = tmp();
    let model = identity(dir.path());
    for (w, h) in [(1, 1), (10, 7), (31, 33), (1, 100)] {
        let data = ramp(w, h);
        let input = raster(&dir.path().join(format!("tiny_{w}x{h}.tif")), w, h, &[data.clone()], None);
        let (r, out, _keep) = attempt(&model, &input, &small_tiles());
        let s = r.unwrap_or_else(|e| panic!("{w}x{h}: {e}"));
        assert_eq!((s.width, s.height), (w, h));
        let (_, _, got) = read_band(&out, 1);
        let want: Vec<f64> = data.iter().map(|v| *v as f64).collect();
        assert_eq!(got, want, "{w}x{h}");
    }
}

#[test]
fn band_selection_errors_are_named() {
    let dir = tmp();
    let model = identity(dir.path());
    let input = raster(&dir.path().join("two.tif"), 40, 40, &[ramp(40, 40), ramp(40, 40)], None);
    let (r, ..) = attempt(&model, &input, &RunOptions { bands: Some(vec![0]), ..small_tiles() });
    must_fail("band 0", r, &["numbered from 1"]);
    let (r, ..) = attempt(&model, &input, &RunOptions { bands: Some(vec![9]), ..small_tiles() });
    must_fail("band 9", r, &["band 9 is out of range", "2 band(s)"]);
    let (r, ..) = attempt(&model, &input, &RunOptions { bands: Some(vec![1, 2]), ..small_tiles() });
    must_fail("two bands for one channel", r, &["channel count mismatch", "1 channel(s)", "2 band(s)"]);
    // A three-channel model on the two-band raster without a band choice.
    let three = dir.path().join("pointwise.onnx");
    pointwise_model(&three);
    let (r, ..) = attempt(&load(&three), &input, &small_tiles());
    must_fail("too few bands", r, &["channel count mismatch", "3 channel(s)", "2 band(s)"]);
    // With more bands than channels the first ones feed the model (RGB of RGBA).
    let (r, ..) = attempt(&model, &input, &small_tiles());
    assert_eq!(r.unwrap().tiles_run, 4);
}

#[test]
fn nan_inf_and_all_nodata_inputs() {
    let dir = tmp();
    let model = identity(dir.path());
    let (w, h) = (50, 40);
    let mut data: Vec<f32> = (0..w * h).map(|i| i as f32 * 0.5).collect();
    data[3] = f32::NAN;
    data[77] = f32::INFINITY;
    data[1999] = f32::NEG_INFINITY;
    let input = raster(&dir.path().join("naninf.tif"), w, h, &[data.clone()], None);
    let (r, out, _keep) = attempt(&model, &input, &small_tiles());
    r.unwrap();
    let (_, _, got) = read_band(&out, 1);
    for (i, (g, v)) in got.iter().zip(&data).enumerate() {
        let want = if v.is_finite() { *v as f64 } else { -9999.0 };
        assert_eq!(*g, want, "pixel {i}");
    }

    let nodata = raster(&dir.path().join("empty.tif"), w, h, &[vec![0u8; w * h]], Some(0.0));
    let (r, out, _keep) = attempt(&model, &nodata, &small_tiles());
    let s = r.unwrap();
    assert_eq!(s.tiles_run, 0, "all-nodata tiles are skipped");
    let (_, _, got) = read_band(&out, 1);
    assert!(got.iter().all(|v| *v == -9999.0));
}

#[test]
fn unusable_models_are_named() {
    let dir = tmp();
    let opts = SessionOptions { threads: Some(1), ..Default::default() };
    let load_err = |p: &Path| match Model::load(p, &opts) {
        Ok(_) => panic!("{} loaded", p.display()),
        Err(e) => e.to_string(),
    };

    let not_onnx = dir.path().join("words.onnx");
    std::fs::write(&not_onnx, "these are words").unwrap();
    let e = load_err(&not_onnx);
    assert!(e.contains("words.onnx") && e.contains("not a valid ONNX"), "{e}");

    let empty = dir.path().join("empty.onnx");
    std::fs::write(&empty, "").unwrap();
    let e = load_err(&empty);
    assert!(e.contains("empty.onnx"), "{e}");

    let whole = dir.path().join("whole.onnx");
    conv_model(&whole);
    let bytes = std::fs::read(&whole).unwrap();
    let cut = dir.path().join("cut.onnx");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let e = load_err(&cut);
    assert!(e.contains("cut.onnx"), "{e}");

    let missing = dir.path().join("absent.onnx");
    let e = load_err(&missing);
    assert!(e.contains("absent.onnx"), "{e}");

    let two = dir.path().join("two_inputs.onnx");
    GraphBuilder::new("two")
        .input("a", &nchw(1))
        .input("b", &nchw(1))
        .node("Add", &["a", "b"], &["y"], &[])
        .output("y", &nchw(1))
        .save(&two)
        .unwrap();
    let e = load_err(&two);
    assert!(e.contains("two_inputs.onnx") && e.contains("2 inputs") && e.contains("exactly one"), "{e}");

    // Outputs that cannot be mapped to the task: rank 3, and a 3x larger map for segmentation.
    let input = raster(&dir.path().join("in.tif"), 40, 40, &[ramp(40, 40)], None);
    let rank3 = dir.path().join("rank3.onnx");
    GraphBuilder::new("rank3")
        .input("x", &nchw(1))
        .initializer_i64("shape", &[3], &[0, 1, -1])
        .node("Reshape", &["x", "shape"], &["y"], &[])
        .output_unknown("y")
        .meta("rastrum_task", "\"regression\"")
        .save(&rank3)
        .unwrap();
    let (r, ..) = attempt(&load(&rank3), &input, &small_tiles());
    must_fail("rank-3 output", r, &["rank3.onnx"]);

    let up = dir.path().join("upsample.onnx");
    GraphBuilder::new("up")
        .input("x", &nchw(1))
        .initializer("scales", &[4], &[1.0, 1.0, 3.0, 3.0], false)
        .node("Resize", &["x", "", "scales"], &["y"], &[("mode", Attr::Str("nearest".into()))])
        .output_unknown("y")
        .meta("rastrum_task", "\"segmentation\"")
        .save(&up)
        .unwrap();
    let (r, ..) = attempt(&load(&up), &input, &small_tiles());
    must_fail("x3 map for segmentation", r, &["upsample.onnx", "output size 96", "32-pixel tile"]);
}

/// Every card key the runtime reads, given a value of a type it cannot be: the error names the
/// key. Plus text that is not JSON where JSON is required.
#[test]
fn every_card_key_rejects_a_wrong_type() {
    let dir = tmp();
    let model = identity(dir.path());
    let input = raster(&dir.path().join("in.tif"), 40, 40, &[ramp(40, 40)], None);
    let mut checked = 0;
    for (key, _) in rastrum::card::KEYS {
        if *key == "rastrum_training" {
            continue; // informational, any JSON
        }
        let opts = RunOptions { card_overrides: vec![(key.to_string(), "[[[]]]".into())], ..small_tiles() };
        let (r, ..) = attempt(&model, &input, &opts);
        must_fail(key, r, &[key]);
        checked += 1;
    }
    assert_eq!(checked, rastrum::card::KEYS.len() - 1);
    for (key, bad) in [("class_names", "{\"0\": \"a\""), ("rastrum_bands", "[1, 2"), ("tiles_overlap", "\"ten\"")] {
        let opts = RunOptions { card_overrides: vec![(key.to_string(), bad.into())], ..small_tiles() };
        let (r, ..) = attempt(&model, &input, &opts);
        must_fail(key, r, &[key]);
    }
}

#[test]
fn absurd_options_are_refused() {
    let dir = tmp();
    let model = identity(dir.path());
    let input = raster(&dir.path().join("in.tif"), 40, 40, &[ramp(40, 40)], None);
    let cases: Vec<(&str, RunOptions, &[&str])> = vec![
        ("tile size 0", RunOptions { tile_size: Some(0), ..Default::default() }, &["tile size"]),
        ("tile size 1e9", RunOptions { tile_size: Some(1_000_000_000), ..Default::default() }, &["tile size", "16384"]),
        ("overlap = tile", RunOptions { tile_size: Some(32), overlap: Some(32), ..Default::default() }, &["overlap"]),
        (
            "margin eats the tile",
            RunOptions { tile_size: Some(32), margin: Some(16), ..Default::default() },
            &["margin"],
        ),
        ("batch 0", RunOptions { batch: Some(0), ..small_tiles() }, &["batch"]),
        ("batch 1e6", RunOptions { batch: Some(1_000_000), ..small_tiles() }, &["batch"]),
        ("scale 0", RunOptions { scale: Some(vec![0.0]), ..small_tiles() }, &["scale", "0"]),
        ("std 0", RunOptions { std: Some(vec![0.0]), ..small_tiles() }, &["std"]),
        ("NaN mean", RunOptions { mean: Some(vec![f64::NAN]), ..small_tiles() }, &["mean"]),
        ("two scales for one band", RunOptions { scale: Some(vec![1.0, 2.0]), ..small_tiles() }, &["scale"]),
        ("pad >= stride", RunOptions { pad: Some(28), ..small_tiles() }, &["padding 28"]),
        ("weight band 0", RunOptions { weight_band: Some(0), ..small_tiles() }, &["weight band"]),
    ];
    for (name, opts, needles) in cases {
        let (r, ..) = attempt(&model, &input, &opts);
        must_fail(name, r, needles);
    }
    for (key, value, needle) in [
        ("tile-size", "-3", "tile-size"),
        ("overlap", "lots", "overlap"),
        ("stitch", "glue", "stitch"),
        ("grid", "hex", "grid"),
        ("pad-mode", "wrap", "pad"),
        ("no-such-option", "1", "no-such-option"),
    ] {
        let e = RunOptions::default().set(key, value).unwrap_err().to_string();
        assert!(e.contains(needle), "option {key}={value}: {e}");
    }
}

#[test]
fn bad_output_paths_are_refused() {
    let dir = tmp();
    let model = identity(dir.path());
    let input = raster(&dir.path().join("in.tif"), 40, 40, &[ramp(40, 40)], None);
    let before = std::fs::read(&input).unwrap();
    let try_out = |out: &Path| run(&model, &input, out, &small_tiles(), &mut |_, _| true);

    must_fail("output in a missing folder", try_out(&dir.path().join("no/such/out.tif")), &["does not exist"]);
    must_fail("output is a folder", try_out(dir.path()), &["is a directory"]);
    must_fail("output is the input", try_out(&input), &["is the input"]);
    assert_eq!(std::fs::read(&input).unwrap(), before);

    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    let mut perm = std::fs::metadata(&locked).unwrap().permissions();
    perm.set_readonly(true);
    std::fs::set_permissions(&locked, perm.clone()).unwrap();
    let r = try_out(&locked.join("out.tif"));
    perm.set_readonly(false);
    std::fs::set_permissions(&locked, perm).unwrap();
    must_fail("read-only folder", r, &["not writable"]);
    assert!(files_in(&locked).is_empty());
}

/// A full disk, as a file size limit on the `rastrum` process (RLIMIT_FSIZE, SIGXFSZ ignored so
/// that writes fail with EFBIG): a clear error, and no output or temporary file left.
#[test]
fn a_full_disk_fails_cleanly() {
    let dir = tmp();
    let model = dir.path().join("identity.onnx");
    identity_model(&model, 1, &[]);
    let (w, h) = (600, 600);
    let noise: Vec<f32> = weights(w * h, 9);
    let input = raster(&dir.path().join("in.tif"), w, h, &[noise], None);
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let mut cmd = cli();
    cmd.args(["run", "-q", "--tile-size", "128", "--co", "COMPRESS=NONE"])
        .arg(&model)
        .arg(&input)
        .arg(out_dir.join("out.tif"));
    limit_file_size(&mut cmd, 256 * 1024);
    let o = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "exit status {:?}: {err}", o.status);
    assert!(err.contains("out.tif"), "{err}");
    assert!(files_in(&out_dir).is_empty(), "left {:?}", files_in(&out_dir));
}

/// An output path that is a named pipe (or a device: `rastrum run ... /dev/null` as root) is
/// refused before anything runs, and stays what it was; never replaced by a regular file.
#[test]
fn an_output_that_is_a_fifo_is_refused_and_left_as_it_is() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tmp();
    let model = identity(dir.path());
    let input = raster(&dir.path().join("in.tif"), 40, 40, &[ramp(40, 40)], None);
    let fifo = dir.path().join("pipe.tif");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let r = run(&model, &input, &fifo, &small_tiles(), &mut |_, _| true);
    must_fail("output is a FIFO", r, &["named pipe", "refusing to replace"]);
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    assert_eq!(files_in(dir.path()), ["identity.onnx", "in.tif", "pipe.tif"]);
}

/// A window whose size overflows the tile arithmetic is refused by name, not a panic (it used
/// to wrap and index past the grid, RASTRUM_PANIC through C).
#[test]
fn a_window_past_the_integer_range_is_refused() {
    let dir = tmp();
    let model = identity(dir.path());
    let input = raster(&dir.path().join("in.tif"), 40, 40, &[ramp(40, 40)], None);
    let mut opts = small_tiles();
    opts.set("window", "1,0,18446744073709551615,1").unwrap();
    let (r, _, _) = attempt(&model, &input, &opts);
    must_fail("window of u64::MAX tiles", r, &["reaches past the tile grid"]);
}

/// A model output that is NaN or infinite is no class and no value: the pixel is nodata (255 for
/// classes, the output nodata for values), never a confident class 0. Here y = sqrt(x - 5) per
/// channel: NaN wherever a band is below 5, checked against the same function in f32.
#[test]
fn non_finite_model_outputs_are_nodata_never_a_class() {
    let dir = tmp();
    let p = dir.path().join("sqrt.onnx");
    GraphBuilder::new("sqrt")
        .input("x", &nchw(2))
        .initializer("five", &[1], &[5.0], false)
        .node("Sub", &["x", "five"], &["d"], &[])
        .node("Sqrt", &["d"], &["y"], &[])
        .output("y", &nchw(2))
        .save(&p)
        .unwrap();
    let model = load(&p);
    let (w, h) = (37, 23);
    let b1: Vec<u8> = (0..w * h).map(|i| (i % 10) as u8).collect();
    let b2: Vec<u8> = (0..w * h).map(|i| (i * 3 % 10) as u8).collect();
    let input = raster(&dir.path().join("in.tif"), w, h, &[b1.clone(), b2.clone()], None);
    let opts = |task: &str| {
        let mut o = small_tiles();
        o.set("task", task).unwrap();
        o.set("activation", "none").unwrap();
        o
    };
    let (r, out, _keep) = attempt(&model, &input, &opts("segmentation"));
    r.unwrap();
    let (_, _, classes) = read_band(&out, 1);
    for i in 0..w * h {
        let (a, b) = ((b1[i] as f32 - 5.0).sqrt(), (b2[i] as f32 - 5.0).sqrt());
        let want = if !a.is_finite() || !b.is_finite() {
            255.0
        } else if b > a {
            1.0
        } else {
            0.0
        };
        assert_eq!(classes[i], want, "pixel {i}: bands {} {}", b1[i], b2[i]);
    }
    let (r, out, _keep) = attempt(&model, &input, &opts("regression"));
    r.unwrap();
    for (band, raw) in [(1, &b1), (2, &b2)] {
        let (_, _, values) = read_band(&out, band);
        for i in 0..w * h {
            let v = (raw[i] as f32 - 5.0).sqrt();
            let want = if v.is_finite() { v as f64 } else { -9999.0 };
            assert_eq!(values[i], want, "band {band} pixel {i}");
        }
    }
}

/// A float nodata value is compared in the raster's type: `--nodata 0.1` on Float32 pixels of
/// 0.1 masks them (compared in f64 against f32 pixels it masked none).
#[test]
fn float_nodata_is_compared_in_the_rasters_type() {
    let dir = tmp();
    let model = identity(dir.path());
    let (w, h) = (40, 30);
    let values: Vec<f32> = (0..w * h).map(|i| if i % 7 == 0 { 0.1 } else { i as f32 * 0.5 }).collect();
    let input = raster::<f32>(&dir.path().join("f32.tif"), w, h, &[values.clone()], None);
    let mut opts = small_tiles();
    opts.set("nodata", "0.1").unwrap();
    let (r, out, _keep) = attempt(&model, &input, &opts);
    r.unwrap();
    let (_, _, got) = read_band(&out, 1);
    let masked = got.iter().filter(|v| **v == -9999.0).count();
    assert_eq!(masked, values.iter().filter(|v| **v == 0.1f32).count());
    // The raster's own nodata (set as a double by GDAL) is read the same way.
    let input = raster::<f32>(&dir.path().join("f32_nd.tif"), w, h, &[values.clone()], Some(0.1));
    let (r, out, _keep) = attempt(&model, &input, &small_tiles());
    r.unwrap();
    let (_, _, got) = read_band(&out, 1);
    assert_eq!(got.iter().filter(|v| **v == -9999.0).count(), masked);
}

/// The CLI writes to a reader that has gone (`rastrum info --json m | head -c 10`): it ends
/// quietly with status 141, as a Unix tool killed by SIGPIPE, instead of panicking.
#[test]
fn a_closed_stdout_ends_the_cli_quietly() {
    let dir = tmp();
    let p = dir.path().join("identity.onnx");
    identity_model(&p, 1, &[]);
    let mut child = cli()
        .args(["info", "--json"])
        .arg(&p)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader is gone before the first line
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(141), "{stderr}");
}

/// `--extent XMIN,YMIN,XMAX,YMAX` as documented (one value): before the positional arguments it
/// no longer swallows the model path.
#[test]
fn the_extent_flag_takes_one_comma_separated_value() {
    let dir = tmp();
    let p = dir.path().join("identity.onnx");
    identity_model(&p, 1, &[]);
    let input = raster(&dir.path().join("in.tif"), 40, 40, &[ramp(40, 40)], None);
    // The raster's origin is (500000, 4000000), 10 m pixels: the middle 20 x 10 pixels.
    let out = dir.path().join("out.tif");
    let done = cli()
        .args(["run", "--extent", "500100,3999700,500300,3999800", "--tile-size", "32", "-q"])
        .args([&p, &input, &out])
        .output()
        .unwrap();
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    let (w, h, _) = read_band(&out, 1);
    assert_eq!((w, h), (20, 10));
}

/// The output may not be any file the run reads: the model, the mask, a source of an input VRT
/// (compared by device and inode, so a second path to the same file is caught). Each is refused
/// by name before anything runs, and stays byte for byte what it was.
#[test]
fn an_output_that_is_an_input_of_the_run_is_refused() {
    let dir = tmp();
    let model_path = dir.path().join("identity.onnx");
    identity_model(&model_path, 1, &[]);
    let model = load(&model_path);
    let source = raster(&dir.path().join("source.tif"), 40, 40, &[ramp(40, 40)], None);
    let mask = raster(&dir.path().join("mask.tif"), 40, 40, &[vec![1u8; 1600]], None);
    let vrt = dir.path().join("in.vrt");
    assert!(std::process::Command::new("gdalbuildvrt").arg("-q").arg(&vrt).arg(&source).status().unwrap().success());
    let mut opts = small_tiles();
    opts.set("mask", mask.to_str().unwrap()).unwrap();
    let cases = [
        ("the model", model_path.clone()),
        ("the mask", mask.clone()),
        ("a file of the input raster", source.clone()),
        ("a file of the input raster", dir.path().join("sub/../source.tif")),
    ];
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    for (what, output) in cases {
        let before = std::fs::read(&output).unwrap();
        let r = run(&model, &vrt, &output, &opts, &mut |_, _| true);
        must_fail(&format!("output is {what}"), r, &[what, "refusing to overwrite an input"]);
        assert_eq!(std::fs::read(&output).unwrap(), before, "{} changed", output.display());
    }
    // A new file beside them is fine.
    run(&model, &vrt, &dir.path().join("out.tif"), &opts, &mut |_, _| true).unwrap();
}

/// Signed bytes (GDAL 3.6 writes Int8 as a Byte band marked PIXELTYPE=SIGNEDBYTE) are read as
/// -128..127, not 0..255: the identity model gives back each byte as numpy's int8 would.
#[test]
fn signed_byte_rasters_are_read_as_signed() {
    let dir = tmp();
    let model = identity(dir.path());
    let bytes = ramp(40, 40);
    let unsigned = raster(&dir.path().join("u8.tif"), 40, 40, &[bytes.clone()], None);
    let signed = dir.path().join("i8.tif");
    let made = std::process::Command::new("gdal_translate")
        .args(["-q", "-co", "PIXELTYPE=SIGNEDBYTE"])
        .args([&unsigned, &signed])
        .status()
        .unwrap();
    assert!(made.success());
    let (r, out, _keep) = attempt(&model, &signed, &small_tiles());
    r.unwrap();
    let (_, _, got) = read_band(&out, 1);
    let want: Vec<f64> = bytes.iter().map(|b| *b as i8 as f64).collect();
    assert!(want.iter().any(|v| *v < 0.0));
    assert_eq!(got, want);
}

/// `--co NBITS=1` on a class raster would store the class nodata 255 as 1 (nodata read back as
/// a class): refused by name before any tile runs; NBITS=8 is accepted.
#[test]
fn a_class_raster_too_narrow_for_its_nodata_is_refused() {
    let dir = tmp();
    let p = dir.path().join("seg.onnx");
    identity_model(&p, 2, &[("rastrum_task", "\"segmentation\"")]);
    let model = load(&p);
    let input = raster(&dir.path().join("in.tif"), 40, 40, &[ramp(40, 40), ramp(40, 40)], Some(0.0));
    let mut opts = small_tiles();
    opts.set("co", "NBITS=1").unwrap();
    let (r, _, _) = attempt(&model, &input, &opts);
    must_fail("NBITS=1 class raster", r, &["NBITS=1", "nodata 255"]);
    let mut opts = small_tiles();
    opts.set("co", "NBITS=8").unwrap();
    let (r, _, _keep) = attempt(&model, &input, &opts);
    r.unwrap();
}

/// When GDAL refuses to create the output (`--co BLOCKXSIZE=7`) or the output is a folder
/// (`quicklook` onto a folder named `d.png`), the error names it and no temporary file is left.
#[test]
fn a_refused_output_leaves_no_temporary_file() {
    let dir = tmp();
    let p = dir.path().join("identity.onnx");
    identity_model(&p, 1, &[]);
    let input = raster(&dir.path().join("in.tif"), 40, 40, &[ramp(40, 40)], None);
    let out_dir = tmp();
    let done = cli()
        .args(["run", "--co", "BLOCKXSIZE=7", "--tile-size", "32", "-q"])
        .args([&p, &input, &out_dir.path().join("out.tif")])
        .output()
        .unwrap();
    assert!(!done.status.success());
    assert!(String::from_utf8_lossy(&done.stderr).contains("cannot create the output"));
    assert!(files_in(out_dir.path()).is_empty(), "{:?}", files_in(out_dir.path()));
    std::fs::create_dir(out_dir.path().join("d.png")).unwrap();
    let done =
        cli().arg("quicklook").args([&input, &out_dir.path().join("d.png")]).args(["--rgb", "1,1,1"]).output().unwrap();
    assert!(!done.status.success());
    assert!(String::from_utf8_lossy(&done.stderr).contains("d.png"));
    assert_eq!(files_in(out_dir.path()), ["d.png"]);
    assert!(files_in(&out_dir.path().join("d.png")).is_empty());
}

/// What GDAL could not open is said in words, not "returned a NULL pointer. Error msg: ''": a
/// name with ':' that is no file, a device, a missing mask, a file no driver reads.
#[test]
fn unopenable_paths_say_why() {
    let dir = tmp();
    let model = identity(dir.path());
    let input = raster(&dir.path().join("in.tif"), 40, 40, &[ramp(40, 40)], None);
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a raster").unwrap();
    let cases: [(&str, PathBuf, RunOptions, &[&str]); 4] = [
        ("a:b", dir.path().join("a:b.tif"), small_tiles(), &["does not exist", "':'"]),
        ("a device", PathBuf::from("/dev/zero"), small_tiles(), &["/dev/zero", "not a regular file"]),
        ("a text file", text.clone(), small_tiles(), &["no GDAL driver recognises it"]),
        (
            "a missing mask",
            input.clone(),
            {
                let mut o = small_tiles();
                o.set("mask", dir.path().join("no_mask.gpkg").to_str().unwrap()).unwrap();
                o
            },
            &["no_mask.gpkg", "cannot open the mask", "does not exist"],
        ),
    ];
    for (case, path, opts, needles) in cases {
        let r = run(&model, &path, &dir.path().join("out.tif"), &opts, &mut |_, _| true);
        let e = r.as_ref().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(!e.contains("NULL pointer"), "{case}: {e}");
        must_fail(case, r, needles);
    }
}
