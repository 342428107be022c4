//! `--vector`: the class raster of a segmentation run as polygons, with class names. Checked
//! against the raster itself: each class's polygons cover exactly its pixels (areas equal the
//! pixel counts times the pixel area), nodata is left out, and both files appear together.

mod common;

use std::collections::BTreeMap;

use common::*;
use gdal::vector::LayerAccess;
use rastrum::{run, RunOptions};

#[test]
fn polygons_cover_each_class_exactly_and_carry_its_name() {
    let dir = tmp();
    let (w, h) = (90, 70);
    let [a, b] = [ramp(w, h), ramp(w, h).iter().rev().copied().collect::<Vec<u8>>()];
    let mut a = a;
    for v in a.iter_mut().take(w * 5) {
        *v = 0; // a nodata strip along the top
    }
    let input = raster::<u8>(&dir.path().join("in.tif"), w, h, &[a, b], Some(0.0));
    let model = dir.path().join("seg.onnx");
    identity_model(&model, 2, &[("rastrum_task", "\"segmentation\""), ("class_names", "[\"water\", \"land\"]")]);
    let out = dir.path().join("classes.tif");
    let vector = dir.path().join("classes.gpkg");
    let opts = RunOptions { vector: Some(vector.clone()), tile_size: Some(32), ..Default::default() };
    let summary = run(&load(&model), &input, &out, &opts, &mut |_, _| true).unwrap();
    assert_eq!(summary.outputs, vec![out.clone(), vector.clone()]);

    let (_, _, classes) = read_band(&out, 1);
    let gt = geo_transform(&out);
    let pixel_area = (gt[1] * gt[5]).abs();
    let mut want: BTreeMap<String, f64> = BTreeMap::new();
    for c in &classes {
        if *c != 255.0 {
            *want.entry(["water", "land"][*c as usize].to_string()).or_default() += pixel_area;
        }
    }
    let ds = gdal::Dataset::open(&vector).unwrap();
    let mut layer = ds.layer(0).unwrap();
    let mut got: BTreeMap<String, f64> = BTreeMap::new();
    for f in layer.features() {
        let name = f.field_as_string(f.field_index("class_name").unwrap()).unwrap().unwrap();
        let id = f.field_as_integer(f.field_index("class_id").unwrap()).unwrap().unwrap();
        assert_eq!(name, ["water", "land"][id as usize]);
        *got.entry(name).or_default() += f.geometry().unwrap().area();
    }
    assert_eq!(got.len(), 2);
    for (k, v) in &want {
        assert!((got[k] - v).abs() < 1e-6 * v, "{k}: polygons {} vs pixels {v}", got[k]);
    }

    // Simplified: fewer vertices, the same classes; refused for values and bad extensions.
    let simple = dir.path().join("simple.gpkg");
    let opts = RunOptions { vector: Some(simple.clone()), vector_simplify: Some(3.0 * gt[1]), ..opts };
    run(&load(&model), &input, &dir.path().join("c2.tif"), &opts, &mut |_, _| true).unwrap();
    let vertices = |p: &std::path::Path| -> usize {
        let ds = gdal::Dataset::open(p).unwrap();
        let mut layer = ds.layer(0).unwrap();
        layer.features().map(|f| f.geometry().unwrap().get_geometry(0).point_count()).sum()
    };
    assert!(vertices(&simple) < vertices(&vector));
    let bad = RunOptions { vector: Some(dir.path().join("x.tif")), ..Default::default() };
    let err = run(&load(&model), &input, &dir.path().join("c3.tif"), &bad, &mut |_, _| true).unwrap_err().to_string();
    assert!(err.contains("choose a .gpkg"), "{err}");
    assert!(!dir.path().join("c3.tif").exists());
}
