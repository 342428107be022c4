//! Closed loop on the population workflow's shape: the seed's CNN trained here on a generated
//! 2-band raster (band 1 light, band 2 population = 3 x light: a planted linear signal), exported
//! with its card, then run by `rastrum run` over the raster: its per-tile values equal the
//! trainer's own predictions for the same chips. Training must cut the loss and explain the
//! chips' population well (R^2 >= 0.8).

use gdal::raster::{Buffer, RasterCreationOptions};
use gdal::DriverManager;
use rastrum::{run, RunOptions};
use rastrum::{Model, SessionOptions};
use rastrum_train::arch;
use rastrum_train::data::raster::{ChipFilter, ChipTarget, Labels, RasterChips};
use rastrum_train::data::stats::BandStats;
use rastrum_train::data::Dataset;
use rastrum_train::export::export;
use rastrum_train::fit::{fit, predict, FitConfig};
use rastrum_train::torch::TchNet;

const SIZE: usize = 256;
const CHIP: usize = 32;
/// Targets are trained in thousands of people; the card's reg_output_scaling restores them.
const UNIT: f32 = 1000.0;

/// Light: a few smooth blobs (deterministic); population: 3 x light.
fn make_raster(path: &std::path::Path) {
    let mut light = vec![0f32; SIZE * SIZE];
    let blobs =
        [(40.0, 60.0, 25.0, 9.0), (180.0, 70.0, 30.0, 6.0), (120.0, 190.0, 40.0, 8.0), (220.0, 220.0, 15.0, 10.0)];
    for y in 0..SIZE {
        for x in 0..SIZE {
            let v: f32 = blobs
                .iter()
                .map(|(cx, cy, r, a)| {
                    a * (-(((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)) / (2.0 * r * r))).exp()
                })
                .sum();
            light[y * SIZE + x] = v;
        }
    }
    let population: Vec<f32> = light.iter().map(|l| 3.0 * l).collect();
    let driver = DriverManager::get_driver_by_name("GTiff").unwrap();
    let mut ds = driver
        .create_with_band_type_with_options::<f32, _>(path, SIZE, SIZE, 2, &RasterCreationOptions::new())
        .unwrap();
    ds.set_geo_transform(&[500000.0, 100.0, 0.0, 4000000.0, 0.0, -100.0]).unwrap();
    for (b, data) in [light, population].into_iter().enumerate() {
        let mut band = ds.rasterband(b + 1).unwrap();
        band.write((0, 0), (SIZE, SIZE), &mut Buffer::new((SIZE, SIZE), data)).unwrap();
    }
}

#[test]
fn trained_model_runs_through_rastrum_with_the_trainers_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let raster = dir.path().join("lights_population.tif");
    make_raster(&raster);
    let filter = ChipFilter { min_label_sum: Some(0.0), min_labelled: 1.0 };
    let mut chips =
        RasterChips::grid(&raster, &[1], &[0.1], &[0.0], Labels::Band(2), ChipTarget::Sum, CHIP, CHIP, filter).unwrap();
    assert_eq!(chips.len(), (SIZE / CHIP) * (SIZE / CHIP));
    chips.scale_targets(1.0 / UNIT);
    let stats = BandStats::identity(1);

    tch::manual_seed(1);
    let net = TchNet::new(arch::population_cnn(1, CHIP as i64), tch::Device::Cpu);
    let cfg = FitConfig { epochs: 60, batch_size: 8, learning_rate: 2e-3, seed: 1, ..Default::default() };
    let all: Vec<usize> = (0..chips.len()).collect();
    let history = fit(&net, &chips, &all, &[], &stats, &cfg).unwrap();
    let losses = history.train_losses();
    let (first, last) = (losses[0], *losses.last().unwrap());
    let predicted = predict(&net, &chips, &stats, &all, 1.0).unwrap();
    let mean = chips.chip_targets().iter().sum::<f32>() / chips.len() as f32;
    let ss_tot: f32 = chips.chip_targets().iter().map(|t| (t - mean).powi(2)).sum();
    let ss_res: f32 = chips.chip_targets().iter().zip(&predicted).map(|(t, p)| (t - p).powi(2)).sum();
    let r2 = 1.0 - ss_res / ss_tot;
    eprintln!("population CNN: loss {first:.4} -> {last:.4} over {} epochs, R^2 {r2:.3}", losses.len());
    assert!(last < 0.2 * first, "training must cut the loss: {first} -> {last}");
    assert!(r2 >= 0.8, "R^2 {r2} below the bar 0.8");

    let model_path = dir.path().join("population.onnx");
    let card: Vec<(String, String)> = [
        ("rastrum_task", "\"regression\""),
        ("tiles_size", "32"),
        ("rastrum_bands", "[1]"),
        ("rastrum_scale", "[0.1]"),
        ("rastrum_redistribute", "\"none\""),
        ("reg_output_scaling", "1000"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    export(&net.net, &net.values(), &card, &model_path).unwrap();

    let model = Model::load(&model_path, &SessionOptions { threads: Some(2), ..Default::default() }).unwrap();
    let out = dir.path().join("population_per_tile.tif");
    let opts = RunOptions { overlap: Some(0), ..Default::default() };
    let summary = run(&model, &raster, &out, &opts, &mut |_, _| true).unwrap();
    assert_eq!((summary.width, summary.height), (SIZE / CHIP, SIZE / CHIP));
    let ds = gdal::Dataset::open(&out).unwrap();
    let values = ds.rasterband(1).unwrap().read_as::<f32>((0, 0), (8, 8), (8, 8), None).unwrap();
    for (i, &(x, y)) in chips.origins.iter().enumerate() {
        let got = values.data()[(y / CHIP) * (SIZE / CHIP) + x / CHIP];
        let want = predicted[i] * UNIT;
        assert!((got - want).abs() <= 1e-4 * want.abs().max(1.0), "chip at ({x}, {y}): rastrum {got}, trainer {want}");
    }
}
