"""The model-aware dialog (qgis_plugin/rastrum/dialog.py) in Processing's own AlgorithmDialog:
once a model is chosen, the card summary shows above the bands field and every empty field reads
as the value the card gives it. Run in a QGIS with its GUI, in a process of its own
(dialog_check.py): offscreen, then on a real X display (Xvfb) with a screenshot, the text checked
in QGIS's widget tree, not in pixels."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CLOUD_MODEL, S2_IMAGE

CHECK = Path(__file__).resolve().parent / "dialog_check.py"


@pytest.fixture(scope="module")
def carded_model(tmp_path_factory, qgis_app):
    """The cloud model with its side file's card, a scale and class colours written in."""
    import rastrum

    out = tmp_path_factory.mktemp("dialog") / "cloud_carded.onnx"
    rastrum.write_card(CLOUD_MODEL, out, json.loads(CLOUD_MODEL.with_suffix(".json").read_text()))
    rastrum.write_card(out, out, {"rastrum_scale": 2e-5, "rastrum_offset": -0.1,
                                  "rastrum_class_colors": {"0": "#3c8c3c", "1": "#ffffff", "2": "#3c3c50"}})
    return out


def shown(tmp_path, model, command_prefix=(), env=None, screenshot=None, batch=False):
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    command = [*command_prefix, sys.executable, str(CHECK), str(profile), str(model), str(S2_IMAGE)]
    if screenshot:
        command += ["--screenshot", str(screenshot)]
    if batch:
        command.append("--batch")
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, env={**os.environ, **(env or {})})
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def assert_model_aware(seen):
    summary = seen["summary"]
    for line in ("Task: segmentation, 3 classes", "Bands: 6, in this order from the input raster: 1, 2, 3, 4, 5, 6",
                 "Scaling: x = raw * 2e-05", "Tiles: 256 px", "Resolution: any"):
        assert line in summary, summary
    assert "clear" in summary and "#3c8c3c" in summary and "cloud shadow" in summary
    assert seen["bands_field"] == "1,2,3,4,5,6"
    assert seen["SCALE"]["placeholder"] == "2e-05" and seen["OFFSET"]["placeholder"] == "-0.1"
    assert seen["MEAN"]["placeholder"].startswith("0.275523,0.255664")
    assert seen["TILE_SIZE"]["not_set"] == "256 (from the card)"
    assert seen["BATCH"]["not_set"] == "4 (from the card)"


def test_choosing_a_model_shows_its_card_and_fills_the_empty_fields(tmp_path, carded_model):
    assert_model_aware(shown(tmp_path, carded_model, env={"QT_QPA_PLATFORM": "offscreen"}))


def test_a_model_without_a_card_reads_as_the_defaults_it_gets(tmp_path):
    seen = shown(tmp_path, CLOUD_MODEL, env={"QT_QPA_PLATFORM": "offscreen"})
    assert "Scaling: x = raw * 1 (each of 6 bands) + 0" in seen["summary"]
    assert seen["SCALE"]["placeholder"] == "1"


def test_the_batch_dialog_keeps_bands_a_plain_cell(tmp_path, carded_model):
    row = shown(tmp_path, carded_model, env={"QT_QPA_PLATFORM": "offscreen"}, batch=True)
    assert row == {"ok": True, "BANDS": "3,2,1", "MODEL": str(carded_model)}


def test_the_dialog_on_a_real_x_display_with_a_screenshot(tmp_path, carded_model):
    xvfb = shutil.which("xvfb-run")
    if xvfb is None:
        pytest.fail("xvfb-run is missing: scripts/setup.sh installs xvfb and xauth")
    # Kept for people to look at when RASTRUM_SCREENSHOTS names a folder (CI keeps it).
    folder = Path(os.environ.get("RASTRUM_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    picture = folder / "qgis_segment_dialog.png"
    seen = shown(tmp_path, carded_model, command_prefix=(xvfb, "-a", "-s", "-screen 0 1280x1024x24"),
                 env={"QT_QPA_PLATFORM": "xcb"}, screenshot=picture)
    assert seen["screenshot_saved"] and picture.stat().st_size > 10_000
    assert_model_aware(seen)
