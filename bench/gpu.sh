#!/usr/bin/env bash
# The GPU bench, one command: ONNX Runtime's own CUDA throughput on the cloud model's tiles and on
# the light model's, against `rastrum run --device cuda` on the same tiles, at batch sizes 1 to
# 64 (bench/gpu.py measures; figures go to bench/gpu_results.json and BENCHMARKS.md).
#
# On a machine without a CUDA device it says so, and why, before installing anything, records
# {"cuda": false, ...} and exits 0. With one, it installs onnxruntime-gpu and its CUDA libraries
# (the wheel's [cuda,cudnn] extras, from PyPI or, offline, from RASTRUM_GPU_WHEELS=<folder of
# wheels>) into its own venv under ~/.cache, builds the CLI if it is not built, and runs (budget:
# 8 minutes on an H100, most of it the install).
#   bench/gpu.sh [RESULTS_JSON]
set -euo pipefail
cd "$(dirname "$0")/.."
results=${1:-bench/gpu_results.json}
ORT_GPU=1.31.1

no_cuda() {
  echo "gpu bench: no CUDA device: $1"
  printf '{"cuda": false, "reason": "%s", "date": "%s"}\n' "$1" "$(date -u +%FT%TZ)" > "$results"
  exit 0
}

command -v nvidia-smi > /dev/null || no_cuda "nvidia-smi is not installed (no NVIDIA driver)"
gpus=$(nvidia-smi -L 2> /dev/null || true)
[ -n "$gpus" ] || no_cuda "nvidia-smi lists no GPU ($(nvidia-smi 2>&1 | head -n 1))"
echo "gpu bench: $gpus"

venv="$HOME/.cache/rastrum-gpu-venv"
if [ ! -x "$venv/bin/python" ]; then
  # System site packages: Debian's GDAL bindings and numpy write the test raster.
  python3 -m venv --system-site-packages "$venv"
fi
pip_from=()
if [ -n "${RASTRUM_GPU_WHEELS:-}" ]; then
  pip_from=(--no-index --find-links "$RASTRUM_GPU_WHEELS")
fi
"$venv/bin/pip" install -q "${pip_from[@]}" "onnxruntime-gpu[cuda,cudnn]==$ORT_GPU" "onnx==1.23.2"

target=${CARGO_TARGET_DIR:-target}
cli=${RASTRUM_CLI:-$target/release/rastrum}
if [ ! -x "$cli" ]; then
  cargo build --release --bin rastrum
fi
RASTRUM_CLI="$cli" exec "$venv/bin/python" bench/gpu.py "$results"
