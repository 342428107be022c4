#!/usr/bin/env bash
# Builds the installable QGIS plugin zip ("Install from ZIP"): qgis_plugin/rastrum/ plus, in
# rastrum/lib/, librastrum.so.<ABI> and the ONNX Runtime library it loads from beside itself (real
# files, debug info stripped), so that users install nothing else.
# Usage: scripts/plugin_zip.sh OUT_ZIP RELEASE_DIR
#   RELEASE_DIR holds librastrum.so and the libonnxruntime.so link (`make build` makes both).
#   ORT_LIB=/path/to/libonnxruntime.so.X overrides the ONNX Runtime taken, e.g. the GPU build:
#   ORT_LIB=.../site-packages/onnxruntime/capi/libonnxruntime.so.1.31.1 of onnxruntime-gpu; the
#   libonnxruntime_providers_*.so beside it (CUDA, TensorRT, shared) are carried too.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: plugin_zip.sh OUT_ZIP RELEASE_DIR}
release=${2:?usage: plugin_zip.sh OUT_ZIP RELEASE_DIR}
ort=$(readlink -f "${ORT_LIB:-$release/libonnxruntime.so}")
[ -f "$release/librastrum.so" ] || { echo "plugin_zip: no $release/librastrum.so (run make build)" >&2; exit 1; }
[ -f "$ort" ] || { echo "plugin_zip: no ONNX Runtime library at $ort" >&2; exit 1; }
abi=$(sed -n 's/^#define RASTRUM_ABI_VERSION \([0-9]*\)$/\1/p' include/rastrum.h)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
plugin="$stage/rastrum"
mkdir -p "$plugin/lib"
# The plugin's sources only: no caches, no libraries a developer left in the tree.
(cd qgis_plugin/rastrum && find . -type f \( -name '*.py' -o -name '*.txt' -o -name '*.svg' -o -name '*.png' \) \
  -not -path '*/__pycache__/*' -not -path './lib/*' -exec cp --parents {} "$plugin" \;)
# The algorithms' help pages (helpdocs.py): the documentation of this version, readable offline.
mkdir -p "$plugin/help"
cp docs/qgis.md docs/model-card.md docs/detection.md "$plugin/help/"
# Portable: no GDAL soname, it binds to QGIS's own GDAL (scripts/portable_lib.sh).
scripts/portable_lib.sh "$release/librastrum.so" "$plugin/lib/librastrum.so.$abi"
install -m 755 "$ort" "$plugin/lib/$(basename "$ort")"
for provider in "$(dirname "$ort")"/libonnxruntime_providers_*.so; do
  [ -f "$provider" ] && install -m 755 "$provider" "$plugin/lib/"
done
strip --strip-debug "$plugin"/lib/*.so*

mkdir -p "$(dirname "$out")"
out=$(readlink -f "$(dirname "$out")")/$(basename "$out")
rm -f "$out"
# Python's zipfile rather than zip(1), which a fresh machine may lack; sorted for a stable listing.
(cd "$stage" && python3 - "$out" <<'PY'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
    for folder, dirs, files in sorted(os.walk("rastrum")):
        dirs.sort()
        for name in sorted(files):
            z.write(os.path.join(folder, name))
PY
)
echo "plugin_zip: $out ($(du -h "$out" | cut -f1)): librastrum.so.$abi, $(basename "$ort")"
