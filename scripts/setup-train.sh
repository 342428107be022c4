#!/usr/bin/env bash
# Makes the trainer's venv (.venv-train) with PyTorch 2.13.0 from PyPI (about 4.7 GB with its
# CUDA runtime wheels), whose libtorch tch 0.26 builds and runs against. Only the trainer needs
# it: the library, CLI, C API and plugin never do. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! .venv-train/bin/python -c "import torch" >/dev/null 2>&1 || ! cmp -s requirements-train.txt .venv-train/.requirements; then
  echo "setup-train: creating .venv-train with requirements-train.txt (PyTorch 2.13.0)"
  python3 -m venv .venv-train
  .venv-train/bin/pip install -q --disable-pip-version-check -r requirements-train.txt
  cp requirements-train.txt .venv-train/.requirements
fi
