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

/// Runs the CLI with `args` and returns its output.
fn rastrum(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut c = cli();
    for a in args {
        c.arg(a);
    }
    c.output().unwrap()
}

/// The command must fail with status `code` and a message holding every one of `needles`;
/// every file in `kept` must be byte for byte what it was.
#[track_caller]
fn refused(o: &Output, code: i32, needles: &[&str], kept: &[(&Path, &[u8])]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "{err}");
    for n in needles {
        assert!(err.contains(n), "'{err}' does not mention '{n}'");
    }
    for (path, bytes) in kept {
        assert_eq!(&std::fs::read(path).unwrap()[..], *bytes, "{} changed", path.display());
    }
}

/// `assemble` onto one of its windows (or another path to it) is refused before anything is
/// written: the window stays as it was. Before, the assembled GeoTIFF replaced the window.
#[test]
fn assemble_onto_one_of_its_windows_is_refused() {
    let dir = tmp();
    let model = dir.path().join("identity.onnx");
    identity_model(&model, 1, &[]);
    let input = raster(&dir.path().join("in.tif"), 64, 64, &[ramp(64, 64)]);
    let (left, right) = (dir.path().join("left.tif"), dir.path().join("right.tif"));
    for (window, out) in [("0,0,1,2", &left), ("1,0,1,2", &right)] {
        let o = rastrum(&[
            &"run",
            &"-q",
            &"--tile-size",
            &"32",
            &"--overlap",
            &"0",
            &"--window",
            &window,
            &model,
            &input,
            out,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let before = std::fs::read(&left).unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    for output in [left.clone(), dir.path().join("sub/../left.tif")] {
        let o = rastrum(&[&"assemble", &output, &left, &right]);
        refused(&o, 1, &["left.tif", "is a window", "refusing to overwrite an input"], &[(&left, &before)]);
    }
    // A new file beside them is written.
    let whole = dir.path().join("whole.tif");
    let o = rastrum(&[&"assemble", &whole, &left, &right]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(read_band(&whole, 1).2, ramp(64, 64).iter().map(|v| *v as f64).collect::<Vec<_>>());
}

/// `quicklook` onto its input raster or its class raster is refused before anything is read or
/// written. Before, the PNG replaced the input.
#[test]
fn quicklook_onto_its_input_is_refused() {
    let dir = tmp();
    let input = raster(&dir.path().join("in.tif"), 40, 40, &[ramp(40, 40), ramp(40, 40), ramp(40, 40)]);
    let classes = raster(&dir.path().join("classes.tif"), 40, 40, &[vec![1u8; 1600]]);
    let (in_bytes, cls_bytes) = (std::fs::read(&input).unwrap(), std::fs::read(&classes).unwrap());
    let kept: &[(&Path, &[u8])] = &[(&input, &in_bytes), (&classes, &cls_bytes)];
    let o = rastrum(&[&"quicklook", &input, &input]);
    refused(&o, 1, &["in.tif", "is the input raster", "refusing to overwrite an input"], kept);
    let o = rastrum(&[&"quicklook", &input, &classes, &"--classes", &classes]);
    refused(&o, 1, &["classes.tif", "is the class raster"], kept);
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let o = rastrum(&[&"quicklook", &input, &dir.path().join("sub/../in.tif")]);
    refused(&o, 1, &["refusing to overwrite an input"], kept);
    assert_eq!(names_in(dir.path()), ["classes.tif", "in.tif", "sub"]);
    let png = dir.path().join("look.png");
    let o = rastrum(&[&"quicklook", &input, &png, &"--classes", &classes]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
}

/// `tiles --overwrite` onto a folder that holds a file an input reads (here the source of an
/// input VRT that lives elsewhere) is refused: the folder and the source stay. Before, only the
/// input paths themselves were looked for, and the folder with the VRT's source was replaced.
#[test]
fn tiles_onto_a_folder_holding_an_input_is_refused() {
    let dir = tmp();
    let outdir = dir.path().join("pyramid");
    std::fs::create_dir(&outdir).unwrap();
    let source = raster(&outdir.join("source.tif"), 40, 40, &[ramp(40, 40)]);
    let bytes = std::fs::read(&source).unwrap();
    let vrt = dir.path().join("in.vrt");
    assert!(Command::new("gdalbuildvrt").arg("-q").arg(&vrt).arg(&source).status().unwrap().success());
    let o = rastrum(&[&"tiles", &vrt, &outdir, &"--zoom", &"10", &"--overwrite", &"-q"]);
    refused(&o, 1, &["pyramid", "holds the input", "source.tif", "in.vrt"], &[(&source, &bytes)]);
    assert_eq!(names_in(&outdir), ["source.tif"]);
    // The input itself as the output folder.
    let o = rastrum(&[&"tiles", &vrt, &vrt, &"--zoom", &"10", &"-q"]);
    refused(&o, 1, &["in.vrt", "not a folder"], &[]);
    assert_eq!(names_in(dir.path()), ["in.vrt", "pyramid"]);
}

/// `eval --confusion-png` onto a source file of the prediction VRT is refused before scoring.
/// Before, only the prediction's and the reference's own paths were compared.
#[test]
fn eval_figure_onto_an_input_is_refused() {
    let dir = tmp();
    let source = raster(&dir.path().join("pred_source.tif"), 40, 40, &[vec![1u8; 1600]]);
    let reference = raster(&dir.path().join("reference.tif"), 40, 40, &[vec![1u8; 1600]]);
    let vrt = dir.path().join("pred.vrt");
    assert!(Command::new("gdalbuildvrt").arg("-q").arg(&vrt).arg(&source).status().unwrap().success());
    let bytes = std::fs::read(&source).unwrap();
    let o = rastrum(&[&"eval", &vrt, &reference, &"--kind", &"classes", &"--confusion-png", &source]);
    refused(
        &o,
        1,
        &["pred_source.tif", "a file of the prediction", "refusing to overwrite an input"],
        &[(&source, &bytes)],
    );
    let o = rastrum(&[&"eval", &vrt, &reference, &"--kind", &"classes", &"--confusion-png", &reference]);
    refused(&o, 1, &["is the reference"], &[]);
}

/// An output path ending in `/` names a folder: refused before any tile runs (the progress
/// callback is never called), by `run`, `quicklook`, `assemble` and `eval`. Before, `run` went
/// through the whole inference and failed at the final rename.
#[test]
fn an_output_spelled_as_a_folder_is_refused_before_any_work() {
    let dir = tmp();
    let model_path = dir.path().join("identity.onnx");
    identity_model(&model_path, 1, &[]);
    let model = load(&model_path);
    let input = raster(&dir.path().join("in.tif"), 40, 40, &[ramp(40, 40)]);
    let opts = rastrum::RunOptions { tile_size: Some(32), ..Default::default() };
    for out in ["out.tif/", "out.tif/.", "sub/.."] {
        let mut calls = 0;
        let r = rastrum::run(&model, &input, &dir.path().join(out), &opts, &mut |_, _| {
            calls += 1;
            true
        });
        let e = r.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("names a folder"), "{out}: {e}");
        assert_eq!(calls, 0, "{out}: tiles ran before the refusal");
    }
    let png = format!("{}/look.png/", dir.path().display());
    let o = rastrum(&[&"quicklook", &input, &png, &"--rgb", &"1,1,1"]);
    refused(&o, 1, &["look.png/", "ends in '/'"], &[]);
    let o = rastrum(&[&"eval", &input, &input, &"--kind", &"classes", &"--confusion-png", &png]);
    refused(&o, 1, &["ends in '/'"], &[]);
    assert_eq!(names_in(dir.path()), ["identity.onnx", "in.tif"]);
}

/// A two-class segmentation model: the class of a pixel is its larger band.
fn segmentation_model(path: &Path, names: &str) -> PathBuf {
    identity_model(path, 2, &[("rastrum_task", "\"segmentation\""), ("class_names", names)]);
    path.to_path_buf()
}

/// Class names that do not fit a file size limit the raster fits in: GDAL writes them to the
/// sidecar when the output is closed, fails, and says so only as a warning. The run fails
/// naming the sidecar, and leaves nothing (no raster without its names, no 0-byte
/// `.aux.xml`). Before, it exited 0 with the class names lost.
#[test]
fn a_sidecar_that_cannot_be_written_fails_the_run_and_leaves_nothing() {
    let dir = tmp();
    let long = |c: &str| c.repeat(60_000);
    let names = format!("{{\"0\": \"{}\", \"1\": \"{}\"}}", long("a"), long("b"));
    let model = segmentation_model(&dir.path().join("seg.onnx"), &names);
    let input = raster(&dir.path().join("in.tif"), 40, 40, &[ramp(40, 40), vec![100u8; 1600]]);
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let mut cmd = cli();
    cmd.args(["run", "-q", "--tile-size", "32"]).arg(&model).arg(&input).arg(out_dir.join("out.tif"));
    limit_file_size(&mut cmd, 64 * 1024);
    let o = cmd.output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    for needle in ["out.tif.aux.xml", "class names could not be written", "file size limit exceeded"] {
        assert!(err.contains(needle), "'{err}' does not mention '{needle}'");
    }
    assert!(names_in(&out_dir).is_empty(), "left {:?}", names_in(&out_dir));
    // Without the limit the same run writes both, names intact.
    let o =
        cli().args(["run", "-q", "--tile-size", "32"]).arg(&model).arg(&input).arg(out_dir.join("out.tif")).output();
    let o = o.unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(class_names(&out_dir.join("out.tif")), [long("a"), long("b")]);
}

/// Two runs writing one output at once, 20 times over: run A writes class 0 everywhere with
/// names A0, A1, run B class 1 with names B0, B1. Whichever finishes last, the raster and the
/// sidecar in place are the same run's (the renames hold a lock on the folder). Before, the
/// pair could mix (1 in 30 seen).
#[test]
fn two_runs_onto_one_output_never_mix_raster_and_sidecar() {
    let dir = tmp();
    let a = segmentation_model(&dir.path().join("a.onnx"), r#"{"0": "A0", "1": "A1"}"#);
    let b = segmentation_model(&dir.path().join("b.onnx"), r#"{"0": "B0", "1": "B1"}"#);
    let n = 64 * 64;
    let in_a = raster(&dir.path().join("a.tif"), 64, 64, &[vec![10u8; n], vec![0u8; n]]);
    let in_b = raster(&dir.path().join("b.tif"), 64, 64, &[vec![0u8; n], vec![10u8; n]]);
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("out.tif");
    let start = |model: &Path, input: &Path| {
        cli()
            .args(["run", "-q", "--tile-size", "32"])
            .args([model, input, &out])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    for round in 0..20 {
        let (pa, pb) = (start(&a, &in_a), start(&b, &in_b));
        for p in [pa, pb] {
            let o = p.wait_with_output().unwrap();
            assert!(o.status.success(), "round {round}: {}", stderr(&o));
        }
        let class = read_band(&out, 1).2[0];
        let want: [&str; 2] = if class == 0.0 { ["A0", "A1"] } else { ["B0", "B1"] };
        assert_eq!(class_names(&out), want, "round {round}: the raster of one run, the names of the other");
        assert_eq!(names_in(&out_dir), ["out.tif", "out.tif.aux.xml"], "round {round}");
    }
}

/// A run's outputs move into place all or none: when the probabilities cannot be moved (here
/// their path became a folder during the run), the class raster already moved is removed too.
/// Before, it stayed, reported as a failed run.
#[test]
fn a_run_whose_second_output_cannot_be_moved_leaves_neither() {
    let dir = tmp();
    let model = load(&segmentation_model(&dir.path().join("seg.onnx"), r#"{"0": "a", "1": "b"}"#));
    let input = raster(&dir.path().join("in.tif"), 40, 40, &[ramp(40, 40), vec![100u8; 1600]]);
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let blocker = out_dir.join("out_probabilities.tif");
    let mut opts = rastrum::RunOptions { tile_size: Some(32), ..Default::default() };
    opts.set("probabilities", "true").unwrap();
    let r = rastrum::run(&model, &input, &out_dir.join("out.tif"), &opts, &mut |_, _| {
        let _ = std::fs::create_dir(&blocker);
        true
    });
    let e = r.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("out_probabilities.tif") && e.contains("cannot move"), "{e}");
    assert_eq!(names_in(&out_dir), ["out_probabilities.tif"]);
    assert!(blocker.is_dir());
}

/// `rastrum run` of the identity model on 600 x 600 pixels of noise (1.44 MB of Float32 that
/// DEFLATE barely shrinks), with the output's creation options `co`, into `out`.
fn noise_run(dir: &Path, co: &[&str]) -> Command {
    let model = dir.join("identity.onnx");
    identity_model(&model, 1, &[]);
    let input = dir.join("noise.tif");
    if !input.exists() {
        raster(&input, 600, 600, &[weights(600 * 600, 9)]);
    }
    let mut cmd = cli();
    cmd.args(["run", "-q", "--tile-size", "128"]);
    for c in co {
        cmd.args(["--co", c]);
    }
    cmd.arg(model).arg(input);
    cmd
}

/// A file size limit (RLIMIT_FSIZE, SIGXFSZ ignored so that writes fail with EFBIG): said in
/// words, before any tile runs when even the smallest output is past it (uncompressed), while
/// writing otherwise; nothing left either way. Before, the message was GDAL's last one
/// (`_tiffWriteProc:File too large`, or a follow-up TIFF error).
#[test]
fn a_file_size_limit_is_named_before_or_while_writing() {
    let dir = tmp();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    for (co, needles) in [
        (
            &["COMPRESS=NONE"][..],
            &["file size limit exceeded", "needs at least 1.4 MiB", "limited to 256.0 KiB", "ulimit -f"][..],
        ),
        (&[][..], &["out.tif", "failed: file size limit exceeded", "limited to 256.0 KiB", "ulimit -f"][..]),
    ] {
        let mut cmd = noise_run(dir.path(), co);
        cmd.arg(out_dir.join("out.tif"));
        limit_file_size(&mut cmd, 256 * 1024);
        let o = cmd.output().unwrap();
        refused(&o, 1, needles, &[]);
        assert!(names_in(&out_dir).is_empty(), "{co:?}: left {:?}", names_in(&out_dir));
    }
}

/// A full disk (a 1 MiB tmpfs mounted in a user namespace: `unshare -rm`): "no space left on
/// device" with the free space, before any tile runs when the uncompressed output cannot fit,
/// while writing otherwise; nothing left on the disk either way. Skipped where user namespaces
/// are not allowed.
#[test]
fn a_full_disk_is_named_before_or_while_writing() {
    let dir = tmp();
    let mount = dir.path().join("small");
    std::fs::create_dir(&mount).unwrap();
    for (co, needles) in [
        (&["COMPRESS=NONE"][..], &["no space left on device", "needs at least 1.4 MiB", "free"][..]),
        (&[][..], &["out.tif", "failed: no space left on device", "free in"][..]),
    ] {
        let run = noise_run(dir.path(), co);
        let script = r#"mount -t tmpfs -o size=1m rastrum-test "$1" || exit 99
d="$1"; shift; "$@" "$d/out.tif"; s=$?
echo "left: [$(ls -A "$d")]" >&2; exit $s"#;
        let o = Command::new("unshare")
            .args(["-rm", "sh", "-c", script, "sh"])
            .arg(&mount)
            .arg(run.get_program())
            .args(run.get_args())
            .output()
            .unwrap();
        let err = stderr(&o);
        if o.status.code() == Some(99) || err.starts_with("unshare:") {
            eprintln!("skipped: no tmpfs in a user namespace here: {err}");
            return;
        }
        refused(&o, 1, needles, &[]);
        assert!(err.contains("left: []"), "{co:?}: {err}");
    }
}
