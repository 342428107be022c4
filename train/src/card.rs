//! The model card an exported model carries (docs/model-card.md): everything `rastrum run`
//! needs to preprocess inputs and interpret outputs exactly as in training, plus the training
//! provenance under `rastrum_training`.

use rastrum::Redistribute;
use serde_json::{json, Value};

use crate::data::stats::BandStats;
use crate::data::{InputSpec, Target};

/// What the card says about a trained model.
pub struct CardSpec<'a> {
    pub input: &'a InputSpec,
    pub stats: &'a BandStats,
    pub target: Target,
    /// Inference tile size in input pixels.
    pub tile_size: usize,
    pub class_names: &'a [String],
    /// Float targets were multiplied by this in training; outputs are divided by it at run time.
    pub target_scale: f64,
    /// Per-tile regression: how the tile value is spread, and the 1-based weight band.
    pub redistribute: Option<(Redistribute, Option<usize>)>,
    pub margin: Option<usize>,
    pub provenance: Value,
}

/// What Deepness feeds a model: the raster's values divided by 255 (`normalize_values_to_01`),
/// then standardised by the card's `standardization_mean` / `_std`. Rastrum reads the same two
/// keys after its own `raw * rastrum_scale + rastrum_offset`.
pub const DEEPNESS_SCALE: f64 = 1.0 / 255.0;

/// The model's input contract `((raw * s + o) - m) / d` written as Deepness can express it,
/// `(raw / 255 - m') / d'` with `m' = (m - o) / (255 s)` and `d' = d / (255 s)`: one pair of
/// keys then serves Deepness and Rastrum (whose scale becomes 1/255, offset 0). Returns scale,
/// offset, mean and std as the card writes them; the contract unchanged where it cannot be folded
/// (a scale that is not positive and finite), and Deepness then misreads the input.
pub fn card_preprocessing(input: &InputSpec, stats: &BandStats) -> [Vec<f64>; 4] {
    let n = input.scale.len();
    let foldable = n == input.offset.len()
        && n == stats.mean.len()
        && n == stats.std.len()
        && input.scale.iter().all(|s| s.is_finite() && *s > 0.0);
    if !foldable {
        return [input.scale.clone(), input.offset.clone(), stats.mean.clone(), stats.std.clone()];
    }
    let k: Vec<f64> = input.scale.iter().map(|s| s / DEEPNESS_SCALE).collect();
    let mean = stats.mean.iter().zip(&input.offset).zip(&k).map(|((m, o), k)| (m - o) / k).collect();
    let std = stats.std.iter().zip(&k).map(|(d, k)| d / k).collect();
    [vec![DEEPNESS_SCALE; n], vec![0.0; n], mean, std]
}

/// Rastrum's default overlap of per-pixel outputs is tile / 8 (src/resolve): 12.5 % reads back
/// as exactly that for every tile size (floor(tile * 12.5 / 100)), GeoDeep takes it as written
/// and Deepness truncates it to 12 % (`int()`).
const PEER_OVERLAP_PERCENT: f64 = 12.5;

/// The keys Deepness and GeoDeep read that Rastrum's own keys do not already give them
/// (docs/model-card.md, "Keys the trainer writes"). Only per-pixel outputs get a `model_type`:
/// Deepness's Regressor needs per-pixel outputs and neither peer classifies tiles.
fn peer_keys(spec: &CardSpec) -> Vec<(&'static str, Value)> {
    let mut c = vec![("tile_size", json!(spec.tile_size))];
    let model_type = match spec.target {
        Target::PixelClass { .. } => Some("Segmentor"),
        Target::Image { .. } => Some("Superresolution"),
        Target::Class { .. } | Target::Value { .. } => None,
    };
    if let Some(t) = model_type {
        c.push(("model_type", json!(t)));
        c.push(("tiles_overlap", json!(PEER_OVERLAP_PERCENT)));
    }
    if let Target::PixelClass { .. } = spec.target {
        // The graph outputs logits (Rastrum applies `rastrum_activation`): 0 turns Deepness's
        // probability threshold off (its dock enables it only for a non-zero value) and is no
        // threshold at all for Rastrum, as before. GeoDeep would otherwise default to 0.5.
        c.push(("seg_thresh", json!(0.0)));
    }
    c
}

/// The keys of the input contract every card carries: bands, scaling, standardisation, tile.
fn input_keys(input: &InputSpec, stats: &BandStats, tile_size: usize) -> Vec<(&'static str, Value)> {
    let [scale, offset, mean, std] = card_preprocessing(input, stats);
    vec![
        ("rastrum_bands", json!(input.bands)),
        ("rastrum_scale", json!(scale)),
        ("rastrum_offset", json!(offset)),
        ("standardization_mean", json!(mean)),
        ("standardization_std", json!(std)),
        ("tiles_size", json!(tile_size)),
    ]
}

/// Class names as the peers' `{"0": name, ...}`.
fn names_object(names: &[String]) -> Value {
    names.iter().enumerate().map(|(i, n)| (i.to_string(), Value::from(n.clone()))).collect()
}

/// The card as (key, JSON text) pairs.
pub fn card(spec: &CardSpec) -> Vec<(String, String)> {
    let mut c = input_keys(spec.input, spec.stats, spec.tile_size);
    c.extend(peer_keys(spec));
    let names = || names_object(spec.class_names);
    match spec.target {
        Target::Class { .. } => {
            c.push(("rastrum_task", json!("classification")));
            c.push(("rastrum_activation", json!("softmax")));
            c.push(("class_names", names()));
        }
        Target::PixelClass { .. } => {
            c.push(("rastrum_task", json!("segmentation")));
            c.push(("rastrum_activation", json!("softmax")));
            c.push(("class_names", names()));
        }
        Target::Value { .. } => {
            c.push(("rastrum_task", json!("regression")));
            c.push(("reg_output_scaling", json!(1.0 / spec.target_scale)));
            if let Some((mode, band)) = spec.redistribute {
                c.push(("rastrum_redistribute", json!(mode)));
                if let Some(b) = band {
                    c.push(("rastrum_weight_band", json!(b)));
                }
            }
        }
        Target::Image { scale, .. } => {
            c.push(("rastrum_task", json!("super_resolution")));
            c.push(("rastrum_scale_factor", json!(scale)));
            c.push(("reg_output_scaling", json!(1.0 / spec.target_scale)));
        }
    }
    if let Some(m) = spec.margin {
        c.push(("rastrum_margin", json!(m)));
    }
    c.push(("rastrum_training", spec.provenance.clone()));
    c.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// What the card says about a trained detector (`arch::yolo`).
pub struct DetectorCardSpec<'a> {
    pub input: &'a InputSpec,
    pub stats: &'a BandStats,
    pub tile_size: usize,
    /// Overlap between tiles, percent of the tile: the largest object must fit in it, so that
    /// some tile sees every object whole.
    pub overlap_percent: f64,
    pub class_names: &'a [String],
    /// Boxes scoring less are dropped; boxes overlapping more are duplicates.
    pub confidence: f64,
    pub iou_threshold: f64,
    pub provenance: Value,
}

/// A detector's card: the peers' `Detector` keys (Deepness's `det_type` spelling of an
/// Ultralytics head, which GeoDeep reads as `YOLO_v8`'s layout too) with Rastrum's own.
pub fn detector_card(spec: &DetectorCardSpec) -> Vec<(String, String)> {
    let mut c: Vec<(&str, Value)> = vec![
        ("rastrum_task", json!("detection")),
        ("model_type", json!("Detector")),
        ("det_type", json!("YOLO_Ultralytics")),
        ("det_conf", json!(spec.confidence)),
        ("det_iou_thresh", json!(spec.iou_threshold)),
        ("class_names", names_object(spec.class_names)),
    ];
    c.extend(input_keys(spec.input, spec.stats, spec.tile_size));
    c.extend([
        ("tile_size", json!(spec.tile_size)),
        ("tiles_overlap", json!(spec.overlap_percent)),
        ("rastrum_training", spec.provenance.clone()),
    ]);
    c.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_card_is_read_back_by_the_runtime() {
        let input =
            InputSpec { bands: vec![1, 3], scale: vec![1e-4, 1e-4], offset: vec![0.0, 0.0], band_names: vec![] };
        let stats = BandStats { mean: vec![0.1, 0.2], std: vec![0.05, 0.07], examples: 10 };
        let names = vec!["water".to_string(), "forest".to_string()];
        let entries = card(&CardSpec {
            input: &input,
            stats: &stats,
            target: Target::PixelClass { classes: 2 },
            tile_size: 128,
            class_names: &names,
            target_scale: 1.0,
            redistribute: None,
            margin: Some(8),
            provenance: json!({ "epochs": 3 }),
        });
        let mut parsed = rastrum::Card::default();
        for (k, v) in &entries {
            parsed.apply(k, v).unwrap();
        }
        assert_eq!(parsed.task, Some(rastrum::Task::Segmentation));
        assert_eq!(parsed.bands, Some(vec![1, 3]));
        assert_eq!(parsed.tile_size, Some(128));
        assert_eq!(parsed.model_type.as_deref(), Some("Segmentor"));
        // The card folds the scale into the standardisation (for Deepness); what Rastrum feeds
        // the model is still the training contract ((raw * 1e-4 + offset) - mean) / std.
        let (s, o) = (parsed.scale.clone().unwrap(), parsed.offset.clone().unwrap());
        let (m, d) = (parsed.mean.clone().unwrap(), parsed.std.clone().unwrap());
        for raw in [0.0, 873.0, 1500.0, 10000.0] {
            for b in 0..2 {
                let want = (raw * 1e-4 - stats.mean[b]) / stats.std[b];
                let got = ((raw * s[b] + o[b]) - m[b]) / d[b];
                assert!((got - want).abs() <= 1e-12 * want.abs().max(1.0), "band {b}, raw {raw}: {got} vs {want}");
            }
        }
        assert_eq!(parsed.margin, Some(8));
        assert_eq!(parsed.head_names(0).unwrap().get(&1).map(String::as_str), Some("forest"));
    }
}
