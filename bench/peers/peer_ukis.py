"""ukis-csmask's own pipeline, as its README runs it: read the scene, convert to TOA reflectance,
CSmask (256 px tiles, overlap 0.2, softmax, smooth blending, argmax), write the class mask.

usage: peer_ukis.py INPUT.tif OUTPUT.tif THREADS BATCH
Prints {"seconds": ...} (read to write, imports excluded) on stdout.
"""

import json
import sys
import time

import numpy as np
import rasterio
from ukis_csmask.mask import CSmask

src, dst, threads, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
t0 = time.perf_counter()
with rasterio.open(src) as ds:
    profile = ds.profile
    dn = ds.read()
# TOA reflectance as in the scene's MTL (REFLECTANCE_MULT 2e-5, ADD -0.1): the same as Rastrum's
# --scale / --offset.
img = np.moveaxis(dn, 0, -1).astype(np.float32) * np.float32(2e-5) - np.float32(0.1)
del dn
csm = CSmask(img, band_order=["blue", "green", "red", "nir", "swir16", "swir22"], product_level="l1c",
             intra_op_num_threads=threads, inter_op_num_threads=1, providers=["CPUExecutionProvider"],
             batch_size=batch)
profile.update(count=1, dtype="uint8", tiled=True, compress="deflate", nodata=None)
with rasterio.open(dst, "w", **profile) as out:
    out.write(csm.csm[:, :, 0], 1)
print(json.dumps({"seconds": time.perf_counter() - t0}))
