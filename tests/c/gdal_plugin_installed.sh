#!/bin/sh
# The installed GDAL driver: GDAL's own tools load it from <prefix>/lib/gdalplugins/<x.y>/, it
# finds ONNX Runtime through the link beside it (no RASTRUM_ORT_LIB), and gdal_translate of an
# inline spec gives the pixels of the installed CLI's run.
#   gdal_plugin_installed.sh PREFIX MODEL RASTER OUTDIR
set -eu
prefix=$1 model=$2 raster=$3 out=$4
unset RASTRUM_ORT_LIB
export GDAL_DRIVER_PATH="$prefix/lib/gdalplugins/$(gdal-config --version | cut -d. -f1,2)"
gdalinfo --formats | grep -q "RASTRUM -raster-" || { echo "FAIL: RASTRUM driver not listed"; exit 1; }
spec="RASTRUM:{\"model\": \"$model\", \"source\": \"$raster\", \"options\": {\"task\": \"super_resolution\", \"scale\": 2e-5, \"offset\": -0.1}}"
gdal_translate -q "$spec" "$out/plugin_installed.tif"
"$prefix/bin/rastrum" run "$model" "$raster" "$out/plugin_cli.tif" --task super_resolution --scale 2e-5 --offset -0.1 -q
a=$(gdalinfo -checksum "$out/plugin_installed.tif" | grep Checksum)
b=$(gdalinfo -checksum "$out/plugin_cli.tif" | grep Checksum)
[ "$a" = "$b" ] || { echo "FAIL: $a != $b"; exit 1; }
echo "gdal_plugin_installed: ok ($a)"
