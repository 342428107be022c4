#!/usr/bin/env bash
# A Debian 13 (trixie) chroot with QGIS 3.40 and GDAL 3.10, for the test that the one plugin zip
# runs on a second QGIS and GDAL (tests/trixie/qgis_340.sh). Built once into DIR (default
# ~/.cache/rastrum-trixie, outside the clone) and reused; built in DIR.part and renamed, so a
# half-built chroot is never taken for a finished one. The mirror is the one this machine's apt
# sources use (no host name is written here).
# Usage: scripts/trixie_chroot.sh [DIR]   (needs root, or sudo)
set -euo pipefail
dir=${1:-${RASTRUM_TRIXIE:-$HOME/.cache/rastrum-trixie}}
packages="qgis python3-qgis qgis-providers"
if [ -f "$dir/.rastrum-ready" ] && [ "$(cat "$dir/.rastrum-ready")" = "$packages" ]; then
  echo "trixie_chroot: $dir (cached)"; exit 0
fi
sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo

# The first Debian archive of the machine's own sources (deb822 files, else sources.list).
mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -1 || true)
if [ -z "$mirror" ]; then
  mirror=$(sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\) .*/\2/p' /etc/apt/sources.list 2>/dev/null | grep -v security | head -1 || true)
fi
[ -n "$mirror" ] || { echo "trixie_chroot: no Debian mirror in this machine's apt sources" >&2; exit 1; }
command -v debootstrap >/dev/null || $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null

part="$dir.part"
cleanup() { $sudo umount "$part/proc" "$part/dev" 2>/dev/null || true; }
trap cleanup EXIT
$sudo rm -rf "$part"
mkdir -p "$(dirname "$dir")"
echo "trixie_chroot: debootstrap trixie into $part from $mirror"
$sudo debootstrap --variant=minbase --include=ca-certificates trixie "$part" "$mirror" >/dev/null
$sudo mount -t proc proc "$part/proc"
$sudo mount --bind /dev "$part/dev"
$sudo cp /etc/resolv.conf "$part/etc/resolv.conf" 2>/dev/null || true
echo "trixie_chroot: installing $packages"
$sudo chroot "$part" env DEBIAN_FRONTEND=noninteractive sh -c \
  "apt-get update -qq && apt-get install -y -qq --no-install-recommends $packages >/dev/null && apt-get clean"
cleanup
echo "$packages" | $sudo tee "$part/.rastrum-ready" >/dev/null
$sudo rm -rf "$dir"
$sudo mv "$part" "$dir"
echo "trixie_chroot: $dir ready ($($sudo chroot "$dir" dpkg-query -W -f '${Version}' qgis))"
