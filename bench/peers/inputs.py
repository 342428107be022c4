"""Inputs made from the real rasters in data/ (the bench keeps them under its work folder).

Mosaics are VRTs that repeat a real scene; the GeoTIFFs the peers read are written from them by
`gdal_translate`, tiled and DEFLATE-compressed as orthophotos and scenes are usually shipped.
"""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LANDSAT = [ROOT / f"data/landsat8_l1_b2_b7/l8_B{b}.tif" for b in range(2, 8)]
RGB = ROOT / "data/rasterio/rasterio_RGB.byte.tif"
TIFF_OPTIONS = ["-co", "TILED=YES", "-co", "COMPRESS=DEFLATE", "-co", "BIGTIFF=IF_SAFER"]


def size(path):
    out = subprocess.run(["gdalinfo", str(path)], check=True, capture_output=True, text=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("Size is"))
    w, h = line[len("Size is "):].split(",")
    return int(w), int(h)


def mosaic_vrt(path, sources, width, height, dtype, pixel=30.0, origin=(500000.0, 4000000.0), colour=None):
    """A VRT of `width` x `height` that repeats the single-band `sources` (one per output band);
    no nodata is declared, so every pixel is data for every tool."""
    sw, sh = size(sources[0][0])
    srs = subprocess.run(["gdalsrsinfo", "-o", "wkt", str(sources[0][0])], check=True, capture_output=True,
                         text=True).stdout.strip()
    xml = [f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">',
           f"<SRS>{srs.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')}</SRS>",
           f"<GeoTransform>{origin[0]}, {pixel}, 0, {origin[1]}, 0, {-pixel}</GeoTransform>"]
    for i, (src, band) in enumerate(sources, start=1):
        xml.append(f'<VRTRasterBand dataType="{dtype}" band="{i}">')
        if colour:
            xml.append(f"<ColorInterp>{colour[i - 1]}</ColorInterp>")
        for ty in range(0, height, sh):
            for tx in range(0, width, sw):
                xml.append(
                    f'<SimpleSource><SourceFilename relativeToVRT="0">{src}</SourceFilename>'
                    f"<SourceBand>{band}</SourceBand>"
                    f'<SrcRect xOff="0" yOff="0" xSize="{sw}" ySize="{sh}"/>'
                    f'<DstRect xOff="{tx}" yOff="{ty}" xSize="{sw}" ySize="{sh}"/></SimpleSource>'
                )
        xml.append("</VRTRasterBand>")
    xml.append("</VRTDataset>")
    Path(path).write_text("\n".join(xml) + "\n")
    return Path(path)


def translate(vrt, tif, extra=()):
    tmp = Path(str(tif) + ".part.tif")
    subprocess.run(["gdal_translate", "-q", *TIFF_OPTIONS, *extra, str(vrt), str(tmp)], check=True)
    tmp.rename(tif)
    return Path(tif)


def landsat(work, side):
    """6 bands (B2..B7, the cloud model's), uint16 DN, 30 m: `side` x `side`."""
    tif = work / f"landsat_{side}.tif"
    if not tif.exists():
        vrt = mosaic_vrt(work / f"landsat_{side}.vrt", [(p, 1) for p in LANDSAT], side, side, "UInt16")
        translate(vrt, tif)
    return tif


def rgb(work, width=8192, height=8164, pixel=0.3):
    """An RGB orthophoto-sized byte raster (Landsat-7 RGB repeated), with 30 cm pixels so that
    a 30 cm model runs it at its native resolution in both tools."""
    tif = work / f"rgb_{width}x{height}.tif"
    if not tif.exists():
        vrt = mosaic_vrt(work / "rgb.vrt", [(RGB, b) for b in (1, 2, 3)], width, height, "Byte", pixel=pixel,
                         colour=["Red", "Green", "Blue"])
        translate(vrt, tif, ["-co", "PHOTOMETRIC=RGB"])
    return tif


def band(work, side):
    """One uint16 band (Landsat-8 B4), `side` x `side`, for the identity comparison."""
    tif = work / f"band_{side}.tif"
    if not tif.exists():
        vrt = mosaic_vrt(work / f"band_{side}.vrt", [(LANDSAT[2], 1)], side, side, "UInt16")
        translate(vrt, tif)
    return tif


def big_rgb(work, side, source):
    """A `side` x `side` VRT over the compressed RGB GeoTIFF `source` (the memory sweep)."""
    return mosaic_vrt(work / f"sweep_{side}.vrt", [(source, b) for b in (1, 2, 3)], side, side, "Byte",
                      pixel=0.3)
