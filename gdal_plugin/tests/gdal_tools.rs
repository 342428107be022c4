//! The driver in GDAL's own tools (real gdal_translate, gdalinfo, gdalwarp processes loading
//! gdal_rastrum.so from GDAL_DRIVER_PATH): `gdal_translate RASTRUM:spec.json` gives the pixels of
//! `rastrum run` with the same options (segmentation with blending and probability bands,
//! super-resolution); `-srcwin`, `gdalinfo -stats` and `gdalwarp` work; bad specs are GDAL
//! errors with the library's message, never a crash; zoomed-out reads follow the overview policy.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A folder holding the built plugin under the name GDAL looks for (gdal_*.so).
fn plugin_dir() -> tempfile::TempDir {
    let exe = std::env::current_exe().unwrap();
    let built = exe.parent().unwrap().parent().unwrap().join("libgdal_rastrum.so");
    assert!(built.is_file(), "{} is not built: cargo build --release -p gdal_rastrum (make build)", built.display());
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&built, dir.path().join("gdal_rastrum.so")).unwrap();
    dir
}

fn ort() -> String {
    std::env::var("RASTRUM_ORT_LIB").unwrap_or_else(|_| root().join(".venv/libonnxruntime.so").display().to_string())
}

fn gdal(plugins: &Path, tool: &str, args: &[&str]) -> Output {
    Command::new(tool).env("GDAL_DRIVER_PATH", plugins).env("RASTRUM_ORT_LIB", ort()).args(args).output().unwrap()
}

/// `rastrum run` (the engine's own file output) with the options of a spec.
fn rastrum_run(model: &Path, input: &Path, out: &Path, options: &serde_json::Value) {
    std::env::set_var("RASTRUM_ORT_LIB", ort());
    let model = rastrum::inference::Model::load(model, &Default::default()).unwrap();
    let mut opts = rastrum::RunOptions::default();
    for (k, v) in options.as_object().unwrap() {
        let texts: Vec<String> = match v {
            serde_json::Value::String(s) => vec![s.clone()],
            // `set` (and `co`) repeat: one override per element.
            serde_json::Value::Array(a) if k == "set" => a.iter().map(|x| x.as_str().unwrap().to_string()).collect(),
            serde_json::Value::Array(a) => vec![a.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",")],
            other => vec![other.to_string()],
        };
        for text in texts {
            opts.set(k, &text).unwrap();
        }
    }
    rastrum::run(&model, input, out, &opts, &mut |_, _| true).unwrap();
}

/// A spec of the x3 super-resolution model over a real Landsat-8 band with `options` (plus the
/// band's scaling), and the file `rastrum run` writes with the same options.
fn super_resolution(dir: &Path, mut options: serde_json::Value) -> (PathBuf, PathBuf) {
    let (sr, band) = (
        root().join("data/super_resolution/super-resolution-10.onnx"),
        root().join("data/landsat8_l1_b2_b7/l8_B4.tif"),
    );
    let o = options.as_object_mut().unwrap();
    o.insert("task".into(), "super_resolution".into());
    o.insert("scale".into(), 2e-5.into());
    o.insert("offset".into(), (-0.1).into());
    let spec = write_spec(dir, "sr.rastrum.json", serde_json::json!({"model": sr, "source": band, "options": options}));
    let reference = dir.join("sr_run.tif");
    rastrum_run(&sr, &band, &reference, &options);
    (spec, reference)
}

/// Every band's raw pixels (and nodata, descriptions, class names), read by GDAL.
fn pixels(path: &str, plugins: &Path) -> Vec<(Vec<u8>, String)> {
    std::env::set_var("GDAL_DRIVER_PATH", plugins);
    gdal::DriverManager::register_all();
    let ds = gdal::Dataset::open(path).unwrap();
    let (w, h) = ds.raster_size();
    (1..=ds.raster_count())
        .map(|b| {
            let band = ds.rasterband(b).unwrap();
            let v = band.read_as::<f64>((0, 0), (w, h), (w, h), None).unwrap();
            let bits: Vec<u8> = v.data().iter().flat_map(|x| x.to_bits().to_le_bytes()).collect();
            let names = unsafe { gdal_sys::GDALGetRasterCategoryNames(band.c_rasterband()) };
            let meta = format!(
                "{:?} {:?} {} {}",
                band.band_type(),
                band.no_data_value(),
                gdal::Metadata::description(&band).unwrap(),
                !names.is_null()
            );
            (bits, meta)
        })
        .collect()
}

fn write_spec(dir: &Path, name: &str, spec: serde_json::Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_string_pretty(&spec).unwrap()).unwrap();
    p
}

#[test]
fn gdal_translate_gives_the_bytes_of_rastrum_run() {
    let plugins = plugin_dir();
    let dir = tempfile::tempdir().unwrap();
    // Super-resolution (x3), blend.
    let (spec, reference) = super_resolution(dir.path(), serde_json::json!({"overlap": 16}));
    let out = dir.path().join("sr_translate.tif");
    let o =
        gdal(plugins.path(), "gdal_translate", &["-q", &format!("RASTRUM:{}", spec.display()), out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(pixels(out.to_str().unwrap(), plugins.path()) == pixels(reference.to_str().unwrap(), plugins.path()));

    // Segmentation of the real cloud model, blended, with probability bands (relative paths:
    // the spec's folder is their base).
    let s2 = dir.path().join("s2.tif");
    std::fs::copy(root().join("data/sentinel2_sample/sentinel2_img_6band_toa.tif"), &s2).unwrap();
    let model = root().join("models/cloud_mask/model_6b_l1c.onnx");
    // Two card overrides in one spec (a list: each element is one `set`), both applied.
    let set = [
        r#"class_names={"0": "clear", "1": "cloud", "2": "shadow"}"#,
        r##"rastrum_class_colors={"0": "#102030", "1": "#ffffff", "2": "#404040"}"##,
    ];
    let options = serde_json::json!({"tile-size": 256, "overlap": 96, "stitch": "blend", "probability-bands": true, "scale": [1e-4], "set": set});
    let spec = write_spec(
        dir.path(),
        "cloud.json",
        serde_json::json!({"model": model, "source": "s2.tif", "options": options}),
    );
    let reference = dir.path().join("cloud_run.tif");
    rastrum_run(&model, &s2, &reference, &options);
    let out = dir.path().join("cloud_translate.tif");
    let o =
        gdal(plugins.path(), "gdal_translate", &["-q", &format!("RASTRUM:{}", spec.display()), out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = pixels(out.to_str().unwrap(), plugins.path());
    assert_eq!(got.len(), 4);
    assert!(
        got == pixels(reference.to_str().unwrap(), plugins.path()),
        "the translated cloud mask differs from rastrum run"
    );
    // The dataset itself carries the class names and colours, both from the spec's overrides.
    assert!(pixels(&format!("RASTRUM:{}", spec.display()), plugins.path())[0].1.ends_with("true"));
    // Without probability bands the class band also has its colour table: the second override's.
    let options = serde_json::json!({"tile-size": 256, "scale": [1e-4], "set": set});
    let spec = write_spec(
        dir.path(),
        "classes.json",
        serde_json::json!({"model": model, "source": "s2.tif", "options": options}),
    );
    let info = gdal(plugins.path(), "gdalinfo", &[&format!("RASTRUM:{}", spec.display())]);
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(info.contains("1: cloud") && info.contains("2: shadow"), "{info}");
    assert!(info.contains("0: 16,32,48,255") && info.contains("1: 255,255,255,255"), "{info}");
}

#[test]
fn srcwin_stats_and_warp_work_on_a_rastrum_dataset() {
    let plugins = plugin_dir();
    let dir = tempfile::tempdir().unwrap();
    let (spec, reference) = super_resolution(dir.path(), serde_json::json!({}));
    let conn = format!("RASTRUM:{}", spec.display());
    // -srcwin: the same window of the file.
    for (src, out) in [(conn.as_str(), "a.tif"), (reference.to_str().unwrap(), "b.tif")] {
        let o = gdal(
            plugins.path(),
            "gdal_translate",
            &["-q", "-srcwin", "700", "333", "401", "250", src, dir.path().join(out).to_str().unwrap()],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let (a, b) = (dir.path().join("a.tif"), dir.path().join("b.tif"));
    assert!(pixels(a.to_str().unwrap(), plugins.path()) == pixels(b.to_str().unwrap(), plugins.path()));
    // gdalinfo -stats: the file's statistics (the spec file, a .rastrum.json, opens by name).
    let stats = |src: &str| {
        let o = gdal(plugins.path(), "gdalinfo", &["-stats", "-json", src]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let b = &v["bands"][0];
        (b["minimum"].clone(), b["maximum"].clone(), b["mean"].clone(), b["stdDev"].clone())
    };
    let copy = dir.path().join("copy.tif");
    std::fs::copy(&reference, &copy).unwrap();
    assert_eq!(stats(spec.to_str().unwrap()), stats(copy.to_str().unwrap()));
    // gdalwarp to geographic coordinates at about the same resolution: the file's warp.
    for (src, out) in [(conn.as_str(), "wa.tif"), (reference.to_str().unwrap(), "wb.tif")] {
        let o = gdal(
            plugins.path(),
            "gdalwarp",
            &["-q", "-t_srs", "EPSG:4326", "-r", "bilinear", src, dir.path().join(out).to_str().unwrap()],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let (a, b) = (dir.path().join("wa.tif"), dir.path().join("wb.tif"));
    assert!(pixels(a.to_str().unwrap(), plugins.path()) == pixels(b.to_str().unwrap(), plugins.path()));
}

#[test]
fn bad_specs_are_gdal_errors_with_the_librarys_message() {
    let plugins = plugin_dir();
    let dir = tempfile::tempdir().unwrap();
    let band = root().join("data/landsat8_l1_b2_b7/l8_B4.tif");
    let sr = root().join("data/super_resolution/super-resolution-10.onnx");
    let cases: Vec<(String, &str)> = vec![
        ("RASTRUM:/nonexistent/run.json".into(), "cannot read the run spec /nonexistent/run.json"),
        (
            format!(
                "RASTRUM:{}",
                write_spec(dir.path(), "m.json", serde_json::json!({"model": "missing.onnx", "source": band}))
                    .display()
            ),
            "missing.onnx",
        ),
        (
            format!(
                "RASTRUM:{}",
                write_spec(dir.path(), "s.json", serde_json::json!({"model": sr, "source": "nowhere.tif"})).display()
            ),
            "nowhere.tif",
        ),
        (
            format!(
                "RASTRUM:{}",
                write_spec(
                    dir.path(),
                    "o.json",
                    serde_json::json!({"model": sr, "source": band, "options": {"tile-sise": 3}})
                )
                .display()
            ),
            "unknown option 'tile-sise'",
        ),
        (
            format!(
                "RASTRUM:{}",
                write_spec(dir.path(), "k.json", serde_json::json!({"modle": sr, "source": band})).display()
            ),
            "unknown field `modle`",
        ),
        ("RASTRUM:{\"model\": 1".into(), "given inline"),
        (
            format!(
                "RASTRUM:{}",
                write_spec(
                    dir.path(),
                    "w.json",
                    serde_json::json!({"model": sr, "source": band, "options": {"window": "0,0,1,1"}})
                )
                .display()
            ),
            "window",
        ),
    ];
    for (conn, expect) in cases {
        let o = gdal(plugins.path(), "gdalinfo", &[&conn]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{conn}: {err}");
        assert!(err.contains("Rastrum") && err.contains(expect), "{conn}: {err}");
    }
}

#[test]
fn zoomed_out_reads_are_nodata_overviews_unless_asked() {
    let plugins = plugin_dir();
    let dir = tempfile::tempdir().unwrap();
    let (spec, _) = super_resolution(dir.path(), serde_json::json!({}));
    let info = |env: Option<&str>| {
        let mut c = Command::new("gdalinfo");
        c.env("GDAL_DRIVER_PATH", plugins.path()).env("RASTRUM_ORT_LIB", ort()).args(["-json", spec.to_str().unwrap()]);
        if let Some(f) = env {
            c.env("RASTRUM_OVERVIEW_MIN_FACTOR", f);
        }
        let o = c.output().unwrap();
        assert!(o.status.success());
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["bands"][0]["overviews"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    // 1881 x 1809 output in 624-pixel blocks: an overview at 1/4 (471 px); 1/8 (235 px) would
    // be under half a block.
    let ovs = info(None);
    assert_eq!(ovs.len(), 1, "{ovs:?}");
    assert_eq!(ovs[0]["size"], serde_json::json!([471, 453]));
    assert!(info(Some("0")).is_empty());
    // A 1/4 read is nodata, without running the model (fast); at full resolution, the values.
    let out = dir.path().join("quarter.tif");
    let o = gdal(
        plugins.path(),
        "gdal_translate",
        &["-q", "-outsize", "25%", "25%", spec.to_str().unwrap(), out.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Said once, with what to do: the one hint a blank zoomed-out view can give.
    let said = String::from_utf8_lossy(&o.stderr);
    assert_eq!(said.matches("reads as nodata").count(), 1, "{said}");
    assert!(said.contains("Zoom in past 1:4") && said.contains("RASTRUM_OVERVIEW_MIN_FACTOR=0"), "{said}");
    std::env::set_var("GDAL_DRIVER_PATH", plugins.path());
    gdal::DriverManager::register_all();
    let ds = gdal::Dataset::open(&out).unwrap();
    let v = ds.rasterband(1).unwrap().read_band_as::<f32>().unwrap();
    assert!(v.data().iter().all(|x| *x == -9999.0));
}

/// The dataset's and a file's geotransform as GDAL's tools report it (`gdalinfo -json`), or
/// None when it has none.
fn reported_geo_transform(plugins: &Path, src: &str) -> Option<Vec<f64>> {
    let o = gdal(plugins, "gdalinfo", &["-json", src]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v.get("geoTransform").map(|g| g.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect())
}

#[test]
fn a_super_resolution_of_a_raster_without_geotransform_reports_the_divided_pixel_grid() {
    use rastrum::onnx::build::Attr;
    let plugins = plugin_dir();
    let dir = tempfile::tempdir().unwrap();
    // 40 x 30 pixels, no geotransform, no GCPs: GDAL's pixel grid (0, 1, 0, 0, 0, 1).
    let input = dir.path().join("bare.tif");
    {
        let driver = gdal::DriverManager::get_driver_by_name("GTiff").unwrap();
        let ds = driver.create_with_band_type::<u8, _>(&input, 40, 30, 1).unwrap();
        let mut buf = gdal::raster::Buffer::new((40, 30), (0..1200).map(|i| (i * 7 % 251) as u8).collect());
        ds.rasterband(1).unwrap().write((0, 0), (40, 30), &mut buf).unwrap();
    }
    let model = dir.path().join("x3.onnx");
    let nchw: Vec<rastrum::onnx::Dim> = vec!["n".into(), 1.into(), "h".into(), "w".into()];
    rastrum::onnx::GraphBuilder::new("x3")
        .input("x", &nchw)
        .initializer("scales", &[4], &[1.0, 1.0, 3.0, 3.0], false)
        .node("Resize", &["x", "", "scales"], &["y"], &[("mode", Attr::Str("nearest".into()))])
        .output_unknown("y")
        .meta("rastrum_task", "\"super_resolution\"")
        .save(&model)
        .unwrap();
    let options = serde_json::json!({"tile-size": 16});
    let spec =
        write_spec(dir.path(), "sr.json", serde_json::json!({"model": model, "source": input, "options": options}));
    let conn = format!("RASTRUM:{}", spec.display());
    let third = 1.0 / 3.0;
    let expected = vec![0.0, third, 0.0, 0.0, 0.0, third];
    let close = |got: &Option<Vec<f64>>| {
        got.as_ref().is_some_and(|g| g.iter().zip(&expected).all(|(a, b)| (a - b).abs() < 1e-12))
    };
    let on_dataset = reported_geo_transform(plugins.path(), &conn);
    assert!(close(&on_dataset), "the driver's dataset reports {on_dataset:?}, expected {expected:?}");
    // Its translation and rastrum run's file agree with it, and hold the same pixels.
    let reference = dir.path().join("run.tif");
    rastrum_run(&model, &input, &reference, &options);
    let out = dir.path().join("translated.tif");
    let o = gdal(plugins.path(), "gdal_translate", &["-q", &conn, out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for file in [&reference, &out] {
        let got = reported_geo_transform(plugins.path(), file.to_str().unwrap());
        assert!(close(&got), "{}: {got:?}", file.display());
    }
    assert!(pixels(out.to_str().unwrap(), plugins.path()) == pixels(reference.to_str().unwrap(), plugins.path()));
}
