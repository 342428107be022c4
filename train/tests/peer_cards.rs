//! Models exported by `rastrum-train` carry the card keys Deepness (QGIS plugin) and GeoDeep
//! read, written so that their published readers get what the trainer was configured with.
//! CI has no network, so a Python subprocess parses the exported `metadata_props` exactly as
//! their code does: Deepness's `ModelBase.get_metadata_*` (`json.loads` per key, then
//! `.capitalize()` / `int()` / `float()`, class names sorted by integer key and checked
//! consecutive) and GeoDeep's `inference.create_session` (`float()` / `int()` of the raw text).
//! The check against the real plugin sources was done by hand (docs/model-card.md).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use rastrum::{Model, SessionOptions};
use rastrum_train::arch;
use rastrum_train::card::{card, CardSpec};
use rastrum_train::data::stats::BandStats;
use rastrum_train::data::{InputSpec, Target};
use rastrum_train::export::export;
use rastrum_train::torch::TchNet;
use serde_json::{json, Value};

/// The peers' readers, restated from their published code (Deepness `model_base.py`,
/// `deepness_dockwidget.py`, `preprocessing_utils.py`; GeoDeep `inference.py`, `utils.py`).
/// Input: a JSON object of metadata_props as stored, and raw pixel values per band; output:
/// what each peer makes of them. A key a peer cannot parse raises, failing the test.
const PEERS_PY: &str = r#"
import json, sys
meta, raws = json.load(open(sys.argv[1]))

def deepness():
    m = meta
    out = {}
    if 'model_type' in m:
        out['model_type'] = str(json.loads(m['model_type'])).capitalize()
    for name in ['class_names', 'names']:
        if name not in m:
            continue
        class_names = json.loads(m[name])
        if isinstance(class_names, dict):
            class_names = [class_names]
        all_names = []
        for cn in class_names:
            names, counter = [], 0
            for key, value in sorted(cn.items(), key=lambda kv: int(kv[0])):
                if int(key) != counter:
                    raise Exception('not consecutive')
                counter += 1
                names.append(value)
            all_names.append(names)
        out['class_names'] = all_names
        break
    for key, conv in [('tile_size', int), ('tiles_overlap', int), ('seg_thresh', float),
                      ('reg_output_scaling', float), ('resolution', float)]:
        if key in m:
            out[key] = conv(json.loads(m[key]))
    if 'standardization_mean' in m and 'standardization_std' in m:
        mean = [float(x) for x in json.loads(m['standardization_mean'])]
        std = [float(x) for x in json.loads(m['standardization_std'])]
        # normalize_values_to_01, then standardize_values: what the model is fed.
        out['input'] = [[(r * 1. / 255. - mean[b]) / std[b] for r in rs] for b, rs in enumerate(raws)]
    return out

def geodeep():
    m = meta
    config = {
        'seg_thresh': float(m.get('seg_thresh', 0.5)),
        'seg_small_segment': int(m.get('seg_small_segment', 11)),
        'resolution': float(m.get('resolution', 10)),
        'class_names': json.loads(m.get('class_names', '{}')),
        'model_type': json.loads(m.get('model_type', '"Detector"')),
        'tiles_overlap': float(m.get('tiles_overlap', 5)),
    }
    # geodeep.py: cls_names_map and the model kind it dispatches on.
    config['cls_names_map'] = {config['class_names'][i]: int(i) for i in config['class_names']}
    config['segmentor'] = config['model_type'] == 'Segmentor'
    return config

print(json.dumps({'deepness': deepness(), 'geodeep': geodeep()}))
"#;

fn peers_read(metadata: &BTreeMap<String, String>, raws: &[Vec<f64>], dir: &Path) -> Value {
    let input = dir.join("peer_input.json");
    std::fs::write(&input, json!([metadata, raws]).to_string()).unwrap();
    let out = Command::new("/usr/bin/python3").args(["-c", PEERS_PY]).arg(&input).output().unwrap();
    assert!(out.status.success(), "the peers' readers failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn segmentation_export_is_read_by_deepness_and_geodeep_as_configured() {
    let dir = tempfile::tempdir().unwrap();
    // Sentinel-2-like digital numbers on two bands, a byte band with an offset: the trainer's
    // contract is ((raw * scale + offset) - mean) / std per band.
    let input = InputSpec {
        bands: vec![4, 3, 2],
        scale: vec![1e-4, 1e-4, 1.0 / 255.0],
        offset: vec![0.0, -0.1, 0.5],
        band_names: vec![],
    };
    let stats = BandStats { mean: vec![0.12, 0.03, 0.61], std: vec![0.05, 0.04, 0.2], examples: 100 };
    let names = strings(&["water", "forest", "crop"]);
    let entries = card(&CardSpec {
        input: &input,
        stats: &stats,
        target: Target::PixelClass { classes: 3 },
        tile_size: 64,
        class_names: &names,
        target_scale: 1.0,
        redistribute: None,
        margin: Some(4),
        provenance: json!({ "epochs": 1 }),
    });
    tch::manual_seed(3);
    let net = TchNet::new(arch::unet(3, 3, 1, 4), tch::Device::Cpu);
    let path = dir.path().join("model.onnx");
    export(&net.net, &net.values(), &entries, &path).unwrap();

    // The metadata_props as stored in the file, read back by ONNX Runtime through Rastrum.
    let model = Model::load(&path, &SessionOptions { threads: Some(1), ..Default::default() }).unwrap();
    let raws: Vec<Vec<f64>> = vec![vec![0.0, 750.0, 3000.0], vec![0.0, 1234.0, 9000.0], vec![0.0, 128.0, 255.0]];
    let peers = peers_read(&model.metadata, &raws, dir.path());
    let (dn, gd) = (&peers["deepness"], &peers["geodeep"]);

    // Deepness's dock selects the model type by this text: its ModelType values are the class
    // names Segmentor, Regressor, Superresolution, ...
    assert_eq!(dn["model_type"], "Segmentor");
    assert_eq!(dn["class_names"], json!([names]));
    assert_eq!(dn["tile_size"], 64);
    // 12.5 %: Rastrum's tile / 8; Deepness's spin box takes whole percent, int() truncates.
    assert_eq!(dn["tiles_overlap"], 12);
    // 0 leaves Deepness's threshold off (the outputs are logits, not probabilities).
    assert_eq!(dn["seg_thresh"], 0.0);
    // What Deepness feeds the model is the trainer's contract, pixel for pixel.
    for (b, rs) in raws.iter().enumerate() {
        for (i, raw) in rs.iter().enumerate() {
            let want = ((raw * input.scale[b] + input.offset[b]) - stats.mean[b]) / stats.std[b];
            let got = dn["input"][b][i].as_f64().unwrap();
            assert!(
                (got - want).abs() <= 1e-9 * want.abs().max(1.0),
                "band {b}, raw {raw}: Deepness feeds {got}, want {want}"
            );
        }
    }

    assert_eq!(gd["model_type"], "Segmentor");
    assert_eq!(gd["segmentor"], true);
    assert_eq!(gd["cls_names_map"], json!({ "water": 0, "forest": 1, "crop": 2 }));
    assert_eq!(gd["tiles_overlap"], 12.5);
    assert_eq!(gd["seg_thresh"], 0.0);

    // Rastrum reads the same card: the task, both tile-size spellings and the tile / 8 overlap.
    let rc = rastrum::Card::from_metadata(&model.metadata).unwrap();
    assert_eq!(rc.task, Some(rastrum::Task::Segmentation));
    assert_eq!(rc.tile_size, Some(64));
    assert_eq!(model.metadata.get("tiles_size").map(String::as_str), Some("64"));
    assert_eq!(rc.margin, Some(4));
}

#[test]
fn only_per_pixel_exports_claim_a_peer_model_type() {
    let dir = tempfile::tempdir().unwrap();
    let input = InputSpec { bands: vec![1], scale: vec![1.0], offset: vec![0.0], band_names: vec![] };
    let stats = BandStats::identity(1);
    let names = strings(&["a", "b"]);
    let spec = |target: Target, target_scale: f64| CardSpec {
        input: &input,
        stats: &stats,
        target,
        tile_size: 32,
        class_names: &names,
        target_scale,
        redistribute: None,
        margin: None,
        provenance: json!({}),
    };
    let as_map = |e: Vec<(String, String)>| e.into_iter().collect::<BTreeMap<_, _>>();
    let raws = vec![vec![0.0]];

    // Super-resolution: Deepness's Superresolution type, with the output scaling restoring the
    // trainer's target scale (outputs were trained x4, so divided by 4).
    let sr = as_map(card(&spec(Target::Image { channels: 1, scale: 3 }, 4.0)));
    let peers = peers_read(&sr, &raws, dir.path());
    assert_eq!(peers["deepness"]["model_type"], "Superresolution");
    assert_eq!(peers["deepness"]["reg_output_scaling"], 0.25);
    assert_eq!(peers["deepness"]["tile_size"], 32);

    // Per-tile outputs: Deepness's Regressor wants per-pixel maps and neither peer classifies
    // tiles, so no model_type is claimed (GeoDeep falls back to its "Detector" default).
    for target in [Target::Class { classes: 2 }, Target::Value { len: 1 }] {
        let c = as_map(card(&spec(target, 1.0)));
        assert!(!c.contains_key("model_type"), "{target:?} claims {:?}", c.get("model_type"));
        let peers = peers_read(&c, &raws, dir.path());
        assert_eq!(peers["deepness"]["tile_size"], 32);
        assert_eq!(peers["geodeep"]["model_type"], "Detector");
        assert_eq!(rastrum::Card::from_metadata(&c).unwrap().tile_size, Some(32));
    }
}
