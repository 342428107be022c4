#!/usr/bin/env python3
"""Data preparation, scoring and figures of the x3 super-resolution example (GDAL + numpy +
matplotlib; run by run.sh).

  sr.py split SCENE SCALE OFFSET TRAIN_WINDOW TRAIN OUTDIR NAME=WINDOW [NAME=WINDOW ...]
      windows are "xoff,yoff,width,height" in scene pixels; SCALE / OFFSET turn the scene's DN
      into reflectance. Writes
      TRAIN: the TRAIN_WINDOW of SCENE (DN) with every held-out WINDOW set to nodata 0 (as the
             fill is), so that no training chip can touch a held-out region: the trainer keeps
             only chips whose every pixel is valid;
      and per region, OUTDIR/heldout_NAME_
        truth.tif:   the WINDOW in reflectance (float32, 30 m);
        lr.tif:      its 3x area average in DN (float32, 90 m: each 3x3 block's mean);
        bicubic.tif: lr up-sampled x3 by GDAL "cubic", in reflectance (float32, 30 m).
  sr.py score PRED TRUTH BORDER RASTRUM
      PSNR and SSIM of PRED against TRUTH (both in reflectance) by `RASTRUM eval --kind image`,
      band by band with one data range (TRUTH's max - min over all bands), BORDER pixels left out
      at each side; PSNR from the bands' mean squared error, SSIM the bands' mean. numpy's own
      PSNR / SSIM (the same 11x11 Gaussian SSIM) must agree; prints JSON.
  sr.py crops OUT.png LR BICUBIC MODEL TRUTH SCALE OFFSET X Y SIZE [X Y SIZE ...]
      true-colour crops (B4, B3, B2) side by side: low-res input (DN), bicubic, model, truth.
  sr.py scene OUT.png LOW HIGH SCALE OFFSET X Y SIZE
      a crop of the 30 m scene LOW (DN) beside the same ground of the model's 10 m output HIGH.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from osgeo import gdal

gdal.UseExceptions()


def window(text):
    try:
        v = [int(s) for s in text.split(",")]
    except ValueError:
        v = []
    if len(v) != 4 or min(v) < 0 or v[2] == 0 or v[3] == 0:
        sys.exit(f"sr.py: window '{text}' is not xoff,yoff,width,height")
    return v


def write(path, arrays, like, gt, dtype, nodata=None, compress=True):
    """Writes [bands, h, w] to a GeoTIFF atomically (a temporary name, then a rename)."""
    tmp = path + ".tmp.tif"
    options = ["TILED=YES"] + (["COMPRESS=LZW"] if compress else [])
    out = gdal.GetDriverByName("GTiff").Create(tmp, arrays.shape[2], arrays.shape[1], arrays.shape[0], dtype, options)
    out.SetGeoTransform(gt)
    out.SetProjection(like.GetProjection())
    for b in range(arrays.shape[0]):
        band = out.GetRasterBand(b + 1)
        if nodata is not None:
            band.SetNoDataValue(nodata)
        band.WriteArray(arrays[b])
    out = None
    os.replace(tmp, path)


def shifted(gt, x, y, factor=1.0):
    """The geotransform of the window at pixel (x, y), with pixels `factor` times larger."""
    return [gt[0] + x * gt[1], gt[1] * factor, gt[2], gt[3] + y * gt[5], gt[4], gt[5] * factor]


def split(scene, scale, offset, train_win, train, outdir, *regions):
    scale, offset = float(scale), float(offset)
    tx, ty, tw, th = window(train_win)
    src = gdal.Open(scene)
    gt = src.GetGeoTransform()
    data = src.ReadAsArray(tx, ty, tw, th)
    summary = {"train_window": [tx, ty, tw, th], "held_out": {}}
    for region in regions:
        name, _, win = region.partition("=")
        x, y, w, h = window(win)
        if w % 3 or h % 3:
            sys.exit(f"sr.py: held-out window {win} is not a multiple of the factor 3")
        dn = src.ReadAsArray(x, y, w, h).astype(np.float64)
        if (dn == 0).any():
            sys.exit(f"sr.py: held-out window {win} of {scene} has fill (0) pixels")
        base = os.path.join(outdir, f"heldout_{name}")
        write(base + "_truth.tif", (dn * scale + offset).astype(np.float32), src, shifted(gt, x, y), gdal.GDT_Float32)
        # The 3x area average, each 3x3 block's mean (what GDAL's "average" gives for an integer
        # factor), kept in float so that no rounding enters the input.
        low = dn.reshape(dn.shape[0], h // 3, 3, w // 3, 3).mean(axis=(2, 4))
        write(base + "_lr.tif", low.astype(np.float32), src, shifted(gt, x, y, 3.0), gdal.GDT_Float32)
        up = gdal.Translate("", base + "_lr.tif", format="MEM", width=w, height=h, resampleAlg="cubic").ReadAsArray()
        write(base + "_bicubic.tif", (up * scale + offset).astype(np.float32), src, shifted(gt, x, y),
              gdal.GDT_Float32)
        # Blank the region in the training raster.
        x0, y0 = max(x - tx, 0), max(y - ty, 0)
        x1, y1 = min(x + w - tx, tw), min(y + h - ty, th)
        if x1 > x0 and y1 > y0:
            data[:, y0:y1, x0:x1] = 0
        summary["held_out"][name] = [x, y, w, h]
    # Uncompressed: the trainer reads it chip by chip, many times.
    write(train, data, src, shifted(gt, tx, ty), gdal.GDT_UInt16, nodata=0, compress=False)
    summary["train_valid_fraction"] = float((data != 0).all(0).mean())
    print(json.dumps(summary))


def gaussian_blur_valid(img, radius=5, sigma=1.5):
    """Separable 11x11 Gaussian (sigma 1.5) over the valid region, as src/metrics.rs::ssim."""
    k = np.exp(-((np.arange(2 * radius + 1) - radius) ** 2) / (2 * sigma * sigma))
    k /= k.sum()
    n = 2 * radius
    rows = sum(k[i] * img[i:img.shape[0] - n + i, :] for i in range(n + 1))
    return sum(k[i] * rows[:, i:img.shape[1] - n + i] for i in range(n + 1))


def ssim(x, y, peak):
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    mx, my = gaussian_blur_valid(x), gaussian_blur_valid(y)
    vx = gaussian_blur_valid(x * x) - mx * mx
    vy = gaussian_blur_valid(y * y) - my * my
    cxy = gaussian_blur_valid(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s.mean())


def score(pred, truth, border, rastrum):
    """`rastrum eval --kind image` per band on the border-cropped rasters, with one data range
    for every band (the truth's), combined over bands; checked against numpy's own PSNR/SSIM."""
    p = gdal.Open(pred).ReadAsArray().astype(np.float64)
    r = gdal.Open(truth).ReadAsArray().astype(np.float64)
    if p.shape != r.shape:
        sys.exit(f"sr.py: {pred} is {p.shape} but {truth} is {r.shape}")
    b = int(border)
    h, w = r.shape[-2:]
    p, r = p[..., b:h - b, b:w - b], r[..., b:h - b, b:w - b]
    peak = float(r.max() - r.min())
    mse = float(((p - r) ** 2).mean())
    own = {"psnr": float(10 * np.log10(peak * peak / mse)),
           "ssim": float(np.mean([ssim(a, t, peak) for a, t in zip(p, r)]))}
    with tempfile.TemporaryDirectory() as tmp:
        crops = []
        for path in (pred, truth):
            crop = os.path.join(tmp, os.path.basename(path) + ".vrt")
            gdal.Translate(crop, path, format="VRT", srcWin=[b, b, w - 2 * b, h - 2 * b])
            crops.append(crop)
        bands = []
        for band in range(1, r.shape[0] + 1):
            out = subprocess.run([rastrum, "eval", *crops, "--kind", "image", "--pred-band", str(band),
                                  "--ref-band", str(band), "--data-range", repr(peak), "--json"],
                                 check=True, capture_output=True, text=True).stdout
            bands.append(json.loads(out)["image"])
    band_mse = [x["mse"] for x in bands]
    result = {"psnr": float(10 * np.log10(peak * peak / np.mean(band_mse))),
              "ssim": float(np.mean([x["ssim"] for x in bands])),
              "data_range": peak, "border": b, "band_psnr": [x["psnr"] for x in bands],
              "band_ssim": [x["ssim"] for x in bands], "numpy": own}
    if abs(result["psnr"] - own["psnr"]) > 1e-3 or abs(result["ssim"] - own["ssim"]) > 1e-4:
        sys.exit(f"sr.py: rastrum eval and numpy disagree on {pred}: {json.dumps(result)}")
    print(json.dumps(result))


def rgb(path, scale, offset, x, y, size, dn):
    """B4, B3, B2 (bands 3, 2, 1) of a window as an [h, w, 3] reflectance array."""
    a = gdal.Open(path).ReadAsArray(x, y, size, size).astype(np.float64)
    if dn:
        a = a * scale + offset
    return np.stack([a[2], a[1], a[0]], -1)


def stretch(img, lo, hi):
    return np.clip((img - lo) / (hi - lo), 0, 1)


def crops(out, lr, bicubic, model, hr, scale, offset, *wins):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    scale, offset = float(scale), float(offset)
    wins = [tuple(int(v) for v in wins[i:i + 3]) for i in range(0, len(wins), 3)]
    fig, axes = plt.subplots(len(wins), 4, figsize=(13, 3.4 * len(wins)), squeeze=False)
    for row, (x, y, s) in zip(axes, wins):
        truth = rgb(hr, scale, offset, x, y, s, False)
        lo, hi = np.percentile(truth, 1), np.percentile(truth, 99.5)
        low = rgb(lr, scale, offset, x // 3, y // 3, s // 3, True)
        panels = [("low-res input (90 m)", low), ("bicubic x3", rgb(bicubic, scale, offset, x, y, s, False)),
                  ("model x3", rgb(model, scale, offset, x, y, s, False)), ("truth (30 m)", truth)]
        for ax, (title, img) in zip(row, panels):
            ax.imshow(stretch(img, lo, hi), interpolation="nearest")
            ax.set_title(title)
            ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(out, dpi=80)


def scene(out, low, high, scale, offset, x, y, s):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    scale, offset, x, y, s = float(scale), float(offset), int(x), int(y), int(s)
    a = rgb(low, scale, offset, x, y, s, True)
    b = rgb(high, scale, offset, 3 * x, 3 * y, 3 * s, False)
    lo, hi = np.percentile(a, 1), np.percentile(a, 99.5)
    fig, axes = plt.subplots(1, 2, figsize=(12, 6.3))
    for ax, (title, img) in zip(axes, [("Landsat-8, 30 m", a), ("model x3, 10 m", b)]):
        ax.imshow(stretch(img, lo, hi), interpolation="nearest")
        ax.set_title(title)
        ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(out, dpi=80)


if __name__ == "__main__":
    cmd, args = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    if cmd == "split" and len(args) >= 6:
        split(*args)
    elif cmd == "score" and len(args) == 4:
        score(*args)
    elif cmd == "crops" and len(args) >= 10 and (len(args) - 7) % 3 == 0:
        crops(*args)
    elif cmd == "scene" and len(args) == 8:
        scene(*args)
    else:
        sys.exit(__doc__)
