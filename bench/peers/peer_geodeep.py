"""GeoDeep's own pipeline: geodeep.segment() on the GeoTIFF with a Deepness-format model (tiles at
the model's size and overlap, batch 1, per-tile argmax, median filter, small-segment sieve), then
the class mask written as a GeoTIFF.

usage: peer_geodeep.py INPUT.tif MODEL.onnx OUTPUT.tif THREADS
Prints {"seconds": ..., "tile_loop_seconds": ...} on stdout (imports excluded).
"""

import json
import sys
import time

import geodeep
import rasterio

src, model, dst, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
marks = {}


def progress(text, _percent):
    if text == "Finalizing":
        marks["loop_end"] = time.perf_counter()
    elif text.startswith("Processing tile 0/"):
        marks["loop_start"] = time.perf_counter()


t0 = time.perf_counter()
mask = geodeep.segment(src, model, output_type="raw", max_threads=threads, progress_callback=progress)
with rasterio.open(src) as ds:
    profile = ds.profile
profile.update(count=1, dtype="uint8", tiled=True, compress="deflate", photometric="minisblack", nodata=None)
with rasterio.open(dst, "w", **profile) as out:
    out.write(mask, 1)
print(json.dumps({"seconds": time.perf_counter() - t0,
                  "tile_loop_seconds": marks["loop_end"] - marks["loop_start"]}))
