"""Sizes past the machine's memory, through every interface: the CLI, the C API (through ctypes:
Plan, Stitcher, Model.output_shape call rastrum_plan_new, rastrum_stitcher_new_rows,
rastrum_model_output_shape), the Python package and the GDAL driver under gdalinfo. Each case
runs in a child process, so that an abort (SIGABRT from the allocator, as before the memory
budget) is seen as a signal instead of ending the test run: every case must end with a status
and a message naming the option to change, and leave no file behind."""

import glob
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import PLUGIN_DIR, ROOT

STAGE = Path(os.environ["RASTRUM_LIBRARY"]).resolve().parents[1]
CLI = STAGE / "bin" / "rastrum"
# y = x over any batch and tile size (examples/make_models.rs): only the options bound the sizes.
IDENTITY = Path(os.environ["RASTRUM_TEST_MODELS"]) / "identity1.onnx"
BAND = ROOT / "data/landsat8_l1_b2_b7/l8_B4.tif"


def child(args, env=None, **kw):
    """Runs `args`; a negative return code (a signal) fails the test with what it printed."""
    done = subprocess.run(args, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300, **kw)
    assert done.returncode >= 0, f"killed by signal {-done.returncode}: {done.stderr[-2000:]}"
    return done


def python(code, env=None):
    """`code` in a fresh interpreter with the rastrum package; prints what it caught."""
    prelude = f"import sys; sys.path.insert(0, {str(PLUGIN_DIR)!r}); import numpy as np, rastrum\n"
    return child([sys.executable, "-c", prelude + textwrap.dedent(code)], env=env)


def test_cli_batch_and_tile_past_memory_is_refused_before_any_file(tmp_path):
    out = tmp_path / "out.tif"
    done = child([CLI, "run", "--batch", "4096", "--tile-size", "4096", IDENTITY, BAND, out])
    # 2: an invalid argument, as for any option out of range.
    assert done.returncode == 2, done.stderr
    assert "lower 'batch' or 'tile-size'" in done.stderr and "1.2 TiB" in done.stderr, done.stderr
    assert list(tmp_path.iterdir()) == []


def test_cli_run_over_the_set_memory_limit_names_it(tmp_path):
    out = tmp_path / "out.tif"
    args = [CLI, "run", "--tile-size", "64", IDENTITY, BAND, out]
    done = child(args, env={"RASTRUM_MEMORY_LIMIT": "100K"})
    assert done.returncode == 2 and "more than RASTRUM_MEMORY_LIMIT=100K (100.0 KiB)" in done.stderr, done.stderr
    assert list(tmp_path.iterdir()) == []
    done = child(args, env={"RASTRUM_MEMORY_LIMIT": "lots"})
    assert done.returncode == 2 and "expected a size in bytes" in done.stderr, done.stderr
    # Within the limit, the same run goes through.
    done = child(args, env={"RASTRUM_MEMORY_LIMIT": "4G"})
    assert done.returncode == 0 and out.is_file(), done.stderr


def test_python_output_shape_of_a_huge_input_is_an_error():
    done = python(f"""
        with rastrum.Model({str(IDENTITY)!r}) as m:
            try:
                m.output_shape((1, 1, 100000, 100000))
            except rastrum.InvalidArgumentError as e:
                print("refused:", e)
    """, env={"RASTRUM_MEMORY_LIMIT": "8G"})
    assert done.returncode == 0 and "refused:" in done.stdout, done.stdout + done.stderr
    assert "a zero input of that shape needs 37.3 GiB" in done.stdout, done.stdout


def test_c_api_plans_and_stitchers_past_memory_are_errors():
    done = python("""
        for size in [(10**12, 10**12, 1), (2**31, 5, 1)]:
            try:
                rastrum.Plan(size=size, options={"tile_size": 256})
            except rastrum.InvalidArgumentError as e:
                print("plan refused:", e)
        side = 2**31 - 1
        with rastrum.Plan(size=(side, side, 1), options={"tile_size": 4096, "task": "regression"}) as plan:
            try:
                rastrum.Stitcher(plan, rows=lambda raster, y, bands: True)
            except rastrum.InvalidArgumentError as e:
                print("stitcher refused:", e)
    """)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 3, done.stdout
    assert all("past GDAL's limit of 2147483647 pixels" in l for l in lines[:2]), done.stdout
    assert "stitching 2147483647 output pixels wide" in lines[2] and "'window'" in lines[2], done.stdout


def test_gdal_driver_spec_past_memory_is_a_gdal_error(tmp_path):
    plugins = glob.glob(str(STAGE / "lib/gdalplugins/*/gdal_rastrum.so"))
    assert len(plugins) == 1, plugins
    spec = tmp_path / "big.rastrum.json"
    options = {"tile_size": 4096, "batch": 4096}
    spec.write_text(json.dumps({"model": str(IDENTITY), "source": str(BAND), "options": options}))
    done = child(["gdalinfo", f"RASTRUM:{spec}"], env={"GDAL_DRIVER_PATH": str(Path(plugins[0]).parent)})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "ERROR 1: Rastrum:" in done.stderr and "lower 'batch' or 'tile-size'" in done.stderr, done.stderr
