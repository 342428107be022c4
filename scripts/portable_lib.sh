#!/usr/bin/env bash
# Copies librastrum.so for a portable package (the QGIS plugin zip, the wheel): debug info
# stripped, and no dependency on one GDAL soname (its NEEDED libgdal.so.N removed), so that its
# GDAL symbols bind to the GDAL already loaded in the host process: QGIS's own, or the one
# osgeo, rasterio or pyogrio loaded (the Python binding makes sure one is, gdal_host.py). GDAL's
# C API only grows within 3.x, so one build serves every GDAL from the one it was built against.
# Usage: scripts/portable_lib.sh SRC_LIBRASTRUM DEST
set -euo pipefail
src=${1:?usage: portable_lib.sh SRC DEST}
dest=${2:?usage: portable_lib.sh SRC DEST}
command -v patchelf >/dev/null || { echo "portable_lib: patchelf is missing (scripts/setup.sh installs it)" >&2; exit 1; }
install -m 755 "$src" "$dest"
strip --strip-debug "$dest"
for needed in $(readelf -d "$dest" | sed -n 's/.*(NEEDED).*\[\(libgdal\.so[^]]*\)\].*/\1/p'); do
  patchelf --remove-needed "$needed" "$dest"
done
if readelf -d "$dest" | grep -q 'NEEDED.*libgdal'; then
  echo "portable_lib: $dest still names a GDAL library" >&2; exit 1
fi
