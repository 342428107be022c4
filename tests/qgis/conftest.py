"""Setup of the QGIS plugin's tests: a real, headless QGIS (Debian's python3-qgis) with the
Rastrum provider registered from the source tree, the CLI as the reference, and the plugin zip
for the end-to-end test. Every input is required: a missing one stops the run with a clear
message instead of skipping tests (a skipped test would read as a pass)."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_SOURCE = ROOT / "qgis_plugin"
CLOUD_MODEL = ROOT / "models/cloud_mask/model_6b_l1c.onnx"
SR_MODEL = ROOT / "data/super_resolution/super-resolution-10.onnx"

# The input rasters are used through copies: QGIS caches statistics and histograms of every
# raster it opens in a .aux.xml beside it, which must not land in data/.
INPUTS = Path(tempfile.mkdtemp(prefix="rastrum-qgis-inputs-"))
SOURCES = [ROOT / "data/sentinel2_sample/sentinel2_img_6band_toa.tif", ROOT / "data/rasterio/rasterio_RGB.byte.tif",
           ROOT / "data/landsat8_l1_b2_b7/l8_B4.tif"]
S2_IMAGE, RGB_IMAGE, LANDSAT_B4 = (INPUTS / source.name for source in SOURCES)

REQUIRED = {
    "RASTRUM_LIBRARY": "the built library, e.g. $PWD/target/release/librastrum.so",
    "RASTRUM_ORT_LIB": "ONNX Runtime, e.g. $PWD/.venv/libonnxruntime.so",
    "RASTRUM_CLI": "the rastrum CLI (the reference outputs), e.g. $PWD/target/release/rastrum",
    "RASTRUM_PLUGIN_ZIP": "the plugin zip, built with scripts/plugin_zip.sh OUT_ZIP target/release",
    "RASTRUM_C_RUN": "the corpus's C host, tests/c/run_model.c built against the library (make test-qgis)",
    "RASTRUM_GDAL_PLUGIN": "the GDAL driver, e.g. $PWD/target/release/libgdal_rastrum.so (cargo build -p gdal_rastrum)",
}
# GDAL loads gdal_*.so plugins from GDAL_DRIVER_PATH when QGIS starts: the driver goes there.
GDAL_PLUGINS = Path(tempfile.mkdtemp(prefix="rastrum-gdal-plugins-"))

sys.path.insert(0, str(Path(__file__).resolve().parent))


def pytest_configure(config):
    if config.option.help:
        return
    problems = []
    for name, what in REQUIRED.items():
        value = os.environ.get(name)
        if not value:
            problems.append(f"{name} is not set: {what}")
        elif not os.path.isfile(value):
            problems.append(f"{name}={value} does not exist: {what}")
    for path in (CLOUD_MODEL, SR_MODEL, *SOURCES):
        if not path.is_file():
            problems.append(f"{path} is missing (scripts/setup.sh fetches the cloud-mask model)")
    if problems:
        raise pytest.UsageError("the QGIS plugin tests need:\n  " + "\n  ".join(problems))
    for source in SOURCES:
        shutil.copyfile(source, INPUTS / source.name)
    shutil.copyfile(os.environ["RASTRUM_GDAL_PLUGIN"], GDAL_PLUGINS / "gdal_rastrum.so")
    # GDAL_DRIVER_PATH replaces GDAL's default plugin folder: list both.
    default = "/usr/lib/x86_64-linux-gnu/gdalplugins"
    os.environ["GDAL_DRIVER_PATH"] = f"{GDAL_PLUGINS}:{default}"
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # headless QGIS


def pytest_unconfigure(config):
    shutil.rmtree(INPUTS, ignore_errors=True)
    shutil.rmtree(GDAL_PLUGINS, ignore_errors=True)


@pytest.fixture(scope="session")
def qgis_app(tmp_path_factory):
    """One headless QgsApplication for the session (a fresh, throw-away profile), with
    Processing and the provider loaded from the source tree as the plugin would load it."""
    from qgis.core import QgsApplication

    app = QgsApplication([], False, str(tmp_path_factory.mktemp("qgis-profile")))
    app.initQgis()
    sys.path.append(os.path.join(QgsApplication.pkgDataPath(), "python", "plugins"))
    from processing.core.Processing import Processing

    Processing.initialize()
    sys.path.insert(0, str(PLUGIN_SOURCE))
    import rastrum

    plugin = rastrum.classFactory(None)  # iface is None headless, as in qgis_process
    plugin.initProcessing()
    yield app
    plugin.unload()


@pytest.fixture(scope="session")
def cloud_stats():
    """The cloud mask's standardisation from its own JSON, as comma lists (mean, std)."""
    img = json.loads(CLOUD_MODEL.with_suffix(".json").read_text())["data"]["dataset_statistics"]["img"]
    return ",".join(map(repr, img[0])), ",".join(map(repr, img[1]))


def run_cli(model, raster, output, *flags):
    """`rastrum run` (the reference), returning its JSON summary."""
    command = [os.environ["RASTRUM_CLI"], "run", str(model), str(raster), str(output), "--json", "-q", *map(str, flags)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="session")
def cloud_reference(tmp_path_factory, cloud_stats):
    """The CLI's cloud mask of the Sentinel-2 sample: tile 256, overlap 51, the model's own
    standardisation, with probabilities."""
    out = tmp_path_factory.mktemp("cli") / "cloud.tif"
    mean, std = cloud_stats
    run_cli(CLOUD_MODEL, S2_IMAGE, out, "--tile-size", 256, "--overlap", 51, "--mean", mean, "--std", std,
            "--probabilities")
    return out
