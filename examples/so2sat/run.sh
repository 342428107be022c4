#!/usr/bin/env bash
# So2Sat LCZ42 local climate zones (workflow 3): HDF5 patches (32x32, Sentinel-2's 10 bands) ->
# ResNet-18 over 17 zones, the random forest on patch statistics beside it -> test accuracy and
# confusion matrix on the held-out file -> an LCZ map of a scene (patches on a 16-pixel stride grid).
#
#   examples/so2sat/run.sh [--ci] [--out DIR]
#
# Generated data unless SO2SAT_TRAIN and SO2SAT_TEST name real So2Sat files (training.h5,
# testing.h5) and SO2SAT_SCENE a 10-band Sentinel-2 scene in sen2's band order and units
# (SO2SAT_TRUTH: its LCZ raster, optional). See README.md.
source "$(dirname "$0")/../common.sh" "$@"

PER_CLASS=$(ci_or_full 12 60)      # generated training patches per zone (the real file: 352k in all)
TEST_PER_CLASS=$(ci_or_full 4 20)  # generated test patches per zone
SIDE=$(ci_or_full 192 480)         # generated scene side, pixels of 10 m
EPOCHS=$(ci_or_full 12 12)
# One libtorch thread: on a shared machine more threads spin against each other (see
# examples/eurosat/run.sh).
FIGURES=$ROOT/examples/eurosat/figures.py  # the figures both chip-classification examples draw

if [ -n "${SO2SAT_TRAIN:-}" ]; then
  TRAINING=$SO2SAT_TRAIN
  TESTING=${SO2SAT_TEST:?SO2SAT_TEST: the held-out file (testing.h5)}
  SCENE=${SO2SAT_SCENE:?SO2SAT_SCENE: the 10-band scene to map}
  TRUTH=${SO2SAT_TRUTH:-}
else
  rm -rf "$OUT/data"
  timed "generate $PER_CLASS training and $TEST_PER_CLASS test patches per zone and a ${SIDE}x$SIDE scene" \
    "$PY" "$EXAMPLE/generate.py" "$OUT/data" --per-class "$PER_CLASS" --test-per-class "$TEST_PER_CLASS" \
    --scene "$SIDE"
  TRAINING=$OUT/data/training.h5 TESTING=$OUT/data/testing.h5
  SCENE=$OUT/data/scene.tif TRUTH=$OUT/data/scene_truth.tif
fi

# sen2 (the default source) as input; 20% of training.h5 is the trainer's validation split.
timed "train ResNet-18 and the random forest on patch statistics" "$TRAIN" train --so2sat "$TRAINING" \
  --arch resnet18 --width 16 --flips --rot90 --epochs "$EPOCHS" --batch-size 16 --lr 1e-3 --seed 0 \
  --baseline-trees 100 --threads "$TRAIN_THREADS" --quiet --out "$OUT/resnet18"
metric resnet18_val_accuracy "$(json "$OUT/resnet18/report.json" folds.0.scores.overall_accuracy)"
metric rf_val_accuracy "$(json "$OUT/resnet18/report.json" random_forest.0.scores.overall_accuracy)"
cp "$OUT/resnet18/curves.png" "$OUT/curves_resnet18.png"
"$PY" "$FIGURES" shrink "$OUT/curves_resnet18.png"

# The held-out file: its patches side by side, one 32-pixel tile each (overlap 0).
rm -rf "$OUT/test"
timed "lay out the test patches" "$PY" "$EXAMPLE/mosaic.py" "$TESTING" "$OUT/test"
timed "classify the test patches" "$RASTRUM" run "$OUT/resnet18/model.onnx" "$OUT/test/test_mosaic.tif" \
  "$OUT/test_resnet18.tif" --overlap 0 -q
"$RASTRUM" eval "$OUT/test_resnet18.tif" "$OUT/test/test_truth.tif" --json \
  --confusion-png "$OUT/confusion_resnet18.png" >"$OUT/test_resnet18.json"
"$PY" "$FIGURES" gallery "$OUT/test/test_mosaic.tif" "$OUT/test/test_truth.tif" "$OUT/patches.png" --rgb 3,2,1 --scale 1
metric resnet18_test_accuracy "$(json "$OUT/test_resnet18.json" classes.overall_accuracy)"
metric resnet18_test_kappa "$(json "$OUT/test_resnet18.json" classes.kappa)"

# The scene: 32-pixel patches every 16 pixels, one zone per 160 m cell of the stride grid.
timed "map the scene's local climate zones" "$RASTRUM" run "$OUT/resnet18/model.onnx" "$SCENE" "$OUT/lcz_map.tif" \
  --overlap 16 -q
"$RASTRUM" quicklook "$SCENE" "$OUT/map_quicklook.png" --rgb 3,2,1 --classes "$OUT/lcz_map.tif"
"$PY" "$FIGURES" shrink "$OUT/map_quicklook.png"
figures=("$OUT/patches.png" "$OUT/confusion_resnet18.png" "$OUT/curves_resnet18.png" "$OUT/map_quicklook.png")
# The per-pixel truth is scored on the map's 160 m grid.
if [ -n "$TRUTH" ]; then score_map "$OUT/lcz_map.tif" "$TRUTH" "$FIGURES"; fi
finish "${SO2SAT_TRAIN:-}" "${figures[@]}"
