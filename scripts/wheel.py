#!/usr/bin/env python3
"""Builds the `rastrum` wheel for GDAL scripts (`make wheel`): the package of qgis_plugin/rastrum
(the binding, rastrum.dask, `python -m rastrum`), with a portable librastrum (no GDAL soname:
it binds to the GDAL of osgeo, rasterio or pyogrio, scripts/portable_lib.sh) and ONNX Runtime in
rastrum/lib/. Standard library only; the wheel is written whole or not at all.

The tag is linux_x86_64, not manylinux: librastrum links the system's libfontconfig and
libfreetype (text in plots and tiles), which no manylinux policy allows, so the wheel claims
only what is true: Linux, x86-64, glibc as new as the build machine's.

    scripts/wheel.py OUT_DIR RELEASE_DIR ORT_LIB
"""

import base64
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "qgis_plugin" / "rastrum"
TAG = "py3-none-linux_x86_64"


def version():
    text = (ROOT / "Cargo.toml").read_text()
    return re.search(r'^version = "([^"]+)"', text, re.M).group(1)


def abi():
    text = (ROOT / "include" / "rastrum.h").read_text()
    return re.search(r"^#define RASTRUM_ABI_VERSION (\d+)$", text, re.M).group(1)


def record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def files(release, ort, staging):
    """(name in the wheel, bytes) of every file but the dist-info's."""
    out = []
    for path in sorted(PACKAGE.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and "lib" not in path.relative_to(PACKAGE).parts:
            out.append((f"rastrum/{path.relative_to(PACKAGE).as_posix()}", path.read_bytes()))
    portable = staging / f"librastrum.so.{abi()}"
    subprocess.run([str(ROOT / "scripts" / "portable_lib.sh"), str(release / "librastrum.so"), str(portable)],
                   check=True)
    out.append((f"rastrum/lib/{portable.name}", portable.read_bytes()))
    ort = Path(os.path.realpath(ort))
    out.append((f"rastrum/lib/{ort.name}", ort.read_bytes()))
    return out


def metadata():
    return (f"Metadata-Version: 2.1\nName: rastrum\nVersion: {version()}\n"
            "Summary: Tiled ONNX inference over georeferenced rasters (librastrum and its Python binding)\n"
            "License: Apache-2.0\nRequires-Python: >=3.9\nRequires-Dist: numpy\n"
            "Description-Content-Type: text/plain\n\n"
            "Runs ONNX models over rasters of any size with the Rastrum engine. Needs a GDAL in the process:\n"
            "GDAL's Python bindings (osgeo), rasterio or pyogrio, else the system's libgdal.\n")


def main():
    out_dir, release, ort = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    out_dir.mkdir(parents=True, exist_ok=True)
    dist = f"rastrum-{version()}.dist-info"
    target = out_dir / f"rastrum-{version()}-{TAG}.whl"
    with tempfile.TemporaryDirectory() as staging:
        entries = files(release, ort, Path(staging))
    entries += [(f"{dist}/METADATA", metadata().encode()),
                (f"{dist}/WHEEL", f"Wheel-Version: 1.0\nGenerator: rastrum scripts/wheel.py\n"
                                  f"Root-Is-Purelib: false\nTag: {TAG}\n".encode()),
                (f"{dist}/top_level.txt", b"rastrum\n")]
    record = "\n".join(record_line(n, d) for n, d in entries) + f"\n{dist}/RECORD,,\n"
    entries.append((f"{dist}/RECORD", record.encode()))
    temp = target.with_suffix(".whl.part")
    try:
        with zipfile.ZipFile(temp, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in entries:
                info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
                info.external_attr = (0o755 if ".so" in name else 0o644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, data)
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    print(f"wheel: {target} ({target.stat().st_size // (1 << 20)} MiB)")


if __name__ == "__main__":
    main()
