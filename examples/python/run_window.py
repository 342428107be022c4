#!/usr/bin/env python3
"""Runs an ONNX model on one window of a raster and writes the result as a georeferenced
GeoTIFF: GDAL reads the window, numpy preprocesses it, librastrum runs the model on the array
(rastrum's Model.run_array), GDAL writes the output on the window's grid.

This is the building block for scripts that manage their own reading (a window, a stack of
files, a time series); to run a model over a whole raster with tiling and stitching, use
``rastrum run`` or ``rastrum.run()`` instead.

    python3 examples/python/run_window.py data/super_resolution/super-resolution-10.onnx \\
        data/landsat8_l1_b2_b7/l8_B4.tif sr.tif --window 100 50 224 224 --scale 2e-5 --offset -0.1

The output pixel size is the window's scaled by input size / output size, so a x3
super-resolution model on 30 m pixels gives 10 m pixels over the same ground.
"""

import argparse
import os
import sys

import numpy as np
from osgeo import gdal

# The rastrum package lives in qgis_plugin/ of this repository; elsewhere, put the folder that
# holds the package on PYTHONPATH instead.
_REPO_PACKAGES = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir, "qgis_plugin")
sys.path.insert(0, os.path.normpath(_REPO_PACKAGES))
import rastrum  # noqa: E402

gdal.UseExceptions()


def per_band(name, values, bands, default):
    """One value for every band, or one per band, as a (bands, 1, 1) array for broadcasting."""
    if values is None:
        values = [default]
    if len(values) not in (1, bands):
        raise SystemExit(f"--{name} has {len(values)} values for {bands} band(s): give one, or one per band")
    return np.broadcast_to(np.asarray(values, dtype=np.float64), (bands,)).reshape(bands, 1, 1)


def fixed_input_size(model):
    """The model's fixed (height, width), or None when either is dynamic (-1 in the card)."""
    shape = model.card()["inputs"][0]["shape"]
    if len(shape) == 4 and shape[2] > 0 and shape[3] > 0:
        return shape[2], shape[3]
    return None


def window_geotransform(gt, xoff, yoff, fx, fy):
    """The geotransform of the window's output: its origin, pixel size divided by the factors."""
    x0 = gt[0] + xoff * gt[1] + yoff * gt[2]
    y0 = gt[3] + xoff * gt[4] + yoff * gt[5]
    return (x0, gt[1] / fx, gt[2] / fy, y0, gt[4] / fx, gt[5] / fy)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="ONNX model")
    parser.add_argument("raster", help="input raster (any GDAL path)")
    parser.add_argument("output", help="output GeoTIFF")
    parser.add_argument("--window", nargs=4, type=int, required=True, metavar=("XOFF", "YOFF", "XSIZE", "YSIZE"))
    parser.add_argument("--bands", nargs="+", type=int, help="1-based bands, in the model's order (default: all)")
    parser.add_argument("--scale", nargs="+", type=float, help="value * scale + offset, then (x - mean) / std")
    parser.add_argument("--offset", nargs="+", type=float)
    parser.add_argument("--mean", nargs="+", type=float)
    parser.add_argument("--std", nargs="+", type=float)
    parser.add_argument("--output-index", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or tensorrt")
    args = parser.parse_args(argv)
    xoff, yoff, xsize, ysize = args.window

    src = gdal.Open(args.raster)
    if xoff < 0 or yoff < 0 or xsize <= 0 or ysize <= 0 or xoff + xsize > src.RasterXSize or yoff + ysize > src.RasterYSize:
        parser.error(f"window {args.window} is not inside the {src.RasterXSize}x{src.RasterYSize} raster")
    bands = args.bands or list(range(1, src.RasterCount + 1))
    raw = np.stack([src.GetRasterBand(b).ReadAsArray(xoff, yoff, xsize, ysize).astype(np.float64) for b in bands])

    n = len(bands)
    x = raw * per_band("scale", args.scale, n, 1.0) + per_band("offset", args.offset, n, 0.0)
    x = (x - per_band("mean", args.mean, n, 0.0)) / per_band("std", args.std, n, 1.0)

    with rastrum.Model(args.model, device=args.device) as model:
        fixed = fixed_input_size(model)
        if fixed is not None and (ysize > fixed[0] or xsize > fixed[1]):
            parser.error(
                f"the model takes {fixed[1]}x{fixed[0]} pixels, the window is {xsize}x{ysize}: use a smaller "
                "window, or `rastrum run` to tile a larger area"
            )
        if fixed is not None:
            # Edge padding rather than zeros, so that the border pixels see plausible context.
            x = np.pad(x, ((0, 0), (0, fixed[0] - ysize), (0, fixed[1] - xsize)), mode="edge")
        batch = x[np.newaxis].astype(np.float32)
        out = model.run_array(batch, args.output_index)

    if out.ndim != 4:
        raise SystemExit(f"output {args.output_index} has shape {out.shape}; only per-pixel (NCHW) outputs map to a raster")
    # The padded input and its output share the same ratio; crop the output back to the window.
    fy, fx = out.shape[2] / batch.shape[2], out.shape[3] / batch.shape[3]
    out = out[0, :, : round(ysize * fy), : round(xsize * fx)]

    dst = gdal.GetDriverByName("GTiff").Create(
        args.output, out.shape[2], out.shape[1], out.shape[0], gdal.GDT_Float32, ["COMPRESS=DEFLATE", "TILED=YES"]
    )
    dst.SetGeoTransform(window_geotransform(src.GetGeoTransform(), xoff, yoff, fx, fy))
    dst.SetProjection(src.GetProjection())
    for i, band in enumerate(out, start=1):
        dst.GetRasterBand(i).WriteArray(band)
    dst.FlushCache()
    dst = None
    print(f"{args.output}: {out.shape[2]}x{out.shape[1]}, {out.shape[0]} band(s), x{fx:g} from the {xsize}x{ysize} window")
    return 0


if __name__ == "__main__":
    sys.exit(main())
