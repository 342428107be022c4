"""End to end, as a user gets it: the plugin zip installed into a fresh QGIS profile the way
"Install from ZIP" does, enabled and run with qgis_process, using only the libraries inside the
zip (no RASTRUM_LIBRARY, no RASTRUM_ORT_LIB)."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import CLOUD_MODEL, S2_IMAGE, run_cli

QGIS_PROCESS = shutil.which("qgis_process.bin") or "/usr/bin/qgis_process.bin"


@pytest.fixture(scope="module")
def profile(tmp_path_factory, qgis_app):
    """A fresh QGIS config folder with the zip unpacked by QGIS's own installer code."""
    from qgis.core import QgsApplication

    config = tmp_path_factory.mktemp("qgis-config")
    plugins = config / "profiles" / "default" / "python" / "plugins"
    sys.path.append(os.path.join(QgsApplication.pkgDataPath(), "python"))
    from pyplugin_installer.unzip import unzip  # what Plugins > Install from ZIP runs

    unzip(os.environ["RASTRUM_PLUGIN_ZIP"], str(plugins))
    assert (plugins / "rastrum" / "metadata.txt").is_file()
    return config


def qgis_process(profile, *args):
    env = {k: v for k, v in os.environ.items() if k not in ("RASTRUM_LIBRARY", "RASTRUM_ORT_LIB", "LD_LIBRARY_PATH")}
    env.update(QGIS_CUSTOM_CONFIG_PATH=str(profile), QT_QPA_PLATFORM="offscreen")
    return subprocess.run([QGIS_PROCESS, *args], env=env, capture_output=True, text=True, timeout=600)


def json_of(stdout):
    """The JSON object qgis_process prints (other output may come before it)."""
    start = stdout.index("{")
    value, _ = json.JSONDecoder().raw_decode(stdout[start:])
    return value


def test_qgis_process_runs_the_zip_segmentation_equal_to_the_cli(profile, tmp_path, cloud_stats, cloud_reference):
    done = qgis_process(profile, "plugins", "enable", "rastrum")
    assert done.returncode == 0, done.stdout + done.stderr
    listing = qgis_process(profile, "list")
    for name in ("segment", "classify", "regress", "superresolve", "detect", "modelinfo", "setcard"):
        assert f"rastrum:{name}" in listing.stdout, listing.stdout + listing.stderr
    # The dialog's model-aware BANDS field (a Python widget wrapper in its metadata) leaves the
    # algorithm's description whole for scripts.
    helped = qgis_process(profile, "help", "rastrum:segment", "--json")
    assert helped.returncode == 0, helped.stdout + helped.stderr
    assert "BANDS" in json_of(helped.stdout)["parameters"]

    mean, std = cloud_stats
    out = tmp_path / "cloud.tif"
    done = qgis_process(profile, "run", "rastrum:segment", "--json", "--", f"MODEL={CLOUD_MODEL}",
                        f"INPUT={S2_IMAGE}", "TILE_SIZE=256", "OVERLAP=51", f"MEAN={mean}", f"STD={std}",
                        f"OUTPUT={out}")
    assert done.returncode == 0, done.stdout + done.stderr
    result = json_of(done.stdout)
    assert result["algorithm_details"]["id"] == "rastrum:segment"
    assert result["results"]["OUTPUT"] == str(out)
    assert result["results"]["PROVIDER"] == "cpu"
    assert json.loads(result["results"]["SUMMARY"])["tiles_run"] == 9
    assert out.read_bytes() == cloud_reference.read_bytes()
    # The zip's own librastrum (which found the zip's ONNX Runtime beside itself) ran it.
    log = "\n".join(result["log"]["info"])
    assert f"from {profile}/profiles/default/python/plugins/rastrum/lib/librastrum.so.2" in log, log
    # The processing grid, logged before the run: 512 x 512 px, no geotransform, 9 tiles of 256.
    assert "Grid: 512 x 512 px (no geotransform) -> 3 x 3 = 9 tiles of 256 px, output 512 x 512 px" in log, log
    # Styled where no project loads it: the default style beside the raster.
    qml = out.with_suffix(".qml").read_text()
    assert 'type="paletted"' in qml and 'label="class 2"' in qml

    # Small-segment removal (Deepness's seg_small_segment) as a parameter: the CLI's bytes.
    filtered, reference = tmp_path / "cloud_ss.tif", tmp_path / "cloud_ss_cli.tif"
    done = qgis_process(profile, "run", "rastrum:segment", "--json", "--", f"MODEL={CLOUD_MODEL}",
                        f"INPUT={S2_IMAGE}", "TILE_SIZE=256", "OVERLAP=51", f"MEAN={mean}", f"STD={std}",
                        "SMALL_SEGMENT=9", f"OUTPUT={filtered}")
    assert done.returncode == 0, done.stdout + done.stderr
    run_cli(CLOUD_MODEL, S2_IMAGE, reference, "--tile-size", 256, "--overlap", 51, "--mean", mean, "--std", std,
            "--small-segment", 9)
    assert filtered.read_bytes() == reference.read_bytes()
    assert filtered.read_bytes() != out.read_bytes()

    # A wrong input is a clear error, not a crash.
    done = qgis_process(profile, "run", "rastrum:segment", "--", f"MODEL={CLOUD_MODEL}", f"INPUT={S2_IMAGE}",
                        "BANDS=1,2", f"OUTPUT={tmp_path / 'bad.tif'}")
    assert done.returncode != 0
    assert "channel count mismatch" in done.stdout + done.stderr
    assert not (tmp_path / "bad.tif").exists()
