# Sourced by examples/<name>/run.sh, so that every example is one command that works on a fresh
# machine: it builds what is missing (`make build build-train`, which installs the toolchain's
# dependencies first), parses the shared options, and names the binaries and folders.
#
#   run.sh [--ci] [--out DIR]
#     --ci       the reduced size CI runs (minutes on 2 cores); without it, the full size whose
#                figures and numbers the README shows (figures are copied to <example>/figures/)
#     --out DIR  where outputs go (default: <example>/out-ci or <example>/out)
#
# Each run writes OUT/metrics.json (name -> number) and ends by checking it against the bars of
# its size in <example>/bars.json (a failed bar fails the run).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EXAMPLE=$(cd "$(dirname "$0")" && pwd)
SIZE=full
OUT=
while [ $# -gt 0 ]; do
  case $1 in
    --ci) SIZE=ci ;;
    --out) OUT=${2:?--out needs a folder}; shift ;;
    -h|--help) sed -n '2,/^$/p' "$0"; exit 0 ;;
    *) echo "$(basename "$EXAMPLE"): unknown option '$1' (expected --ci or --out DIR)" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "$OUT" ]; then
  if [ "$SIZE" = ci ]; then OUT=$EXAMPLE/out-ci; else OUT=$EXAMPLE/out; fi
fi
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
if [ -z "${RASTRUM_SKIP_BUILD:-}" ]; then
  make -s -C "$ROOT" build build-train >&2
fi
RASTRUM=$TARGET/release/rastrum
TRAIN=$TARGET/release/rastrum-train
export RASTRUM_ORT_LIB=$ROOT/.venv/libonnxruntime.so
DATA=$ROOT/data
PY=/usr/bin/python3
# libtorch threads per training: one by default, since libtorch's default (all cores) slows to a
# crawl when anything else runs (OpenMP threads spin), and the examples may train two nets at once.
TRAIN_THREADS=${RASTRUM_TRAIN_THREADS:-1}
rm -f "$OUT/metrics.json" "$OUT/timings.txt"

# ci_or_full CI_VALUE FULL_VALUE: the value for this run's size.
ci_or_full() { if [ "$SIZE" = ci ]; then echo "$1"; else echo "$2"; fi; }
# json FILE KEY.PATH: one value of a JSON file (list indices as numbers).
json() { "$PY" "$ROOT/examples/metrics.py" get "$1" "$2"; }
# metric NAME VALUE: records one number in OUT/metrics.json.
metric() { "$PY" "$ROOT/examples/metrics.py" put "$OUT/metrics.json" "$1" "$2"; }
# check_bars: OUT/metrics.json against this size's bars; fails the run when one is missed.
check_bars() { "$PY" "$ROOT/examples/metrics.py" check "$OUT/metrics.json" "$EXAMPLE/bars.json" "$SIZE"; }
# keep_figures FILE...: in a full run, copies the figures the README shows to <example>/figures/.
keep_figures() {
  if [ "$SIZE" = full ]; then mkdir -p "$EXAMPLE/figures" && cp "$@" "$EXAMPLE/figures/"; fi
}
# finish REAL FIGURE...: the end of a run. With REAL non-empty (the user's own data was given),
# the metrics are printed, not judged: bars.json holds the bars of the generated data, and the
# README's figures are those of the generated data. Otherwise the figures are kept (full size)
# and the bars checked.
finish() {
  local real=$1
  shift
  if [ -f "$OUT/timings.txt" ]; then cat "$OUT/timings.txt" >&2; fi
  if [ -n "$real" ]; then
    step "real data: metrics in $OUT/metrics.json (the bars are those of the generated data)"
    cat "$OUT/metrics.json"
  else
    keep_figures "$@"
    check_bars
  fi
}
step() { echo "== $(basename "$EXAMPLE"): $*" >&2; }
# score_map MAP TRUTH FIGURES_PY: a class map against a per-pixel truth (rastrum eval resamples
# the truth by mode onto the map's grid): confusion_map.png, map_vs_truth.png (drawn by
# FIGURES_PY maps), the map_accuracy and map_kappa metrics; the figure joins the caller's
# `figures` array.
score_map() {
  local map=$1 truth=$2 figures_py=$3
  timed "score the map against the scene's truth" "$RASTRUM" eval "$map" "$truth" --json \
    --confusion-png "$OUT/confusion_map.png" >"$OUT/map_scores.json"
  "$PY" "$figures_py" maps "$map" "$truth" "$OUT/map_vs_truth.png"
  metric map_accuracy "$(json "$OUT/map_scores.json" classes.overall_accuracy)"
  metric map_kappa "$(json "$OUT/map_scores.json" classes.kappa)"
  figures+=("$OUT/map_vs_truth.png")
}
# timed NAME COMMAND...: a step whose seconds are appended to OUT/timings.txt (the READMEs' times).
timed() {
  local name=$1 start=$SECONDS
  shift
  step "$name"
  "$@"
  echo "$name $((SECONDS - start)) s" >>"$OUT/timings.txt"
}
