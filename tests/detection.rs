//! Object detection over rasters larger than a tile: a pointwise-decodable detector (each
//! anchor's box read from the pixel under it) in the formats in use, objects planted on every
//! kind of tile edge and corner, and the set written to the vector layer compared with the same
//! decoding computed over the whole raster at once.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::*;
use gdal::vector::LayerAccess;
use rastrum::onnx::build::Attr;
use rastrum::onnx::{Dim, GraphBuilder};
use rastrum::{run, RunOptions};

const TILE: i64 = 64;
/// Anchors every STRIDE pixels, at the pixel's centre.
const STRIDE: i64 = 4;
/// Box side = band 3 / 255 * SIDE.
const SIDE: f32 = 32.0;

/// The model's layout of one tile's boxes.
#[derive(Clone, Copy, Debug)]
enum Layout {
    /// Ultralytics v8 / 11: `[b, 4 + classes, N]`.
    Columns,
    /// YOLOv5: `[b, N, 5 + classes]` with objectness 1.
    Rows,
    /// End-to-end: `[b, N, 6]` of x1, y1, x2, y2, score, class.
    EndToEnd,
}

/// A detector over 3-band tiles of TILE pixels: at each anchor (every STRIDE pixels) a square box
/// centred on the anchor pixel, of side band3 / 255 * SIDE, scoring band1 / 255 for class 0 and
/// band2 / 255 for class 1 (inputs are divided by 255: a Deepness `Detector` card).
/// Anchors in a graph: every STRIDE-th pixel of the 3-band tile as `c0`, `c1`, `b3` (a 1x1
/// identity convolution with stride), the anchor centres `bx`, `by` (batch copies: centres + 0 x
/// scores, through `zero`), constants `half`, and `flat` reshaping `[n, k, cells, cells]` to
/// `[n, k, N]`; returns the graph and N.
fn anchor_graph(name: &str) -> (GraphBuilder, i64) {
    let cells = (TILE / STRIDE) as usize;
    let n = (cells * cells) as i64;
    let grid = |axis: usize| -> Vec<f32> {
        (0..cells * cells)
            .map(|i| (if axis == 0 { i % cells } else { i / cells }) as f32 * STRIDE as f32 + 0.5)
            .collect()
    };
    let g = GraphBuilder::new(name)
        .input("x", &["n".into(), 3.into(), TILE.into(), TILE.into()])
        .initializer("w", &[3, 3, 1, 1], &[1., 0., 0., 0., 1., 0., 0., 0., 1.], false)
        .initializer("cx", &[1, 1, cells as i64, cells as i64], &grid(0), false)
        .initializer("cy", &[1, 1, cells as i64, cells as i64], &grid(1), false)
        .initializer("half", &[1], &[0.5], false)
        .initializer_i64("flat", &[3], &[0, -1, n])
        .node(
            "Conv",
            &["x", "w"],
            &["s"],
            &[("kernel_shape", Attr::Ints(vec![1, 1])), ("strides", Attr::Ints(vec![STRIDE, STRIDE]))],
        )
        .node("Split", &["s"], &["c0", "c1", "b3"], &[("axis", Attr::Int(1))])
        .node("Sub", &["c0", "c0"], &["zero"], &[])
        .node("Add", &["zero", "cx"], &["bx"], &[])
        .node("Add", &["zero", "cy"], &["by"], &[]);
    (g, n)
}

fn detector(path: &Path, layout: Layout, det_type: Option<&str>) {
    let (g, n) = anchor_graph("detector");
    let cells = (TILE / STRIDE) as usize;
    let mut g = g
        .initializer("side", &[1], &[SIDE], false)
        .initializer("one", &[1, 1, cells as i64, cells as i64], &vec![1.0; cells * cells], false)
        .node("Mul", &["b3", "side"], &["wh"], &[])
        .node("Add", &["zero", "one"], &["ones"], &[]);
    let (out_dims, rows): (Vec<Dim>, Option<(&str, Vec<&str>)>) = match layout {
        Layout::Columns => (vec!["n".into(), 6.into(), n.into()], None),
        Layout::Rows => {
            (vec!["n".into(), n.into(), 7.into()], Some(("rows", vec!["bx", "by", "wh", "wh", "ones", "c0", "c1"])))
        }
        Layout::EndToEnd => {
            g = g
                .node("Mul", &["wh", "half"], &["r"], &[])
                .node("Sub", &["bx", "r"], &["x1"], &[])
                .node("Sub", &["by", "r"], &["y1"], &[])
                .node("Add", &["bx", "r"], &["x2"], &[])
                .node("Add", &["by", "r"], &["y2"], &[])
                .node("Max", &["c0", "c1"], &["best"], &[])
                .node("Greater", &["c1", "c0"], &["is1"], &[])
                .node("Cast", &["is1"], &["cls"], &[("to", Attr::Int(1))]);
            (vec!["n".into(), n.into(), 6.into()], Some(("rows", vec!["x1", "y1", "x2", "y2", "best", "cls"])))
        }
    };
    g = match rows {
        None => g.node("Concat", &["bx", "by", "wh", "wh", "c0", "c1"], &["cat"], &[("axis", Attr::Int(1))]).node(
            "Reshape",
            &["cat", "flat"],
            &["y"],
            &[],
        ),
        Some((_, parts)) => g
            .node("Concat", &parts, &["cat"], &[("axis", Attr::Int(1))])
            .node("Reshape", &["cat", "flat"], &["t"], &[])
            .node("Transpose", &["t"], &["y"], &[("perm", Attr::Ints(vec![0, 2, 1]))]),
    };
    g = g
        .output("y", &out_dims)
        .meta("model_type", "\"Detector\"")
        .meta("class_names", r#"{"0": "plane", "1": "ship"}"#);
    if let Some(t) = det_type {
        g = g.meta("det_type", &format!("\"{t}\""));
    }
    g.save(path).unwrap();
}

/// An object planted at anchor pixel (x, y): class 0 or 1 scoring 0.9, of side `side` pixels.
struct Planted {
    x: usize,
    y: usize,
    class: usize,
    side: f32,
}

/// A W x H scene (W, H multiples of STRIDE so that every tile's anchors are the raster's) with
/// objects on tile sides, corners, the raster's edges and inside tiles.
fn scene(dir: &Path, w: usize, h: usize, objects: &[Planted]) -> std::path::PathBuf {
    let mut bands = vec![vec![0u8; w * h]; 3];
    for o in objects {
        let i = o.y * w + o.x;
        bands[o.class][i] = 230;
        bands[2][i] = (o.side / SIDE * 255.0).round() as u8;
    }
    raster::<u8>(&dir.join("scene.tif"), w, h, &bands, None)
}

/// Boxes as (class, x1, y1, x2, y2) in 1/100 px.
type Boxes = BTreeSet<(i64, i64, i64, i64, i64)>;

/// The boxes the whole-raster decoding gives.
fn expected(objects: &[Planted]) -> Boxes {
    objects
        .iter()
        .map(|o| {
            let side = ((o.side / SIDE * 255.0).round() / 255.0 * SIDE) as f64;
            let (cx, cy) = (o.x as f64 + 0.5, o.y as f64 + 0.5);
            let r = |v: f64| (v * 100.0).round() as i64;
            (o.class as i64, r(cx - side / 2.0), r(cy - side / 2.0), r(cx + side / 2.0), r(cy + side / 2.0))
        })
        .collect()
}

/// The features of a layer, back in the scene's pixels (through its geotransform, north up).
fn found(path: &Path, scene: &Path) -> (Boxes, Vec<String>) {
    let gt = geo_transform(scene);
    let ds = gdal::Dataset::open(path).unwrap();
    let mut layer = ds.layer(0).unwrap();
    let mut boxes = BTreeSet::new();
    let mut names = Vec::new();
    for f in layer.features() {
        let env = f.geometry().unwrap().envelope();
        let class = f.field_as_integer(f.field_index("class_id").unwrap()).unwrap().unwrap() as i64;
        let score = f.field_as_double(f.field_index("score").unwrap()).unwrap().unwrap();
        assert!((score - 230.0 / 255.0).abs() < 1e-5, "score {score}");
        names.push(f.field_as_string(f.field_index("class_name").unwrap()).unwrap().unwrap());
        let r = |v: f64| (v * 100.0).round() as i64;
        let (px, py) = (|x: f64| (x - gt[0]) / gt[1], |y: f64| (y - gt[3]) / gt[5]);
        let inserted = boxes.insert((class, r(px(env.MinX)), r(py(env.MaxY)), r(px(env.MaxX)), r(py(env.MinY))));
        assert!(inserted, "a box was written twice");
    }
    (boxes, names)
}

/// Objects on every kind of tile edge and corner of a 64-pixel grid overlapping by 32 (tiles at
/// 0, 32, 64, ...), at the raster's edges and corners, and inside tiles.
fn planted(w: usize, h: usize) -> Vec<Planted> {
    let mut objects = Vec::new();
    let sides = [12.0, 20.0, 24.0];
    let mut k = 0;
    for &y in &[0, 32, 60, 64, 96, 128, h - 4] {
        for &x in &[0, 28, 32, 64, 92, 128, 160, w - 4] {
            if x < w && y < h {
                objects.push(Planted { x, y, class: k % 2, side: sides[k % 3] });
                k += 1;
            }
        }
    }
    // Keep boxes apart (no two overlapping): every anchor above is 28 px or more from the next,
    // wider than half of two boxes of up to 24 px... except where they touch: drop those.
    let mut kept: Vec<Planted> = Vec::new();
    for o in objects {
        let far = |p: &Planted| {
            let d = (o.side + p.side) / 2.0 + 1.0;
            (o.x as f32 - p.x as f32).abs() >= d || (o.y as f32 - p.y as f32).abs() >= d
        };
        if kept.iter().all(far) {
            kept.push(o);
        }
    }
    kept
}

/// The 200 x 164 scene of `planted` objects most tests run over (5 x 4 tiles of 64, overlap 32).
fn planted_scene(dir: &Path) -> (Vec<Planted>, std::path::PathBuf) {
    let objects = planted(200, 164);
    let input = scene(dir, 200, 164, &objects);
    (objects, input)
}

#[test]
fn every_planted_object_is_found_once_in_every_output_format() {
    let dir = tmp();
    let (objects, input) = planted_scene(dir.path());
    assert!(objects.len() > 30);
    let want = expected(&objects);
    for (layout, det_type) in [
        (Layout::Columns, Some("YOLO_Ultralytics")),
        (Layout::Columns, None),
        (Layout::Rows, Some("YOLO_v5_or_v7_default")),
        (Layout::EndToEnd, None),
    ] {
        let model = dir.path().join(format!("{layout:?}.onnx"));
        detector(&model, layout, det_type);
        let out = dir.path().join(format!("{layout:?}_{}.gpkg", det_type.is_some()));
        let opts = RunOptions { overlap: Some(32), ..Default::default() };
        let summary = run(&load(&model), &input, &out, &opts, &mut |_, _| true).unwrap();
        assert_eq!(summary.task, rastrum::Task::Detection);
        let (got, names) = found(&out, &input);
        let missing: Vec<_> = want.difference(&got).collect();
        let extra: Vec<_> = got.difference(&want).collect();
        assert!(missing.is_empty() && extra.is_empty(), "{layout:?}: missing {missing:?}, extra {extra:?}");
        let planes = objects.iter().filter(|o| o.class == 0).count() as u64;
        assert_eq!(summary.class_counts.get("plane"), Some(&planes));
        assert_eq!(names.iter().filter(|n| *n == "ship").count() as u64, objects.len() as u64 - planes);
    }
}

#[test]
fn the_set_does_not_depend_on_the_tiling() {
    let dir = tmp();
    let (objects, input) = planted_scene(dir.path());
    let model = dir.path().join("d.onnx");
    detector(&model, Layout::Columns, None);
    let model = load(&model);
    let mut sets = Vec::new();
    for (overlap, batch) in [(32, 1), (36, 4), (40, 3), (48, 2)] {
        let out = dir.path().join(format!("o{overlap}.gpkg"));
        let opts = RunOptions { overlap: Some(overlap), batch: Some(batch), ..Default::default() };
        run(&model, &input, &out, &opts, &mut |_, _| true).unwrap();
        sets.push(found(&out, &input).0);
    }
    assert!(sets.windows(2).all(|p| p[0] == p[1]));
    assert_eq!(sets[0], expected(&objects));
}

#[test]
fn bad_detectors_and_outputs_are_named() {
    let dir = tmp();
    let input = scene(dir.path(), 64, 64, &[]);
    // A Detector card on a segmentation graph.
    let seg = dir.path().join("seg.onnx");
    let nchw: Vec<Dim> = vec!["n".into(), 3.into(), "h".into(), "w".into()];
    GraphBuilder::new("seg")
        .input("x", &nchw)
        .node("Identity", &["x"], &["y"], &[])
        .output("y", &nchw)
        .meta("model_type", "\"Detector\"")
        .save(&seg)
        .unwrap();
    let err = run(&load(&seg), &input, &dir.path().join("a.gpkg"), &RunOptions::default(), &mut |_, _| true)
        .unwrap_err()
        .to_string();
    assert!(err.contains("a detector's output is [b, N, 5 + classes], [b, 4 + classes, N], [b, N, 6]"), "{err}");
    // An unknown det_type.
    let model = dir.path().join("d.onnx");
    detector(&model, Layout::Columns, Some("retinanet_v99"));
    let err = run(&load(&model), &input, &dir.path().join("b.gpkg"), &RunOptions::default(), &mut |_, _| true)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown detector type 'retinanet_v99'"), "{err}");
    // A raster output for a vector layer, and windows.
    detector(&model, Layout::Columns, None);
    let err = run(&load(&model), &input, &dir.path().join("c.tif"), &RunOptions::default(), &mut |_, _| true)
        .unwrap_err()
        .to_string();
    assert!(err.contains("choose a .gpkg (default)"), "{err}");
    assert!(std::fs::read_dir(dir.path()).unwrap().all(|e| {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        name.ends_with(".onnx") || name.starts_with("scene")
    }));
}

/// An oriented-box detector (Ultralytics OBB, `[b, 4 + 1 + 1, N]`): at each anchor a box of
/// band3 / 255 * SIDE by half that, scoring band1 / 255, turned by band2 / 255 * 1.5 radians.
fn oriented_detector(path: &Path) {
    let (g, n) = anchor_graph("obb");
    g.initializer("side", &[1], &[SIDE], false)
        .initializer("turn", &[1], &[1.5], false)
        .node("Mul", &["b3", "side"], &["bw"], &[])
        .node("Mul", &["bw", "half"], &["bh"], &[])
        .node("Mul", &["c1", "turn"], &["angle"], &[])
        .node("Concat", &["bx", "by", "bw", "bh", "c0", "angle"], &["cat"], &[("axis", Attr::Int(1))])
        .node("Reshape", &["cat", "flat"], &["y"], &[])
        .output("y", &["n".into(), 6.into(), n.into()])
        .meta("model_type", "\"Detector\"")
        .meta("det_type", "\"YOLO_Ultralytics_obb\"")
        .meta("class_names", r#"{"0": "ship"}"#)
        .save(path)
        .unwrap();
}

#[test]
fn oriented_boxes_are_found_once_as_their_rotated_polygons() {
    let dir = tmp();
    let (w, h) = (200, 164);
    let mut bands = vec![vec![0u8; w * h]; 3];
    // (x, y, side, turn byte): on tile sides, corners and inside; 90-degree-ish and slight turns.
    let objects = [
        (32, 32, 24.0, 255u8),
        (64, 60, 20.0, 40),
        (100, 100, 24.0, 128),
        (8, 128, 16.0, 200),
        (160, 32, 24.0, 0),
        (128, 140, 20.0, 90),
        (188, 96, 12.0, 170),
    ];
    for &(x, y, side, turn) in &objects {
        bands[0][y * w + x] = 230;
        bands[1][y * w + x] = turn;
        bands[2][y * w + x] = (side / SIDE * 255.0f32).round() as u8;
    }
    let input = raster::<u8>(&dir.path().join("ships.tif"), w, h, &bands, None);
    let model = dir.path().join("obb.onnx");
    oriented_detector(&model);
    let out = dir.path().join("ships.gpkg");
    let opts = RunOptions { overlap: Some(32), ..Default::default() };
    run(&load(&model), &input, &out, &opts, &mut |_, _| true).unwrap();

    let gt = geo_transform(&input);
    let r = |v: f64| (v * 100.0).round() as i64;
    let mut want: Vec<Vec<(i64, i64)>> = objects
        .iter()
        .map(|&(x, y, side, turn)| {
            let bw = ((side / SIDE * 255.0).round() / 255.0 * SIDE) as f64;
            let (hw, hh) = (bw / 2.0, bw / 4.0);
            let angle = (turn as f32 / 255.0 * 1.5) as f64;
            let (sin, cos) = angle.sin_cos();
            let (cx, cy) = (x as f64 + 0.5, y as f64 + 0.5);
            [(-hw, -hh), (hw, -hh), (hw, hh), (-hw, hh)]
                .iter()
                .map(|(u, v)| (r(cx + u * cos - v * sin), r(cy + u * sin + v * cos)))
                .collect()
        })
        .collect();
    let ds = gdal::Dataset::open(&out).unwrap();
    let mut layer = ds.layer(0).unwrap();
    let mut got: Vec<Vec<(i64, i64)>> = layer
        .features()
        .map(|f| {
            let ring = f.geometry().unwrap().get_geometry(0);
            (0..4)
                .map(|i| ring.get_point(i))
                .map(|(x, y, _)| (r((x - gt[0]) / gt[1]), r((y - gt[3]) / gt[5])))
                .collect()
        })
        .collect();
    want.sort();
    got.sort();
    assert_eq!(got.len(), want.len());
    for (g, e) in got.iter().zip(&want) {
        assert!(g.iter().zip(e).all(|(a, b)| (a.0 - b.0).abs() <= 1 && (a.1 - b.1).abs() <= 1), "{g:?} vs {e:?}");
    }
}

#[test]
fn windows_joined_give_the_objects_of_one_pass() {
    let dir = tmp();
    let (objects, input) = planted_scene(dir.path());
    let model_path = dir.path().join("d.onnx");
    detector(&model_path, Layout::Columns, None);
    let model = load(&model_path);
    let opts = RunOptions { overlap: Some(32), ..Default::default() };
    let whole = dir.path().join("whole.gpkg");
    run(&model, &input, &whole, &opts, &mut |_, _| true).unwrap();
    let layout = rastrum::plan::layout(&model, &input, &opts).unwrap();
    let (cols, rows) = (layout.tile_columns, layout.tile_rows);
    assert!(cols >= 4 && rows >= 3, "{cols} x {rows}");
    // Uneven windows: 2 x 2 tiles, the last ones narrower.
    let mut parts = Vec::new();
    for row in (0..rows).step_by(2) {
        for col in (0..cols).step_by(2) {
            let window = rastrum::grid::TileWindow { col, row, cols: 2.min(cols - col), rows: 2.min(rows - row) };
            let part = dir.path().join(format!("w{col}_{row}.fgb"));
            let o = RunOptions { window: Some(window), ..opts.clone() };
            run(&model, &input, &part, &o, &mut |_, _| true).unwrap();
            parts.push(part);
        }
    }
    let joined = dir.path().join("joined.gpkg");
    rastrum::raster::mosaic::assemble(&parts, &joined, &Default::default()).unwrap();
    assert_eq!(found(&joined, &input).0, found(&whole, &input).0);
    assert_eq!(found(&whole, &input).0, expected(&objects));
}

#[test]
fn a_run_that_finds_nothing_writes_an_empty_layer_gdal_opens() {
    let dir = tmp();
    let input = scene(dir.path(), 96, 96, &[Planted { x: 40, y: 40, class: 0, side: 12.0 }]);
    let model = dir.path().join("d.onnx");
    detector(&model, Layout::Columns, None);
    for ext in ["gpkg", "fgb", "geojson"] {
        let out = dir.path().join(format!("none.{ext}"));
        let opts = RunOptions { det_conf: Some(0.95), ..Default::default() };
        let summary = run(&load(&model), &input, &out, &opts, &mut |_, _| true).unwrap();
        assert_eq!(summary.class_counts.values().sum::<u64>(), 0);
        let ds = gdal::Dataset::open(&out).unwrap_or_else(|e| panic!("{ext}: {e}"));
        assert_eq!(ds.layer(0).unwrap().feature_count(), 0, "{ext}");
    }
}

/// An instance-segmentation detector (Ultralytics seg): boxes `[b, 4 + 2 + 1, N]` of a fixed
/// side INSTANCE_BOX at every anchor, scoring band1 / 255 ('plane') and band2 / 255 ('ship'),
/// each with one mask coefficient 1; mask prototypes `[b, 1, TILE, TILE]` = band3 / 255 - 0.5, so
/// that an instance's mask is where band 3 is above 127 inside its box.
fn instance_detector(path: &Path) {
    let (g, n) = anchor_graph("seg");
    g.initializer("side", &[1], &[INSTANCE_BOX], false)
        .initializer("one", &[1], &[1.0], false)
        .node("Add", &["zero", "side"], &["wh"], &[])
        .node("Add", &["zero", "one"], &["coef"], &[])
        .node("Concat", &["bx", "by", "wh", "wh", "c0", "c1", "coef"], &["cat"], &[("axis", Attr::Int(1))])
        .node("Reshape", &["cat", "flat"], &["y"], &[])
        .node("Split", &["x"], &["x0", "x1", "x2"], &[("axis", Attr::Int(1))])
        .node("Sub", &["x2", "half"], &["protos"], &[])
        .output("y", &["n".into(), 7.into(), n.into()])
        .output("protos", &["n".into(), 1.into(), TILE.into(), TILE.into()])
        .meta("model_type", "\"Detector\"")
        .meta("det_type", "\"YOLO_Ultralytics_segmentation\"")
        .meta("class_names", r#"{"0": "plane", "1": "ship"}"#)
        .save(path)
        .unwrap();
}

const INSTANCE_BOX: f32 = 20.0;

#[test]
fn instance_masks_become_their_outlines_not_their_boxes() {
    let dir = tmp();
    let (w, h) = (200, 164);
    let mut bands = vec![vec![0u8; w * h]; 3];
    // Anchors (multiples of 4) on tile sides, corners and inside; each object an L of 28 pixels
    // (two 8 x 2 arms) inside its 20-pixel box.
    let anchors = [(32, 32, 0), (64, 60, 1), (100, 100, 0), (8, 128, 1), (160, 28, 0), (128, 140, 1)];
    for &(x, y, class) in &anchors {
        bands[class][y * w + x] = 230;
        for k in 0..8 {
            for t in 0..2 {
                bands[2][(y - 4 + t) * w + x - 4 + k] = 255; // the horizontal arm
                bands[2][(y - 4 + k) * w + x - 4 + t] = 255; // the vertical arm
            }
        }
    }
    let input = raster::<u8>(&dir.path().join("l.tif"), w, h, &bands, None);
    let model = dir.path().join("seg.onnx");
    instance_detector(&model);
    let out = dir.path().join("l.gpkg");
    let opts = RunOptions { overlap: Some(32), ..Default::default() };
    let summary = run(&load(&model), &input, &out, &opts, &mut |_, _| true).unwrap();
    assert_eq!(summary.class_counts.values().sum::<u64>(), anchors.len() as u64);
    let gt = geo_transform(&input);
    let pixel = (gt[1] * gt[5]).abs();
    let ds = gdal::Dataset::open(&out).unwrap();
    let mut layer = ds.layer(0).unwrap();
    let mut corners = Vec::new();
    for f in layer.features() {
        let g = f.geometry().unwrap();
        assert!((g.area() / pixel - 28.0).abs() < 1e-6, "an L of 28 pixels, found {}", g.area() / pixel);
        let hull = g.convex_hull().unwrap().area() / pixel;
        assert!(hull > 40.0, "the outline, not its hull: hull {hull}");
        let env = g.envelope();
        corners.push(((env.MinX - gt[0]) / gt[1], (env.MaxY - gt[3]) / gt[5]));
    }
    corners.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mut want: Vec<(f64, f64)> = anchors.iter().map(|&(x, y, _)| ((x - 4) as f64, (y - 4) as f64)).collect();
    want.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(corners, want);
}

/// A graph with NMS "inside" returning three outputs, as TF and torchvision exports do: boxes
/// `[b, N, 4]` (x1, y1, x2, y2), labels `[b, N]` as int64 (listed before the scores: told apart by
/// name), scores `[b, N]`.
/// The anchor graph's boxes as corners, `out` = `[n, N, 4]` (x1, y1, x2, y2), the best score
/// `best` and the class `cls` (int64) per anchor, as graphs with NMS inside give them.
fn corner_boxes(g: GraphBuilder, out: &str) -> GraphBuilder {
    g.initializer("side", &[1], &[SIDE], false)
        .node("Mul", &["b3", "side"], &["wh"], &[])
        .node("Mul", &["wh", "half"], &["r"], &[])
        .node("Sub", &["bx", "r"], &["x1"], &[])
        .node("Sub", &["by", "r"], &["y1"], &[])
        .node("Add", &["bx", "r"], &["x2"], &[])
        .node("Add", &["by", "r"], &["y2"], &[])
        .node("Concat", &["x1", "y1", "x2", "y2"], &["cat"], &[("axis", Attr::Int(1))])
        .node("Reshape", &["cat", "flat"], &["t"], &[])
        .node("Transpose", &["t"], &[out], &[("perm", Attr::Ints(vec![0, 2, 1]))])
        .node("Max", &["c0", "c1"], &["best"], &[])
        .node("Greater", &["c1", "c0"], &["is1"], &[])
        .node("Cast", &["is1"], &["cls"], &[("to", Attr::Int(7))])
}

fn separate_detector(path: &Path) {
    let (g, n) = anchor_graph("separate");
    corner_boxes(g, "boxes")
        .initializer_i64("rows", &[2], &[0, -1])
        .node("Reshape", &["best", "rows"], &["scores"], &[])
        .node("Reshape", &["cls", "rows"], &["labels"], &[])
        .output("boxes", &["n".into(), n.into(), 4.into()])
        .output_i64("labels", &["n".into(), n.into()])
        .output("scores", &["n".into(), n.into()])
        .meta("model_type", "\"Detector\"")
        .meta("class_names", r#"{"0": "plane", "1": "ship"}"#)
        .save(path)
        .unwrap();
}

#[test]
fn boxes_scores_and_classes_as_separate_outputs_are_read_by_name() {
    let dir = tmp();
    let (objects, input) = planted_scene(dir.path());
    let model = dir.path().join("separate.onnx");
    separate_detector(&model);
    let out = dir.path().join("separate.gpkg");
    let opts = RunOptions { overlap: Some(32), ..Default::default() };
    run(&load(&model), &input, &out, &opts, &mut |_, _| true).unwrap();
    assert_eq!(found(&out, &input).0, expected(&objects));
}

/// A torchvision RetinaNet export's outputs (GeoDeep's `retinanet`): boxes `[K, 4]`, scores `[K]`
/// and labels `[K]` (int64) without a batch axis, K being the boxes that score over 0.05 in the
/// tile (none for a blank tile); the input batch is dynamic, but only batch 1 gives tiles apart.
fn retinanet_like(path: &Path, det_type: Option<&str>) {
    let (g, _) = anchor_graph("retinanet");
    let mut g = corner_boxes(g, "tt")
        .initializer("floor", &[1], &[0.05], false)
        .initializer_i64("rows", &[2], &[-1, 4])
        .initializer_i64("all", &[1], &[-1])
        .node("Reshape", &["tt", "rows"], &["all_boxes"], &[])
        .node("Reshape", &["best", "all"], &["all_scores"], &[])
        .node("Reshape", &["cls", "all"], &["all_labels"], &[])
        .node("Greater", &["all_scores", "floor"], &["keep"], &[])
        .node("NonZero", &["keep"], &["nz"], &[])
        .node("Reshape", &["nz", "all"], &["idx"], &[])
        .node("Gather", &["all_boxes", "idx"], &["boxes"], &[("axis", Attr::Int(0))])
        .node("Gather", &["all_scores", "idx"], &["scores"], &[("axis", Attr::Int(0))])
        .node("Gather", &["all_labels", "idx"], &["labels"], &[("axis", Attr::Int(0))])
        .output("boxes", &["k".into(), 4.into()])
        .output("scores", &["k".into()])
        .output_i64("labels", &["k".into()])
        .meta("model_type", "\"Detector\"")
        .meta("class_names", r#"{"0": "plane", "1": "ship"}"#);
    if let Some(t) = det_type {
        g = g.meta("det_type", &format!("\"{t}\""));
    }
    g.save(path).unwrap();
}

#[test]
fn retinanet_outputs_without_a_batch_axis_run_one_tile_per_call() {
    let dir = tmp();
    let (objects, input) = planted_scene(dir.path());
    for det_type in [Some("retinanet"), None] {
        let model = dir.path().join("retinanet.onnx");
        retinanet_like(&model, det_type);
        let out = dir.path().join("retinanet.gpkg");
        let opts = RunOptions { overlap: Some(32), batch: Some(4), ..Default::default() };
        let summary = run(&load(&model), &input, &out, &opts, &mut |_, _| true).unwrap();
        assert_eq!(found(&out, &input).0, expected(&objects), "det_type {det_type:?}");
        let why = summary.batch_fallback.unwrap_or_default();
        assert!(why.contains("no batch axis (output 'boxes')"), "{why}");
        std::fs::remove_file(&out).unwrap();
    }
    // Tiles without a box give empty outputs, and the layer is empty.
    let blank = scene(dir.path(), 128, 96, &[]);
    let out = dir.path().join("blank.gpkg");
    run(&load(&dir.path().join("retinanet.onnx")), &blank, &out, &RunOptions::default(), &mut |_, _| true).unwrap();
    assert!(found(&out, &blank).0.is_empty());
}
