#!/usr/bin/env python3
"""Holds out test chips of a EuroSAT-layout folder (real or generated) and lays them side by side
in one mosaic, so that `rastrum run` classifies every test chip in one pass (tile = chip size,
overlap 0: one output pixel per chip).

  split.py ROOT OUT [--test-fraction 0.2] [--seed 0]

writes OUT/train/<Class>/ (links to the training chips: the trainer's own random split of them
gives its validation set), OUT/test_mosaic.tif (the test chips, all bands as read), and
OUT/test_truth.tif (Byte, one pixel per chip: its class id in sorted folder order; 255 where
the mosaic's last row has no chip).
"""
import argparse
import math
import os

import numpy as np
from osgeo import gdal
from synth import write_tif

gdal.UseExceptions()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("root")
    p.add_argument("out")
    p.add_argument("--test-fraction", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    rng = np.random.default_rng(a.seed)
    if not os.path.isdir(a.root):
        raise SystemExit(f"split.py: {a.root} is not a folder (expected EuroSAT's class folders)")
    classes = sorted(d for d in os.listdir(a.root) if os.path.isdir(os.path.join(a.root, d)))
    if not classes:
        raise SystemExit(f"split.py: no class folder in {a.root}")
    test, trained = [], 0
    for k, name in enumerate(classes):
        folder = os.path.join(a.root, name)
        chips = sorted(f for f in os.listdir(folder) if f.lower().endswith((".tif", ".tiff")))
        held = set(rng.permutation(len(chips))[: int(round(a.test_fraction * len(chips)))])
        train = os.path.join(a.out, "train", name)
        os.makedirs(train, exist_ok=True)
        for i, f in enumerate(chips):
            src = os.path.abspath(os.path.join(folder, f))
            if i in held:
                test.append((src, k))
            else:
                link = os.path.join(train, f)
                if os.path.lexists(link):
                    os.remove(link)
                os.symlink(src, link)
                trained += 1
    if not test:
        raise SystemExit(f"split.py: no test chip held out of {a.root} (--test-fraction {a.test_fraction})")
    first = gdal.Open(test[0][0])
    side, bands = first.RasterXSize, first.RasterCount
    dtype = first.GetRasterBand(1).DataType
    cols = math.ceil(math.sqrt(len(test)))
    rows = math.ceil(len(test) / cols)
    mosaic = gdal.GetDriverByName("GTiff").Create(
        os.path.join(a.out, "test_mosaic.tif"), cols * side, rows * side, bands, dtype,
        options=["COMPRESS=DEFLATE", "TILED=YES", "BLOCKXSIZE=256", "BLOCKYSIZE=256"])
    pixel = first.GetGeoTransform()[1]
    mosaic.SetGeoTransform((0, pixel, 0, 0, 0, -pixel))
    mosaic.SetProjection(first.GetProjection())
    truth = np.full((rows, cols), 255, np.uint8)
    for n, (path, k) in enumerate(test):
        chip = gdal.Open(path)
        if (chip.RasterXSize, chip.RasterYSize, chip.RasterCount) != (side, side, bands):
            raise SystemExit(f"split.py: {path} is {chip.RasterXSize}x{chip.RasterYSize}x{chip.RasterCount}, "
                             f"expected {side}x{side}x{bands} like {test[0][0]}")
        r, c = divmod(n, cols)
        mosaic.WriteRaster(c * side, r * side, side, side, chip.ReadRaster())
        truth[r, c] = k
    mosaic = None
    write_tif(os.path.join(a.out, "test_truth.tif"), truth, np.uint8, (0, 0), pixel * side, first.GetProjection(),
              nodata=255, categories=classes)
    print(f"{len(test)} test chips in a {cols}x{rows} mosaic, {trained} training chips linked")


if __name__ == "__main__":
    main()
