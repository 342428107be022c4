"""Tiling and stitching on their own, measured in one run: the cloud model over a Landsat-8
mosaic, once by `rastrum run` (the engine: reader, model and writer threads overlapped) and once
by a host loop on the C API's pieces (Plan.read, the host's own inference -- here Model.run_array
--, Stitcher.add), in plan order and in a shuffled order. Prints the time of each stage, the
ratio of the host loop to the engine, the tiles held, and checks the bytes are the same.
`make bench-host`.

Usage: bench/host_inference.py [--side 2048]
"""

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "qgis_plugin"))
sys.path.insert(0, str(HERE / "peers"))

import inputs  # noqa: E402 (bench/peers/inputs.py: mosaics of the bundled scenes)
import numpy as np  # noqa: E402
from osgeo import gdal  # noqa: E402
from rastrum import _native  # noqa: E402

CLOUD = ROOT / "models/cloud_mask/model_6b_l1c.onnx"


def cloud_options():
    stats = json.loads((ROOT / "models/cloud_mask/model_6b_l1c.json").read_text())["data"]["dataset_statistics"]
    mean, std = stats["img"][0], stats["img"][1]
    return {"scale": 2e-5, "offset": -0.1, "mean": ",".join(map(str, mean)), "std": ",".join(map(str, std)),
            "overlap": 51, "stitch": "blend", "batch": 1}


def host(model, src, out, options, order):
    """The host loop; returns (seconds, read, model, stitch + write, most tiles held)."""
    t0 = time.perf_counter()
    spent = [0.0, 0.0, 0.0]
    held = 0
    with _native.Plan(src, model=model, options=options) as plan:
        stitcher = _native.Stitcher(plan, output=out)
        for i in order(len(plan)):
            a = time.perf_counter()
            x, valid, any_valid = plan.read(i)
            b = time.perf_counter()
            y = model.run_array(x[None]) if any_valid else None
            c = time.perf_counter()
            stitcher.add(i, y, valid)
            d = time.perf_counter()
            spent[0] += b - a
            spent[1] += c - b
            spent[2] += d - c
            held = max(held, stitcher.progress[1])
        a = time.perf_counter()
        stitcher.finish()
        spent[2] += time.perf_counter() - a
        stitcher.close()
    return (time.perf_counter() - t0, *spent, held)


def pixels(path):
    ds = gdal.Open(str(path))
    values = ds.ReadAsArray()
    ds = None
    return values


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--side", type=int, default=2048)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rastrum-bench-host-"))
    src = inputs.landsat(work, args.side)
    options = cloud_options()
    with _native.Model(CLOUD, threads=os.cpu_count()) as m:
        _native.run(m, src, work / "warm.tif", options)
        t = time.perf_counter()
        summary = _native.run(m, src, work / "run.tif", options)
        engine = time.perf_counter() - t
        print(f"{args.side}^2 x 6 bands, {summary['tiles_total']} tiles of 256 (overlap 51, blend, batch 1)")
        print(f"rastrum run (engine):      {engine:6.2f} s")
        want = pixels(work / "run.tif")
        orders = {
            "plan order": lambda n: range(n),
            "shuffled": lambda n: random.Random(1).sample(range(n), n),
        }
        for name, order in orders.items():
            out = work / f"host_{name.replace(' ', '_')}.tif"
            total, read, infer, stitch, held = host(m, src, out, options, order)
            same = np.array_equal(pixels(out), want)
            print(f"host loop, {name:10s}: {total:6.2f} s = read {read:.2f} + model {infer:.2f} + stitch/write "
                  f"{stitch:.2f} (+ {total - read - infer - stitch:.2f} other); x{total / engine:.2f} the engine; "
                  f"stitching {stitch / total:.1%} of it; at most {held} tiles held; same bytes: {same}")


if __name__ == "__main__":
    main()
