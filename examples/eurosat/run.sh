#!/usr/bin/env bash
# EuroSAT land use (workflow 2): 13-band Sentinel-2 chips in class folders -> bands selected (B01,
# B09, B10 dropped) -> ResNet-50 and SqueezeNet (random forest beside) -> test accuracy and
# confusion matrices on held-out chips -> a per-tile class map of a multi-band scene.
#
#   examples/eurosat/run.sh [--ci] [--out DIR]
#
# Generated data unless EUROSAT_MS names a real EuroSAT-MS folder (<Class>/<Class>_<n>.tif) and
# EUROSAT_SCENE a 13-band Sentinel-2 scene in the same band order and DN (EUROSAT_TRUTH: its class
# raster, optional). See README.md.
source "$(dirname "$0")/../common.sh" "$@"

PER_CLASS=$(ci_or_full 30 80)   # generated chips per class (the real set has 2000-3000)
CHIP=$(ci_or_full 32 64)         # generated chip side: CI's reduced size is a quarter of the compute
SIDE=$(ci_or_full 256 640)       # generated scene side, pixels of 10 m
EPOCHS_RESNET=$(ci_or_full 16 12)
EPOCHS_SQUEEZE=$(ci_or_full 8 6)
# One libtorch thread: on a shared machine more threads spin against each other (measured: 4 s
# an epoch with one thread, 30-100 s with libtorch's default of all cores, other jobs running).
BANDS=2-9,12,13                  # B02-B08, B8A, B11, B12: B01, B09, B10 (atmosphere) dropped

if [ -n "${EUROSAT_MS:-}" ]; then
  CHIPS=$EUROSAT_MS
  SCENE=${EUROSAT_SCENE:?EUROSAT_SCENE: the 13-band scene to map}
  TRUTH=${EUROSAT_TRUTH:-}
else
  rm -rf "$OUT/data"
  timed "generate $PER_CLASS chips ($CHIP px) per class and a ${SIDE}x$SIDE scene" \
    "$PY" "$EXAMPLE/generate.py" "$OUT/data" --per-class "$PER_CLASS" --chip "$CHIP" \
    --scene "$SIDE"
  CHIPS=$OUT/data/EuroSAT_MS SCENE=$OUT/data/scene.tif TRUTH=$OUT/data/scene_truth.tif
fi
rm -rf "$OUT/split"
timed "hold out 20% of the chips as the test set" "$PY" "$EXAMPLE/split.py" "$CHIPS" "$OUT/split"
# The chip side (64 for EuroSAT): the mosaic's width over its number of chip columns.
CHIP=$("$PY" -c 'import sys; from osgeo import gdal; m, t = map(gdal.Open, sys.argv[1:])
print(m.RasterXSize // t.RasterXSize)' "$OUT/split/test_mosaic.tif" "$OUT/split/test_truth.tif")
"$PY" "$EXAMPLE/figures.py" gallery "$OUT/split/test_mosaic.tif" "$OUT/split/test_truth.tif" "$OUT/chips.png"

common=(--chip-folders "$OUT/split/train" --bands "$BANDS" --scale 0.0001 --flips --rot90 --batch-size 16
  --lr 1e-3 --seed 0 --threads "$TRAIN_THREADS" --quiet)
# The two nets train side by side, one core each.
timed "train ResNet-50 (and the random forest on chip statistics)" "$TRAIN" train "${common[@]}" --arch resnet50 \
  --width 8 --epochs "$EPOCHS_RESNET" --baseline-trees 100 --out "$OUT/resnet50" &
resnet=$!
timed "train SqueezeNet" "$TRAIN" train "${common[@]}" --arch squeezenet --epochs "$EPOCHS_SQUEEZE" \
  --out "$OUT/squeezenet" &
squeeze=$!
wait $resnet
wait $squeeze

for net in resnet50 squeezenet; do
  # One tile per chip (tile = chip, overlap 0): the map of the mosaic is the class of each chip.
  timed "classify the test chips with $net" "$RASTRUM" run "$OUT/$net/model.onnx" "$OUT/split/test_mosaic.tif" \
    "$OUT/test_$net.tif" --overlap 0 -q
  "$RASTRUM" eval "$OUT/test_$net.tif" "$OUT/split/test_truth.tif" --json --confusion-png "$OUT/confusion_$net.png" \
    >"$OUT/test_$net.json"
  metric "${net}_test_accuracy" "$(json "$OUT/test_$net.json" classes.overall_accuracy)"
  metric "${net}_test_kappa" "$(json "$OUT/test_$net.json" classes.kappa)"
  metric "${net}_val_accuracy" "$(json "$OUT/$net/report.json" folds.0.scores.overall_accuracy)"
done
metric rf_val_accuracy "$(json "$OUT/resnet50/report.json" random_forest.0.scores.overall_accuracy)"
cp "$OUT/resnet50/curves.png" "$OUT/curves_resnet50.png"
"$PY" "$EXAMPLE/figures.py" shrink "$OUT/curves_resnet50.png"

# The scene: chip-sized tiles every half chip, one class per cell of the stride grid (320 m for
# 64-pixel chips).
timed "map the scene with ResNet-50" "$RASTRUM" run "$OUT/resnet50/model.onnx" "$SCENE" "$OUT/map.tif" \
  --overlap "$((CHIP / 2))" -q
"$RASTRUM" quicklook "$SCENE" "$OUT/map_quicklook.png" --rgb 4,3,2 --classes "$OUT/map.tif"
"$PY" "$EXAMPLE/figures.py" shrink "$OUT/map_quicklook.png"
figures=("$OUT/chips.png" "$OUT/confusion_resnet50.png" "$OUT/confusion_squeezenet.png" "$OUT/curves_resnet50.png"
  "$OUT/map_quicklook.png")
# The per-pixel truth is scored on the map's 320 m grid.
if [ -n "$TRUTH" ]; then score_map "$OUT/map.tif" "$TRUTH" "$EXAMPLE/figures.py"; fi
finish "${EUROSAT_MS:-}" "${figures[@]}"
