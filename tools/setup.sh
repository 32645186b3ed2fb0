#!/usr/bin/env bash
# Quick start, step 1: install what is missing, build clrnn (Release) and run the device probe on
# the default device (or the one named by CLRNN_DEVICE / --device SPEC).
#   tools/setup.sh [--device SPEC] [any other clrnn-probe option]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/tools/install-deps.sh"
build="${CLRNN_BUILD_DIR:-$root/build}"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j"$(nproc)"
exec "$build/clrnn-probe" "$@"
