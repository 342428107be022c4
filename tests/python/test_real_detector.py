"""A real third-party detector run unchanged: the Ultralytics YOLOv8n export of the nudenet wheel
(scripts/fetch-detectors.sh), whose metadata (`task: detect`, `names` as a Python dict, `imgsz`)
Rastrum reads as a detector card. On a scene of exactly one tile, the layer Rastrum writes equals
Ultralytics' decoding redone here in numpy (transpose, best class score, xywh -> xyxy, per-class
greedy NMS at IoU 0.5) on the model's raw output; on a larger scene every object is inside it."""

from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, ogr

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models/nudenet/320n.onnx"
SCENE = ROOT / "data/rasterio/rasterio_RGB.byte.tif"
CONF = 0.001  # Ultralytics validation's threshold: this scene holds no real object for the model


@pytest.fixture(scope="module")
def model(rastrum):
    if not MODEL.is_file():
        raise pytest.UsageError(f"{MODEL} is missing: run scripts/fetch-detectors.sh (make test-python does)")
    with rastrum.Model(MODEL) as m:
        yield m


def layer_boxes(path, raster):
    """(class, x1, y1, x2, y2, score) of a layer, in the pixels of the (north-up) raster."""
    gt = gdal.Open(str(raster)).GetGeoTransform()
    ds = ogr.Open(str(path))  # kept: a layer does not keep its dataset alive
    out = []
    for f in ds.GetLayer(0):
        x1, x2, y1, y2 = f.GetGeometryRef().GetEnvelope()
        px, py = (lambda x: (x - gt[0]) / gt[1]), (lambda y: (y - gt[3]) / gt[5])
        out.append((f["class_id"], px(x1), py(y2), px(x2), py(y1), f["score"]))
    return sorted(out)


def iou(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def reference(raw):
    """Ultralytics' post-processing of one [4 + classes, N] output, in numpy."""
    rows = raw.T
    scores, classes = rows[:, 4:].max(axis=1), rows[:, 4:].argmax(axis=1)
    keep = scores >= CONF
    xywh, scores, classes = rows[keep, :4].astype(np.float64), scores[keep], classes[keep]
    boxes = np.stack([xywh[:, 0] - xywh[:, 2] / 2, xywh[:, 1] - xywh[:, 3] / 2,
                      xywh[:, 0] + xywh[:, 2] / 2, xywh[:, 1] + xywh[:, 3] / 2], axis=1)
    kept = []
    for i in np.argsort(-scores, kind="stable"):
        if all(classes[j] != classes[i] or iou(boxes[i], boxes[j]) <= 0.5 for j in kept):
            kept.append(i)
    return sorted((int(classes[i]), *boxes[i], float(scores[i])) for i in kept)


def test_a_yolov8_export_on_one_tile_equals_ultralytics_decoding(rastrum, model, tmp_path):
    tile = tmp_path / "tile.tif"
    # One 320-pixel tile from the scene's valid middle, its nodata flag dropped.
    gdal.Translate(str(tile), str(SCENE), srcWin=[250, 200, 320, 320], noData="none")
    out = tmp_path / "objects.gpkg"
    summary = rastrum.run(model, str(tile), str(out), {"det_conf": CONF})
    assert summary["task"] == "detection" and summary["tiles_total"] == 1
    pixels = gdal.Open(str(tile)).ReadAsArray().astype(np.float32) / 255.0
    want = reference(model.run_array(pixels[None])[0])
    got = layer_boxes(out, tile)
    assert len(want) >= 5, "too few boxes to compare: lower CONF"
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g[0] == w[0] and np.allclose(g[1:5], w[1:5], atol=0.5) and abs(g[5] - w[5]) < 1e-5, (g, w)
    assert sum(summary["class_counts"].values()) == len(want)


def test_a_yolov8_export_runs_over_a_scene_of_many_tiles(rastrum, model, tmp_path):
    out = tmp_path / "objects.fgb"
    summary = rastrum.run(model, str(SCENE), str(out), {"det_conf": CONF})
    assert summary["tiles_total"] > 4
    boxes = layer_boxes(out, SCENE)
    assert len(boxes) == sum(summary["class_counts"].values())
    names = set(summary["class_counts"])
    assert "FACE_FEMALE" in names and len(names) == 18  # the export's own class names


def test_detect_returns_the_objects_as_a_structured_array(rastrum, model, tmp_path):
    """rastrum.detect: the layer's objects as records (class, name, score, tile, envelope)."""
    out = tmp_path / "objects.gpkg"
    rastrum.run(model, str(SCENE), str(out), {"det_conf": CONF})
    records, rings = rastrum.detect(model, str(SCENE), {"det_conf": CONF}, geometries=True)
    assert records.dtype == rastrum.DETECTION_DTYPE and len(records) == len(rings) > 0
    ds = ogr.Open(str(out))  # kept: a layer does not keep its dataset alive
    want = sorted((f["class_id"], f["class_name"], round(f["score"], 5), *map(lambda v: round(v, 3),
                   f.GetGeometryRef().GetEnvelope())) for f in ds.GetLayer(0))
    got = sorted((int(r["class_id"]), r["class_name"], round(float(r["score"]), 5), round(r["xmin"], 3),
                  round(r["xmax"], 3), round(r["ymin"], 3), round(r["ymax"], 3)) for r in records)
    assert got == want
