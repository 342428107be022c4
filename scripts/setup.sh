#!/usr/bin/env bash
# Installs what Rastrum needs on a fresh Debian 12 machine, skipping what is already there:
# Debian's GDAL, a .venv with the pinned ONNX Runtime wheel (its libonnxruntime.so is what the
# library loads), and the real cloud-mask model from the ukis-csmask wheel: what `make demo`
# needs. `--test` adds what `make test` needs (below). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

# What `make demo` needs: Debian's GDAL (and pkg-config to find it), fontconfig/freetype and a font
# (text in plots and quicklooks), python3-venv (.venv with ONNX Runtime), unzip (the model).
demo_packages="libgdal-dev gdal-bin pkg-config python3-venv unzip libfontconfig1-dev libfreetype-dev fonts-dejavu-core"
# What `make test` adds (`scripts/setup.sh --test`): cmake, g++, valgrind: the C/C++ host tests;
# python3-gdal/numpy/pytest: the Python binding's tests (Debian's python, the one QGIS uses); qgis,
# python3-qgis, qgis-providers: the plugin's tests; chromium: the screenshot test of `rastrum
# tiles`' HTML page; python3-matplotlib: the examples' figures; time: GNU time, the benches' peak
# RSS; python3-onnx: the test that `rastrum card` changes only the card; xvfb, xauth: the QGIS
# dialog's screenshot test on a real X display; patchelf: the portable librastrum of the plugin
# zip and the wheel (scripts/portable_lib.sh).
test_packages="cmake g++ valgrind python3-gdal python3-numpy python3-pytest qgis python3-qgis qgis-providers chromium
  python3-matplotlib time python3-onnx xvfb xauth patchelf"
tests=false
[ "${1:-}" = "--test" ] && tests=true
packages=$demo_packages
$tests && packages="$packages $test_packages"

missing=()
for pkg in $packages; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! .venv/bin/python -c "import onnxruntime" >/dev/null 2>&1 || ! cmp -s requirements.txt .venv/.requirements; then
  echo "setup: creating .venv with requirements.txt"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
  cp requirements.txt .venv/.requirements
fi
# rastrum.dask's venv (tests): Debian's python3 (its GDAL bindings, numpy, pytest) plus pinned Dask.
if $tests && { ! .venv-dask/bin/python -c "import distributed, osgeo" >/dev/null 2>&1 ||
  ! cmp -s requirements-dask.txt .venv-dask/.requirements; }; then
  echo "setup: creating .venv-dask with requirements-dask.txt"
  /usr/bin/python3 -m venv --system-site-packages .venv-dask
  .venv-dask/bin/pip install -q --disable-pip-version-check -r requirements-dask.txt
  cp requirements-dask.txt .venv-dask/.requirements
fi
lib=$(ls .venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.1.* | head -n 1)
ln -sf "$PWD/$lib" .venv/libonnxruntime.so

model=models/cloud_mask/model_6b_l1c.onnx
if [ ! -f "$model" ]; then
  echo "setup: fetching the cloud-mask model from the ukis-csmask==1.0.0 wheel"
  tmp=$(mktemp -d)
  .venv/bin/pip download -q --disable-pip-version-check --no-deps ukis-csmask==1.0.0 -d "$tmp"
  mkdir -p models/cloud_mask
  unzip -q -o -j "$tmp"/ukis_csmask-1.0.0-*.whl \
    ukis_csmask/model_6b_l1c.onnx ukis_csmask/model_6b_l1c.json \
    'ukis_csmask-1.0.0.dist-info/licenses/LICENSE' -d "$tmp/x"
  mv "$tmp/x/model_6b_l1c.json" "$tmp/x/LICENSE" models/cloud_mask/
  mv "$tmp/x/model_6b_l1c.onnx" "$model"
  rm -rf "$tmp"
fi
