#!/usr/bin/env bash
# The README's two commands as a newcomer runs them, on one machine: a fresh clone of HEAD, with an
# empty HOME, an empty cargo target dir and therefore empty CMake build trees, virtual
# environments and models. What may stay: Debian's packages (a chroot would be needed to drop
# them), the Rust toolchain and the download caches of crates and wheels (CARGO_HOME, the pip
# cache), which only save network time. Prints the wall time of each command.
#   scripts/check-fresh.sh [WORK_DIR]     (default: a new folder under /tmp; kept for inspection)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d /tmp/rastrum-fresh.XXXXXX)}
mkdir -p "$work"
[ -z "$(ls -A "$work")" ] || { echo "check-fresh: $work is not empty" >&2; exit 2; }

git clone --quiet --no-hardlinks "$repo" "$work/rastrum"
mkdir -p "$work/home"
# The toolchain and the download caches, taken from the real HOME before it is replaced.
export RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup}
export CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}
export PIP_CACHE_DIR=${PIP_CACHE_DIR:-$HOME/.cache/pip}
export PATH="$CARGO_HOME/bin:$PATH"
export HOME="$work/home"
export CARGO_TARGET_DIR="$work/target"
export CARGO_TERM_COLOR=never

cd "$work/rastrum"
timed() {
  local name=$1 start rc
  shift
  start=$(date +%s)
  set +e
  "$@" >"$work/$name.log" 2>&1
  rc=$?
  set -e
  echo "check-fresh: '$*' exit $rc after $(( $(date +%s) - start )) s (log: $work/$name.log)"
  if [ "$rc" != 0 ]; then
    tail -n 30 "$work/$name.log"
    exit "$rc"
  fi
}
timed demo make demo
timed test make test
echo "check-fresh: both commands passed from a fresh clone in $work"
