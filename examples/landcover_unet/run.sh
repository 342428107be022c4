#!/usr/bin/env bash
# Land cover by U-Net (workflow 4) on the real Sentinel-2 sample and its hand labels: a 14-channel
# input (6 bands + 8 spectral indices), a held-out spatial block never seen in training, one
# GeoTIFF out (band 1 the class, bands 2-4 the class probabilities), per-class F1 on the block.
#   examples/landcover_unet/run.sh [--ci] [--out DIR]
source "$(dirname "$0")/../common.sh" "$@"

IMAGE=$DATA/sentinel2_sample/sentinel2_img_6band_toa.tif
LABELS=$DATA/sentinel2_sample/sentinel2_msk_label.tif
# The held-out block: 128 x 128 pixels at column 0, row 256 (all three classes occur in it).
HX=0 HY=256 HS=128

step "stacking 6 bands + 8 indices, labels as 3 classes, the held-out block removed from training"
"$PY" "$EXAMPLE/prepare.py" "$IMAGE" "$LABELS" "$OUT" $HX $HY $HS

step "training the U-Net ($(ci_or_full 'CI size' 'full size'))"
"$TRAIN" train --raster "$OUT/stack14.tif" --labels "$OUT/labels_train.tif" --target pixel \
  --class-names "clear,cloud,cloud shadow" --arch unet --depth 3 --width "$(ci_or_full 16 32)" \
  --chip 64 --stride 32 --min-labelled 0.5 --split blocks --block 128 --val-fraction 0.2 \
  --flips --rot90 --class-weights auto --epochs "$(ci_or_full 8 30)" --early-stopping 8 \
  --batch-size 8 --lr 3e-3 --seed 7 --threads "$TRAIN_THREADS" --quiet --out "$OUT/train"

step "running the model over the whole scene: class + probability bands in one GeoTIFF"
"$RASTRUM" run "$OUT/train/model.onnx" "$OUT/stack14.tif" "$OUT/landcover.tif" --probability-bands --quiet
"$RASTRUM" quicklook "$OUT/stack14.tif" "$OUT/landcover.png" --rgb 3,2,1 --classes "$OUT/landcover.tif"

step "the output's bands: 1 + N, named"
"$PY" - "$OUT/landcover.tif" "$OUT/bands.json" <<'PY'
import json, sys
from osgeo import gdal
ds = gdal.Open(sys.argv[1])
ds.GetGeoTransform()  # loads the .aux.xml sidecar, where the class names are
bands = [{"band": b, "description": ds.GetRasterBand(b).GetDescription(),
          "scale": ds.GetRasterBand(b).GetScale()} for b in range(1, ds.RasterCount + 1)]
names = ds.GetRasterBand(1).GetCategoryNames() or []
json.dump({"bands": bands, "class_names": names}, open(sys.argv[2], "w"), indent=2)
print("\n".join(f"  band {b['band']}: {b['description']} (scale {b['scale']})" for b in bands))
print(f"  class names: {names}")
PY
metric output_bands "$(json "$OUT/bands.json" bands | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))')"
metric named_probability_bands "$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); n=d["class_names"]; print(sum(b["description"] == "probability of " + c for b, c in zip(d["bands"][1:], n)))' "$OUT/bands.json")"

step "per-class F1 on the held-out block (rastrum eval against the hand labels)"
gdal_translate -q -b 1 -srcwin $HX $HY $HS $HS "$OUT/landcover.tif" "$OUT/heldout_pred.tif"
gdal_translate -q -srcwin $HX $HY $HS $HS "$OUT/labels.tif" "$OUT/heldout_labels.tif"
"$RASTRUM" eval "$OUT/heldout_pred.tif" "$OUT/heldout_labels.tif" --json \
  --confusion-png "$OUT/heldout_confusion.png" > "$OUT/heldout_eval.json"
"$RASTRUM" eval "$OUT/heldout_pred.tif" "$OUT/heldout_labels.tif"
metric heldout_accuracy "$(json "$OUT/heldout_eval.json" classes.overall_accuracy)"
metric heldout_kappa "$(json "$OUT/heldout_eval.json" classes.kappa)"
metric heldout_macro_f1 "$(json "$OUT/heldout_eval.json" classes.macro_f1)"
for c in 0 1 2; do
  metric "heldout_f1_$(json "$OUT/heldout_eval.json" "classes.per_class.$c.name" | tr ' ' _)" \
    "$(json "$OUT/heldout_eval.json" "classes.per_class.$c.f1")"
done
metric validation_kappa "$(json "$OUT/train/report.json" folds.0.scores.kappa)"

finish "" "$OUT/landcover.png" "$OUT/heldout_confusion.png" "$OUT/train/curves.png"
