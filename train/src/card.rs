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

/// The card as (key, JSON text) pairs.
pub fn card(spec: &CardSpec) -> Vec<(String, String)> {
    let mut c: Vec<(&str, Value)> = vec![
        ("rastrum_bands", json!(spec.input.bands)),
        ("rastrum_scale", json!(spec.input.scale)),
        ("rastrum_offset", json!(spec.input.offset)),
        ("standardization_mean", json!(spec.stats.mean)),
        ("standardization_std", json!(spec.stats.std)),
        ("tiles_size", json!(spec.tile_size)),
    ];
    let names = || -> Value {
        spec.class_names.iter().enumerate().map(|(i, n)| (i.to_string(), Value::from(n.clone()))).collect()
    };
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
        assert_eq!(parsed.mean, Some(vec![0.1, 0.2]));
        assert_eq!(parsed.std, Some(vec![0.05, 0.07]));
        assert_eq!(parsed.tile_size, Some(128));
        assert_eq!(parsed.margin, Some(8));
        assert_eq!(parsed.head_names(0).unwrap().get(&1).map(String::as_str), Some("forest"));
    }
}
