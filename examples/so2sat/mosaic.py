#!/usr/bin/env python3
"""Lays the sen2 patches of a So2Sat LCZ42 file (real or generated; e.g. testing.h5) side by side
in one 10-band GeoTIFF, so that `rastrum run` classifies every patch in one pass (tile 32,
overlap 0: one output pixel per patch), and writes the patches' zones beside it.

  mosaic.py FILE.h5 OUT [--max N]

writes OUT/test_mosaic.tif (float32, sen2's bands B2 ... B12) and OUT/test_truth.tif (Byte, one
pixel per patch: the argmax of its one-hot label, 0-16; 255 where the last row has no patch),
read through GDAL's multidimensional API a block of patches at a time.
"""
import argparse
import math
import os
import sys

import numpy as np
from osgeo import gdal, osr

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "eurosat"))
from synth import write_tif  # noqa: E402

gdal.UseExceptions()
LCZ = ["Compact high-rise", "Compact mid-rise", "Compact low-rise", "Open high-rise", "Open mid-rise",
       "Open low-rise", "Lightweight low-rise", "Large low-rise", "Sparsely built", "Heavy industry", "Dense trees",
       "Scattered trees", "Bush, scrub", "Low plants", "Bare rock or paved", "Bare soil or sand", "Water"]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("h5")
    p.add_argument("out")
    p.add_argument("--max", type=int, help="only the first N patches")
    a = p.parse_args()
    try:
        root = gdal.OpenEx(a.h5, gdal.OF_MULTIDIM_RASTER).GetRootGroup()
        sen2, label = root.OpenMDArray("sen2"), root.OpenMDArray("label")
    except RuntimeError as e:
        raise SystemExit(f"mosaic.py: cannot read the 'sen2' and 'label' arrays of {a.h5}: {e}")
    n, side, _, bands = (d.GetSize() for d in sen2.GetDimensions())
    n = min(n, a.max or n)
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    os.makedirs(a.out, exist_ok=True)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32632)
    mosaic = gdal.GetDriverByName("GTiff").Create(
        os.path.join(a.out, "test_mosaic.tif"), cols * side, rows * side, bands, gdal.GDT_Float32,
        options=["COMPRESS=DEFLATE", "TILED=YES"])
    mosaic.SetGeoTransform((0, 10, 0, 0, 0, -10))
    mosaic.SetProjection(srs.ExportToWkt())
    truth = np.full((rows, cols), 255, np.uint8)
    block = 256
    for start in range(0, n, block):
        count = min(block, n - start)
        x = sen2.ReadAsArray(array_start_idx=[start, 0, 0, 0], count=[count, side, side, bands])
        y = label.ReadAsArray(array_start_idx=[start, 0], count=[count, 17]).argmax(1)
        for i in range(count):
            r, c = divmod(start + i, cols)
            for b in range(bands):
                mosaic.GetRasterBand(b + 1).WriteArray(x[i, :, :, b].astype(np.float32), c * side, r * side)
            truth[r, c] = y[i]
    mosaic = None
    write_tif(os.path.join(a.out, "test_truth.tif"), truth, np.uint8, (0, 0), 10 * side, srs.ExportToWkt(),
              nodata=255, categories=LCZ)
    print(f"{n} patches of {a.h5} in a {cols}x{rows} mosaic")


if __name__ == "__main__":
    main()
