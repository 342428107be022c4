"""Building blocks of the examples' generated data: material spectra mixed by abundance maps,
spatial textures, Voronoi scenes and GeoTIFF writing (numpy + GDAL only, deterministic seeds).

A generated image is sum_m abundance_m(x, y) * spectrum_m(band): each class is a spatial layout
of a few materials (fields of crop and soil, rows of trees, a road across grass, ...), so that
classes with alike spectra differ by texture, as in real imagery. Used by examples/eurosat and
examples/so2sat (which imports it from here).
"""
import numpy as np
from osgeo import gdal, osr

gdal.UseExceptions()

BANDS = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]
# Top-of-atmosphere reflectance of the materials, per band (the 13 Sentinel-2 bands, as in BANDS).
SPECTRA = {
    "water":    [.080, .060, .050, .030, .025, .020, .018, .016, .014, .006, .0020, .010, .007],
    "trees":    [.070, .045, .060, .035, .090, .230, .290, .300, .320, .100, .0050, .150, .070],
    "shade":    [.060, .030, .030, .018, .035, .080, .100, .105, .110, .035, .0030, .050, .025],
    "grass":    [.075, .055, .085, .060, .130, .280, .330, .340, .360, .110, .0060, .220, .120],
    "crop":     [.075, .050, .080, .050, .120, .300, .370, .390, .400, .120, .0060, .200, .100],
    "shrub":    [.080, .055, .070, .065, .120, .210, .250, .260, .280, .095, .0060, .250, .150],
    "soil":     [.100, .090, .120, .150, .180, .200, .220, .230, .240, .080, .0080, .320, .260],
    "asphalt":  [.110, .100, .100, .100, .105, .110, .115, .120, .122, .040, .0040, .130, .120],
    "concrete": [.180, .200, .210, .220, .230, .240, .245, .250, .255, .090, .0090, .280, .250],
    "tiles":    [.120, .100, .100, .160, .190, .210, .220, .230, .235, .080, .0080, .260, .210],
}


def upsample(grid, h, w, cell):
    """Bilinear interpolation of a coarse grid (one node every `cell` pixels) onto h x w."""
    gy, gx = grid.shape
    ys = np.clip(np.arange(h) / cell, 0, gy - 1.001)
    xs = np.clip(np.arange(w) / cell, 0, gx - 1.001)
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    a = grid[np.ix_(y0, x0)]
    b = grid[np.ix_(y0, x0 + 1)]
    c = grid[np.ix_(y0 + 1, x0)]
    d = grid[np.ix_(y0 + 1, x0 + 1)]
    return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy


def smooth_noise(rng, h, w, cell):
    """Smooth random field (zero mean, unit std) with features about `cell` pixels across."""
    grid = rng.standard_normal((int(np.ceil(h / cell)) + 2, int(np.ceil(w / cell)) + 2))
    field = upsample(grid, h, w, cell)
    return (field - field.mean()) / (field.std() + 1e-9)


def coords(h, w, angle, offset=(0.0, 0.0)):
    """Pixel coordinates rotated by `angle` (radians): (along, across) the direction."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    y, x = y - offset[0], x - offset[1]
    c, s = np.cos(angle), np.sin(angle)
    return x * c + y * s, -x * s + y * c


def blobs(rng, h, w, size, fraction):
    """Binary blobs about `size` pixels across covering about `fraction` of the image."""
    field = smooth_noise(rng, h, w, size) + 0.35 * rng.standard_normal((h, w))
    return field > np.quantile(field, 1 - fraction)


def parcels(rng, h, w, lo, hi):
    """Integer map of axis-aligned parcels lo..hi pixels on a side (a field pattern)."""
    def cuts(n):
        edges = [-int(rng.integers(0, hi))]
        while edges[-1] < n:
            edges.append(edges[-1] + int(rng.integers(lo, hi + 1)))
        return np.array(edges)

    rows = np.searchsorted(cuts(h), np.arange(h), side="right")
    cols = np.searchsorted(cuts(w), np.arange(w), side="right")
    return rows[:, None] * 1000 + cols[None, :]


def relabel(ids):
    """Consecutive ids 0..k-1 for an integer map."""
    _, inverse = np.unique(ids, return_inverse=True)
    return inverse.reshape(ids.shape)


def mix(abundance, spectra):
    """Image [bands, h, w] from abundances {material: [h, w]} and spectra {material: [bands]}."""
    first = next(iter(abundance.values()))
    bands = len(next(iter(spectra.values())))
    image = np.zeros((bands,) + first.shape)
    total = np.zeros(first.shape)
    for name, a in abundance.items():
        image += a[None] * np.asarray(spectra[name])[:, None, None]
        total += a
    return image / np.maximum(total, 1e-9)[None]


def jitter_spectra(rng, spectra, rel):
    """Per-image spectral variability: every material's spectrum times (1 + rel * N(0, 1))
    per band, clipped to stay positive."""
    return {k: np.maximum(np.asarray(v) * (1 + rel * rng.standard_normal(len(v))), 1e-4) for k, v in spectra.items()}


def voronoi(rng, h, w, cells, classes):
    """Region map of `cells` Voronoi cells, each given a class so that every class appears
    (classes dealt round-robin from a shuffled order); returns (cell ids, class of each cell)."""
    seeds = rng.uniform(0, 1, (cells, 2)) * [h, w]
    y, x = np.mgrid[0:h, 0:w]
    # A jittered distance makes the region borders irregular like real land-cover boundaries.
    wobble = 6 * smooth_noise(rng, h, w, 24)
    dist = (y[None] - seeds[:, 0, None, None]) ** 2 + (x[None] - seeds[:, 1, None, None]) ** 2
    cell = np.argmin(np.sqrt(dist) + wobble[None], axis=0)
    order = np.concatenate([rng.permutation(classes) for _ in range(cells // classes + 1)])[:cells]
    return cell, order


def srs_utm(zone):
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32600 + zone)
    return srs.ExportToWkt()


def write_tif(path, bands, dtype, origin, pixel, wkt, nodata=None, descriptions=None, categories=None):
    """Tiled, deflate-compressed GeoTIFF of an array [bands, h, w] (or [h, w])."""
    bands = np.asarray(bands)
    if bands.ndim == 2:
        bands = bands[None]
    n, h, w = bands.shape
    gdt = {np.uint16: gdal.GDT_UInt16, np.uint8: gdal.GDT_Byte, np.float32: gdal.GDT_Float32}[dtype]
    options = ["COMPRESS=DEFLATE", "PREDICTOR=2"] if dtype != np.float32 else ["COMPRESS=DEFLATE"]
    if h >= 256 and w >= 256:
        options += ["TILED=YES"]
    ds = gdal.GetDriverByName("GTiff").Create(str(path), w, h, n, gdt, options=options)
    ds.SetGeoTransform((origin[0], pixel, 0, origin[1], 0, -pixel))
    ds.SetProjection(wkt)
    for i in range(n):
        band = ds.GetRasterBand(i + 1)
        band.WriteArray(bands[i].astype(dtype))
        if nodata is not None:
            band.SetNoDataValue(nodata)
        if descriptions:
            band.SetDescription(descriptions[i])
        if categories:
            band.SetCategoryNames(list(categories))
    ds = None
