#!/usr/bin/env bash
# Lays out an install of librastrum under PREFIX (relocatable, no build paths inside):
#   lib/librastrum.so.<version> (+ .so.<ABI> and .so links), lib/libonnxruntime.so.* (found next
#   to librastrum at run time), include/rastrum.h, lib/cmake/Rastrum/, lib/pkgconfig/rastrum.pc,
#   bin/rastrum, lib/gdalplugins/<GDAL major.minor>/gdal_rastrum.so (GDAL's RASTRUM driver).
# Usage: scripts/install.sh PREFIX TARGET_RELEASE_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${1:?usage: install.sh PREFIX RELEASE_DIR}
release=${2:?usage: install.sh PREFIX RELEASE_DIR}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
abi=$(sed -n 's/^#define RASTRUM_ABI_VERSION \([0-9]*\)$/\1/p' include/rastrum.h)
major=${version%%.*}; rest=${version#*.}; minor=${rest%%.*}
[ -n "$abi" ] || { echo "install: no RASTRUM_ABI_VERSION in include/rastrum.h" >&2; exit 1; }

mkdir -p "$prefix"/{bin,lib/cmake/Rastrum,lib/pkgconfig,include}
install -m 755 "$release/librastrum.so" "$prefix/lib/librastrum.so.$version"
# The ABI is numbered on its own (ABI 2 came within 0.1.0, CHANGELOG.md): a link of another ABI
# left by an earlier install of this version would now name a library of this ABI. Remove it.
for link in "$prefix"/lib/librastrum.so.[0-9]*; do
  if [ -L "$link" ] && [ "$(basename "$link")" != "librastrum.so.$abi" ] \
    && [ "$(readlink "$link")" = "librastrum.so.$version" ]; then
    rm -f "$link"
  fi
done
ln -sf "librastrum.so.$version" "$prefix/lib/librastrum.so.$abi"
ln -sf "librastrum.so.$abi" "$prefix/lib/librastrum.so"
ort=$(readlink -f "$release/libonnxruntime.so")
install -m 755 "$ort" "$prefix/lib/$(basename "$ort")"
ln -sf "$(basename "$ort")" "$prefix/lib/libonnxruntime.so"
install -m 755 "$release/rastrum" "$prefix/bin/rastrum"
ln -sf "../lib/$(basename "$ort")" "$prefix/bin/libonnxruntime.so"
install -m 644 include/rastrum.h "$prefix/include/rastrum.h"
subst() { sed -e "s/@VERSION@/$version/g" -e "s/@ABI@/$abi/g" -e "s/@MAJOR@/$major/g" -e "s/@MINOR@/$minor/g" "$1" > "$2"; }
subst cmake/RastrumConfig.cmake.in "$prefix/lib/cmake/Rastrum/RastrumConfig.cmake"
subst cmake/RastrumConfigVersion.cmake.in "$prefix/lib/cmake/Rastrum/RastrumConfigVersion.cmake"
subst cmake/rastrum.pc.in "$prefix/lib/pkgconfig/rastrum.pc"
# GDAL's RASTRUM driver, where GDAL looks for plugins of its version (GDAL_DRIVER_PATH points
# there otherwise); ONNX Runtime is found next to it through a link.
if [ -f "$release/libgdal_rastrum.so" ]; then
  gdal_version=$(gdal-config --version | cut -d. -f1,2)
  plugins="$prefix/lib/gdalplugins/$gdal_version"
  mkdir -p "$plugins"
  install -m 755 "$release/libgdal_rastrum.so" "$plugins/gdal_rastrum.so"
  ln -sf "../../$(basename "$ort")" "$plugins/libonnxruntime.so"
  echo "install: GDAL driver in $plugins/gdal_rastrum.so"
fi
echo "install: librastrum $version (ABI $abi) in $prefix"
