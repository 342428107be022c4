#!/usr/bin/env python3
"""Inputs of the U-Net land-cover example, from the real Sentinel-2 sample (data/sentinel2_sample).

  prepare.py IMAGE LABELS OUTDIR HOLDOUT_X HOLDOUT_Y HOLDOUT_SIZE

- OUTDIR/stack14.tif: the 14-channel input, float32: the scene's 6 bands (top-of-atmosphere
  reflectance of blue, green, red, nir, swir16, swir22) followed by 8 spectral indices, stacked
  as the seed does, with band descriptions. Indices are 0 where their denominator is 0.
- OUTDIR/labels.tif: the hand labels as 3 classes, by upstream ukis-csmask's own mapping
  (label 0 -> 2 cloud shadow, 1/2/3 -> 0 clear, 4 -> 1 cloud); 255 = nodata.
- OUTDIR/labels_train.tif: the same with the held-out block (HOLDOUT_SIZE pixels square at
  HOLDOUT_X, HOLDOUT_Y) set to nodata, so that training never sees its labels.
Rows are processed in strips (memory does not grow with the scene); files are written under a
temporary name and renamed when complete.
"""
import os
import sys

import numpy as np
from osgeo import gdal

gdal.UseExceptions()

BANDS = ["blue", "green", "red", "nir", "swir16", "swir22"]


def ratio(a, b):
    """(a - b) / (a + b), 0 where a + b is 0."""
    den = a + b
    return np.divide(a - b, den, out=np.zeros_like(den), where=den != 0)


def indices(x):
    blue, green, red, nir, sw1, sw2 = x
    evi_den = nir + 6 * red - 7.5 * blue + 1
    return [
        ("NDVI (nir, red)", ratio(nir, red)),
        ("NDWI (green, nir)", ratio(green, nir)),
        ("MNDWI (green, swir16)", ratio(green, sw1)),
        ("NDBI (swir16, nir)", ratio(sw1, nir)),
        ("NBR (nir, swir22)", ratio(nir, sw2)),
        ("SAVI (L = 0.5)", np.divide(1.5 * (nir - red), nir + red + 0.5, out=np.zeros_like(nir),
                                     where=(nir + red + 0.5) != 0)),
        ("EVI", np.divide(2.5 * (nir - red), evi_den, out=np.zeros_like(nir), where=evi_den != 0)),
        ("BSI (bare soil)", ratio(sw1 + red, nir + blue)),
    ]


def create(path, like, bands, dtype):
    ds = gdal.GetDriverByName("GTiff").Create(path, like.RasterXSize, like.RasterYSize, bands, dtype,
                                               ["TILED=YES", "COMPRESS=DEFLATE", "PHOTOMETRIC=MINISBLACK"])
    if like.GetGeoTransform(can_return_null=True):
        ds.SetGeoTransform(like.GetGeoTransform())
        ds.SetProjection(like.GetProjection())
    return ds


def main(image, labels, outdir, hx, hy, hs):
    src, lab = gdal.Open(image), gdal.Open(labels)
    if src.RasterCount != 6:
        sys.exit(f"{image}: expected the 6 bands {', '.join(BANDS)}, found {src.RasterCount}")
    if (src.RasterXSize, src.RasterYSize) != (lab.RasterXSize, lab.RasterYSize):
        sys.exit(f"{labels}: {lab.RasterXSize}x{lab.RasterYSize}, the image is {src.RasterXSize}x{src.RasterYSize}")
    w, h = src.RasterXSize, src.RasterYSize
    tmp = {k: os.path.join(outdir, f".{k}.tmp.tif") for k in ("stack14", "labels", "labels_train")}
    stack = create(tmp["stack14"], src, 14, gdal.GDT_Float32)
    classes = create(tmp["labels"], src, 1, gdal.GDT_Byte)
    train = create(tmp["labels_train"], src, 1, gdal.GDT_Byte)
    names = ["clear", "cloud", "cloud shadow"]
    for band in (classes.GetRasterBand(1), train.GetRasterBand(1)):
        band.SetNoDataValue(255)
        band.SetCategoryNames(names)
    band = None
    strip = 64
    for y in range(0, h, strip):
        n = min(strip, h - y)
        x = src.ReadAsArray(0, y, w, n).astype(np.float32)
        layers = [(f"{b} (TOA reflectance)", x[i]) for i, b in enumerate(BANDS)] + indices(x)
        for i, (name, values) in enumerate(layers):
            band = stack.GetRasterBand(i + 1)
            band.SetDescription(name)
            band.WriteArray(values.astype(np.float32), 0, y)
        raw = lab.GetRasterBand(1).ReadAsArray(0, y, w, n)
        cls = np.select([raw == 0, raw == 4, np.isin(raw, [1, 2, 3])], [2, 1, 0], 255).astype(np.uint8)
        classes.GetRasterBand(1).WriteArray(cls, 0, y)
        rows = np.arange(y, y + n)[:, None]
        cols = np.arange(w)[None, :]
        held = (rows >= hy) & (rows < hy + hs) & (cols >= hx) & (cols < hx + hs)
        train.GetRasterBand(1).WriteArray(np.where(held, 255, cls).astype(np.uint8), 0, y)
    # Closing (dropping every reference) flushes the files and their .aux.xml sidecars.
    stack = classes = train = band = None
    for k, path in tmp.items():
        os.replace(path, os.path.join(outdir, f"{k}.tif"))
        if os.path.exists(path + ".aux.xml"):
            os.replace(path + ".aux.xml", os.path.join(outdir, f"{k}.tif.aux.xml"))


if __name__ == "__main__":
    if len(sys.argv) != 7:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3], *map(int, sys.argv[4:]))
