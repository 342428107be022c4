"""The Rastrum Processing provider inside a real, headless QGIS: every algorithm on real rasters
against the CLI byte for byte, georeferencing, styles, the model designer, progress and
cancellation, errors as Processing errors, mask and extent."""

import configparser
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from osgeo import gdal

from conftest import CLOUD_MODEL, LANDSAT_B4, PLUGIN_SOURCE, RGB_IMAGE, S2_IMAGE, SR_MODEL, run_cli
from onnx_models import tile_mean_classifier, tile_sum_regressor

gdal.UseExceptions()

ALGORITHMS = {"rastrum:segment", "rastrum:classify", "rastrum:regress", "rastrum:superresolve", "rastrum:detect",
              "rastrum:modelinfo", "rastrum:setcard"}
RUNS_A_MODEL = ALGORITHMS - {"rastrum:modelinfo", "rastrum:setcard"}


def run(algorithm, parameters, feedback=None):
    import processing

    return processing.run(algorithm, parameters, feedback=feedback)


def same_bytes(a, b):
    return open(a, "rb").read() == open(b, "rb").read()


def read(path, band=1):
    dataset = gdal.Open(str(path))
    return dataset.GetRasterBand(band).ReadAsArray()


def georeferencing(path):
    dataset = gdal.Open(str(path))
    return dataset.GetGeoTransform(), dataset.GetSpatialRef().ExportToWkt() if dataset.GetSpatialRef() else ""


def loaded(path):
    """The raster as QGIS opens it (with the .qml beside it as its default style)."""
    from qgis.core import QgsRasterLayer

    layer = QgsRasterLayer(str(path), "out", "gdal")
    assert layer.isValid(), path
    return layer


def assert_class_style(path, names):
    layer = loaded(path)  # kept: the renderer belongs to the layer
    renderer = layer.renderer()
    assert renderer.type() == "paletted"
    assert [c.label for c in renderer.classes()] == list(names)
    dataset = gdal.Open(str(path))  # kept: a band outliving its dataset crashes
    table = dataset.GetRasterBand(1).GetColorTable()
    for c in renderer.classes():  # the colours the engine wrote
        assert c.color.getRgb() == table.GetColorEntry(int(c.value))


def assert_ramp_style(path):
    layer = loaded(path)
    renderer = layer.renderer()
    assert renderer.type() == "singlebandpseudocolor"
    assert renderer.shader().rasterShaderFunction().colorRampItemList()


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    return tile_mean_classifier(folder / "tile_mean.onnx"), tile_sum_regressor(folder / "tile_sum.onnx")


# --- The plugin and its provider


def test_metadata_and_lazy_class_factory():
    metadata = configparser.ConfigParser()
    metadata.read(PLUGIN_SOURCE / "rastrum/metadata.txt")
    general = metadata["general"]
    assert general["hasProcessingProvider"] == "yes"
    assert general["qgisMinimumVersion"] == "3.22" and general["qgisMaximumVersion"] == "4.99"
    # Importing the package loads neither QGIS modules of ours nor the native library.
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import rastrum; "
            "print(sorted(m for m in sys.modules if m.startswith('rastrum')))")
    done = subprocess.run([sys.executable, "-c", code, str(PLUGIN_SOURCE)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['rastrum']"


def test_provider_has_one_algorithm_per_task(qgis_app):
    from qgis.core import QgsApplication, QgsProcessingParameterDefinition

    provider = QgsApplication.processingRegistry().providerById("rastrum")
    assert provider is not None and provider.id() == "rastrum"
    assert {a.id() for a in provider.algorithms()} == ALGORITHMS
    segment = QgsApplication.processingRegistry().algorithmById("rastrum:segment")
    names = {p.name() for p in segment.parameterDefinitions()}
    assert {"MODEL", "INPUT", "BANDS", "SCALE", "OFFSET", "MEAN", "STD", "TILE_SIZE", "OVERLAP", "STITCH",
            "BATCH", "DEVICE", "ALLOW_FALLBACK", "THREADS", "PROBABILITIES", "EXTENT", "MASK",
            "CREATION_OPTIONS", "OUTPUT", "SMALL_SEGMENT"} <= names
    assert {"PROVIDER", "OUTPUT_PROBABILITIES", "TILES_SKIPPED"} <= {o.name() for o in segment.outputDefinitions()}
    # A toolbox search for the runtime or the field finds every algorithm that runs a model.
    for algorithm in provider.algorithms():
        if algorithm.id() in RUNS_A_MODEL:
            assert {"onnx", "deep learning", "inference"} <= set(algorithm.tags()), algorithm.id()
    # What a first run needs is on the main page; tuning is under Advanced.
    advanced = {p.name() for p in segment.parameterDefinitions()
                if p.flags() & QgsProcessingParameterDefinition.FlagAdvanced}
    assert {"BATCH", "THREADS", "ALLOW_FALLBACK", "STITCH", "CREATION_OPTIONS", "EXTRA_OPTIONS"} <= advanced
    assert not {"MODEL", "INPUT", "BANDS", "SCALE", "TILE_SIZE", "OUTPUT"} & advanced
    assert "cloud mask" in segment.tags()
    regress = QgsApplication.processingRegistry().algorithmById("rastrum:regress")
    assert {"REDISTRIBUTE", "WEIGHT_BAND"} <= {p.name() for p in regress.parameterDefinitions()}
    # Its own icon, and help pages that open the documentation of this version.
    assert not provider.icon().isNull() and not segment.icon().isNull()
    for algorithm, page in (("segment", "qgis.md"), ("detect", "detection.md"), ("setcard", "model-card.md")):
        url = QgsApplication.processingRegistry().algorithmById(f"rastrum:{algorithm}").helpUrl()
        assert url.startswith("file://") and url.endswith(page), url
        assert os.path.isfile(url[len("file://"):]), url


def test_the_sources_use_spellings_qgis_3_and_4_both_read():
    """QGIS 4 (Qt 6) keeps only the scoped enums of QGIS 3.36+ and PyQt6 only scoped Qt enums
    and exec(): the plugin takes QGIS's changed enums from compat.py and imports Qt through
    qgis.PyQt only."""
    import re

    old = re.compile(r"from PyQt[56]|import PyQt[56]|\.exec_\(|QgsProcessingParameterDefinition\.Flag|"
                     r"QgsProcessing\.Type|QgsProcessingParameterNumber\.(Integer|Double)|"
                     r"QgsRasterBandStats\.(Min|Max)\b|QgsColorRampShader\.Interpolated|"
                     r"\bQt\.(Align|TextSelectable|Checked|Unchecked|Horizontal|Vertical)")
    for path in sorted((PLUGIN_SOURCE / "rastrum").glob("*.py")):
        if path.name == "compat.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            assert not old.search(line), f"{path.name}:{number}: {line.strip()}"


def test_the_plugin_repository_xml_describes_the_zip(tmp_path):
    import xml.etree.ElementTree as ET

    out = tmp_path / "plugins.xml"
    zip_path = os.environ["RASTRUM_PLUGIN_ZIP"]
    subprocess.run([sys.executable, str(PLUGIN_SOURCE.parent / "scripts/plugin_repository.py"), zip_path,
                    "https://example.invalid/releases/0.1.0", str(out)], check=True)
    plugin = ET.parse(out).getroot().find("pyqgis_plugin")
    metadata = configparser.ConfigParser()
    metadata.read(PLUGIN_SOURCE / "rastrum/metadata.txt")
    assert plugin.get("name") == "Rastrum" and plugin.get("version") == metadata["general"]["version"]
    assert plugin.findtext("qgis_maximum_version") == "4.99"
    assert plugin.findtext("download_url") == f"https://example.invalid/releases/0.1.0/{os.path.basename(zip_path)}"


def test_the_zip_carries_the_icon_and_the_help_pages():
    import zipfile

    names = set(zipfile.ZipFile(os.environ["RASTRUM_PLUGIN_ZIP"]).namelist())
    assert {"rastrum/icon.svg", "rastrum/help/qgis.md", "rastrum/help/detection.md",
            "rastrum/help/model-card.md"} <= names
    metadata = configparser.ConfigParser()
    metadata.read(PLUGIN_SOURCE / "rastrum/metadata.txt")
    assert f"rastrum/{metadata['general']['icon']}" in names


# --- Every task against the CLI


def test_segment_equals_the_cli_and_is_styled(qgis_app, tmp_path, cloud_stats, cloud_reference):
    from qgis.core import QgsProcessingFeedback

    progress = []
    feedback = QgsProcessingFeedback()
    feedback.progressChanged.connect(progress.append)
    mean, std = cloud_stats
    out = tmp_path / "cloud.tif"
    result = run("rastrum:segment", {
        "MODEL": str(CLOUD_MODEL), "INPUT": str(S2_IMAGE), "TILE_SIZE": 256, "OVERLAP": 51,
        "MEAN": mean, "STD": std, "PROBABILITIES": True, "OUTPUT": str(out),
    }, feedback)
    assert result["OUTPUT"] == str(out)
    assert same_bytes(out, cloud_reference)
    probabilities = tmp_path / "cloud_probabilities.tif"
    assert result["OUTPUT_PROBABILITIES"] == str(probabilities)
    assert same_bytes(probabilities, cloud_reference.with_name("cloud_probabilities.tif"))
    assert result["PROVIDER"] == "cpu"
    assert json.loads(result["SUMMARY"])["tiles_run"] == result["TILES_RUN"] == 9
    # Progress: 0..100, rising, complete.
    assert progress and progress == sorted(progress) and 0 <= progress[0] and progress[-1] == 100
    assert georeferencing(out) == georeferencing(S2_IMAGE)
    assert_class_style(out, ["class 0", "class 1", "class 2"])
    assert_ramp_style(probabilities)


def test_classify_equals_the_cli_on_the_tile_grid(qgis_app, tmp_path, tiny_models):
    classifier, _ = tiny_models
    out, reference = tmp_path / "plugin.tif", tmp_path / "cli.tif"
    summary = run_cli(classifier, RGB_IMAGE, reference, "--probabilities", "--batch", 8)
    result = run("rastrum:classify", {"MODEL": str(classifier), "INPUT": str(RGB_IMAGE), "PROBABILITIES": True,
                                      "BATCH": 8, "OUTPUT": str(out)})
    assert same_bytes(out, reference)
    assert same_bytes(result["OUTPUT_PROBABILITIES"], tmp_path / "cli_probabilities.tif")
    assert result["TILES_SKIPPED"] == summary["tiles_skipped"] > 0  # the nodata border
    (x0, dx, _, y0, _, dy), wkt = georeferencing(out)
    (ix0, idx, _, iy0, _, idy), input_wkt = georeferencing(RGB_IMAGE)
    assert (x0, y0, wkt) == (ix0, iy0, input_wkt)
    assert (dx, dy) == pytest.approx((64 * idx, 64 * idy))  # one pixel per 64-pixel tile
    assert_class_style(out, ["red", "green", "blue"])
    assert_ramp_style(result["OUTPUT_PROBABILITIES"])


def test_regress_with_weighted_redistribution_equals_the_cli(qgis_app, tmp_path, tiny_models):
    _, regressor = tiny_models
    out, reference = tmp_path / "plugin.tif", tmp_path / "cli.tif"
    run_cli(regressor, RGB_IMAGE, reference, "--redistribute", "weight", "--weight-band", 2, "--bands", 2,
            "--co", "COMPRESS=LZW")
    result = run("rastrum:regress", {"MODEL": str(regressor), "INPUT": str(RGB_IMAGE), "BANDS": "2",
                                     "REDISTRIBUTE": 3, "WEIGHT_BAND": 2, "CREATION_OPTIONS": "COMPRESS=LZW",
                                     "OUTPUT": str(out)})
    assert same_bytes(out, reference)
    assert gdal.Open(str(out)).GetMetadata("IMAGE_STRUCTURE")["COMPRESSION"] == "LZW"
    assert georeferencing(out) == georeferencing(RGB_IMAGE)
    assert result["TILES_RUN"] > 0
    assert_ramp_style(out)


def test_super_resolve_equals_the_cli_on_a_three_times_finer_grid(qgis_app, tmp_path):
    out, reference = tmp_path / "plugin.tif", tmp_path / "cli.tif"
    run_cli(SR_MODEL, LANDSAT_B4, reference, "--scale", 2e-5, "--offset", -0.1)
    run("rastrum:superresolve", {"MODEL": str(SR_MODEL), "INPUT": str(LANDSAT_B4), "SCALE": "2e-5",
                                 "OFFSET": "-0.1", "OUTPUT": str(out)})
    assert same_bytes(out, reference)
    source, result = gdal.Open(str(LANDSAT_B4)), gdal.Open(str(out))
    assert (result.RasterXSize, result.RasterYSize) == (3 * source.RasterXSize, 3 * source.RasterYSize)
    (x0, dx, _, y0, _, dy), wkt = georeferencing(out)
    (ix0, idx, _, iy0, _, idy), input_wkt = georeferencing(LANDSAT_B4)
    assert (x0, y0, wkt) == (ix0, iy0, input_wkt)
    assert (dx, dy) == pytest.approx((idx / 3, idy / 3))


def test_model_info_returns_the_resolved_card(qgis_app):
    result = run("rastrum:modelinfo", {"MODEL": str(CLOUD_MODEL), "EXTRA_OPTIONS": "set=seg_thresh=0.4"})
    card = json.loads(result["CARD"])
    done = subprocess.run([os.environ["RASTRUM_CLI"], "info", str(CLOUD_MODEL), "--set", "seg_thresh=0.4", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    reference = json.loads(done.stdout)
    assert reference.pop("error", None) is None  # the CLI's own field: why the card did not resolve
    assert card == reference
    assert card["resolved"]["seg_thresh"] == 0.4 and result["PROVIDER"] == "cpu"
    # The log reads as a summary of what the model expects, not the JSON.
    lines = result["SUMMARY"].splitlines()
    assert len(lines) <= 10, lines
    assert "Bands: 6, in this order from the input raster: 1, 2, 3, 4, 5, 6" in lines
    assert "Tiles: 256 px" in result["SUMMARY"] and "Task: segmentation, 3 classes" in result["SUMMARY"]


def test_model_info_summary_names_the_cards_classes_colours_and_scaling(qgis_app, tmp_path):
    model = tmp_path / "cloud.onnx"
    run("rastrum:setcard", {"MODEL": str(CLOUD_MODEL), "CLASSES": ["0", "clear", "#3c8c3c", "1", "cloud", "",
                                                                   "2", "shadow", "#3c3c50"],
                            "KEYS": "rastrum_scale=2e-5;rastrum_offset=-0.1;resolution=3000", "OUTPUT": str(model)})
    text = run("rastrum:modelinfo", {"MODEL": str(model)})["SUMMARY"]
    assert "Classes: 0 clear (#3c8c3c), 1 cloud, 2 shadow (#3c3c50)" in text
    assert "Scaling: x = raw * 2e-05 (each of 6 bands) + -0.1 (each of 6 bands)" in text
    assert "Resolution: 3000.0 cm per pixel" in text


def test_the_device_asked_and_the_provider_bound_are_reported(qgis_app, tmp_path, tiny_models):
    from qgis.core import QgsProcessingException

    classifier, _ = tiny_models
    # The CPU build of ONNX Runtime cannot bind CUDA: a clear error, or the CPU when allowed.
    with pytest.raises(QgsProcessingException, match="cuda was requested but cannot be bound"):
        run("rastrum:classify", {"MODEL": str(classifier), "INPUT": str(RGB_IMAGE), "DEVICE": 1,
                                 "OUTPUT": str(tmp_path / "strict.tif")})
    result = run("rastrum:classify", {"MODEL": str(classifier), "INPUT": str(RGB_IMAGE), "DEVICE": 1,
                                      "ALLOW_FALLBACK": True, "THREADS": 2, "OUTPUT": str(tmp_path / "fallback.tif")})
    assert result["PROVIDER"].startswith("cpu (fallback: ")


# --- The model designer and loading into a project


def test_runs_as_a_step_of_a_graphical_model(qgis_app, tmp_path, tiny_models):
    from qgis.core import (QgsProcessingModelAlgorithm, QgsProcessingModelChildAlgorithm,
                           QgsProcessingModelChildParameterSource, QgsProcessingModelOutput,
                           QgsProcessingModelParameter, QgsProcessingParameterRasterLayer)

    _, regressor = tiny_models
    model = QgsProcessingModelAlgorithm("rastrum test", "tests")
    model.addModelParameter(QgsProcessingParameterRasterLayer("raster", "Raster"),
                            QgsProcessingModelParameter("raster"))
    child = QgsProcessingModelChildAlgorithm("rastrum:regress")
    child.generateChildId(model)
    child.addParameterSources("INPUT", [QgsProcessingModelChildParameterSource.fromModelParameter("raster")])
    child.addParameterSources("MODEL", [QgsProcessingModelChildParameterSource.fromStaticValue(str(regressor))])
    output = QgsProcessingModelOutput("values")
    output.setChildOutputName("OUTPUT")
    child.setModelOutputs({"values": output})
    model.addChildAlgorithm(child)
    model.updateDestinationParameters()
    destination = model.destinationParameterDefinitions()[0].name()

    out, reference = tmp_path / "model.tif", tmp_path / "cli.tif"
    results = run(model, {"raster": str(RGB_IMAGE), destination: str(out)})
    run_cli(regressor, RGB_IMAGE, reference)
    assert results[destination] == str(out)
    assert same_bytes(out, reference)


@pytest.mark.parametrize("spelling", ["tile_size", "tile-size", "--Tile-Size"])
def test_extra_options_take_one_key_in_any_spelling(qgis_app, tmp_path, tiny_models, spelling):
    # The card's tile is 32: tiles of 64 change every redistributed value, so equal bytes show
    # that the key reached the run in each spelling.
    _, regressor = tiny_models
    reference, out = tmp_path / "cli.tif", tmp_path / "plugin.tif"
    run_cli(regressor, RGB_IMAGE, reference, "--tile-size", 64)
    run("rastrum:regress", {"MODEL": str(regressor), "INPUT": str(RGB_IMAGE), "EXTRA_OPTIONS": f"{spelling}=64",
                            "OUTPUT": str(out)})
    assert same_bytes(out, reference)
    default = tmp_path / "default.tif"
    run_cli(regressor, RGB_IMAGE, default)
    assert not same_bytes(out, default)


def test_outputs_loaded_on_completion_are_styled(qgis_app, tmp_path, tiny_models):
    import processing
    from qgis.core import QgsProject

    classifier, _ = tiny_models
    project = QgsProject.instance()
    project.removeAllMapLayers()
    processing.runAndLoadResults("rastrum:classify", {"MODEL": str(classifier), "INPUT": str(RGB_IMAGE),
                                                      "PROBABILITIES": True, "OUTPUT": "TEMPORARY_OUTPUT"})
    layers = sorted(project.mapLayers().values(), key=lambda layer: layer.source())
    assert len(layers) == 2
    classes, probabilities = layers  # x.tif sorts before x_probabilities.tif
    # Named for what they are and the input they come from.
    assert classes.name() == "Classes of rasterio_RGB"  # QGIS names a layer from a path by its base name
    assert probabilities.name() == "Class probabilities of rasterio_RGB"
    assert classes.renderer().type() == "paletted"
    assert [c.label for c in classes.renderer().classes()] == ["red", "green", "blue"]
    assert probabilities.renderer().type() == "singlebandpseudocolor"
    # The class map above its probabilities, which would hide it (Processing adds outputs in
    # the order of their paths, the last on top).
    tree = [node.layer().name() for node in project.layerTreeRoot().findLayers()]
    assert tree == ["Classes of rasterio_RGB", "Class probabilities of rasterio_RGB"]
    project.removeAllMapLayers()


# --- Writing a model's card


def test_setcard_writes_a_card_that_rastrum_info_reads_back(qgis_app, tmp_path):
    side = CLOUD_MODEL.with_suffix(".json")
    out = tmp_path / "cloud_with_card.onnx"
    classes = ["0", "clear", "#3C8C3C", "1", "cloud", "#ffffff", "2", "cloud shadow", ""]
    result = run("rastrum:setcard", {"MODEL": str(CLOUD_MODEL), "FROM_JSON": str(side), "CLASSES": classes,
                                     "KEYS": "rastrum_scale=2e-5;rastrum_offset=-0.1;model_type=Segmentor",
                                     "REMOVE": "model_type", "OUTPUT": str(out)})
    assert result["OUTPUT"] == str(out)
    cli = os.environ["RASTRUM_CLI"]
    info = json.loads(subprocess.run([cli, "info", str(out), "--json"], capture_output=True, text=True,
                                     timeout=120, check=True).stdout)
    resolved = info["resolved"]
    stats = json.loads(side.read_text())["data"]["dataset_statistics"]["img"]
    assert resolved["class_names"] == ["clear", "cloud", "cloud shadow"]
    assert resolved["mean"] == pytest.approx(stats[0]) and resolved["std"] == pytest.approx(stats[1])
    assert resolved["scale"] == [2e-5] * 6 and resolved["offset"] == [-0.1] * 6
    assert resolved["tile_size"] == 256
    card = json.loads(subprocess.run([cli, "card", str(out), "--json"], capture_output=True, text=True,
                                     timeout=60, check=True).stdout)
    assert card["rastrum_class_colors"] == {"0": "#3c8c3c", "1": "#ffffff"}
    assert "model_type" not in card and json.loads(result["CARD"]) == card
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cloud_with_card.onnx"]  # no staging file left


def test_a_class_table_names_and_colours_the_run_output(qgis_app, tmp_path, tiny_models):
    classifier, _ = tiny_models
    out = tmp_path / "classes.tif"
    run("rastrum:classify", {"MODEL": str(classifier), "INPUT": str(RGB_IMAGE), "OUTPUT": str(out),
                             "CLASSES": ["0", "sea", "#0000ff", "1", "land", "", "2", "ice", "#eeeeff"],
                             "EXTRA_OPTIONS": "set=seg_thresh=0"})
    assert_class_style(out, ["sea", "land", "ice"])
    dataset = gdal.Open(str(out))
    band = dataset.GetRasterBand(1)
    assert band.GetColorTable().GetColorEntry(0)[:3] == (0, 0, 255)
    assert band.GetColorTable().GetColorEntry(2)[:3] == (0xee, 0xee, 0xff)


@pytest.mark.parametrize("classes, message", [
    (["0", "clear", "#3c8c3c", "0", "cloud", ""], "class 0 is listed twice"),
    (["x", "clear", ""], "class id must be 0, 1, 2"),
    (["0", "clear", "green"], "colour 'green' of class 0 is not #rrggbb"),
])
def test_setcard_refuses_a_bad_class_table_and_writes_nothing(qgis_app, tmp_path, classes, message):
    from qgis.core import QgsProcessingException

    out = tmp_path / "m.onnx"
    with pytest.raises(QgsProcessingException, match=message):
        run("rastrum:setcard", {"MODEL": str(CLOUD_MODEL), "CLASSES": classes, "OUTPUT": str(out)})
    assert not out.exists()


# --- Cancellation and errors


def test_cancelling_stops_within_a_batch_and_leaves_nothing(qgis_app, tmp_path, cloud_stats, tiny_models):
    from qgis.core import QgsProcessingException, QgsProcessingFeedback

    feedback = QgsProcessingFeedback()
    reports = []

    def cancel_after_first(value):
        reports.append(value)
        feedback.cancel()

    feedback.progressChanged.connect(cancel_after_first)
    mean, std = cloud_stats
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(QgsProcessingException, match="[Cc]ancel"):
        run("rastrum:segment", {"MODEL": str(CLOUD_MODEL), "INPUT": str(S2_IMAGE), "TILE_SIZE": 256,
                                "OVERLAP": 51, "MEAN": mean, "STD": std, "BATCH": 1, "PROBABILITIES": True,
                                "OUTPUT": str(folder / "cloud.tif")}, feedback)
    assert len(reports) == 1, reports  # no batch ran after the one that reported
    assert reports[0] < 100
    assert list(folder.iterdir()) == []  # no output, no hidden temporary file
    # QGIS and the provider go on.
    _, regressor = tiny_models
    run("rastrum:regress", {"MODEL": str(regressor), "INPUT": str(RGB_IMAGE), "OUTPUT": str(folder / "after.tif")})
    assert (folder / "after.tif").is_file()


def test_wrong_inputs_are_processing_errors_with_the_librarys_message(qgis_app, tmp_path, tiny_models):
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="channel count mismatch"):
        run("rastrum:segment", {"MODEL": str(CLOUD_MODEL), "INPUT": str(S2_IMAGE), "BANDS": "1,2",
                                "OUTPUT": str(tmp_path / "bands.tif")})
    missing = tmp_path / "no_such_model.onnx"
    with pytest.raises(QgsProcessingException, match="no_such_model.onnx"):
        run("rastrum:segment", {"MODEL": str(missing), "INPUT": str(S2_IMAGE), "OUTPUT": str(tmp_path / "m.tif")})
    with pytest.raises(QgsProcessingException, match="unknown option 'no-such-option'"):
        run("rastrum:segment", {"MODEL": str(CLOUD_MODEL), "INPUT": str(S2_IMAGE), "EXTRA_OPTIONS": "no-such-option=1",
                                "OUTPUT": str(tmp_path / "o.tif")})
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    _, regressor = tiny_models
    run("rastrum:regress", {"MODEL": str(regressor), "INPUT": str(RGB_IMAGE), "OUTPUT": str(tmp_path / "ok.tif")})
    assert (tmp_path / "ok.tif").is_file()


# --- Mask and extent


def _mask_polygon():
    """A polygon over the middle of the RGB raster, in its CRS, with vertices off the pixel
    centres (so that no reprojection round-off moves a pixel in or out)."""
    (x0, dx, _, y0, _, dy), _ = georeferencing(RGB_IMAGE)
    points = [(180.37, 150.41), (560.29, 210.33), (610.43, 520.27), (260.31, 600.39)]
    ring = ", ".join(f"{x0 + c * dx!r} {y0 + r * dy!r}" for c, r in points + points[:1])
    return f"POLYGON (({ring}))"


def test_mask_and_extent_limit_the_run(qgis_app, tmp_path, tiny_models):
    from qgis.core import (QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsFeature, QgsGeometry,
                           QgsProcessingFeatureSourceDefinition, QgsProject, QgsVectorFileWriter,
                           QgsVectorLayer)

    _, regressor = tiny_models
    raster_crs = QgsCoordinateReferenceSystem("EPSG:32618")
    polygon = QgsGeometry.fromWkt(_mask_polygon())

    # A file mask in the raster's CRS: the CLI gets the same file.
    mask_file = str(tmp_path / "mask.gpkg")
    layer = QgsVectorLayer("Polygon?crs=EPSG:32618", "mask", "memory")
    feature = QgsFeature()
    feature.setGeometry(polygon)
    layer.dataProvider().addFeatures([feature])
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    error = QgsVectorFileWriter.writeAsVectorFormatV3(layer, mask_file, QgsProject.instance().transformContext(),
                                                       options)
    assert error[0] == QgsVectorFileWriter.NoError, error

    (x0, dx, _, y0, _, dy), _ = georeferencing(RGB_IMAGE)
    extent = (x0 + 100 * dx, y0 + 700 * dy, x0 + 700 * dx, y0 + 50 * dy)  # xmin, ymin, xmax, ymax
    reference = tmp_path / "cli.tif"
    full = run_cli(regressor, RGB_IMAGE, tmp_path / "full.tif")
    summary = run_cli(regressor, RGB_IMAGE, reference, "--mask", mask_file, "--extent", ",".join(map(repr, extent)))
    extent_text = "{!r},{!r},{!r},{!r} [EPSG:32618]".format(extent[0], extent[2], extent[1], extent[3])
    out = tmp_path / "plugin.tif"
    result = run("rastrum:regress", {"MODEL": str(regressor), "INPUT": str(RGB_IMAGE), "MASK": mask_file,
                                     "EXTENT": extent_text, "OUTPUT": str(out)})
    assert same_bytes(out, reference)
    assert result["TILES_SKIPPED"] == summary["tiles_skipped"] > full["tiles_skipped"]

    # Pixels outside the polygon are nodata, inside are values.
    values = read(out)
    (ox, odx, _, oy, _, ody), _ = georeferencing(out)
    cols, rows = np.meshgrid(np.arange(values.shape[1]), np.arange(values.shape[0]))
    inside = _contains(polygon, ox + (cols + 0.5) * odx, oy + (rows + 0.5) * ody)
    dataset = gdal.Open(str(out))
    nodata = dataset.GetRasterBand(1).GetNoDataValue()
    assert (values[~inside] == nodata).all()
    assert (values[inside] != nodata).mean() > 0.9  # inside, only the raster's own nodata border is empty

    # The same polygon as a selected feature of a memory layer in another CRS: the plugin
    # exports the selection in the raster's CRS.
    wgs84 = QgsCoordinateReferenceSystem("EPSG:4326")
    geographic = QgsGeometry(polygon)
    geographic.transform(QgsCoordinateTransform(raster_crs, wgs84, QgsProject.instance()))
    memory = QgsVectorLayer("Polygon?crs=EPSG:4326", "mask", "memory")
    decoy = QgsFeature()
    decoy.setGeometry(QgsGeometry.fromWkt("POLYGON ((-80 20, -70 20, -70 30, -80 30, -80 20))"))
    chosen = QgsFeature()
    chosen.setGeometry(geographic)
    ok, added = memory.dataProvider().addFeatures([decoy, chosen])
    assert ok
    QgsProject.instance().addMapLayer(memory)
    memory.selectByIds([added[1].id()])
    try:
        selected = tmp_path / "selected.tif"
        run("rastrum:regress", {"MODEL": str(regressor), "INPUT": str(RGB_IMAGE),
                                "MASK": QgsProcessingFeatureSourceDefinition(memory.id(), True),
                                "EXTENT": extent_text, "OUTPUT": str(selected)})
        assert np.array_equal(read(selected), values)
    finally:
        QgsProject.instance().removeMapLayer(memory.id())


def _contains(polygon, x, y):
    """Even-odd point-in-polygon of pixel centres, in numpy (independent of GDAL's burning)."""
    ring = [(p.x(), p.y()) for p in polygon.asPolygon()[0]]
    inside = np.zeros(x.shape, bool)
    for (x1, y1), (x2, y2) in zip(ring, ring[1:]):
        crosses = (y1 > y) != (y2 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (x < at)
    return inside
