#!/usr/bin/env bash
# A Debian chroot of SUITE with its QGIS and GDAL, for the tests that the one plugin zip runs on
# other QGIS and GDAL versions (tests/qgis_chroot/qgis_in_chroot.sh): trixie (Debian 13) has QGIS
# 3.40 / GDAL 3.10, sid QGIS 3.44 / GDAL 3.13. Built once into DIR (outside the clone, e.g.
# ~/.cache/rastrum-trixie) and reused; built in DIR.part and renamed, so a half-built chroot is
# never taken for a finished one. The mirror is the one this machine's apt sources use (no host
# name is written here).
# Usage: scripts/debian_chroot.sh SUITE DIR   (needs root, or sudo)
set -euo pipefail
suite=${1:?usage: debian_chroot.sh SUITE DIR}
dir=${2:?usage: debian_chroot.sh SUITE DIR}
packages="$suite: qgis python3-qgis qgis-providers"
if [ -f "$dir/.rastrum-ready" ] && [ "$(cat "$dir/.rastrum-ready")" = "$packages" ]; then
  echo "debian_chroot: $dir (cached)"; exit 0
fi
sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo

# The first Debian archive of the machine's own sources (deb822 files, else sources.list).
mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -1 || true)
if [ -z "$mirror" ]; then
  mirror=$(sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\) .*/\2/p' /etc/apt/sources.list 2>/dev/null | grep -v security | head -1 || true)
fi
[ -n "$mirror" ] || { echo "debian_chroot: no Debian mirror in this machine's apt sources" >&2; exit 1; }
command -v debootstrap >/dev/null || $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null

part="$dir.part"
cleanup() { $sudo umount "$part/proc" "$part/dev" 2>/dev/null || true; }
trap cleanup EXIT
$sudo rm -rf "$part"
mkdir -p "$(dirname "$dir")"
echo "debian_chroot: debootstrap $suite into $part from $mirror"
$sudo debootstrap --variant=minbase --include=ca-certificates "$suite" "$part" "$mirror" >/dev/null
$sudo mount -t proc proc "$part/proc"
$sudo mount --bind /dev "$part/dev"
$sudo cp /etc/resolv.conf "$part/etc/resolv.conf" 2>/dev/null || true
echo "debian_chroot: installing ${packages#*: }"
# A rolling suite's Release file (sid) carries a Valid-Until that a mirror's copy may have passed:
# the archive's signature is still checked, only its age is not.
$sudo chroot "$part" env DEBIAN_FRONTEND=noninteractive sh -c \
  "apt-get -o Acquire::Check-Valid-Until=false update -qq &&
   apt-get install -y -qq --no-install-recommends ${packages#*: } >/dev/null && apt-get clean"
cleanup
echo "$packages" | $sudo tee "$part/.rastrum-ready" >/dev/null
$sudo rm -rf "$dir"
$sudo mv "$part" "$dir"
echo "debian_chroot: $dir ready ($($sudo chroot "$dir" dpkg-query -W -f '${Version}' qgis))"
