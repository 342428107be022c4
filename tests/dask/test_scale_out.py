"""rastrum.dask on a real LocalCluster: the assembled output equals a single-process run byte
for byte (segmentation with blending and probabilities, super-resolution), a worker killed
mid-run is recovered from, and a second call resumes without recomputing finished windows."""

import glob
import os
import signal
import time

import numpy as np
import pytest
from osgeo import gdal

import rastrum as _native  # the package: the binding's public names
from rastrum import dask as rastrum_dask

from conftest import ROOT

gdal.UseExceptions()
DATA = ROOT / "data"
CLOUD = ROOT / "models/cloud_mask/model_6b_l1c.onnx"
SR = DATA / "super_resolution/super-resolution-10.onnx"
CLOUD_OPTIONS = {"overlap": 64, "stitch": "blend", "scale": 2e-5, "probabilities": True, "probability_bands": True}
SR_OPTIONS = {"task": "super_resolution", "scale": 2e-5, "offset": -0.1, "overlap": 16, "margin": 4}


def describe(path):
    """Everything a reader sees: size, georeferencing, metadata, and per band its type, nodata,
    description, scale, class names, colours and raw bytes."""
    ds = gdal.Open(str(path))
    meta = {k: v for k, v in (ds.GetMetadata() or {}).items() if k != "RASTRUM_WINDOW"}
    out = [ds.RasterXSize, ds.RasterYSize, ds.GetGeoTransform(), ds.GetProjection(), meta]
    for i in range(1, ds.RasterCount + 1):
        b = ds.GetRasterBand(i)
        table = b.GetColorTable()
        out.append((
            b.DataType, b.GetNoDataValue(), b.GetDescription(), b.GetScale() or 1.0, b.GetCategoryNames(),
            [table.GetColorEntry(k) for k in range(table.GetCount())] if table else None,
            b.ReadAsArray().tobytes(),
        ))
    return out


def assert_same(got, want):
    a, b = describe(got), describe(want)
    assert a[:5] == b[:5], f"{got}: raster properties differ from {want}"
    for band, (x, y) in enumerate(zip(a[5:], b[5:]), start=1):
        assert x[:6] == y[:6], f"{got} band {band}: {x[:6]} != {y[:6]}"
        assert x[6] == y[6], f"{got} band {band}: pixels differ from the single run"
    assert len(a) == len(b)


@pytest.fixture(scope="module")
def landsat6(tmp_path_factory):
    """The six Landsat-8 bands B2..B7 of the bundled scene as one GeoTIFF (627 x 603)."""
    d = tmp_path_factory.mktemp("landsat")
    bands = [str(DATA / f"landsat8_l1_b2_b7/l8_B{b}.tif") for b in range(2, 8)]
    vrt = gdal.BuildVRT(str(d / "l8.vrt"), bands, separate=True)
    out = d / "l8_b2_b7.tif"
    gdal.Translate(str(out), vrt)
    vrt = None
    return out


def single_run(model, input_path, output, options):
    with _native.Model(model) as m:
        return _native.run(m, input_path, output, options)


def test_segmentation_with_blending_equals_a_single_run(client, landsat6, tmp_path):
    single_run(CLOUD, landsat6, tmp_path / "single.tif", CLOUD_OPTIONS)
    result = rastrum_dask.run(client, CLOUD, landsat6, tmp_path / "out", CLOUD_OPTIONS, window_tiles=1, cog=True)
    assert (result.windows, result.computed, result.resumed) == (9, 9, 0)
    out = tmp_path / "out"
    assert sorted(result.outputs) == sorted(
        str(out / n) for n in ["output.vrt", "output.tif", "output_probabilities.vrt", "output_probabilities.tif"]
    )
    for suffix in ["", "_probabilities"]:
        assert_same(out / f"output{suffix}.vrt", tmp_path / f"single{suffix}.tif")
        assert_same(out / f"output{suffix}.tif", tmp_path / f"single{suffix}.tif")
    assert gdal.Open(str(out / "output.tif")).GetMetadataItem("LAYOUT", "IMAGE_STRUCTURE") == "COG"
    assert len(glob.glob(str(out / "parts" / "w*.tif"))) == 2 * 9
    # Blending needs the neighbours' tiles: 9 windows of one tile ran 3 x 3 grid's 9 tiles and
    # their neighbours (4 + 6 + 4 + 6 + 9 + 6 + 4 + 6 + 4).
    assert result.tiles_run == 49
    # Each worker process opened the model once for its windows (9 windows, 3 workers).
    opened = client.run(lambda: list(__import__("rastrum.dask", fromlist=["_opened"])._opened))
    for worker, keys in opened.items():
        assert len(keys) == len({tuple(k) for k in keys}), f"{worker} opened a model twice: {keys}"
    assert sum(str(CLOUD) in k[0] for keys in opened.values() for k in keys) <= 3


def test_super_resolution_equals_a_single_run(client, tmp_path):
    band = DATA / "landsat8_l1_b2_b7/l8_B4.tif"
    single_run(SR, band, tmp_path / "single.tif", SR_OPTIONS)
    result = rastrum_dask.run(client, SR, band, tmp_path / "out", SR_OPTIONS, window_tiles=(2, 1))
    assert result.windows == 2 * 3
    assert_same(result.vrt, tmp_path / "single.tif")
    assert gdal.Open(result.vrt).RasterXSize == 3 * 627


def test_a_worker_killed_mid_run_is_recovered_from(client, tmp_path):
    band = DATA / "landsat8_l1_b2_b7/l8_B4.tif"
    single_run(SR, band, tmp_path / "single.tif", SR_OPTIONS)
    killed = []

    def kill_a_busy_worker(done, total, report):
        if killed:
            return True
        # A worker with a window in progress right now.
        for _ in range(200):
            busy = [w for w, keys in client.processing().items() if keys]
            if busy:
                break
            time.sleep(0.01)
        address = busy[0]
        pid = client.run(os.getpid, workers=[address])[address]
        os.kill(pid, signal.SIGKILL)
        killed.append((address, pid))
        return True

    result = rastrum_dask.run(client, SR, band, tmp_path / "out", SR_OPTIONS, window_tiles=1, progress=kill_a_busy_worker)
    assert killed, "no worker was killed"
    assert result.windows == result.computed == 12
    assert_same(result.vrt, tmp_path / "single.tif")
    # The killed worker's half-written window left nothing behind.
    assert not glob.glob(str(tmp_path / "out" / "parts" / ".*"))
    # Its process is gone; the cluster replaced it.
    with pytest.raises(ProcessLookupError):
        os.kill(killed[0][1], 0)
    client.wait_for_workers(3, timeout=60)


def wait_until_no_window_is_known(client, timeout=120):
    """Waits on the cluster's own state, not on a clock: neither the scheduler nor any worker
    knows a window task any more, so none runs and none can start."""
    deadline = time.monotonic() + timeout
    while True:
        # The window tasks a state still holds (queued, running, or cancelled while running: a
        # worker forgets a cancelled task only once it has finished). Inline: these run remotely.
        on_scheduler = client.run_on_scheduler(
            lambda dask_scheduler: sum(str(k).startswith("rastrum-window-") for k in dask_scheduler.tasks))
        on_workers = client.run(
            lambda dask_worker: sum(str(k).startswith("rastrum-window-") for k in dask_worker.state.tasks))
        if on_scheduler == 0 and not any(on_workers.values()):
            return
        assert time.monotonic() < deadline, f"windows still known after {timeout} s: {on_scheduler}, {on_workers}"
        time.sleep(0.05)


def test_a_second_call_resumes_and_skips_finished_windows(client, landsat6, tmp_path):
    single_run(CLOUD, landsat6, tmp_path / "single.tif", CLOUD_OPTIONS)
    out = tmp_path / "out"

    def stop_after_three(done, total, report):
        return done < 3

    with pytest.raises(_native.CancelledError):
        rastrum_dask.run(client, CLOUD, landsat6, out, CLOUD_OPTIONS, window_tiles=1, progress=stop_after_three)
    # Windows still running when the run stopped finish (Dask cannot stop a running task): count
    # what is there once the cluster has forgotten every window.
    wait_until_no_window_is_known(client)
    finished = {p: os.stat(p).st_mtime_ns for p in glob.glob(str(out / "parts" / "w*[0-9].tif"))}
    assert 3 <= len(finished) < 9
    assert not (out / "output.vrt").exists()

    result = rastrum_dask.run(client, CLOUD, landsat6, out, CLOUD_OPTIONS, window_tiles=1)
    assert result.resumed == len(finished) and result.computed == 9 - len(finished)
    assert {p: os.stat(p).st_mtime_ns for p in finished} == finished, "finished windows were rewritten"
    for suffix in ["", "_probabilities"]:
        assert_same(out / f"output{suffix}.vrt", tmp_path / f"single{suffix}.tif")

    # The folder is tied to its settings: other options are refused, naming them.
    with pytest.raises(ValueError, match="overlap"):
        rastrum_dask.run(client, CLOUD, landsat6, out, dict(CLOUD_OPTIONS, overlap=32), window_tiles=1)


def test_a_failing_window_reports_the_library_error(client, landsat6, tmp_path):
    # Bands past the raster's: every window fails the same way; the error names the band.
    with pytest.raises(_native.RastrumError, match="band"):
        rastrum_dask.run(client, CLOUD, landsat6, tmp_path / "out", dict(CLOUD_OPTIONS, bands="2,3,4,5,6,9"), retries=1)
    assert not (tmp_path / "out" / "output.vrt").exists()


def test_the_command_line_runs_on_its_own_local_cluster(tmp_path):
    import json
    import subprocess
    import sys

    band = DATA / "landsat8_l1_b2_b7/l8_B4.tif"
    single_run(SR, band, tmp_path / "single.tif", SR_OPTIONS)
    options = [arg for k, v in SR_OPTIONS.items() for arg in ("-o", f"{k}={v}")]
    done = subprocess.run(
        [sys.executable, "-m", "rastrum.dask", "local:2", str(SR), str(band), str(tmp_path / "out"),
         "--window-tiles", "2", *options],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["windows"] == 4 and summary["computed"] == 4
    assert "window [0, 0, 2, 2] done" in done.stderr
    assert_same(summary["vrt"], tmp_path / "single.tif")


def test_detection_windows_join_to_the_objects_of_a_single_run(client, tmp_path):
    """A detector's windows each write the objects they own; joined, the single run's objects."""
    import sys

    from osgeo import ogr

    sys.path.insert(0, str(ROOT / "tests/qgis"))
    import corpus  # the corpus's pointwise detector

    model, raster = tmp_path / "detector.onnx", tmp_path / "scene.tif"
    corpus.build_detector(model)
    objects = [(0, 0, 0, 12.0), (32, 32, 1, 20.0), (64, 4, 0, 24.0), (96, 64, 1, 12.0), (128, 96, 0, 20.0),
               (160, 128, 1, 24.0), (196, 160, 0, 12.0), (4, 96, 1, 20.0), (60, 60, 0, 12.0), (124, 32, 1, 24.0)]
    expected = corpus.detection_scene(raster, objects)
    single = tmp_path / "single.gpkg"
    single_run(model, str(raster), str(single), {"overlap": 32})
    result = rastrum_dask.run(client, model, raster, tmp_path / "out", {"overlap": 32}, window_tiles=2)
    assert result.vrt == str(tmp_path / "out" / "output.gpkg") and result.windows >= 4

    def objects_in(path):
        ds = ogr.Open(str(path))  # kept: a layer does not keep its dataset alive
        found = []
        for f in ds.GetLayer(0):
            x1, x2, y1, y2 = f.GetGeometryRef().GetEnvelope()
            found.append((f["class_id"], round(x1, 2), round(y1, 2), round(x2, 2), round(y2, 2)))
        return sorted(found)

    assert objects_in(result.vrt) == objects_in(single) == sorted(expected)
