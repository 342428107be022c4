"""The GDAL librastrum binds to. A portable librastrum (the plugin zip's, the wheel's) names no
GDAL library: its GDAL symbols bind to the GDAL already loaded in the process, so that one GDAL
serves QGIS, osgeo, rasterio or pyogrio and Rastrum alike (two GDALs in one process crash it).
Before librastrum loads, `bind()` makes sure a GDAL is loaded and visible to it:

1. the one the process already has (QGIS's own; the one osgeo, rasterio or pyogrio loaded);
2. else the first of osgeo, rasterio, pyogrio that imports (each brings its GDAL);
3. else the system's libgdal.

A librastrum that names its GDAL (a system install, a development build) loads that one as
before; this changes nothing for it. The library itself checks the version it got."""

import ctypes
import ctypes.util
import importlib
import os
import re

_LIBGDAL = re.compile(r"^libgdal(-[0-9a-f]+)?\.so")
_bound = None


def _mapped():
    """The libgdal files mapped into this process, in the order they appear."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    paths = []
    for line in lines:
        parts = line.split(None, 5)
        if len(parts) == 6:
            path = parts[5].strip()
            if path.startswith("/") and _LIBGDAL.match(os.path.basename(path)) and path not in paths:
                paths.append(path)
    return paths


def _load_some_gdal():
    """Loads a GDAL when the process has none: a Python package's, else the system's."""
    for module in ("osgeo.gdal", "rasterio", "pyogrio"):
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        if _mapped():
            return
    name = ctypes.util.find_library("gdal")
    if name:
        try:
            ctypes.CDLL(name, mode=ctypes.RTLD_GLOBAL)
        except OSError:
            pass


def bind():
    """Makes a GDAL visible to libraries loaded next (RTLD_GLOBAL) and returns (path,
    version), or None when there is no GDAL to be found (loading librastrum then names the
    missing GDAL symbol)."""
    global _bound
    if _bound is not None:
        return _bound
    if not _mapped():
        _load_some_gdal()
    paths = _mapped()
    if not paths:
        return None
    # Already loaded: RTLD_NOLOAD only makes its symbols global, it loads nothing new.
    lib = ctypes.CDLL(paths[0], mode=ctypes.RTLD_GLOBAL | os.RTLD_NOLOAD)
    version_info = lib.GDALVersionInfo
    version_info.restype, version_info.argtypes = ctypes.c_char_p, [ctypes.c_char_p]
    _bound = (paths[0], version_info(b"RELEASE_NAME").decode("ascii", "replace"))
    return _bound
