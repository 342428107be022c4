#!/bin/sh
# The installed GDAL driver: GDAL's own tools load it from <prefix>/lib/gdalplugins/<x.y>/, it
# finds ONNX Runtime through the link beside it (no RASTRUM_ORT_LIB), and gdal_translate of an
# inline spec gives the pixels of the installed CLI's run. Copied alone into another folder, its
# error names its own file and what is missing, and it finds the ONNX Runtime of a Rastrum QGIS
# plugin installed in the user's QGIS profile.
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

alone="$out/driver_alone"
rm -rf "$alone"
mkdir -p "$alone/plugins" "$alone/home"
cp "$GDAL_DRIVER_PATH/gdal_rastrum.so" "$alone/plugins/"
plugins=$(cd "$alone/plugins" && pwd -P)
if msg=$(HOME="$alone/home" GDAL_DRIVER_PATH="$plugins" gdal_translate -q "$spec" "$alone/none.tif" 2>&1); then
  echo "FAIL: the driver ran without ONNX Runtime"; exit 1
fi
echo "$msg" | grep -q "RASTRUM_ORT_LIB" && echo "$msg" | grep -q "place it next to $plugins/gdal_rastrum.so" ||
  { echo "FAIL: the message does not name the driver's file: $msg"; exit 1; }
lib="$alone/home/.local/share/QGIS/QGIS3/profiles/default/python/plugins/rastrum/lib"
mkdir -p "$lib"
cp -L "$GDAL_DRIVER_PATH"/libonnxruntime.so* "$lib/"
HOME="$alone/home" GDAL_DRIVER_PATH="$plugins" gdal_translate -q "$spec" "$alone/qgis_ort.tif"
c=$(gdalinfo -checksum "$alone/qgis_ort.tif" | grep Checksum)
[ "$a" = "$c" ] || { echo "FAIL: with the QGIS plugin's ONNX Runtime: $c != $a"; exit 1; }
echo "gdal_plugin_installed: ok ($a)"
