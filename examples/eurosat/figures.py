#!/usr/bin/env python3
"""Figures of the chip-classification examples (EuroSAT, So2Sat) that `rastrum quicklook` and
`rastrum eval --confusion-png` do not draw (the scores themselves come from `rastrum eval`).

  figures.py gallery MOSAIC TRUTH PNG [--rgb 4,3,2] [--scale 1e-4]
      Three chips of each class, from a test mosaic and its truth (split.py, so2sat/mosaic.py), in
      true colour (reflectance = value x scale).
  figures.py maps MAP TRUTH PNG
      The truth and the map side by side, in the map's colours, with the class names.
  figures.py shrink PNG [--width 900]
      Scales a PNG down to at most this width and to a 256-colour palette, in place (a scene's
      quicklook is megabytes at full resolution).
"""
import argparse
import os

import numpy as np
from osgeo import gdal

gdal.UseExceptions()


def category_names(path):
    # Through gdal.Info: the Python binding's GetCategoryNames() misses names kept in .aux.xml.
    return gdal.Info(path, format="json")["bands"][0].get("categories") or []


def gallery(a):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rgb = [int(b) for b in a.rgb.split(",")]
    mosaic = gdal.Open(a.mosaic)
    truth_ds = gdal.Open(a.truth)  # kept: a band outlives no dataset in the Python binding
    truth = truth_ds.GetRasterBand(1).ReadAsArray()
    names = category_names(a.truth)
    side = mosaic.RasterXSize // truth.shape[1]
    per = 3
    fig, axes = plt.subplots(per, len(names), figsize=(0.9 * len(names), 1.0 * per + 0.2))
    for j, name in enumerate(names):
        where = list(zip(*np.nonzero(truth == j)))[:per]
        for i in range(per):
            axes[i, j].axis("off")
            if i < len(where):
                r, c = (int(v) * side for v in where[i])
                img = np.dstack([mosaic.GetRasterBand(b).ReadAsArray(c, r, side, side) for b in rgb]) * a.scale
                axes[i, j].imshow(np.clip(img / 0.25, 0, 1) ** 0.8, interpolation="nearest")
        axes[0, j].set_title(name.replace(" ", "\n", 1) if len(name) > 12 else name, fontsize=5)
    fig.tight_layout(pad=0.2)
    fig.savefig(a.png, dpi=64)
    plt.close(fig)


def maps(a):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch
    pred = gdal.Open(a.map)
    truth = gdal.Open(a.truth)
    names = category_names(a.truth)
    k = len(names)
    table = pred.GetRasterBand(1).GetColorTable()
    colours = [np.array(table.GetColorEntry(i)[:3]) / 255 if table and i < table.GetCount() else
               plt.cm.tab20(i % 20)[:3] for i in range(k)]
    cmap = ListedColormap(colours)

    def extent(ds):
        gt = ds.GetGeoTransform()
        return [gt[0], gt[0] + gt[1] * ds.RasterXSize, gt[3] + gt[5] * ds.RasterYSize, gt[3]]

    fig, axes = plt.subplots(1, 2, figsize=(9.5, 4.2))
    for ax, ds, title in ((axes[0], truth, "truth"), (axes[1], pred, "map (one class per tile)")):
        data = np.ma.masked_greater_equal(ds.GetRasterBand(1).ReadAsArray(), k)
        ax.imshow(data, cmap=cmap, vmin=-0.5, vmax=k - 0.5, extent=extent(ds), interpolation="nearest")
        ax.set_xlim(extent(truth)[:2])
        ax.set_ylim(extent(truth)[2:])
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.legend(handles=[Patch(color=colours[i], label=names[i]) for i in range(k)], loc="center right",
               fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0, 0.8, 1))
    fig.savefig(a.png, dpi=80)
    plt.close(fig)


def shrink(a):
    from PIL import Image
    img = Image.open(a.png).convert("RGB")
    if img.width > a.width:
        img = img.resize((a.width, round(img.height * a.width / img.width)), Image.LANCZOS)
    img = img.quantize(256)
    tmp = a.png + ".tmp.png"
    img.save(tmp, optimize=True)
    os.replace(tmp, a.png)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("shrink")
    s.add_argument("png")
    s.add_argument("--width", type=int, default=900)
    g = sub.add_parser("gallery")
    g.add_argument("mosaic")
    g.add_argument("truth")
    g.add_argument("png")
    g.add_argument("--rgb", default="4,3,2")
    g.add_argument("--scale", type=float, default=1e-4)
    m = sub.add_parser("maps")
    m.add_argument("map")
    m.add_argument("truth")
    m.add_argument("png")
    a = p.parse_args()
    {"shrink": shrink, "gallery": gallery, "maps": maps}[a.cmd](a)


if __name__ == "__main__":
    main()
