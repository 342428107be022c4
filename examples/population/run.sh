#!/usr/bin/env bash
# Population from night lights (workflow 1): a CNN regresses the population of each 32 x 32 tile
# from the light; 4-fold spatial cross-validation; the exported model predicts on another light
# raster, redistributing each tile's total over its pixels by light; scored per pixel, per tile
# and in total against that raster's true population. The rasters are generated (see
# generate.py and the README): no real population grid can be had here.
#   examples/population/run.sh [--ci] [--out DIR]
source "$(dirname "$0")/../common.sh" "$@"

# Real data: POPULATION_RASTER (band 1 light, band 2 population), POPULATION_LIGHTS (a light
# raster to predict on) and POPULATION_TRUTH (its population, same grid); the bars are then not
# checked (they are set for the generated rasters).
TRAINING=$OUT/lights_population.tif LIGHTS=$OUT/other_lights.tif TRUTH=$OUT/other_population_truth.tif
if [ -n "${POPULATION_RASTER:-}" ]; then
  TRAINING=$POPULATION_RASTER
  LIGHTS=${POPULATION_LIGHTS:?POPULATION_LIGHTS: the light raster to predict on}
  TRUTH=${POPULATION_TRUTH:?POPULATION_TRUTH: the true population of POPULATION_LIGHTS}
else
  SIZE_PX=$(ci_or_full 512 1024)
  step "generating the training raster (light, population) and another light raster to predict on"
  "$PY" "$EXAMPLE/generate.py" "$TRAINING" "$SIZE_PX" 1
  "$PY" "$EXAMPLE/generate.py" "$LIGHTS" "$SIZE_PX" 2 --light-only "$TRUTH"
fi

step "training with 4-fold spatial cross-validation, then on all tiles"
"$TRAIN" train --raster "$TRAINING" --label-band 2 --target sum --bands 1 \
  --arch population --chip 32 --stride 32 --split block-folds --folds 4 --block 128 \
  --redistribute weight --weight-band 1 --epochs "$(ci_or_full 15 30)" --batch-size 16 --lr 2e-3 \
  --seed 3 --threads "$TRAIN_THREADS" --quiet --out "$OUT/train"
for m in mse mae sum_abs_error r2; do
  metric "cv_${m}_mean" "$(json "$OUT/train/report.json" "mean_std.$m.mean")"
  metric "cv_${m}_std" "$(json "$OUT/train/report.json" "mean_std.$m.std")"
done

step "predicting on the other light raster, redistributed by light inside each tile"
"$RASTRUM" run "$OUT/train/model.onnx" "$LIGHTS" "$OUT/population.tif" --quiet

step "scoring per pixel, per 32 x 32 tile and in total (rastrum eval)"
"$RASTRUM" eval "$OUT/population.tif" "$TRUTH" --kind values
"$RASTRUM" eval "$OUT/population.tif" "$TRUTH" --kind values --block 32 --json \
  > "$OUT/eval.json"
metric pixel_mae "$(json "$OUT/eval.json" values.mae)"
metric pixel_rmse "$(json "$OUT/eval.json" values.rmse)"
metric tile_mae "$(json "$OUT/eval.json" values.blocks.mae)"
metric tile_rmse "$(json "$OUT/eval.json" values.blocks.rmse)"
metric tile_bias "$(json "$OUT/eval.json" values.blocks.bias)"
metric total_predicted "$(json "$OUT/eval.json" values.total.predicted)"
metric total_true "$(json "$OUT/eval.json" values.total.reference)"
metric total_error_abs_pct "$("$PY" -c 'import sys; print(abs(float(sys.argv[1])) * 100)' \
  "$(json "$OUT/eval.json" values.total.relative_error)")"

step "figures"
"$PY" "$EXAMPLE/figures.py" "$LIGHTS" "$OUT/population.tif" "$TRUTH" "$OUT/maps.png"
finish "${POPULATION_RASTER:-}" "$OUT/maps.png" "$OUT/train/curves-fold1.png"
