//! The `rastrum-train` command end to end on generated GeoTIFFs with planted signals: it trains,
//! writes the model with its card, the report, logs, plots and checkpoints, and what it writes
//! runs through `rastrum run`.
//! - population (workflow 1): spatial block folds, k-fold mean (std), redistribution by light;
//! - land cover by U-Net (workflow 4): image + label raster, augmentation, class weights, early
//!   stopping, per-class F1 and the confusion PNG;
//! - chip classification from class folders (workflow 2's layout) beside the random forest;
//! - So2Sat LCZ42 HDF5 (workflow 3) beside the random forest;
//! - super-resolution x3 (workflow 5) against bicubic;
//! - land cover by U-Net on the real Sentinel-2 sample and its hand labels (data/);
//! - resume, and the errors users meet first.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{write_h5, Array};

use gdal::raster::{Buffer, RasterCreationOptions};
use gdal::DriverManager;
use rastrum::{run, RunOptions};
use rastrum::{Model, SessionOptions};
use serde_json::Value;

fn write_tif(path: &Path, size: (usize, usize), bands: &[Vec<f32>]) {
    let driver = DriverManager::get_driver_by_name("GTiff").unwrap();
    let mut ds = driver
        .create_with_band_type_with_options::<f32, _>(path, size.0, size.1, bands.len(), &RasterCreationOptions::new())
        .unwrap();
    ds.set_geo_transform(&[500000.0, 10.0, 0.0, 4000000.0, 0.0, -10.0]).unwrap();
    for (b, data) in bands.iter().enumerate() {
        let mut band = ds.rasterband(b + 1).unwrap();
        band.write((0, 0), size, &mut Buffer::new(size, data.clone())).unwrap();
    }
}

fn read_band(path: &Path, band: usize) -> (Vec<f32>, usize, usize) {
    let ds = gdal::Dataset::open(path).unwrap();
    let (w, h) = ds.raster_size();
    let b = ds.rasterband(band).unwrap().read_as::<f32>((0, 0), (w, h), (w, h), None).unwrap();
    (b.data().to_vec(), w, h)
}

/// Runs `rastrum-train train` with `args` (split on whitespace: paths here have no spaces).
fn train(args: &str) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rastrum-train"))
        .arg("train")
        .args(args.split_whitespace())
        .args(["--quiet", "--threads", "2"])
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    eprintln!("{text}");
    (out.status.success(), text)
}

fn report(out: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap()
}

fn run_model(model: &Path, input: &Path, output: &Path) {
    let model = Model::load(model, &SessionOptions { threads: Some(2), ..Default::default() }).unwrap();
    run(&model, input, output, &RunOptions::default(), &mut |_, _| true).unwrap();
}

fn card_value(model: &Path, key: &str) -> Value {
    let m = Model::load(model, &SessionOptions::default()).unwrap();
    let raw = m.metadata.get(key).cloned().unwrap_or_else(|| panic!("the card lacks {key}"));
    serde_json::from_str(&raw).unwrap()
}

fn is_png(path: &Path) -> bool {
    std::fs::read(path).map(|b| b.starts_with(b"\x89PNG\r\n\x1a\n")).unwrap_or(false)
}

/// Smooth blobs of light; population = 300 x light.
fn population_raster(path: &Path, s: usize) -> Vec<f32> {
    let blobs =
        [(40.0, 60.0, 25.0, 9.0), (180.0, 70.0, 30.0, 6.0), (120.0, 190.0, 40.0, 8.0), (220.0, 220.0, 15.0, 10.0)];
    let light: Vec<f32> = (0..s * s)
        .map(|i| {
            let (x, y) = ((i % s) as f32, (i / s) as f32);
            blobs.iter().map(|(cx, cy, r, a)| a * (-((x - cx).powi(2) + (y - cy).powi(2)) / (2.0 * r * r)).exp()).sum()
        })
        .collect();
    let population: Vec<f32> = light.iter().map(|l| 300.0 * l).collect();
    write_tif(path, (s, s), &[light, population.clone()]);
    population
}

#[test]
fn population_with_spatial_folds_runs_redistributed_in_rastrum() {
    let dir = tempfile::tempdir().unwrap();
    let raster = dir.path().join("lights.tif");
    let truth = population_raster(&raster, 256);
    let out = dir.path().join("out");
    let (ok, text) = train(&format!(
        "--raster {} --label-band 2 --target sum --bands 1 --arch population --chip 32 --split \
         block-folds --folds 3 --block 64 --redistribute weight --weight-band 1 --epochs 10 \
         --batch-size 8 --lr 2e-3 --out {}",
        raster.display(),
        out.display()
    ));
    assert!(ok, "{text}");
    assert!(text.contains("3-fold mean (std)"), "{text}");
    let rep = report(&out);
    assert_eq!(rep["folds"].as_array().unwrap().len(), 3);
    let r2 = rep["mean_std"]["r2"]["mean"].as_f64().unwrap();
    assert!(rep["mean_std"]["r2"]["std"].as_f64().unwrap() >= 0.0);
    assert!(r2 >= 0.5, "held-out blocks: R^2 {r2} below the bar 0.5");
    for f in 1..=3 {
        assert!(out.join(format!("log-fold{f}.csv")).exists() && is_png(&out.join(format!("curves-fold{f}.png"))));
    }
    let model = out.join("model.onnx");
    let provenance = card_value(&model, "rastrum_training");
    assert_eq!(provenance["folds"], 3);
    assert_eq!(provenance["architecture"], "population_cnn");
    assert!(provenance["validation"]["r2"]["mean"].is_number());
    assert_eq!(card_value(&model, "rastrum_redistribute"), "weight");

    // Redistributed by light at run time: the scene total is close to the truth, and where the
    // light is, the people are.
    let pred = dir.path().join("population.tif");
    run_model(&model, &raster, &pred);
    let (p, w, h) = read_band(&pred, 1);
    assert_eq!((w, h), (256, 256));
    let (tp, tt) = (p.iter().map(|v| *v as f64).sum::<f64>(), truth.iter().map(|v| *v as f64).sum::<f64>());
    assert!((tp / tt - 1.0).abs() < 0.3, "predicted total {tp} vs true {tt}");
    let peak = truth.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
    let dark = truth.iter().enumerate().min_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
    assert!(p[peak] > 10.0 * p[dark].max(1e-3), "peak {} vs dark {}", p[peak], p[dark]);
}

/// Three classes in regions: class = the brightest of bands 1-3 after smoothing; 14 bands.
fn landcover(dir: &Path, s: usize) -> (PathBuf, PathBuf, Vec<f32>) {
    let mut seed = 7u64;
    let mut rnd = || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
    };
    // Region centres, each with a class: the nearest centre's class owns the pixel.
    let centres: Vec<(f32, f32, usize)> =
        (0..24).map(|i| ((rnd() + 0.5) * s as f32, (rnd() + 0.5) * s as f32, i % 3)).collect();
    let mut label = vec![0f32; s * s];
    let mut bands = vec![vec![0f32; s * s]; 14];
    for y in 0..s {
        for x in 0..s {
            let i = y * s + x;
            let c = centres
                .iter()
                .min_by(|a, b| {
                    let d = |p: &(f32, f32, usize)| (p.0 - x as f32).powi(2) + (p.1 - y as f32).powi(2);
                    d(a).total_cmp(&d(b))
                })
                .unwrap()
                .2;
            label[i] = c as f32;
            for (b, band) in bands.iter_mut().enumerate() {
                band[i] = 1000.0 + 300.0 * rnd() + if b == c { 400.0 } else { 0.0 };
            }
        }
    }
    let (image, labels) = (dir.join("s2.tif"), dir.join("labels.tif"));
    write_tif(&image, (s, s), &bands);
    write_tif(&labels, (s, s), &[label.clone()]);
    (image, labels, label)
}

#[test]
fn unet_land_cover_with_augmentation_class_weights_and_early_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let (image, labels, truth) = landcover(dir.path(), 192);
    let out = dir.path().join("out");
    let (ok, text) = train(&format!(
        "--raster {} --labels {} --target pixel --arch unet --depth 2 --width 8 --chip 32 --stride \
         16 --scale 0.0001 --split blocks --block 64 --val-fraction 0.25 --flips --rot90 \
         --class-weights auto --early-stopping 4 --epochs 15 --batch-size 8 --lr 5e-3 --class-names \
         water,forest,crop --tile-size 64 --out {}",
        image.display(),
        labels.display(),
        out.display()
    ));
    assert!(ok, "{text}");
    let rep = report(&out);
    let scores = &rep["folds"][0]["scores"];
    let acc = scores["overall_accuracy"].as_f64().unwrap();
    assert!(acc >= 0.9, "validation pixel accuracy {acc} below the bar 0.9 (chance 1/3)");
    assert_eq!(scores["f1"].as_array().unwrap().len(), 3);
    assert!(is_png(&out.join("confusion.png")) && is_png(&out.join("curves.png")));
    let log = std::fs::read_to_string(out.join("log.csv")).unwrap();
    assert!(log.starts_with("epoch,train_loss,val_loss,val_accuracy,lr,seconds\n"), "{log}");
    let rows = log.lines().count() - 1;
    let stopped = rep["history"]["stopped_early"].as_bool().unwrap();
    assert!(rows == 15 || (stopped && rows < 15), "{rows} epochs logged, stopped early: {stopped}");
    let best = rep["history"]["best_epoch"].as_u64().unwrap() as usize;
    assert!(best >= 1 && best <= rows);
    for f in ["last.safetensors", "best.safetensors", "state.json"] {
        assert!(out.join("checkpoints").join(f).exists(), "{f}");
    }

    // The model segments the whole scene through rastrum with the card's preprocessing.
    let model = out.join("model.onnx");
    assert_eq!(card_value(&model, "class_names")["2"], "crop");
    assert_eq!(card_value(&model, "standardization_mean").as_array().unwrap().len(), 14);
    let classes = dir.path().join("classes.tif");
    run_model(&model, &image, &classes);
    let (p, _, _) = read_band(&classes, 1);
    let agree = p.iter().zip(&truth).filter(|(a, b)| a == b).count() as f64 / truth.len() as f64;
    assert!(agree >= 0.9, "rastrum run agrees with the labels on {agree} of the pixels");
}

/// An EuroSAT-like tree: 3 class folders of 6-band 16x16 chips; class k brightens band k.
fn chip_folders(root: &Path, per_class: usize) {
    let mut seed = 3u64;
    let mut rnd = || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
    };
    for (k, name) in ["Forest", "Industrial", "River"].iter().enumerate() {
        std::fs::create_dir_all(root.join(name)).unwrap();
        for i in 0..per_class {
            let bands: Vec<Vec<f32>> = (0..6)
                .map(|b| (0..256).map(|_| 1000.0 + 400.0 * rnd() + if b == k { 250.0 } else { 0.0 }).collect())
                .collect();
            write_tif(&root.join(name).join(format!("{name}_{i}.tif")), (16, 16), &bands);
        }
    }
}

#[test]
fn chip_folders_resnet_beside_the_random_forest() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("eurosat");
    chip_folders(&root, 40);
    let out = dir.path().join("out");
    let (ok, text) = train(&format!(
        "--chip-folders {} --arch resnet18 --width 8 --scale 0.0001 --epochs 8 --batch-size 16 --lr \
         2e-3 --baseline-trees 30 --flips --out {}",
        root.display(),
        out.display()
    ));
    assert!(ok, "{text}");
    let rep = report(&out);
    let cnn = rep["folds"][0]["scores"]["overall_accuracy"].as_f64().unwrap();
    let forest = rep["random_forest"][0]["scores"]["overall_accuracy"].as_f64().unwrap();
    assert!(cnn >= 0.8, "ResNet-18 validation accuracy {cnn} below the bar 0.8 (chance 1/3)");
    assert!(forest >= 0.8, "random forest validation accuracy {forest} below 0.8 (chance 1/3)");
    assert_eq!(rep["folds"][0]["class_names"][2], "River");
    let model = out.join("model.onnx");
    assert_eq!(card_value(&model, "rastrum_task"), "classification");
    assert_eq!(card_value(&model, "class_names")["1"], "Industrial");
    assert_eq!(card_value(&model, "rastrum_training")["data"]["kind"], "chip_folders");
}

#[test]
fn super_resolution_reports_bicubic_and_runs_at_three_times_the_resolution() {
    let dir = tempfile::tempdir().unwrap();
    let s = 144;
    let high: Vec<f32> = (0..s * s)
        .map(|i| {
            let (x, y) = ((i % s) as f32 / s as f32, (i / s) as f32 / s as f32);
            0.2 + 0.1 * (x * 9.0).sin() * (y * 7.0).cos() + 0.05 * ((x + y) * 20.0).sin()
        })
        .collect();
    let raster = dir.path().join("high.tif");
    write_tif(&raster, (s, s), &[high]);
    let out = dir.path().join("out");
    let (ok, text) = train(&format!(
        "--sr-high {} --factor 3 --chip 12 --stride 6 --arch espcn --epochs 40 --batch-size 8 --lr 3e-3 --out {}",
        raster.display(),
        out.display()
    ));
    assert!(ok, "{text}");
    let rep = &report(&out)["folds"][0];
    for k in ["psnr", "ssim", "bicubic_psnr", "bicubic_ssim"] {
        assert!(rep[k].as_f64().is_some_and(f64::is_finite), "{k} in {rep}");
    }
    // Bicubic is near perfect on so smooth a field; the bar is that the model has learnt the
    // mapping at all (an untrained ESPCN scores about 2 dB here).
    let psnr = rep["psnr"].as_f64().unwrap();
    assert!(psnr >= 20.0, "ESPCN validation PSNR {psnr} dB below the bar 20 dB");
    let model = out.join("model.onnx");
    assert_eq!(card_value(&model, "rastrum_scale_factor"), 3);
    let low = dir.path().join("low.tif");
    let lows: Vec<f32> = vec![0.2; 48 * 48];
    write_tif(&low, (48, 48), &[lows]);
    let up = dir.path().join("up.tif");
    run_model(&model, &low, &up);
    assert_eq!(read_band(&up, 1).1, 144);
}

#[test]
fn resume_continues_the_interrupted_run_and_refuses_another_architecture() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("chips");
    chip_folders(&root, 8);
    let out = dir.path().join("out");
    let o = out.to_str().unwrap();
    let common = format!("--chip-folders {} --batch-size 8 --out {o}", root.display());
    let (ok, text) = train(&format!("{common} --arch squeezenet --epochs 2"));
    assert!(ok, "{text}");
    let (ok, text) = train(&format!("{common} --arch squeezenet --epochs 4 --resume"));
    assert!(ok, "{text}");
    let log = std::fs::read_to_string(out.join("log.csv")).unwrap();
    let epochs: Vec<&str> = log.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(epochs, ["1", "2", "3", "4"], "{log}");
    let (ok, text) = train(&format!("{common} --arch spectrumnet --epochs 4 --resume"));
    assert!(!ok);
    assert!(text.contains("squeezenet") && text.contains("spectrumnet"), "{text}");
}

#[test]
fn user_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let raster = dir.path().join("lights.tif");
    population_raster(&raster, 64);
    let out = dir.path().join("out");
    let r = raster.to_str().unwrap();
    let o = out.to_str().unwrap();
    let (ok, text) = train(&format!("--raster {r} --label-band 2 --target sum --arch unet --out {o}"));
    assert!(!ok && text.contains("per-pixel classes"), "{text}");
    let (ok, text) = train(&format!("--raster {r} --label-band 5 --target sum --arch population --out {o}"));
    assert!(!ok && text.contains("label band 5"), "{text}");
    let (ok, text) = train(&format!("--raster {r} --target sum --arch population --out {o}"));
    assert!(!ok && text.contains("--label-band"), "{text}");
    let (ok, text) = train(&format!("--raster {r} --label-band 2 --target sum --arch vgg --out {o}"));
    assert!(!ok && text.contains("unknown architecture \"vgg\""), "{text}");
    assert!(!out.join("model.onnx").exists());
}

/// So2Sat-like HDF5: `n` examples of 32x32x10 (sen2) and 8 (sen1) channels; local climate zone
/// k (of the first three) brightens sen2 channel k.
fn so2sat(path: &Path, n: usize) {
    let mut seed = 5u64;
    let mut rnd = || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((seed >> 33) as f64 / (1u64 << 31) as f64) - 0.5
    };
    let classes: Vec<usize> = (0..n).map(|i| i % 3).collect();
    let mut stack = |c: usize, signal: bool| -> Vec<f64> {
        let mut v = Vec::with_capacity(n * 32 * 32 * c);
        for k in &classes {
            for _ in 0..32 * 32 {
                for ch in 0..c {
                    v.push(0.1 + 0.04 * rnd() + if signal && ch == *k { 0.03 } else { 0.0 });
                }
            }
        }
        v
    };
    let dims = |c: usize, name: &'static str| vec![("n", n), ("h", 32), ("w", 32), (name, c)];
    let label = classes.iter().flat_map(|&k| (0..17).map(move |j| if j == k { 1.0 } else { 0.0 })).collect();
    write_h5(
        path,
        &[
            Array { name: "sen1", dtype: "Float32", dims: dims(8, "c1"), values: stack(8, false) },
            Array { name: "sen2", dtype: "Float32", dims: dims(10, "c2"), values: stack(10, true) },
            Array { name: "label", dtype: "Float64", dims: vec![("n", n), ("k", 17)], values: label },
        ],
    );
}

#[test]
fn so2sat_hdf5_resnet_beside_the_random_forest() {
    let dir = tempfile::tempdir().unwrap();
    let h5 = dir.path().join("training.h5");
    so2sat(&h5, 90);
    let out = dir.path().join("out");
    let (ok, text) = train(&format!(
        "--so2sat {} --arch resnet18 --width 8 --epochs 8 --batch-size 16 --lr 2e-3 \
         --baseline-trees 30 --split kfold --folds 3 --out {}",
        h5.display(),
        out.display()
    ));
    assert!(ok, "{text}");
    let rep = report(&out);
    let cnn = rep["mean_std"]["accuracy"]["mean"].as_f64().unwrap();
    let forests: Vec<f64> = rep["random_forest"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["scores"]["overall_accuracy"].as_f64().unwrap())
        .collect();
    assert_eq!(forests.len(), 3, "one random forest per fold");
    assert!(cnn >= 0.8, "ResNet-18 3-fold accuracy {cnn} below the bar 0.8 (chance 1/3)");
    assert!(forests.iter().all(|a| *a >= 0.8), "random forest accuracies {forests:?} below 0.8");
    let model = out.join("model.onnx");
    assert_eq!(card_value(&model, "class_names")["0"], "Compact high-rise");
    assert_eq!(card_value(&model, "rastrum_bands"), serde_json::json!([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
    assert_eq!(card_value(&model, "rastrum_training")["data"]["kind"], "so2sat");
}

/// Workflow 4 on real data: the bundled Sentinel-2 scene (512x512, 6 bands of top-of-atmosphere
/// reflectance) with its hand labels (0..4, data/README.md), held-out spatial blocks. Bar: the
/// upstream cloud-mask acceptance, Cohen's kappa >= 0.6 against the hand labels.
#[test]
fn unet_on_the_real_sentinel2_sample_with_held_out_blocks() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/sentinel2_sample");
    let (image, labels) = (data.join("sentinel2_img_6band_toa.tif"), data.join("sentinel2_msk_label.tif"));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let (ok, text) = train(&format!(
        "--raster {} --labels {} --target pixel --arch unet --depth 3 --width 16 --chip 64 --stride 32 \
         --split blocks --block 128 --val-fraction 0.25 --flips --rot90 --class-weights auto --epochs 12 \
         --batch-size 8 --lr 3e-3 --out {}",
        image.display(),
        labels.display(),
        out.display()
    ));
    assert!(ok, "{text}");
    let scores = &report(&out)["folds"][0]["scores"];
    let (kappa, acc) = (scores["kappa"].as_f64().unwrap(), scores["overall_accuracy"].as_f64().unwrap());
    assert!(kappa >= 0.6 && acc >= 0.8, "held-out blocks: kappa {kappa} (bar 0.6), accuracy {acc} (bar 0.8)");

    // The whole scene through rastrum agrees with the hand labels.
    let classes = dir.path().join("classes.tif");
    run_model(&out.join("model.onnx"), &image, &classes);
    let (p, _, _) = read_band(&classes, 1);
    let (t, _, _) = read_band(&labels, 1);
    let agree = p.iter().zip(&t).filter(|(a, b)| a == b).count() as f64 / t.len() as f64;
    assert!(agree >= 0.8, "rastrum run agrees with the hand labels on {agree} of the pixels");
}
