//! The detector end to end, as `rastrum-train detector` runs it: training tiles with planted
//! objects (`data::planted`), the YOLO-style detector (`arch::yolo`) trained on them, exported
//! with its card, then run by `rastrum run` over a larger held-out scene and scored against the
//! objects planted there. The output folder gets:
//!
//! - `model.onnx`: the detector and its card;
//! - `scene.tif`, `detections.gpkg`: the held-out scene and what `rastrum run` found in it;
//! - `report.json`: recall and precision at IoU 0.5, the training history.

use std::path::{Path, PathBuf};

use gdal::vector::LayerAccess;
use rastrum::{Error, Model, Result, RunOptions, SessionOptions};
use serde_json::json;
use tch::{Device, Tensor};

use crate::card::{detector_card, DetectorCardSpec};
use crate::data::planted::{self, Layout, Planted, CLASS_NAMES};
use crate::data::stats::BandStats;
use crate::data::InputSpec;
use crate::detector::{self, Found, Score};
use crate::fit::{fit_tensors, FitConfig, History, Loss};
use crate::torch::TchNet;
use crate::{arch, atomic, export};

/// The held-out scene's georeference: 0.5 m pixels in UTM 33N.
const GEO_TRANSFORM: [f64; 6] = [500000.0, 0.5, 0.0, 4100000.0, 0.0, -0.5];

/// A detector job.
#[derive(Debug, Clone)]
pub struct DetectorJob {
    pub out: PathBuf,
    /// Training tiles, each with up to four objects.
    pub tiles: usize,
    pub tile_size: usize,
    /// Channels at the first level of the encoder, and its levels (stride 2^(levels - 1)).
    pub width: i64,
    pub levels: usize,
    /// Smallest and largest side of a planted object, pixels.
    pub sides: (usize, usize),
    /// Side of the held-out scene, pixels.
    pub scene_size: usize,
    pub seed: u64,
    pub fit: FitConfig,
    pub device: Device,
    /// ONNX Runtime threads for the run over the scene.
    pub threads: Option<usize>,
}

/// What a detector job produced.
pub struct DetectorOutcome {
    pub model: PathBuf,
    pub scene: PathBuf,
    pub detections: PathBuf,
    pub planted: Vec<Planted>,
    pub score: Score,
    pub history: History,
}

/// Trains, exports, runs and scores (module doc).
pub fn run(job: &DetectorJob) -> Result<DetectorOutcome> {
    check(job)?;
    std::fs::create_dir_all(&job.out).map_err(|e| Error::io(&job.out, e.to_string()))?;
    let (x, y) = training_tiles(job);
    let classes = CLASS_NAMES.len() as i64;
    let max_size = job.tile_size as f64 / 2.0;
    tch::manual_seed(job.fit.seed);
    let net = TchNet::new(arch::yolo(3, classes, job.tile_size as i64, job.levels, job.width, max_size), job.device);
    let history = fit_tensors(&net, &x, &y, Loss::Detection, &job.fit)?;

    let model = job.out.join("model.onnx");
    export::export(&net.net, &net.values(), &card(job, &history), &model)?;
    let held_out = Layout {
        width: job.scene_size,
        height: job.scene_size,
        objects: (job.scene_size * job.scene_size).div_ceil(job.tile_size * job.tile_size) * 2,
        sides: job.sides,
        cut: false,
    };
    let scene = planted::scene(&held_out, job.seed.wrapping_add(job.tiles as u64));
    let scene_path = job.out.join("scene.tif");
    planted::write(&scene, GEO_TRANSFORM, &scene_path)?;
    let detections = job.out.join("detections.gpkg");
    let found = detect(&model, &scene_path, &detections, job.threads)?;
    let score = detector::score(&found, &scene.objects, 0.5);
    let report = json!({
        "score": score,
        "iou_threshold": 0.5,
        "training_tiles": job.tiles,
        "scene": { "size": job.scene_size, "objects": scene.objects.len() },
        "epochs": history.epochs,
    });
    let text = serde_json::to_string_pretty(&report).map_err(|e| Error::Internal(e.to_string()))?;
    let report_path = job.out.join("report.json");
    atomic::write_with(&report_path, |temp| {
        std::fs::write(temp, &text).map_err(|e| Error::io(&report_path, e.to_string()))
    })?;
    Ok(DetectorOutcome { model, scene: scene_path, detections, planted: scene.objects, score, history })
}

fn check(job: &DetectorJob) -> Result<()> {
    let stride = 1usize << job.levels.saturating_sub(1);
    if job.levels == 0 || !job.tile_size.is_multiple_of(stride) || job.sides.0 < 2 || job.sides.1 < job.sides.0 {
        return Err(Error::invalid(format!(
            "a detector of {} levels needs tiles divisible by {stride} (got {}) and object sides 2 <= min <= max (got {:?})",
            job.levels, job.tile_size, job.sides
        )));
    }
    if 2 * job.sides.1 > job.tile_size {
        return Err(Error::invalid(format!(
            "objects up to {} pixels need tiles of at least {} pixels (got {}): the tiles' overlap must hold one",
            job.sides.1,
            2 * job.sides.1,
            job.tile_size
        )));
    }
    Ok(())
}

/// The training tiles [N, 3, T, T] (bytes / 255) and their targets [N, 4 + classes, cells]:
/// tiles of larger scenes, so objects may be cut by the tile's sides, as in a run.
fn training_tiles(job: &DetectorJob) -> (Tensor, Tensor) {
    let t = job.tile_size;
    let stride = 1usize << (job.levels - 1);
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for i in 0..job.tiles {
        let layout = Layout { width: t, height: t, objects: 1 + i % 4, sides: job.sides, cut: true };
        let s = planted::scene(&layout, job.seed.wrapping_add(i as u64));
        xs.extend(s.pixels.iter().map(|v| *v as f32 / 255.0));
        ys.extend(detector::targets(&s.objects, CLASS_NAMES.len(), t, stride));
    }
    let n = job.tiles as i64;
    let cells = ((t / stride) * (t / stride)) as i64;
    let x = Tensor::from_slice(&xs).view([n, 3, t as i64, t as i64]);
    let y = Tensor::from_slice(&ys).view([n, 4 + CLASS_NAMES.len() as i64, cells]);
    (x, y)
}

fn card(job: &DetectorJob, history: &History) -> Vec<(String, String)> {
    let input =
        InputSpec { bands: vec![1, 2, 3], scale: vec![1.0 / 255.0; 3], offset: vec![0.0; 3], band_names: vec![] };
    let names: Vec<String> = CLASS_NAMES.iter().map(|n| n.to_string()).collect();
    // The overlap holds the largest object with a pixel to spare on each side.
    let overlap_percent = ((job.sides.1 + 3) as f64 * 100.0 / job.tile_size as f64).ceil();
    detector_card(&DetectorCardSpec {
        input: &input,
        stats: &BandStats::identity(3),
        tile_size: job.tile_size,
        overlap_percent,
        class_names: &names,
        confidence: 0.3,
        iou_threshold: 0.5,
        provenance: json!({
            "data": "planted scenes (rastrum-train detector)",
            "training_tiles": job.tiles,
            "object_sides": [job.sides.0, job.sides.1],
            "epochs": history.epochs.len(),
            "seed": job.seed,
        }),
    })
}

/// Runs `model` over `scene` into `out` and reads the boxes back in the scene's pixels.
fn detect(model: &Path, scene: &Path, out: &Path, threads: Option<usize>) -> Result<Vec<Found>> {
    let model = Model::load(model, &SessionOptions { threads, ..Default::default() })?;
    rastrum::run(&model, scene, out, &RunOptions::default(), &mut |_, _| true)?;
    read_boxes(out)
}

/// The boxes of a detection layer in the held-out scene's pixels.
fn read_boxes(path: &Path) -> Result<Vec<Found>> {
    let gdal_err = |e: gdal::errors::GdalError| Error::io(path, e.to_string());
    let ds = gdal::Dataset::open(path).map_err(gdal_err)?;
    let mut layer = ds.layer(0).map_err(gdal_err)?;
    let [x0, dx, _, y0, _, dy] = GEO_TRANSFORM;
    let mut found = Vec::new();
    for f in layer.features() {
        let field = |name: &str| -> Result<f64> {
            let i = f.field_index(name).map_err(gdal_err)?;
            f.field_as_double(i)
                .map_err(gdal_err)?
                .ok_or_else(|| Error::io(path, format!("a feature without '{name}'")))
        };
        let env = f.geometry().ok_or_else(|| Error::io(path, "a feature without geometry"))?.envelope();
        let (class, score) = (field("class_id")? as usize, field("score")?);
        let (x1, x2) = ((env.MinX - x0) / dx, (env.MaxX - x0) / dx);
        let (y1, y2) = ((env.MaxY - y0) / dy, (env.MinY - y0) / dy);
        found.push(Found { x1, y1, x2, y2, class, score });
    }
    Ok(found)
}
