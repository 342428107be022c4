"""Rastrum against its peers, in one run, on this machine: same model, same raster, same threads.

Run by bench/peers/run (which installs the peers and builds Rastrum first). Writes the figures
into BENCHMARKS.md (between its `peers` markers), bench/peers/results.json and the plots under
bench/figures/.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import scipy.ndimage

import inputs
import models
import report

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PY = sys.executable
CLOUD = ROOT / "models/cloud_mask/model_6b_l1c.onnx"
BANDS = ["blue", "green", "red", "nir", "swir16", "swir22"]


def measured(cmd, env=None):
    """Runs `cmd`; returns wall seconds, peak RSS (MiB) and stdout. Fails loudly.

    Peak RSS comes from GNU time, which forks the command from its own small process: a child
    forked from this Python process would count the parent's pages (ru_maxrss survives exec).
    """
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        t = time.perf_counter()
        child = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss.name, *map(str, cmd)], capture_output=True,
                               env=env)
        wall = time.perf_counter() - t
        if child.returncode != 0:
            raise SystemExit(f"failed ({child.returncode}): {' '.join(map(str, cmd))}\n{child.stderr.decode()[-3000:]}")
        kib = int(rss.read().split()[-1])
    return {"seconds": wall, "rss_mib": kib / 1024.0, "stdout": child.stdout.decode()}


def rastrum_cmd(model, src, dst, *args, threads):
    return [rastrum_bin, "run", model, src, dst, "--threads", str(threads), "-q", *args]


def cloud_args(batch, same_tiles):
    """The cloud model's standardisation from its own JSON; 256 px tiles, overlap 0.2, blend.

    `same_tiles`: ukis-csmask's very tiles (a lattice every int(256 - 51.2) = 204 pixels from
    -51, the raster mirrored around); else Rastrum's own plan (first tile at the raster's
    start, last clamped to its end: fewer tiles)."""
    stats = json.loads((ROOT / "models/cloud_mask/model_6b_l1c.json").read_text())["data"]["dataset_statistics"]
    mean, std = stats["img"][0], stats["img"][1]
    assert stats["band_names"] == BANDS, stats["band_names"]
    grid = ["--overlap", "52", "--pad", "51", "--grid", "lattice", "--pad-mode", "symmetric"] if same_tiles else ["--overlap", "51"]
    return ["--scale", "2e-5", "--offset", "-0.1", "--mean", ",".join(map(str, mean)), "--std",
            ",".join(map(str, std)), "--tile-size", "256", "--stitch", "blend", "--batch", str(batch), "--json", *grid]


def read1(path):
    with rasterio.open(path) as ds:
        return ds.read(1)


def agreement(a, b):
    a, b = read1(a), read1(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((a == b).mean())


def ort_per_tile(model, channels, threads, batch, tiles=24):
    """ONNX Runtime alone (the peers' wheel, same threads): seconds per 256 px tile, the model's
    own cost and the ceiling of any tool's speed."""
    import onnxruntime

    so = onnxruntime.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    session = onnxruntime.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x = np.random.default_rng(0).random((batch, channels, 256, 256), dtype=np.float32)
    session.run(None, {name: x})
    t = time.perf_counter()
    for _ in range(max(1, tiles // batch)):
        session.run(None, {name: x})
    return (time.perf_counter() - t) / (max(1, tiles // batch) * batch)


def best(runs, key="seconds"):
    """The fastest repetition (the least disturbed by the noisy machine)."""
    return min(runs, key=lambda m: m[key])


def vs_ukis(work, side, threads, reps):
    """ukis-csmask with its defaults (batch 1) but the threads; Rastrum at batch 4, on ukis's
    tiles and on its own plan. Repetitions alternate the order."""
    src = inputs.landsat(work, side)
    out = {k: work / f"cloud_{k}_{side}.tif" for k in ("ukis", "same", "own")}
    runs = {k: [] for k in out}
    for rep in range(reps):
        order = ["same", "ukis", "own"] if rep % 2 == 0 else ["own", "ukis", "same"]
        for who in order:
            if who == "ukis":
                m = measured([PY, HERE / "peer_ukis.py", src, out["ukis"], threads, 1])
                m["pipeline_seconds"] = json.loads(m["stdout"])["seconds"]
            else:
                m = measured(rastrum_cmd(CLOUD, src, out[who], *cloud_args(4, who == "same"), threads=threads))
                m["tiles"] = json.loads(m["stdout"])["tiles_total"]
            runs[who].append(m)
    u, same, own = best(runs["ukis"], "pipeline_seconds"), best(runs["same"]), best(runs["own"])
    mpx = side * side / 1e6
    per_tile = ort_per_tile(CLOUD, 6, threads, 4)
    return {
        "side": side, "threads": threads, "reps": reps, "ukis_tiles": same["tiles"], "own_tiles": own["tiles"],
        "ukis_s": u["pipeline_seconds"], "ukis_process_s": u["seconds"],
        "ukis_rss_mib": max(x["rss_mib"] for x in runs["ukis"]), "ukis_mpx_s": mpx / u["pipeline_seconds"],
        "rastrum_s": same["seconds"], "rastrum_mpx_s": mpx / same["seconds"],
        "rastrum_rss_mib": max(x["rss_mib"] for x in runs["same"] + runs["own"]),
        "speedup": u["pipeline_seconds"] / same["seconds"], "agreement": agreement(out["same"], out["ukis"]),
        "own_s": own["seconds"], "own_speedup": u["pipeline_seconds"] / own["seconds"],
        "own_agreement": agreement(out["own"], out["ukis"]),
        "ort_per_tile_s": per_tile, "ort_s": per_tile * same["tiles"],
        "ceiling": u["pipeline_seconds"] / (per_tile * same["tiles"]),
    }


def vs_geodeep(work, arch, threads, quick):
    from geodeep.slidingwindow import generate_for_size

    src = inputs.rgb(work, 1024, 1020) if quick else inputs.rgb(work)
    model = work / f"deepness_{arch}.onnx"
    with rasterio.open(src) as ds:
        sample = np.stack([ds.read(window=((r, r + 256), (c, c + 256))) for r, c in ((0, 0), (300, 500), (700, 200))])
    macs = models.deepness(model, arch, (sample / 255.0).astype(np.float32))
    ours, theirs = work / f"seg_rastrum_{arch}.tif", work / f"seg_geodeep_{arch}.tif"
    # GeoDeep's stitching: each pixel from one tile, cut in the middle of the overlap.
    r = measured(rastrum_cmd(model, src, ours, "--batch", "4", "--stitch", "crop", "--json", threads=threads))
    g = measured([PY, HERE / "peer_geodeep.py", src, model, theirs, threads])
    g.update(json.loads(g["stdout"]))
    # GeoDeep median-filters (5 x 5) its mask (the model's seg_small_segment = 0: no sieve);
    # Rastrum writes the stitched argmax. Compared as written, and with GeoDeep's filter applied
    # to Rastrum's map.
    a, b = read1(ours), read1(theirs)
    post = scipy.ndimage.median_filter(a, 5)
    w, h = inputs.size(src)
    geodeep_tiles = len(generate_for_size(w, h, 256, 0.1, clip=False))
    per_tile = ort_per_tile(model, 3, threads, 1)
    return {
        "arch": arch, "width": w, "height": h, "threads": threads, "model_gmacs_per_tile": macs / 1e9,
        "rastrum_s": r["seconds"], "rastrum_rss_mib": r["rss_mib"], "rastrum_tiles": json.loads(r["stdout"])["tiles_total"],
        "geodeep_s": g["seconds"], "geodeep_tile_loop_s": g["tile_loop_seconds"], "geodeep_tiles": geodeep_tiles,
        "geodeep_rss_mib": g["rss_mib"], "speedup": g["seconds"] / r["seconds"],
        "rastrum_mpx_s": w * h / 1e6 / r["seconds"], "geodeep_mpx_s": w * h / 1e6 / g["seconds"],
        "agreement_raw": float((a == b).mean()), "agreement_postprocessed": float((post == b).mean()),
        "classes_rastrum": np.bincount(a.ravel(), minlength=3).tolist(),
        "ort_per_tile_s": per_tile, "ort_s": per_tile * geodeep_tiles,
        "ceiling": g["seconds"] / (per_tile * geodeep_tiles),
    }


def vs_gdal_translate(work, side, reps):
    src = inputs.band(work, side)
    model = work / "identity.onnx"
    models.identity(model)
    co = ["TILED=YES", "COMPRESS=DEFLATE", "NUM_THREADS=ALL_CPUS"]
    ours, theirs = work / "identity_rastrum.tif", work / "identity_gdal.tif"
    r_runs, g_runs = [], []
    for rep in range(reps):
        for who in (["r", "g"] if rep % 2 == 0 else ["g", "r"]):
            if who == "r":
                r_runs.append(measured(rastrum_cmd(model, src, ours, *sum((["--co", c] for c in co), []),
                                                   threads=2)))
            else:
                theirs.unlink(missing_ok=True)
                g_runs.append(measured(["gdal_translate", "-q", "-ot", "Float32",
                                        *sum((["-co", c] for c in co), []), src, theirs]))
    a, b = read1(ours), read1(theirs)
    r, g = best(r_runs), best(g_runs)
    return {"side": side, "creation_options": co, "reps": reps, "rastrum_s": r["seconds"],
            "gdal_translate_s": g["seconds"], "ratio": r["seconds"] / g["seconds"],
            "identical": bool(np.array_equal(a, b)), "rastrum_rss_mib": r["rss_mib"],
            "gdal_translate_rss_mib": g["rss_mib"]}


def memory_sweep(work, sides, threads):
    source = inputs.rgb(work)
    model = work / "pointwise.onnx"
    models.pointwise(model, bands=3)
    rows = []
    for side in sides:
        vrt = inputs.big_rgb(work, side, source)
        out = work / "sweep_out.tif"
        m = measured(rastrum_cmd(model, vrt, out, "--batch", "8", threads=threads))
        rows.append({"side": side, "megapixels": side * side / 1e6, "seconds": m["seconds"],
                     "rss_mib": m["rss_mib"], "mpx_s": side * side / 1e6 / m["seconds"]})
        out.unlink()
        print(f"  sweep {side}: {m['seconds']:.1f} s, {m['rss_mib']:.0f} MiB", flush=True)
    return rows


def overhead():
    """bench/overhead.rs: Rastrum end to end against ONNX Runtime alone on the same tiles."""
    env = dict(os.environ, RASTRUM_ORT_LIB=str(ROOT / ".venv/libonnxruntime.so"))
    out = subprocess.run(["cargo", "bench", "--quiet", "--bench", "overhead"], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout
    print(out, end="")
    line = next(l for l in out.splitlines() if l.startswith("json: "))
    return json.loads(line[len("json: "):])


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
    osname = next((l.split("=", 1)[1].strip().strip('"') for l in open("/etc/os-release")
                   if l.startswith("PRETTY_NAME")), platform.platform())
    gdal = subprocess.run(["gdal-config", "--version"], capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    import onnxruntime
    import geodeep  # noqa: F401  (installed version below)
    from importlib.metadata import version
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem / 2**20, 1), "os": osname,
        "load_average": os.getloadavg()[0], "commit": commit, "gdal": gdal,
        "onnxruntime": onnxruntime.__version__, "ukis_csmask": version("ukis-csmask"),
        "geodeep": version("geodeep"), "rasterio": rasterio.__version__, "gpu": "none",
    }


def main():
    global rastrum_bin
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rastrum", required=True, help="the release `rastrum` binary")
    ap.add_argument("--work", required=True, help="folder for inputs and outputs (kept between runs)")
    ap.add_argument("--quick", action="store_true", help="small sizes: checks the harness, not the targets")
    a = ap.parse_args()
    rastrum_bin = a.rastrum
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)

    results = {"machine": machine(), "quick": a.quick}
    print(f"bench/peers on {results['machine']['cpu']}, {results['machine']['cores']} cores", flush=True)
    sizes = [512, 1024] if a.quick else [2048, 4096]
    results["ukis"] = []
    for i, side in enumerate(sizes):
        results["ukis"].append(vs_ukis(work, side, 2, reps=2 if i == 0 else 1))
        print(f"  ukis-csmask {side}: {results['ukis'][-1]}", flush=True)
    results["threads"] = [vs_ukis(work, sizes[0], 1, reps=1)]
    print(f"  1 thread: {results['threads'][-1]}", flush=True)
    results["geodeep"] = []
    for arch in ("unet", "light"):
        results["geodeep"].append(vs_geodeep(work, arch, 2, a.quick))
        print(f"  geodeep {arch}: {results['geodeep'][-1]}", flush=True)
    results["identity"] = vs_gdal_translate(work, 1024 if a.quick else 4096, reps=3)
    print(f"  identity: {results['identity']}", flush=True)
    results["sweep"] = memory_sweep(work, [1024, 2048] if a.quick else [1024, 2048, 5000, 10000, 20000, 40000], 2)
    results["overhead"] = None if a.quick else overhead()
    report.write(results, ROOT, work, quick=a.quick)
    if a.quick:
        check(results)


def check(res):
    """The harness check (make test-bench): both sides computed the same thing. Speeds are not
    judged at these sizes (process start dominates)."""
    problems = []
    for u in res["ukis"]:
        # Same tiles: only the blending window differs (ukis: Tukey; Rastrum: linear ramps).
        if u["agreement"] < 0.97:
            problems.append(f"ukis-csmask {u['side']}: same-tile agreement {u['agreement']:.4f} < 0.97")
    for g in res["geodeep"]:
        if g["agreement_postprocessed"] < 0.99:
            problems.append(f"GeoDeep {g['arch']}: agreement {g['agreement_postprocessed']:.4f} < 0.99")
    if not res["identity"]["identical"]:
        problems.append("the identity model's output differs from gdal_translate's")
    if any(s["rss_mib"] > 1024 for s in res["sweep"]):
        problems.append("peak RSS over 1 GiB in the sweep")
    if problems:
        raise SystemExit("bench/peers --quick: " + "; ".join(problems))
    print("bench/peers --quick: the comparisons agree")


if __name__ == "__main__":
    main()
