#!/usr/bin/env python3
"""Generated So2Sat LCZ42 data (the real files are 48 GB and cannot be downloaded here), in the
real layout unchanged:

  OUT/training.h5, OUT/testing.h5   HDF5 (netCDF-4) with `sen1` [N,32,32,8], `sen2` [N,32,32,10]
                                    float64 and `label` [N,17] one-hot float64 (LCZ 1-10, A-G)
  OUT/scene.tif                     a 10-band Sentinel-2 scene in sen2's band order (B2 B3 B4 B5 B6
                                    B7 B8 B8A B11 B12), reflectance as float32, 10 m, EPSG:32632
  OUT/scene_truth.tif               its local climate zone of every pixel (Byte, ids 0-16 in the
                                    label's order, category names set)

The generating process is written down in README.md ("The data"): material spectra and radar
backscatter, mixed by an urban-morphology layout per zone (building density, footprint, height
as shadow length, roof material, pervious ground), with training and test patches from different
"cities" (material spectra of their own), as in So2Sat.

  generate.py OUT [--per-class N] [--test-per-class M] [--scene S] [--seed K]
"""
import argparse
import os
import sys

import numpy as np
from osgeo import gdal

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "eurosat"))
import synth  # noqa: E402
from synth import blobs, coords, jitter_spectra, mix, smooth_noise, srs_utm, voronoi, write_tif  # noqa: E402

gdal.UseExceptions()

LCZ = ["Compact high-rise", "Compact mid-rise", "Compact low-rise", "Open high-rise", "Open mid-rise",
       "Open low-rise", "Lightweight low-rise", "Large low-rise", "Sparsely built", "Heavy industry", "Dense trees",
       "Scattered trees", "Bush, scrub", "Low plants", "Bare rock or paved", "Bare soil or sand", "Water"]
SIDE = 32
PIXEL = 10.0
# The shared material spectra (examples/eurosat/synth.py) in sen2's bands.
SEN2 = ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"]
SPECTRA = {k: np.asarray(v)[[synth.BANDS.index(b) for b in SEN2]] for k, v in synth.SPECTRA.items()}
SPECTRA["sand"] = np.array([.160, .200, .240, .260, .280, .290, .300, .305, .360, .320])
SPECTRA["metal"] = np.array([.250, .260, .270, .270, .270, .270, .275, .275, .250, .230])
SPECTRA["rock"] = np.array([.140, .160, .180, .190, .200, .205, .210, .212, .250, .230])
# Street-level shadow of tall buildings: the ground's light is mostly blocked.
SPECTRA["shadow"] = SPECTRA["asphalt"] * 0.35
# Sentinel-1 backscatter (linear sigma0) of each material: VV, VH. Buildings facing the radar
# add double bounce (high VV); water is a mirror.
RADAR = {"water": (0.004, 0.0006), "trees": (0.12, 0.035), "shade": (0.10, 0.03), "grass": (0.05, 0.010),
         "crop": (0.07, 0.015), "shrub": (0.08, 0.02), "soil": (0.06, 0.008), "sand": (0.03, 0.003),
         "rock": (0.08, 0.01), "asphalt": (0.02, 0.003), "concrete": (0.6, 0.06), "tiles": (0.4, 0.05),
         "metal": (0.9, 0.08), "shadow": (0.03, 0.004)}

# Urban morphology of the built zones: plan area fraction of buildings, footprint side (pixels
# of 10 m), shadow length (pixels: the height proxy), roofs {material: share}, ground {material:
# share} between the buildings.
BUILT = {
    0: (0.45, (5, 8), 4, {"concrete": 0.8, "metal": 0.2}, {"asphalt": 0.8, "concrete": 0.2}),
    1: (0.55, (3, 5), 2, {"concrete": 0.5, "tiles": 0.5}, {"asphalt": 0.85, "grass": 0.15}),
    2: (0.65, (2, 3), 0, {"tiles": 0.8, "concrete": 0.2}, {"asphalt": 0.6, "soil": 0.4}),
    3: (0.18, (5, 8), 4, {"concrete": 0.8, "metal": 0.2}, {"grass": 0.6, "trees": 0.2, "asphalt": 0.2}),
    4: (0.22, (3, 5), 2, {"concrete": 0.5, "tiles": 0.5}, {"grass": 0.55, "trees": 0.25, "asphalt": 0.2}),
    5: (0.28, (2, 3), 0, {"tiles": 0.85, "concrete": 0.15}, {"grass": 0.5, "trees": 0.3, "asphalt": 0.2}),
    6: (0.75, (1, 2), 0, {"metal": 0.9, "tiles": 0.1}, {"soil": 0.9, "asphalt": 0.1}),
    7: (0.5, (9, 16), 1, {"concrete": 0.5, "metal": 0.5}, {"asphalt": 0.7, "grass": 0.3}),
    8: (0.07, (2, 4), 0, {"tiles": 0.8, "concrete": 0.2}, {"grass": 0.6, "trees": 0.3, "soil": 0.1}),
    9: (0.35, (6, 12), 2, {"metal": 0.6, "concrete": 0.4}, {"soil": 0.5, "asphalt": 0.3, "rock": 0.2}),
}


def built(rng, h, w, zone):
    density, (lo, hi), shadow, roofs, ground = BUILT[zone]
    # Neighbourhoods vary about their zone's morphology: density +-30%, height +-1 storey band.
    density = min(0.85, density * rng.uniform(0.7, 1.3))
    shadow = max(0, shadow + int(rng.integers(-1, 2))) if shadow else 0
    foot = rng.uniform(lo, hi + 1)
    cell = foot / np.sqrt(density)
    u, v = coords(h, w, rng.uniform(0, np.pi / 2), tuple(rng.uniform(0, cell, 2)))
    iu, iv = np.floor(u / cell), np.floor(v / cell)
    pu, pv = u - iu * cell, v - iv * cell
    # Per-building jitter of position and size from a hash of its cell.
    hsh = np.abs((iu.astype(np.int64) * 73856093) ^ (iv.astype(np.int64) * 19349663) ^ int(rng.integers(1, 2**30)))
    r1, r2, r3 = (hsh % 101) / 100, (hsh // 101 % 103) / 102, (hsh // 10403 % 107) / 106
    fu, fv = foot * (0.8 + 0.4 * r1), foot * (0.8 + 0.4 * r2)
    slack_u, slack_v = np.maximum(cell - fu, 0), np.maximum(cell - fv, 0)
    ou, ov = slack_u * r3, slack_v * (1 - r3)
    roof = (pu >= ou) & (pu < ou + fu) & (pv >= ov) & (pv < ov + fv)
    # Shadows: the buildings cast towards the lower right for `shadow` pixels (sun from the
    # upper left); their length is the zone's height proxy.
    shade = np.zeros((h, w), bool)
    for s in range(1, shadow + 1):
        shade[s:, s:] |= roof[:-s, :-s]
    shade &= ~roof
    kinds = list(roofs)
    which = np.searchsorted(np.cumsum([roofs[k] for k in kinds]), r2 * 0.999)
    out = {k: (roof & (which == i)) * 1.0 for i, k in enumerate(kinds)}
    out["shadow"] = shade * 1.0
    free = ~roof & ~shade
    # Ground materials in patches of a few pixels.
    field = smooth_noise(rng, h, w, 3)
    edges = np.quantile(field, np.cumsum([ground[k] for k in ground])[:-1])
    patch = np.searchsorted(edges, field)
    for i, k in enumerate(ground):
        out[k] = out.get(k, 0) + (free & (patch == i)) * 1.0
    return out


def natural(rng, h, w, zone):
    if zone == 10:  # dense trees
        crowns = smooth_noise(rng, h, w, 2.5)
        shade = np.clip(-crowns - 0.6, 0, 1)
        return {"trees": 1 - shade, "shade": shade}
    if zone == 11:  # scattered trees
        trees = blobs(rng, h, w, 3, rng.uniform(0.15, 0.35)) * 1.0
        return {"trees": trees, "grass": 1 - trees}
    if zone == 12:  # bush, scrub
        shrub = blobs(rng, h, w, 4, rng.uniform(0.45, 0.7)) * 1.0
        return {"shrub": shrub, "soil": (1 - shrub) * 0.6, "grass": (1 - shrub) * 0.4}
    if zone == 13:  # low plants (grass, crops)
        crop = np.clip(rng.uniform(0.6, 1.0) + 0.1 * smooth_noise(rng, h, w, 10), 0, 1)
        mix_ = rng.uniform()
        return {"grass": crop * mix_, "crop": crop * (1 - mix_), "soil": 1 - crop}
    if zone == 14:  # bare rock or paved
        paved = blobs(rng, h, w, 8, rng.uniform(0.2, 0.8)) * 1.0
        return {"rock": 1 - paved, "asphalt": paved * 0.5, "concrete": paved * 0.5}
    if zone == 15:  # bare soil or sand
        sand = np.clip(0.5 + 0.4 * smooth_noise(rng, h, w, 12), 0, 1)
        return {"sand": sand, "soil": 1 - sand}
    sediment = np.clip(0.03 + 0.03 * smooth_noise(rng, h, w, 16), 0, 0.1)  # water
    return {"water": 1 - sediment, "soil": sediment}


def zone_texture(rng, h, w, zone):
    return built(rng, h, w, zone) if zone in BUILT else natural(rng, h, w, zone)


def radar(rng, abundance):
    """sen1's 8 channels as in So2Sat: VH real, VH imaginary, VV real, VV imaginary (complex
    single-look values with speckle), Lee-filtered VH and VV intensity (here a 3x3 mean), and the
    real and imaginary part of the VV.VH* covariance (3x3 mean)."""
    first = next(iter(abundance.values()))
    vv, vh = np.zeros(first.shape), np.zeros(first.shape)
    for k, a in abundance.items():
        vv += a * RADAR[k][0]
        vh += a * RADAR[k][1]
    chans = []
    for sigma in (vh, vv):
        chans += [np.sqrt(sigma / 2) * rng.standard_normal(first.shape) for _ in range(2)]
    vh_c, vv_c = chans[0] + 1j * chans[1], chans[2] + 1j * chans[3]

    def box(x):
        p = np.pad(x, 1, mode="edge")
        return sum(p[i:i + x.shape[0], j:j + x.shape[1]] for i in range(3) for j in range(3)) / 9

    cov = box(vv_c * np.conj(vh_c))
    return np.stack(chans + [box(np.abs(vh_c) ** 2), box(np.abs(vv_c) ** 2), cov.real, cov.imag])


def optical(rng, abundance, spectra, jitter):
    image = mix(abundance, jitter_spectra(rng, spectra, jitter))
    image = image * rng.uniform(0.85, 1.15) + rng.uniform(0, 0.012) * np.linspace(1, 0.1, 10)[:, None, None]
    return image + 0.008 * rng.standard_normal(image.shape)


def write_h5(path, sen1, sen2, labels):
    """The So2Sat arrays through GDAL's multidimensional API (netCDF-4, an HDF5 file)."""
    n = len(labels)
    ds = gdal.GetDriverByName("netCDF").CreateMultiDimensional(str(path), [], ["FORMAT=NC4"])
    root = ds.GetRootGroup()
    dim = {name: root.CreateDimension(name, "", "", size)
           for name, size in (("n", n), ("h", SIDE), ("w", SIDE), ("c1", 8), ("c2", 10), ("k", 17))}
    f64 = gdal.ExtendedDataType.Create(gdal.GDT_Float64)
    for name, dims, data in (("sen1", "n h w c1", sen1), ("sen2", "n h w c2", sen2)):
        # Uncompressed, one patch per chunk: a shuffled read costs one patch (as in the real,
        # uncompressed files); a compressed chunk of many patches would be inflated per read.
        arr = root.CreateMDArray(name, [dim[d] for d in dims.split()], f64,
                                 [f"BLOCKSIZE=1,{SIDE},{SIDE},{data.shape[1]}"])
        arr.Write(np.ascontiguousarray(data.transpose(0, 2, 3, 1)))  # CHW -> the file's HWC
    one_hot = np.zeros((n, 17))
    one_hot[np.arange(n), labels] = 1
    root.CreateMDArray("label", [dim["n"], dim["k"]], f64).Write(one_hot)
    ds = None


def patches(path, per_class, rng, cities):
    """N patches per zone, each from one of `cities` (a city: its own material spectra, as
    So2Sat's patches come from 42 cities for training and others for testing)."""
    labels = np.repeat(np.arange(17), per_class)
    labels = labels[rng.permutation(len(labels))]
    city = rng.integers(0, len(cities), len(labels))
    sen1 = np.zeros((len(labels), 8, SIDE, SIDE))
    sen2 = np.zeros((len(labels), 10, SIDE, SIDE))
    for i, z in enumerate(labels):
        abundance = zone_texture(rng, SIDE, SIDE, z)
        sen2[i] = optical(rng, abundance, cities[city[i]], 0.08)
        sen1[i] = radar(rng, abundance)
    write_h5(path, sen1, sen2, labels)


def city(rng):
    """A city's materials: the spectra times 1 + 0.06 N(0, 1) per band (building stock, soils,
    vegetation of the region)."""
    return jitter_spectra(rng, SPECTRA, 0.06)


def scene(out, side, rng):
    spectra = city(rng)  # a city of its own, in neither file
    cells = max(17, int(round((side / 80) ** 2)))
    cell, zone = voronoi(rng, side, side, cells, 17)
    image = np.zeros((10, side, side))
    for c in range(cells):
        inside = cell == c
        if inside.any():
            region = mix(zone_texture(rng, side, side, zone[c]), jitter_spectra(rng, spectra, 0.04))
            image[:, inside] = region[:, inside]
    image = image * rng.uniform(0.9, 1.1) + rng.uniform(0, 0.012) * np.linspace(1, 0.1, 10)[:, None, None]
    image += 0.008 * rng.standard_normal(image.shape)
    wkt = srs_utm(32)
    origin = (600000.0, 5400000.0)
    write_tif(os.path.join(out, "scene.tif"), image.astype(np.float32), np.float32, origin, PIXEL, wkt,
              descriptions=["B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12"])
    write_tif(os.path.join(out, "scene_truth.tif"), zone[cell].astype(np.uint8), np.uint8, origin, PIXEL, wkt,
              nodata=255, categories=LCZ)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out")
    p.add_argument("--per-class", type=int, default=200)
    p.add_argument("--test-per-class", type=int, default=50)
    p.add_argument("--scene", type=int, default=480, help="scene side in pixels")
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    # Training patches from 6 cities, test patches from 2 others.
    patches(os.path.join(a.out, "training.h5"), a.per_class, rng, [city(rng) for _ in range(6)])
    patches(os.path.join(a.out, "testing.h5"), a.test_per_class, rng, [city(rng) for _ in range(2)])
    scene(a.out, a.scene, rng)


if __name__ == "__main__":
    main()
