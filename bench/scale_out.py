"""Scale-out on Dask, measured in one run: the same raster and model in one process, then on
LocalClusters of 1, 2 and 4 worker processes (one task slot each), with the assembly timed
apart. Prints the speed-ups, the parallel efficiency and what eats it (the halo tiles that
blending needs, assembly, scheduling), and writes bench/scale_out_results.json. `make bench-dask`.

Usage: bench/scale_out.py [--side 4096] [--window-tiles 5] [--workers 1,2,4]
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "qgis_plugin"))
sys.path.insert(0, str(HERE / "peers"))
os.environ["PYTHONPATH"] = str(ROOT / "qgis_plugin")

import inputs  # noqa: E402 (bench/peers/inputs.py: mosaics of the bundled scenes)
from distributed import Client, LocalCluster  # noqa: E402
from rastrum import _native  # noqa: E402
from rastrum import dask as rastrum_dask  # noqa: E402

CLOUD = ROOT / "models/cloud_mask/model_6b_l1c.onnx"


def cloud_options():
    """The cloud model's standardisation from its own JSON; 256 px tiles, overlap 0.2, blend."""
    stats = json.loads((ROOT / "models/cloud_mask/model_6b_l1c.json").read_text())["data"]["dataset_statistics"]
    mean, std = stats["img"][0], stats["img"][1]
    return {"scale": 2e-5, "offset": -0.1, "mean": ",".join(map(str, mean)), "std": ",".join(map(str, std)),
            "overlap": 51, "stitch": "blend"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--side", type=int, default=4096)
    ap.add_argument("--window-tiles", type=int, default=5)
    ap.add_argument("--workers", default="1,2,4")
    args = ap.parse_args()
    cores = os.cpu_count()
    work = Path(tempfile.mkdtemp(prefix="rastrum-bench-dask-"))
    src = inputs.landsat(work, args.side)
    options = cloud_options()

    with _native.Model(CLOUD, threads=cores) as m:
        layout = m.layout(src, options)
        t = time.perf_counter()
        single = _native.run(m, src, work / "single.tif", options)
        single_s = time.perf_counter() - t
    print(f"single process: {single_s:.2f} s, {single['tiles_total']} tiles "
          f"({layout['tile_columns']} x {layout['tile_rows']}), {cores} ORT threads", flush=True)
    # One thread: the time of a tile on one core, without windows (the cost model's t_tile).
    with _native.Model(CLOUD, threads=1) as m:
        t = time.perf_counter()
        _native.run(m, src, work / "single_1.tif", options)
        single_1_s = time.perf_counter() - t
    t_tile = single_1_s / single["tiles_total"]
    print(f"single process, 1 thread: {single_1_s:.2f} s ({1000 * t_tile:.0f} ms per tile)", flush=True)

    # Workers of one task slot and one ONNX Runtime thread each: the scaling a cluster of
    # single-core slots sees. Then one worker with every core (what this machine does best).
    configs = [(int(v), 1) for v in args.workers.split(",")] + [(1, cores)]
    runs = []
    for n, threads in configs:
        out = work / f"dask_{n}_{threads}"
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            client.wait_for_workers(n)
            # Warm each worker (imports, library load) so that startup is not counted.
            client.run(lambda: __import__("rastrum.dask"))
            r = rastrum_dask.run(client, CLOUD, src, out, options, window_tiles=args.window_tiles, threads=threads)
        ok = _native_equal(work / "single.tif", out / "output.vrt")
        runs.append({
            "workers": n, "threads_per_worker": threads, "seconds": r.seconds, "assemble_seconds": r.assemble_seconds,
            "windows": r.windows, "window_seconds_sum": sum(r.window_seconds), "tiles_run": r.tiles_run,
            "identical": ok,
        })
        print(f"{n} worker(s) x {threads} thread(s): {r.seconds:.2f} s ({r.windows} windows, {r.tiles_run} tiles, "
              f"sum of window times {sum(r.window_seconds):.2f} s, VRT assembly {r.assemble_seconds:.3f} s), "
              f"identical to the single run: {ok}", flush=True)

    # Assembly into one COG (the VRT itself takes milliseconds): reads and compresses every pixel.
    parts = sorted(str(p) for p in (work / f"dask_{n}_{threads}" / "parts").glob("w*.tif"))
    t = time.perf_counter()
    _native.assemble(parts, work / "joined_cog.tif", {"cog": True})
    cog_s = time.perf_counter() - t
    print(f"assembly of {len(parts)} windows into one COG: {cog_s:.2f} s", flush=True)

    base = runs[0]["seconds"]
    halo = runs[0]["tiles_run"] / single["tiles_total"]
    one = runs[0]
    t_window = (one["window_seconds_sum"] - one["tiles_run"] * t_tile) / one["windows"]
    slowdown = {r["workers"]: r["window_seconds_sum"] / one["window_seconds_sum"] for r in runs if r["threads_per_worker"] == 1}
    print(f"fixed cost per window: {t_window:.3f} s; window time with N workers beside each other "
          "(1 thread each) over alone: " + ", ".join(f"{n}: {v:.2f}x" for n, v in slowdown.items()))
    print(f"\nhalo: the windows ran {halo:.2f}x the single run's tiles (blending needs the neighbours); "
          f"by window size: " + ", ".join(f"{k}: {halo_factor(layout, k):.2f}x" for k in (1, 2, 4, 5, 8, 16, 32)))
    for r in runs:
        r["speedup_vs_1_worker"] = base / r["seconds"]
        r["speedup_vs_single_process"] = single_s / r["seconds"]
        # Per core used: 4 single-thread workers on 2 cores use 2.
        r["efficiency"] = r["speedup_vs_1_worker"] / min(r["workers"] * r["threads_per_worker"], cores)
        print(f"{r['workers']} worker(s) x {r['threads_per_worker']} thread(s): speed-up {r['speedup_vs_1_worker']:.2f}x "
              f"vs 1 worker x 1 thread (efficiency per core used {r['efficiency']:.0%}), "
              f"{r['speedup_vs_single_process']:.2f}x vs one process with {cores} threads")
    result = {
        "date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {cores} cores",
        "side": args.side, "window_tiles": args.window_tiles, "tiles_single": single["tiles_total"],
        "single_seconds": single_s, "single_1_thread_seconds": single_1_s, "t_tile_1_thread": t_tile,
        "t_window_fixed": t_window, "window_slowdown_beside_others": slowdown, "halo_overhead": halo, "cog_assembly_seconds": cog_s,
        "halo_by_window_tiles": {k: halo_factor(layout, k) for k in (1, 2, 4, 5, 8, 16, 32)}, "runs": runs,
    }
    (HERE / "scale_out_results.json").write_text(json.dumps(result, indent=2) + "\n")
    print("json: " + json.dumps(result))


def halo_factor(layout, k):
    """Tiles that k x k windows run over the single run's, in blend mode: each window runs its
    own tiles plus the neighbouring column / row of tiles on each side that faces another window
    (their ramps reach into it)."""
    def axis(n):
        return sum(min(k, n - s) + (s > 0) + (s + k < n) for s in range(0, n, k))
    return axis(layout["tile_columns"]) * axis(layout["tile_rows"]) / (layout["tile_columns"] * layout["tile_rows"])


def _native_equal(a, b):
    from osgeo import gdal

    da, db = gdal.Open(str(a)), gdal.Open(str(b))
    return all(
        da.GetRasterBand(i).ReadRaster() == db.GetRasterBand(i).ReadRaster() for i in range(1, da.RasterCount + 1)
    )


if __name__ == "__main__":
    main()
