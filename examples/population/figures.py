#!/usr/bin/env python3
"""The population example's figure: light, predicted and true population side by side (log
colour scale), and predicted against true population per 32 x 32 tile.

  figures.py LIGHT.tif PREDICTED.tif TRUTH.tif OUT.png
"""
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from osgeo import gdal  # noqa: E402

gdal.UseExceptions()


def read(path):
    ds = gdal.Open(path)  # kept open while its band is read (the band does not own it)
    band = ds.GetRasterBand(1)
    a = band.ReadAsArray().astype(np.float64)
    nodata = band.GetNoDataValue()
    return np.where(a == nodata, np.nan, a) if nodata is not None else a


def tiles(a, t=32):
    h, w = (a.shape[0] // t) * t, (a.shape[1] // t) * t
    return np.nansum(a[:h, :w].reshape(h // t, t, w // t, t), axis=(1, 3)).ravel()


def main(light_path, pred_path, truth_path, out):
    light, pred, truth = read(light_path), read(pred_path), read(truth_path)
    fig, ax = plt.subplots(1, 4, figsize=(17, 4.2))
    im = ax[0].imshow(np.maximum(light, 0.05), cmap="magma", norm=LogNorm(0.05, np.nanmax(light)))
    ax[0].set_title("night light (input)")
    fig.colorbar(im, ax=ax[0], shrink=0.8, label="nW/cm²/sr")
    top = max(np.nanmax(pred), np.nanmax(truth))
    for a, data, title in ((ax[1], pred, "predicted population"), (ax[2], truth, "true population")):
        im = a.imshow(np.maximum(data, 0.1), cmap="viridis", norm=LogNorm(0.1, top))
        a.set_title(title)
        fig.colorbar(im, ax=a, shrink=0.8, label="people per pixel")
    for a in ax[:3]:
        a.set_xticks([])
        a.set_yticks([])
    tp, tt = tiles(pred), tiles(truth)
    ax[3].loglog(np.maximum(tt, 1), np.maximum(tp, 1), ".", ms=3, alpha=0.6)
    lim = [1, max(tp.max(), tt.max()) * 1.5]
    ax[3].plot(lim, lim, "k--", lw=1)
    ax[3].set_xlabel("true population per tile")
    ax[3].set_ylabel("predicted population per tile")
    ax[3].set_title(f"32 x 32 tiles: total {tp.sum():,.0f} vs {tt.sum():,.0f}")
    fig.tight_layout()
    fig.savefig(out, dpi=70)


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(*sys.argv[1:])
