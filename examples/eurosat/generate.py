#!/usr/bin/env python3
"""Generated EuroSAT-MS data (no real chips can be downloaded here), in the real layout unchanged:

  OUT/EuroSAT_MS/<Class>/<Class>_<n>.tif   64x64 (--chip), 13 bands uint16 (B01 B02 B03 B04 B05 B06 B07
                                           B08 B8A B09 B10 B11 B12), DN = reflectance x 10000,
                                           EPSG:32632, 10 m pixels
  OUT/scene.tif                            a 13-band scene of the same kind (S x S, 10 m)
  OUT/scene_truth.tif                      its class of every pixel (Byte, ids = sorted folder
                                           order, category names set)

The generating process is written down in README.md ("The data"): nine material spectra, one
spatial layout of them per class, per-chip illumination, haze, spectral jitter and sensor noise.

  generate.py OUT [--per-class N] [--chip 64] [--scene S] [--seed K]

(--chip 32 is the reduced size of CI: a quarter of the compute per chip.)
"""
import argparse
import os

import numpy as np

from synth import (BANDS, SPECTRA, blobs, coords, jitter_spectra, mix, parcels, relabel, smooth_noise, srs_utm,
                   voronoi, write_tif)

CLASSES = ["AnnualCrop", "Forest", "HerbaceousVegetation", "Highway", "Industrial", "Pasture", "PermanentCrop",
           "Residential", "River", "SeaLake"]
PIXEL = 10.0
ZONE = 32



def annual_crop(rng, h, w, centre):
    ids = relabel(parcels(rng, h, w, 14, 40))
    k = ids.max() + 1
    cover = rng.uniform(0.1, 1.0, k)[ids]
    y, x = np.mgrid[0:h, 0:w]
    sown = np.where(rng.integers(0, 2, k)[ids] == 0, y, x)
    rows = 0.5 + 0.5 * np.sin(2 * np.pi * sown / 2.5)
    crop = np.clip(cover * (0.8 + 0.2 * rows) + 0.05 * smooth_noise(rng, h, w, 8), 0, 1)
    return {"crop": crop, "soil": 1 - crop}


def permanent_crop(rng, h, w, centre):
    ids = relabel(parcels(rng, h, w, 20, 48))
    k = ids.max() + 1
    angle = rng.choice([0.0, np.pi / 2, rng.uniform(0, np.pi)], k)[ids]
    period = rng.uniform(4, 7, k)[ids]
    y, x = np.mgrid[0:h, 0:w]
    u = x * np.cos(angle) + y * np.sin(angle)
    v = -x * np.sin(angle) + y * np.cos(angle)
    rows = np.cos(2 * np.pi * u / period) > 0.2
    orchard = rng.uniform(0, 1, k)[ids] < 0.5
    # Vine and orchard rows of the annual crops' vegetation over bare or grassy inter-rows: the
    # materials of AnnualCrop and Pasture, told apart by the rows.
    plants = (rows & (~orchard | (np.cos(2 * np.pi * v / period) > -0.3))) * rng.uniform(0.7, 1.0, k)[ids]
    between = rng.uniform(0.0, 0.8, k)[ids]
    return {"crop": plants, "grass": (1 - plants) * between, "soil": (1 - plants) * (1 - between)}


def pasture(rng, h, w, centre):
    ids = relabel(parcels(rng, h, w, 30, 60))
    vigor = np.clip(rng.uniform(0.75, 0.95, ids.max() + 1)[ids] + 0.06 * smooth_noise(rng, h, w, 12), 0, 1)
    trees = blobs(rng, h, w, 3, 0.03) * 1.0
    return {"grass": vigor * (1 - trees), "soil": (1 - vigor) * (1 - trees), "trees": trees}


def herbaceous(rng, h, w, centre):
    shrub = blobs(rng, h, w, 6, 0.4) * rng.uniform(0.6, 1.0)
    soil = blobs(rng, h, w, 10, 0.15) * (1 - shrub) * 0.7
    return {"shrub": shrub, "soil": soil, "grass": 1 - shrub - soil}


def forest(rng, h, w, centre):
    crowns = smooth_noise(rng, h, w, 2.5)
    shade = np.clip(-crowns - 0.6, 0, 1)
    gaps = blobs(rng, h, w, 3, 0.06) * 1.0
    trees = (1 - shade) * (1 - gaps)
    return {"trees": trees, "shade": shade * (1 - gaps), "shrub": gaps}


def linear(rng, h, w, centre, half_width, wiggle=0.0, wavelength=80.0):
    """Mask of a band |across| < half_width through `centre` at a random angle, optionally
    meandering (amplitude `wiggle`)."""
    jitter = rng.uniform(-8, 8, 2)
    u, v = coords(h, w, rng.uniform(0, np.pi), (centre[0] + jitter[0], centre[1] + jitter[1]))
    v = v - wiggle * np.sin(2 * np.pi * u / wavelength + rng.uniform(0, 2 * np.pi))
    return np.abs(v), half_width


def highway(rng, h, w, centre):
    back = (annual_crop if rng.uniform() < 0.5 else pasture)(rng, h, w, centre)
    road = np.zeros((h, w))
    for _ in range(1 + (rng.uniform() < 0.3)):
        dist, half = linear(rng, h, w, centre, rng.uniform(2.0, 3.5))
        road = np.maximum(road, np.clip(half + 0.5 - dist, 0, 1))
        verge = np.clip(half + 2.5 - dist, 0, 1) * (1 - road)
        back = {k: v * (1 - verge) for k, v in back.items()}
        back["grass"] = back.get("grass", 0) + verge
    out = {k: v * (1 - road) for k, v in back.items()}
    out["asphalt"] = road
    return out


def industrial(rng, h, w, centre):
    ids = relabel(parcels(rng, h, w, 10, 30))
    kind = rng.choice(3, ids.max() + 1, p=[0.6, 0.3, 0.1])[ids]
    green = blobs(rng, h, w, 4, 0.05) * 1.0
    return {"concrete": (kind == 0) * (1 - green), "asphalt": (kind == 1) * (1 - green),
            "soil": (kind == 2) * (1 - green), "grass": green}


def residential(rng, h, w, centre):
    period = rng.uniform(9, 14)
    u, v = coords(h, w, rng.uniform(0, np.pi / 2))
    pu, pv = np.mod(u, period), np.mod(v, period)
    street = (pu < 1.6) | (pv < 1.6)
    house = (pu > 3) & (pu < period - 2) & (pv > 3) & (pv < period - 3)
    cell = (np.floor(u / period) * 7919 + np.floor(v / period)).astype(np.int64)
    tiled = (np.abs(cell * 2654435761) % 97) < 60  # a roof type per house: 60% tiles
    trees = blobs(rng, h, w, 3, 0.2) & ~house & ~street
    garden = ~house & ~street & ~trees
    return {"asphalt": street * 1.0, "tiles": house & tiled, "concrete": house & ~tiled, "trees": trees * 1.0,
            "grass": garden * 1.0}


def river(rng, h, w, centre):
    back = [pasture, herbaceous, forest][rng.integers(0, 3)](rng, h, w, centre)
    dist, half = linear(rng, h, w, centre, rng.uniform(3, 8), wiggle=rng.uniform(2, 10))
    water = np.clip(half + 0.5 - dist, 0, 1)
    bank = np.clip(half + 2.5 - dist, 0, 1) * (1 - water)
    out = {k: v * (1 - water) * (1 - bank) for k, v in back.items()}
    out["water"] = water
    out["trees"] = out.get("trees", 0) + bank
    return out


def sea_lake(rng, h, w, centre):
    sediment = np.clip(0.04 + 0.04 * smooth_noise(rng, h, w, 16), 0, 0.15)
    water = 1 - sediment
    out = {"water": water, "soil": sediment}
    if rng.uniform() < 0.3:
        u, v = coords(h, w, rng.uniform(0, 2 * np.pi), centre)
        shore = (v > rng.uniform(12, 28)) * 1.0
        out = {k: a * (1 - shore) for k, a in out.items()}
        out["grass"] = shore
    return out


# Relative path radiance per band (strongest in the blue): haze adds up to 0.015 times this.
HAZE = np.array([1.0, 0.8, 0.6, 0.45, 0.35, 0.25, 0.2, 0.2, 0.18, 0.15, 0, 0.05, 0.03])

TEXTURES = [annual_crop, forest, herbaceous, highway, industrial, pasture, permanent_crop, residential, river,
            sea_lake]


def radiometry(rng, abundance, spectral_jitter):
    """Reflectance [13, h, w]: mixed jittered spectra, illumination gain, haze, sensor noise."""
    image = mix(abundance, jitter_spectra(rng, SPECTRA, spectral_jitter))
    gain = rng.uniform(0.8, 1.2)
    image = image * gain + rng.uniform(0, 0.015) * HAZE[:, None, None]
    return image + 0.01 * rng.standard_normal(image.shape)


def to_dn(reflectance):
    return np.clip(np.round(reflectance * 10000), 1, 65535).astype(np.uint16)


def chips(out, per_class, side, rng):
    wkt = srs_utm(ZONE)
    for k, name in enumerate(CLASSES):
        folder = os.path.join(out, "EuroSAT_MS", name)
        os.makedirs(folder, exist_ok=True)
        for n in range(1, per_class + 1):
            abundance = TEXTURES[k](rng, side, side, (side / 2, side / 2))
            image = radiometry(rng, abundance, 0.10)
            origin = (PIXEL * rng.integers(30000, 70000), PIXEL * rng.integers(480000, 560000))
            write_tif(os.path.join(folder, f"{name}_{n}.tif"), to_dn(image), np.uint16, origin, PIXEL, wkt,
                      descriptions=BANDS)


def scene(out, side, rng):
    cells = max(len(CLASSES), int(round((side / 130) ** 2)))
    cell, cls = voronoi(rng, side, side, cells, len(CLASSES))
    image = np.zeros((len(BANDS), side, side))
    for c in range(cells):
        inside = cell == c
        if not inside.any():
            continue
        ys, xs = np.nonzero(inside)
        abundance = TEXTURES[cls[c]](rng, side, side, (ys.mean(), xs.mean()))
        region = mix(abundance, jitter_spectra(rng, SPECTRA, 0.05))
        image[:, inside] = region[:, inside]
    # One illumination and haze for the whole scene; spectra vary from region to region.
    image = image * rng.uniform(0.9, 1.1) + rng.uniform(0, 0.015) * HAZE[:, None, None]
    image += 0.01 * rng.standard_normal(image.shape)
    wkt = srs_utm(ZONE)
    origin = (500000.0, 5300000.0)
    write_tif(os.path.join(out, "scene.tif"), to_dn(image), np.uint16, origin, PIXEL, wkt, descriptions=BANDS)
    write_tif(os.path.join(out, "scene_truth.tif"), cls[cell].astype(np.uint8), np.uint8, origin, PIXEL, wkt,
              nodata=255, categories=CLASSES)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out")
    p.add_argument("--per-class", type=int, default=300)
    p.add_argument("--chip", type=int, default=64, help="chip side in pixels")
    p.add_argument("--scene", type=int, default=640, help="scene side in pixels")
    p.add_argument("--seed", type=int, default=42)
    a = p.parse_args()
    rng = np.random.default_rng(a.seed)
    chips(a.out, a.per_class, a.chip, rng)
    scene(a.out, a.scene, rng)


if __name__ == "__main__":
    main()
