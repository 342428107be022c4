#!/usr/bin/env bash
# .venv-bench: the peers (ukis-csmask, GeoDeep: AGPL, bench only) pinned by bench/peers/requirements.txt.
# Idempotent: recreated only when the requirements change.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! .venv-bench/bin/python -c "import geodeep, ukis_csmask" >/dev/null 2>&1 \
  || ! cmp -s bench/peers/requirements.txt .venv-bench/.requirements; then
  echo "bench: creating .venv-bench with bench/peers/requirements.txt"
  python3 -m venv .venv-bench
  .venv-bench/bin/pip install -q --disable-pip-version-check -r bench/peers/requirements.txt
  cp bench/peers/requirements.txt .venv-bench/.requirements
fi
