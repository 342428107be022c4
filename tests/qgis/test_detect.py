"""Detection through the CLI, the Python binding and qgis_process (rastrum:detect): objects
planted on tile sides and corners found once each, with their class, name and score, in a
GeoPackage that QGIS opens as a layer styled by class (the style in its layer_styles table)."""

import json
import os
import sqlite3
import subprocess

import pytest

import corpus
from test_qgis_process import json_of, profile, qgis_process  # noqa: F401 (profile: a fixture)

# Anchors on tile sides (tiles of 64 at a stride of 32), corners, the raster's edges and inside.
OBJECTS = [(0, 0, 0, 12.0), (32, 32, 1, 20.0), (64, 4, 0, 24.0), (96, 64, 1, 12.0), (128, 96, 0, 20.0),
           (160, 128, 1, 24.0), (196, 160, 0, 12.0), (4, 96, 1, 20.0), (60, 60, 0, 12.0), (124, 32, 1, 24.0)]


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    folder = tmp_path_factory.mktemp("detect")
    model = folder / "detector.onnx"
    corpus.build_detector(model)
    raster = folder / "scene.tif"
    return model, raster, corpus.detection_scene(raster, OBJECTS)


@pytest.fixture(scope="module")
def enabled(profile):  # noqa: F811 (the fixture imported above)
    done = qgis_process(profile, "plugins", "enable", "rastrum")
    assert done.returncode == 0, done.stdout + done.stderr
    return profile


def boxes(path):
    from osgeo import ogr

    ds = ogr.Open(str(path))
    layer = ds.GetLayer(0)
    fields = [layer.GetLayerDefn().GetFieldDefn(i).GetName() for i in range(layer.GetLayerDefn().GetFieldCount())]
    assert fields == ["class_id", "class_name", "score", "tile"]
    assert "32633" in layer.GetSpatialRef().ExportToWkt() or layer.GetSpatialRef().GetAuthorityCode(None) == "32633"
    found = []
    for f in layer:
        x1, x2, y1, y2 = f.GetGeometryRef().GetEnvelope()
        assert f["class_name"] == ("plane", "ship")[f["class_id"]]
        assert abs(f["score"] - 230 / 255) < 1e-5
        found.append((f["class_id"], round(x1, 2), round(y1, 2), round(x2, 2), round(y2, 2)))
    return found


def test_cli_and_binding_find_every_object_once(qgis_app, scene, tmp_path):
    model, raster, expected = scene
    out = tmp_path / "objects.gpkg"
    done = subprocess.run([os.environ["RASTRUM_CLI"], "run", str(model), str(raster), str(out), "--overlap", "32",
                           "--json", "-q"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["task"] == "detection" and summary["outputs"] == [str(out)]
    found = boxes(out)
    assert sorted(found) == sorted(expected) and len(found) == len(OBJECTS)
    assert summary["class_counts"] == {"plane": 5, "ship": 5}

    from rastrum import _native

    fgb = tmp_path / "objects.fgb"
    with _native.Model(str(model)) as m:
        _native.run(m, str(raster), str(fgb), {"overlap": 32, "det_conf": 0.5})
    assert sorted(boxes(fgb)) == sorted(expected)


def test_qgis_process_detect_writes_a_styled_geopackage(enabled, scene, tmp_path):
    model, raster, expected = scene
    out = tmp_path / "objects.gpkg"
    done = qgis_process(enabled, "run", "rastrum:detect", "--json", "--", f"MODEL={model}", f"INPUT={raster}",
                        "OVERLAP=32", "CONFIDENCE=0.5", f"OUTPUT={out}")
    assert done.returncode == 0, done.stdout + done.stderr
    results = json_of(done.stdout)["results"]
    assert results["OUTPUT"] == str(out)
    assert sorted(boxes(out)) == sorted(expected)
    # The style QGIS loads with the layer: categorized by class name, one category per class.
    styles = sqlite3.connect(str(out)).execute("SELECT styleQML FROM layer_styles").fetchall()
    assert styles and "categorizedSymbol" in styles[0][0] and 'value="ship"' in styles[0][0]

    from qgis.core import QgsVectorLayer

    layer = QgsVectorLayer(str(out), "objects", "ogr")
    assert layer.isValid() and layer.featureCount() == len(OBJECTS)
    assert layer.renderer().type() == "categorizedSymbol"
    assert sorted(c.value() for c in layer.renderer().categories()) == ["plane", "ship"]


def test_qgis_process_segment_writes_class_polygons(enabled, tmp_path):
    """OUTPUT_VECTOR beside the class raster: the class names as attributes, areas as the pixels'."""
    from osgeo import gdal, ogr

    model = tmp_path / "logits.onnx"
    next(e for e in corpus.CORPUS if e.name == "logits").build(model)
    raster = tmp_path / "scene.tif"
    corpus.corpus_raster(raster)
    out, polygons = tmp_path / "classes.tif", tmp_path / "classes.gpkg"
    done = qgis_process(enabled, "run", "rastrum:segment", "--json", "--", f"MODEL={model}", f"INPUT={raster}",
                        f"OUTPUT={out}", f"OUTPUT_VECTOR={polygons}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json_of(done.stdout)["results"]["OUTPUT_VECTOR"] == str(polygons)
    classes = gdal.Open(str(out)).ReadAsArray()
    ds = ogr.Open(str(polygons))  # kept: a layer does not keep its dataset alive
    layer = ds.GetLayer(0)
    areas = {}
    for f in layer:
        areas[f["class_name"]] = areas.get(f["class_name"], 0.0) + f.GetGeometryRef().GetArea()
    for c, name in enumerate(["a", "b", "c"]):
        assert abs(areas[name] - (classes == c).sum() * 100.0) < 1e-3, name
