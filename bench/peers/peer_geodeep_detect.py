"""GeoDeep's own detection pipeline: geodeep.run() on the GeoTIFF with a Deepness/GeoDeep-card
detector (tiles at the model's size and the card's overlap, batch 1, per-tile NMS, then its
global NMS and k-d tree pass), the boxes returned as arrays.

usage: peer_geodeep_detect.py INPUT.tif MODEL.onnx THREADS
Prints {"seconds": ..., "objects": ...} on stdout (imports excluded).
"""

import json
import sys
import time

import geodeep

src, model, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.perf_counter()
boxes, scores, classes = geodeep.run(src, model, output_type="bsc", max_threads=threads)
print(json.dumps({"seconds": time.perf_counter() - t0, "objects": int(len(boxes))}))
