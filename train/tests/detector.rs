//! The detector's closed loop: the YOLO-style detector trained on tiles with planted objects,
//! exported with its card, and run by `rastrum run` over a larger held-out scene (many tiles,
//! objects on tile edges) finds the planted objects again: recall and precision at IoU 0.5 of
//! at least 0.9, counted here from the GeoPackage against the planted boxes.

use gdal::vector::LayerAccess;
use rastrum::{Model, SessionOptions};
use rastrum_train::data::planted::{Planted, CLASS_NAMES};
use rastrum_train::detector::iou;
use rastrum_train::detector_job::{self, DetectorJob};
use rastrum_train::fit::FitConfig;

/// The features of the layer: corners in map units, class id, class name.
fn features(path: &std::path::Path) -> Vec<([f64; 4], usize, String)> {
    let ds = gdal::Dataset::open(path).unwrap();
    let mut layer = ds.layer(0).unwrap();
    layer
        .features()
        .map(|f| {
            let e = f.geometry().unwrap().envelope();
            let class = f.field_as_integer(f.field_index("class_id").unwrap()).unwrap().unwrap() as usize;
            let name = f.field_as_string(f.field_index("class_name").unwrap()).unwrap().unwrap();
            ([e.MinX, e.MinY, e.MaxX, e.MaxY], class, name)
        })
        .collect()
}

#[test]
fn a_detector_trained_on_planted_objects_finds_them_again_through_rastrum_run() {
    let dir = tempfile::tempdir().unwrap();
    let job = DetectorJob {
        out: dir.path().join("detector"),
        tiles: 800,
        tile_size: 64,
        width: 16,
        levels: 3,
        sides: (6, 14),
        scene_size: 320,
        seed: 1,
        fit: FitConfig { epochs: 20, batch_size: 16, learning_rate: 2e-3, seed: 1, ..Default::default() },
        device: tch::Device::Cpu,
        threads: Some(2),
    };
    let outcome = detector_job::run(&job).unwrap();
    let losses = outcome.history.train_losses();
    eprintln!(
        "detector loss {:.3} -> {:.3}; rastrum_train's score {:?}",
        losses[0],
        losses.last().unwrap(),
        outcome.score
    );

    // The card makes it a detector for any host: read back by the runtime.
    let model = Model::load(&outcome.model, &SessionOptions::default()).unwrap();
    assert_eq!(model.metadata.get("model_type").map(String::as_str), Some("\"Detector\""));

    // The scene's georeference, to take the layer's boxes back to pixels.
    let gt = gdal::Dataset::open(&outcome.scene).unwrap().geo_transform().unwrap();
    let found: Vec<([f64; 4], usize)> = features(&outcome.detections)
        .into_iter()
        .map(|([x1, y1, x2, y2], class, name)| {
            assert_eq!(name, CLASS_NAMES[class]);
            ([(x1 - gt[0]) / gt[1], (y2 - gt[3]) / gt[5], (x2 - gt[0]) / gt[1], (y1 - gt[3]) / gt[5]], class)
        })
        .collect();
    let planted = &outcome.planted;
    assert!(planted.len() >= 40, "the scene holds {} objects", planted.len());
    let hit = |b: [f64; 4], class: usize, p: &Planted| p.class == class && iou(b, [p.x1, p.y1, p.x2, p.y2]) >= 0.5;
    let recalled = planted.iter().filter(|p| found.iter().any(|(b, c)| hit(*b, *c, p))).count();
    let right = found.iter().filter(|(b, c)| planted.iter().any(|p| hit(*b, *c, p))).count();
    let (recall, precision) = (recalled as f64 / planted.len() as f64, right as f64 / found.len().max(1) as f64);
    eprintln!(
        "{} planted, {} found: recall {recall:.3}, precision {precision:.3} (IoU >= 0.5, class right)",
        planted.len(),
        found.len()
    );
    assert!(recall >= 0.9 && precision >= 0.9, "recall {recall}, precision {precision}");
}
