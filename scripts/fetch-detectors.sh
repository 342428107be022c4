#!/usr/bin/env bash
# A real third-party detector for the tests (not the demo): the Ultralytics YOLOv8n export inside
# the nudenet==3.4.2 wheel (package MIT; the weights' own metadata says AGPL-3.0, Ultralytics), used
# in tests only, never bundled. Idempotent; needs the .venv of scripts/setup.sh for pip.
set -euo pipefail
cd "$(dirname "$0")/.."
model=models/nudenet/320n.onnx
if [ -f "$model" ]; then
  exit 0
fi
echo "fetch-detectors: the YOLOv8n export of the nudenet==3.4.2 wheel"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
.venv/bin/pip download -q --disable-pip-version-check --no-deps nudenet==3.4.2 -d "$tmp"
unzip -q -o -j "$tmp"/nudenet-3.4.2-*.whl nudenet/320n.onnx 'nudenet-3.4.2.dist-info/LICENSE' -d "$tmp/x"
mkdir -p models/nudenet
mv "$tmp/x/LICENSE" models/nudenet/LICENSE
mv "$tmp/x/320n.onnx" "$model"
