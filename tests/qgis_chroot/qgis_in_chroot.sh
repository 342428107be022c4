#!/usr/bin/env bash
# The one plugin zip on another QGIS and GDAL: installed into the QGIS of a Debian chroot
# (scripts/debian_chroot.sh: Debian 13's QGIS 3.40 / GDAL 3.10, sid's QGIS 3.44 / GDAL 3.13) as
# "Install from ZIP" does, enabled and run with that QGIS's qgis_process, its cloud-mask
# segmentation equals `rastrum run` on this machine (GDAL 3.6) byte for byte. The zip's librastrum
# names no GDAL library: it runs on that QGIS's own GDAL.
# Usage: tests/qgis_chroot/qgis_in_chroot.sh CHROOT PLUGIN_ZIP RASTRUM_CLI QGIS_X.Y GDAL_X.Y
#   (needs root, or sudo)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=${1:?usage: qgis_in_chroot.sh CHROOT PLUGIN_ZIP RASTRUM_CLI QGIS_X.Y GDAL_X.Y} zip=${2:?} cli=${3:?}
qgis_version=${4:?} gdal_version=${5:?}
sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
model=models/cloud_mask/model_6b_l1c.onnx
scene=data/sentinel2_sample/sentinel2_img_6band_toa.tif
work=/tmp/rastrum-qgis-test
plugins=/root/.local/share/QGIS/QGIS3/profiles/default/python/plugins

cleanup() { $sudo umount "$root/proc" "$root/dev" 2>/dev/null || true; $sudo rm -rf "$root$work" "$root$plugins/rastrum"; }
trap cleanup EXIT
$sudo mount -t proc proc "$root/proc"
$sudo mount --bind /dev "$root/dev"
$sudo mkdir -p "$root$work" "$root$plugins"
$sudo cp "$model" "$scene" "$root$work/"
$sudo python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$zip" "$root$plugins"
# A clean environment: nothing of this machine's (RASTRUM_ORT_LIB, PYTHONPATH) leaks into that QGIS.
qgis_process() { $sudo chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin QT_QPA_PLATFORM=offscreen qgis_process "$@"; }

versions=$(qgis_process --version 2>&1)
echo "$versions" | grep -q "^QGIS ${qgis_version//./\\.}\." || { echo "FAIL: not QGIS $qgis_version: $versions"; exit 1; }
echo "$versions" | grep -q "^GDAL/OGR version ${gdal_version//./\\.}\." ||
  { echo "FAIL: not GDAL $gdal_version: $versions"; exit 1; }
# Enabling an enabled plugin fails: the listing says whether it is on.
qgis_process plugins enable rastrum >/dev/null 2>&1 || true
qgis_process plugins 2>&1 | grep -q '^\* rastrum' || { echo "FAIL: the plugin is not enabled"; exit 1; }
qgis_process run rastrum:segment -- "MODEL=$work/$(basename "$model")" "INPUT=$work/$(basename "$scene")" \
  TILE_SIZE=256 OVERLAP=51 PROBABILITIES=true "OUTPUT=$work/qgis.tif" >"$root$work/log.txt" 2>&1 ||
  { echo "FAIL: qgis_process:"; cat "$root$work/log.txt"; exit 1; }

host=$(mktemp -d)
"$cli" run "$model" "$scene" "$host/host.tif" --tile-size 256 --overlap 51 --probabilities -q
for suffix in "" _probabilities; do
  cmp "$root$work/qgis$suffix.tif" "$host/host$suffix.tif" ||
    { echo "FAIL: QGIS $qgis_version's qgis$suffix.tif differs from rastrum run's"; rm -rf "$host"; exit 1; }
done
rm -rf "$host"
echo "qgis_in_chroot: ok (QGIS $qgis_version / GDAL $gdal_version wrote rastrum run's bytes)"
