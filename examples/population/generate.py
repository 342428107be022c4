#!/usr/bin/env python3
"""Generated night lights and population (no real population raster can be had here).

  generate.py OUT.tif SIZE SEED [--light-only TRUTH.tif]

Writes OUT.tif, SIZE x SIZE pixels of 500 m in UTM 33N (EPSG:32633), float32, in the layout the
workflow takes from real data (VIIRS night lights beside a WorldPop / LandScan population grid):
band 1 light (nW/cm2/sr), band 2 population (people per pixel). With --light-only, OUT.tif holds
the light alone and TRUTH.tif the population (a scene to predict on and score against).

The generating process (numpy, seeded, so every run gives the same rasters):
1. Settlements: 25 towns per 256 x 256 pixels at uniform random centres; town populations are
   Pareto distributed (shape 2, minimum 1 000, capped at 200 000); each town spreads as a
   Gaussian of radius 1.2 * (population / 10 000) ** 0.35 pixels; plus rural population of
   Gamma(0.5, 0.6) people per pixel on smooth patches covering about a third of the land.
2. Light follows people, imperfectly: 0.2 * density ** 0.85 (lit area grows slower than
   population), times a per-town wealth factor LogNormal(0, 0.25); plus unpopulated lights
   (industry, ports: 4 spots per 256 x 256 of 2-10 nW); blooming (Gaussian blur, sigma 1.5 px);
   then multiplicative noise LogNormal(0, 0.15) and additive background noise |N(0, 0.2)|.
So light explains most but not all of the population, as with real night lights.
"""
import os
import sys

import numpy as np
from osgeo import gdal, osr

gdal.UseExceptions()


def blur(a, sigma):
    """Separable Gaussian blur (reflecting borders)."""
    r = int(3 * sigma) + 1
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    for axis in (0, 1):
        a = np.apply_along_axis(lambda v: np.convolve(np.pad(v, r, mode="reflect"), k, "valid"), axis, a)
    return a


def scene(size, seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    area = (size / 256) ** 2
    pop = np.zeros((size, size))
    light = np.zeros((size, size))
    for _ in range(int(25 * area)):
        cx, cy = rng.uniform(0, size, 2)
        p = min(1000 * (1 + rng.pareto(2.0)), 2e5)
        r = 1.2 * (p / 1e4) ** 0.35
        g = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
        density = p * g / g.sum()
        pop += density
        light += 0.2 * density ** 0.85 * rng.lognormal(0, 0.25)
    patches = blur(rng.normal(size=(size, size)), 8) > 0.03
    pop += patches * rng.gamma(0.5, 0.6, (size, size))
    for _ in range(int(4 * area)):
        cx, cy = rng.integers(0, size, 2)
        light[cy, cx] += rng.uniform(2, 10) * 9
    light = blur(light, 1.5) * rng.lognormal(0, 0.15, (size, size)) + np.abs(rng.normal(0, 0.2, (size, size)))
    return light.astype(np.float32), pop.astype(np.float32)


def write(path, bands, names):
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)), "." + os.path.basename(path) + ".tmp")
    size = bands[0].shape[0]
    ds = gdal.GetDriverByName("GTiff").Create(tmp, size, size, len(bands), gdal.GDT_Float32,
                                               ["TILED=YES", "COMPRESS=DEFLATE", "PHOTOMETRIC=MINISBLACK"])
    ds.SetGeoTransform([400000.0, 500.0, 0.0, 5400000.0, 0.0, -500.0])
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    ds.SetProjection(srs.ExportToWkt())
    for i, (a, name) in enumerate(zip(bands, names)):
        b = ds.GetRasterBand(i + 1)
        b.SetDescription(name)
        b.WriteArray(a)
    ds = b = None
    os.replace(tmp, path)


def main(argv):
    if len(argv) not in (3, 5) or (len(argv) == 5 and argv[3] != "--light-only"):
        sys.exit(__doc__)
    out, size, seed = argv[0], int(argv[1]), int(argv[2])
    light, pop = scene(size, seed)
    if len(argv) == 5:
        write(out, [light], ["night light (nW/cm2/sr)"])
        write(argv[4], [pop], ["population (people per pixel)"])
    else:
        write(out, [light, pop], ["night light (nW/cm2/sr)", "population (people per pixel)"])
    print(f"{out}: {size}x{size}, total population {pop.sum():.0f}, light max {light.max():.1f}")


if __name__ == "__main__":
    main(sys.argv[1:])
