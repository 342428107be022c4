"""The `rastrum` wheel for GDAL scripts (`make wheel`), installed into a fresh venv that has only
numpy and rasterio's wheel (which carries its own, newer GDAL): `import rastrum` works without
Debian's GDAL bindings, the portable librastrum binds to rasterio's GDAL (and Debian's libgdal is
never loaded), and `python -m rastrum run` writes the same bytes as the `rastrum` CLI built
against Debian's GDAL 3.6."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLOUD = ROOT / "models/cloud_mask/model_6b_l1c.onnx"
SCENE = ROOT / "data/sentinel2_sample/sentinel2_img_6band_toa.tif"
# rasterio's last wheels for this Python (3.11): GDAL 3.10 inside.
RASTERIO = "rasterio==1.4.4"


def required(name):
    value = os.environ.get(name)
    if not value or not os.path.isfile(value):
        pytest.fail(f"{name} must name a file (make test-wheel sets it), found {value!r}")
    return value


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    wheel = required("RASTRUM_WHEEL")
    folder = tmp_path_factory.mktemp("wheel") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    pip = [str(folder / "bin/python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "numpy", RASTERIO, wheel], check=True, timeout=600)
    return folder / "bin/python"


def run_in(python, code, cwd):
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, cwd=cwd, timeout=300,
                          env={k: v for k, v in os.environ.items() if not k.startswith(("RASTRUM_", "PYTHONPATH"))})
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_binds_to_rasterios_gdal_without_debians(venv, tmp_path):
    seen = run_in(venv, """
import importlib.util, json, rastrum
rastrum.load_library()
maps = open("/proc/self/maps").read()
print(json.dumps({"osgeo": importlib.util.find_spec("osgeo") is not None, "library": rastrum.library_path(),
                  "gdal": rastrum.gdal_library(), "debian_gdal": "/usr/lib/x86_64-linux-gnu/libgdal.so" in maps,
                  "dask": importlib.util.find_spec("rastrum.dask") is not None}))
""", tmp_path)
    assert not seen["osgeo"], "the venv must not see Debian's GDAL bindings"
    assert "site-packages/rastrum/lib/librastrum.so.2" in seen["library"]
    assert "rasterio.libs/libgdal" in seen["gdal"]["path"] and seen["gdal"]["version"].startswith("3.10")
    assert not seen["debian_gdal"]
    assert seen["dask"]


def test_python_m_rastrum_run_writes_the_clis_bytes(venv, tmp_path):
    flags = ["--tile-size", "256", "--overlap", "51", "--probabilities"]
    wheel_out, cli_out = tmp_path / "wheel.tif", tmp_path / "cli.tif"
    done = subprocess.run([str(venv), "-m", "rastrum", "run", str(CLOUD), str(SCENE), str(wheel_out), *flags],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300,
                          env={k: v for k, v in os.environ.items() if not k.startswith("RASTRUM_")})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["tiles_run"] > 0
    subprocess.run([required("RASTRUM_CLI"), "run", str(CLOUD), str(SCENE), str(cli_out), *flags, "-q"], check=True,
                   timeout=300)
    for suffix in ("", "_probabilities"):
        a, b = (p.with_name(p.stem + suffix + ".tif") for p in (wheel_out, cli_out))
        assert a.read_bytes() == b.read_bytes(), f"{a.name} differs from {b.name}"
