#!/bin/sh
# Builds the C host with nothing but pkg-config (rastrum.pc and GDAL's), then runs it.
#   pkgconfig_build.sh HOST_C OUT_DIR MODEL INPUT
set -eu
src=$1; out=$2; model=$3; input=$4
libdir=$(pkg-config --variable=libdir rastrum)
cc -std=c99 -Wall -Wextra -Werror "$src" -o "$out/host_pkgconfig" \
  $(pkg-config --cflags --libs rastrum gdal) -Wl,-rpath,"$libdir"
"$out/host_pkgconfig" "$model" "$input" "$out/pkgconfig.tif" scale=2e-5 offset=-0.1
