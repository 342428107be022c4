#!/usr/bin/env bash
# The demo: the real cloud-mask model (ukis-csmask, U-Net/EfficientNet-B4) over the real cloudy
# Landsat-8 scene bundled in data/. Writes a georeferenced class GeoTIFF, the class
# probabilities, and a PNG quicklook (RGB | classes), then prints a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${CARGO_TARGET_DIR:-target}/release/rastrum"
out=out/demo
mkdir -p "$out"

# The six bands B2..B7 are the model's blue, green, red, nir, swir16, swir22: one file each,
# stacked in that order into one VRT.
scene="$out/landsat8_b2_b7.vrt"
"$bin" stack "$scene" data/landsat8_l1_b2_b7/l8_B{2,3,4,5,6,7}.tif 2>/dev/null

# Standardisation from the model's own JSON; DN -> top-of-atmosphere reflectance from the MTL.
stats=$(python3 -c 'import json; d=json.load(open("models/cloud_mask/model_6b_l1c.json"))["data"]["dataset_statistics"]["img"]; print(",".join(map(str, d[0])), ",".join(map(str, d[1])))')
mean=${stats% *}; std=${stats#* }

"$bin" run models/cloud_mask/model_6b_l1c.onnx "$scene" "$out/cloud_mask.tif" \
  --scale 2.0e-5 --offset -0.1 --mean "$mean" --std "$std" \
  --tile-size 256 --overlap 51 --stitch blend --probabilities \
  --set 'class_names={"0": "clear", "1": "cloud", "2": "cloud shadow"}' \
  --set 'rastrum_class_colors={"0": "#3c8c3c", "1": "#ffffff", "2": "#3c3c50"}' --json > "$out/summary.json"

"$bin" quicklook "$scene" "$out/cloud_mask.png" --rgb 3,2,1 --classes "$out/cloud_mask.tif"

python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
s = json.load(open(f"{out}/summary.json"))
print(f"Cloud mask of the Landsat-8 scene ({s['input_width']}x{s['input_height']} px, 6 bands)")
print(f"  tiles: {s['tiles_run']} run, {s['tiles_skipped']} skipped (all nodata); {s['seconds']:.2f} s, "
      f"{s['megapixels_per_second']:.2f} Mpx/s on {s['provider']}")
for name, n in s.get("class_counts", {}).items():
    print(f"  {name:>13}: {100.0 * n / (s['width'] * s['height']):5.1f} %")
for p in s["outputs"] + [f"{out}/cloud_mask.png"]:
    print(f"  wrote {p}")
PY
