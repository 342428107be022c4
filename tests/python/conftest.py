"""Shared setup of the Python binding's tests: they run against a built librastrum named by
RASTRUM_LIBRARY, and refuse to start without it rather than skip (a skipped binding test would
read as a pass)."""

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_DIR = ROOT / "qgis_plugin"
PACKAGE_DIR = PLUGIN_DIR / "rastrum"

# The `rastrum` package is not installed: import it from the plugin folder, as PYTHONPATH does.
sys.path.insert(0, str(PLUGIN_DIR))


def pytest_configure(config):
    if config.option.help:
        return
    library = os.environ.get("RASTRUM_LIBRARY")
    if not library:
        raise pytest.UsageError(
            "RASTRUM_LIBRARY is not set: point it at the built library, e.g.\n"
            "  RASTRUM_LIBRARY=$PWD/target/release/librastrum.so /usr/bin/python3 -m pytest tests/python"
        )
    if not os.path.isfile(library):
        raise pytest.UsageError(f"RASTRUM_LIBRARY={library} does not exist: build it with `cargo build --release`")


@pytest.fixture(scope="session")
def rastrum():
    import rastrum

    return rastrum


@pytest.fixture(scope="session")
def sr_model(rastrum):
    with rastrum.Model(ROOT / "data/super_resolution/super-resolution-10.onnx") as model:
        yield model


@pytest.fixture(scope="session")
def cloud_model(rastrum):
    with rastrum.Model(ROOT / "models/cloud_mask/model_6b_l1c.onnx") as model:
        yield model


@pytest.fixture(scope="session")
def cloud_stats():
    """The cloud mask's standardisation, from its own JSON: (mean, std) per band."""
    card = json.loads((ROOT / "models/cloud_mask/model_6b_l1c.json").read_text())
    img = card["data"]["dataset_statistics"]["img"]
    return img[0], img[1]
