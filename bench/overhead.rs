//! Overhead of Rastrum over ONNX Runtime alone, measured in one run on the same tiles.
//!
//! The real cloud-mask model (U-Net / EfficientNet-B4, models/cloud_mask) over a 2508 x 2412
//! mosaic of the bundled Landsat-8 scene (6 bands, uint16; a VRT, so nothing large on disk),
//! 256-pixel tiles, overlap 51 (0.2, as ukis-csmask), blend, batch 4, 2 threads.
//!
//! - ORT alone: the tiles of the same plan, read beforehand, through the same session, batch by
//!   batch: the model's own cost.
//! - Rastrum: `rastrum::run` end to end on the same loaded model (read, infer, stitch, write).
//!   Ratio = Rastrum / ORT alone, medians of alternating repetitions (the machine is noisy).
//! - The `rastrum` command line, once, for its wall time (process start and model load included)
//!   and its peak RSS.
//!
//! Run with `make bench` (or `cargo bench --bench overhead` with RASTRUM_ORT_LIB set).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rastrum::card::StitchMode;
use rastrum::raster::input::{self, InputRaster, Preprocess};
use rastrum::resolve::{resolve, tile_grid};
use rastrum::RunOptions;
use rastrum::{Model, SessionOptions};

const REPS: usize = 3;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A 6-band VRT tiling the Landsat-8 scene `nx` x `ny` times.
fn mosaic(dir: &Path, nx: usize, ny: usize) -> PathBuf {
    let (w, h) = (627, 603);
    let mut xml = format!(
        "<VRTDataset rasterXSize=\"{}\" rasterYSize=\"{}\">\n<GeoTransform>500000, 30, 0, 4000000, 0, -30</GeoTransform>\n",
        w * nx,
        h * ny
    );
    for (i, b) in [2, 3, 4, 5, 6, 7].iter().enumerate() {
        let src = root().join(format!("data/landsat8_l1_b2_b7/l8_B{b}.tif"));
        let _ = writeln!(xml, "<VRTRasterBand dataType=\"UInt16\" band=\"{}\">", i + 1);
        for ty in 0..ny {
            for tx in 0..nx {
                let _ = writeln!(
                    xml,
                    "<SimpleSource><SourceFilename relativeToVRT=\"0\">{}</SourceFilename><SourceBand>1</SourceBand>\
                     <SrcRect xOff=\"0\" yOff=\"0\" xSize=\"{w}\" ySize=\"{h}\"/><DstRect xOff=\"{}\" yOff=\"{}\" xSize=\"{w}\" ySize=\"{h}\"/></SimpleSource>",
                    src.display(),
                    tx * w,
                    ty * h
                );
            }
        }
        xml.push_str("</VRTRasterBand>\n");
    }
    xml.push_str("</VRTDataset>\n");
    let path = dir.join("mosaic.vrt");
    std::fs::write(&path, xml).expect("write the mosaic");
    path
}

fn cloud_stats() -> (Vec<f64>, Vec<f64>) {
    let text =
        std::fs::read_to_string(root().join("models/cloud_mask/model_6b_l1c.json")).expect("run scripts/setup.sh");
    let v: serde_json::Value = serde_json::from_str(&text).expect("model JSON");
    let img = &v["data"]["dataset_statistics"]["img"];
    let list = |a: &serde_json::Value| a.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    (list(&img[0]), list(&img[1]))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let threads = 2;
    let dir = tempfile::tempdir().expect("temp dir");
    let input = mosaic(dir.path(), 4, 4);
    let model_path = root().join("models/cloud_mask/model_6b_l1c.onnx");
    let model = Model::load(&model_path, &SessionOptions { threads: Some(threads), ..Default::default() })
        .expect("load the cloud-mask model (RASTRUM_ORT_LIB set? scripts/setup.sh run?)");
    let (mean, std) = cloud_stats();
    let opts = RunOptions {
        scale: Some(vec![2e-5]),
        offset: Some(vec![-0.1]),
        mean: Some(mean.clone()),
        std: Some(std.clone()),
        tile_size: Some(256),
        overlap: Some(51),
        stitch: Some(StitchMode::Blend),
        batch: Some(4),
        ..Default::default()
    };

    // The same tiles the engine runs, read beforehand.
    let ds = input::open(&input).expect("open the mosaic");
    let info = input::info(&ds);
    let r = resolve(&model, &opts, Some(info.band_count)).expect("resolve");
    let (tile_plan, _) = tile_grid(&r, &info).expect("plan");
    let pre = Preprocess { scale: r.scale.clone(), offset: r.offset.clone(), mean: r.mean.clone(), std: r.std.clone() };
    let reader = InputRaster::new(&input, ds, &r.bands, None, None, pre).expect("reader");
    let tiles: Vec<Vec<f32>> = (0..tile_plan.count())
        .map(|i| {
            let (row, col) = tile_plan.position(i);
            reader.read_tile(tile_plan.x.tiles[col].start, tile_plan.y.tiles[row].start, 256, None).expect("read").data
        })
        .collect();
    drop(reader);
    let per = 6 * 256 * 256;
    let batches: Vec<Vec<f32>> = tiles.chunks(4).map(|c| c.concat()).collect();

    let ort_alone = || {
        let t = Instant::now();
        for b in &batches {
            let n = b.len() / per;
            model.run(b, [n, 6, 256, 256], 0).expect("run");
        }
        t.elapsed().as_secs_f64()
    };
    let out = dir.path().join("mask.tif");
    let rastrum_run = || {
        let t = Instant::now();
        let s = rastrum::run(&model, &input, &out, &opts, &mut |_, _| true).expect("rastrum run");
        assert_eq!(s.tiles_run, tiles.len());
        t.elapsed().as_secs_f64()
    };

    ort_alone(); // warm-up: ONNX Runtime's first runs allocate its arena
    let (mut ort, mut ras) = (Vec::new(), Vec::new());
    for _ in 0..REPS {
        ort.push(ort_alone());
        ras.push(rastrum_run());
    }
    let (ort_s, ras_s) = (median(ort), median(ras));
    let mpx = (info.width * info.height) as f64 / 1e6;

    // The command line, once: wall time and peak RSS of the whole process.
    let join = |v: &[f64]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",");
    let bin =
        root().join(std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into())).join("release/rastrum");
    // Peak RSS through GNU time, which forks the CLI from its own small process: a child of this
    // bench would count the bench's own pages (ru_maxrss survives exec).
    let rss_file = dir.path().join("cli.rss");
    let t = Instant::now();
    let status = std::process::Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&rss_file)
        .arg(&bin)
        .args(["run"])
        .arg(&model_path)
        .arg(&input)
        .arg(dir.path().join("cli.tif"))
        .args(["--scale", "2e-5", "--offset", "-0.1", "--mean", &join(&mean), "--std", &join(&std)])
        .args(["--tile-size", "256", "--overlap", "51", "--batch", "4", "--threads", &threads.to_string(), "-q"])
        .status()
        .unwrap_or_else(|e| panic!("/usr/bin/time {}: {e} (make bench builds it; Debian package time)", bin.display()));
    let cli_s = t.elapsed().as_secs_f64();
    assert!(status.success(), "rastrum run failed");
    let kib: f64 = std::fs::read_to_string(&rss_file)
        .ok()
        .and_then(|t| t.split_whitespace().last().and_then(|v| v.parse().ok()))
        .expect("GNU time's peak RSS");
    let rss_mb = kib / 1024.0;

    println!(
        "Rastrum overhead benchmark: cloud-mask model (U-Net/EfficientNet-B4), {}x{}x6 uint16 VRT mosaic",
        info.width, info.height
    );
    println!("  tiles: {} of 256 px, overlap 51, blend, batch 4, {threads} threads, median of {REPS}", tiles.len());
    println!(
        "  ONNX Runtime alone (same tiles, same session): {ort_s:.2} s ({:.3} s/tile)",
        ort_s / tiles.len() as f64
    );
    println!("  rastrum::run end to end (read, infer, stitch, write): {ras_s:.2} s, {:.2} Mpx/s", mpx / ras_s);
    println!("  overhead ratio: {:.3} (target <= 1.05)", ras_s / ort_s);
    println!("  rastrum CLI (process start and model load included): {cli_s:.2} s, peak RSS {rss_mb:.0} MiB");
    // For bench/peers/run, which puts these figures into BENCHMARKS.md.
    let summary = serde_json::json!({
        "width": info.width, "height": info.height, "tiles": tiles.len(), "threads": threads, "reps": REPS,
        "ort_s": ort_s, "rastrum_s": ras_s, "ratio": ras_s / ort_s, "mpx_s": mpx / ras_s,
        "cli_s": cli_s, "cli_rss_mib": rss_mb,
    });
    println!("json: {summary}");
}
