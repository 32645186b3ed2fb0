#!/usr/bin/env bash
# Quick start, step 2: build and run the whole test suite under ctest (PoCL by default).
#   tools/test.sh              normal build in build/
#   tools/test.sh --sanitize   AddressSanitizer + UndefinedBehaviorSanitizer build in build-asan/
# Both are developer builds: warnings are errors (CLRNN_WERROR=ON; a plain configure leaves it off).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/tools/install-deps.sh"
if [ "${1:-}" = "--sanitize" ]; then
  build="${CLRNN_BUILD_DIR:-$root/build-asan}"
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCLRNN_SANITIZE=ON -DCLRNN_WERROR=ON
else
  build="${CLRNN_BUILD_DIR:-$root/build}"
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCLRNN_WERROR=ON
fi
cmake --build "$build" -j"$(nproc)"
cd "$build"
ctest --output-on-failure -j"$(nproc)" --timeout 1800
