"""Peak memory and speed of detection against the number of objects (make bench-detect).

The pointwise detector of the test corpus (tests/qgis/corpus.py: one anchor every 4 pixels, its
box read from the pixel under it) over scenes where every anchor holds a 2-pixel object: a
W x W scene gives (W / 4)^2 objects. The same scenes run again with a minimum score above every
object's (no detections), so the difference in peak RSS is what the detections cost. Prints a
Markdown table and checks the bound: at most BOUND_MIB of peak RSS at the most objects (10^6
with the default sizes), and no more than 64 MiB over the same scene without objects; with --write,
replaces the section between the `detections` markers of BENCHMARKS.md.

    /usr/bin/python3 bench/detections.py RASTRUM_CLI [--sizes 1000,4000] [--write] [--geodeep PYTHON]

With --geodeep (the Python of .venv-bench, where bench/peers/run installs GeoDeep, AGPL, a bench
dependency only), GeoDeep's own pipeline runs the same model on the same scenes (its card keys:
det_type YOLO_v8, the scene's resolution, 25 % overlap), one object every 16 pixels, and the
table gives objects per second for both, from the same run.
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from osgeo import gdal

ROOT = Path(__file__).resolve().parents[1]
BOUND_MIB = 256
sys.path.insert(0, str(ROOT / "tests/qgis"))
import corpus  # noqa: E402 (the corpus's detector, shared with the tests)


def scene(path, width):
    """Every anchor pixel (multiples of 4) an object of class 0 scoring 0.9, of side 2 pixels."""
    row = np.zeros((3, 4, width), np.uint8)
    row[0, 0, ::4] = 230
    row[2, 0, ::4] = round(2 / corpus.DET_SIDE * 255)
    ds = gdal.GetDriverByName("GTiff").Create(str(path), width, width, 3, gdal.GDT_Byte,
                                              ["TILED=YES", "COMPRESS=DEFLATE"])
    ds.SetGeoTransform((500000.0, 1.0, 0.0, 5000000.0, 0.0, -1.0))
    for y in range(0, width, 4):
        ds.WriteRaster(0, y, width, min(4, width - y), row[:, : min(4, width - y)].tobytes())
    ds = None


def run(cli, model, raster, out, conf):
    """Wall seconds and peak RSS (MiB) of one `rastrum run` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.monotonic()
    done = subprocess.run([cli, "run", str(model), str(raster), str(out), "-q", "--overlap", "16", "--batch", "8",
                           "--det-conf", str(conf)], capture_output=True, text=True)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"rastrum run failed: {done.stderr}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of the children is the largest of any child so far: runs go from small to large.
    return seconds, max(peak, before) / 1024


def geodeep_model(path):
    """The corpus detector with the card keys GeoDeep reads: YOLO_v8 columns, the scenes'
    resolution (1 m: 100 cm, so that neither tool resamples), 25 % overlap (16 px of 64)."""
    corpus.build_detector(path, {"model_type": "Detector", "det_type": "YOLO_v8", "resolution": 100,
                                 "tiles_overlap": 25, "det_conf": 0.5, "class_names": {"0": "plane", "1": "ship"}})


def sparse_scene(path, width, every=16):
    """An object of side 2 pixels at every `every`-th anchor pixel."""
    data = np.zeros((3, width, width), np.uint8)
    data[0, ::every, ::every] = 230
    data[2, ::every, ::every] = round(2 / corpus.DET_SIDE * 255)
    ds = gdal.GetDriverByName("GTiff").Create(str(path), width, width, 3, gdal.GDT_Byte,
                                              ["TILED=YES", "COMPRESS=DEFLATE"])
    ds.SetGeoTransform((500000.0, 1.0, 0.0, 5000000.0, 0.0, -1.0))
    ds.WriteRaster(0, 0, width, width, data.tobytes())
    ds = None


def against_geodeep(cli, python, sizes, tmp):
    """Rastrum and GeoDeep on the same model and scenes: rows of (width, objects each, seconds each)."""
    import json as _json

    model = tmp / "geodeep_detector.onnx"
    geodeep_model(model)
    peer = ROOT / "bench/peers/peer_geodeep_detect.py"
    rows = []
    for width in sizes:
        raster = tmp / f"sparse{width}.tif"
        sparse_scene(raster, width)
        out = tmp / f"sparse{width}.gpkg"
        started = time.monotonic()
        done = subprocess.run([cli, "run", str(model), str(raster), str(out), "-q", "--threads", "2"],
                              capture_output=True, text=True)
        seconds = time.monotonic() - started
        if done.returncode != 0:
            sys.exit(f"rastrum run failed: {done.stderr}")
        g = subprocess.run([python, str(peer), str(raster), str(model), "2"], capture_output=True, text=True)
        if g.returncode != 0:
            sys.exit(f"GeoDeep failed: {g.stderr[-2000:]}")
        theirs = _json.loads(g.stdout.strip().splitlines()[-1])
        rows.append((width, count(out), seconds, theirs["objects"], theirs["seconds"]))
    return rows


def count(path):
    ds = gdal.OpenEx(str(path), gdal.OF_VECTOR)
    return ds.GetLayer(0).GetFeatureCount() if ds else 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("cli")
    parser.add_argument("--sizes", default="1000,2000,4000")
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--geodeep", help="the Python of .venv-bench, to run GeoDeep on the same scenes")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = tmp / "detector.onnx"
        corpus.build_detector(model)
        for width in sizes:
            raster = tmp / f"scene{width}.tif"
            scene(raster, width)
            none_s, none_rss = run(args.cli, model, raster, tmp / f"none{width}.gpkg", 0.95)
            out = tmp / f"objects{width}.gpkg"
            s, rss = run(args.cli, model, raster, out, 0.5)
            n = count(out)
            expected = ((width + 3) // 4) ** 2
            if n != expected:
                sys.exit(f"{width}^2: {n} objects written, {expected} planted")
            rows.append((width, n, s, rss, none_s, none_rss))
            os.remove(raster)
    lines = ["| scene | objects | time | objects/s | peak RSS | same scene, no objects: time, peak RSS |",
             "|---|---|---|---|---|---|"]
    for width, n, s, rss, none_s, none_rss in rows:
        lines.append(f"| {width}^2 | {n:,} | {s:.1f} s | {n / s:,.0f} | {rss:.0f} MiB | {none_s:.1f} s, "
                     f"{none_rss:.0f} MiB |")
    width, n, _, rss, _, none_rss = rows[-1]
    met = rss <= BOUND_MIB and rss - none_rss <= 64
    lines.append("")
    lines.append(f"At {n:,} objects: peak RSS {rss:.0f} MiB (bound {BOUND_MIB} MiB), {rss - none_rss:.0f} MiB over "
                 f"the same {width}^2 scene without objects (bound 64 MiB): {'met' if met else '**not met**'}. "
                 f"The rest is the input side: GDAL's block cache (64 MiB in the CLI) fills up on a larger scene.")
    if args.geodeep:
        with tempfile.TemporaryDirectory() as tmp:
            peer_rows = against_geodeep(args.cli, args.geodeep, sizes, Path(tmp))
        lines += ["", "GeoDeep's pipeline (`geodeep.run`, its NMS and k-d tree pass) on the same model and scenes, "
                  "one object every 16 pixels, 2 threads each, whole processes' time for Rastrum, GeoDeep's call "
                  "without its imports:", "",
                  "| scene | objects: Rastrum, GeoDeep | Rastrum | GeoDeep | GeoDeep / Rastrum |", "|---|---|---|---|---|"]
        for width, n, s, gn, gs in peer_rows:
            lines.append(f"| {width}^2 | {n:,}, {gn:,} | {s:.2f} s ({n / s:,.0f} objects/s) | "
                         f"{gs:.2f} s ({gn / gs:,.0f} objects/s) | {gs / s:.2f}x |")
    table = "\n".join(lines)
    print(table)
    if args.write:
        write(table)
    return 0 if met else 1


def write(table):
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text()
    begin, end = "<!-- detections:begin (written by bench/detections.py) -->", "<!-- detections:end -->"
    section = (f"{begin}\n## Detection: memory and speed against the number of objects (`make bench-detect`)\n\n"
               f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: the corpus's pointwise detector "
               f"(64-pixel tiles, overlap 16, batch 8, 2 threads) over scenes with an object on every 4th pixel, "
               f"written to a GeoPackage; peak RSS of the `rastrum run` process.\n\n{table}\n{end}")
    if begin in text:
        text = text[: text.index(begin)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
