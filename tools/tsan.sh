#!/usr/bin/env bash
# ThreadSanitizer run of the thread-safety tests in build-tsan/.
#   tools/tsan.sh [ctest -R regex]     default: the thread suites (test_threads, test_rss: contexts
#                                      churned beside running GEMMs, test_first_use, test_trace: the
#                                      trace's sink fed by two contexts' threads); "." runs all
# The library and the tests are built with -fsanitize=thread (gcc, or CC=clang). Suppressions:
# tests/tsan.supp (none active; OpenCL-stack internals only, documented there), compiled into the
# test programs by tests/CMakeLists.txt together with tests/tsan_c11_threads.c.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${CLRNN_TSAN_BUILD_DIR:-$root/build-tsan}"
regex="${1:-test_threads|test_rss|test_first_use|test_trace}"
flags="-fsanitize=thread -g -O1 -fno-omit-frame-pointer"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCLRNN_SANITIZE=OFF -DCLRNN_BUILD_TOOLS=OFF \
  -DCLRNN_WERROR=ON "-DCMAKE_C_FLAGS=$flags" "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread" \
  "-DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread" >/dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
# install_consumer links the TSan-built library into an uninstrumented program: not meaningful here
ctest --output-on-failure -R "$regex" -E install_consumer -j"$(nproc)" --timeout 1200
