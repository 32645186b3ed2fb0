#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (build-fuzz/) and runs each for N seconds.
#   tools/fuzz.sh [SECONDS] [TARGET...]     default: 60 seconds, every tests/fuzz/fuzz_*.c
# The seed corpus tests/fuzz/corpus_<name>/ is read, never written: new inputs go to
# build-fuzz/corpus-<name>/ and crashes to build-fuzz/crash-<name>/ (kept for the report).
# Exit status: 0 no crash, 1 a fuzzer found a crash, leak or timeout that its input reproduces (or
# one without an input), 2 build or usage error.
# CI runs it with 60 s per target (.ci/run); a nightly/manual run uses 600 or more.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
secs="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then # every tests/fuzz/fuzz_<name>.c (registered in reliability.cmake)
  for f in "$root"/tests/fuzz/fuzz_*.c; do t="$(basename "$f" .c)"; targets+=("$t"); done
fi
cc="${CLRNN_FUZZ_CC:-$(command -v clang || true)}"
if [ -z "$cc" ]; then echo "fuzz.sh: clang not found (apt-get install clang)" >&2; exit 2; fi
build="${CLRNN_FUZZ_BUILD_DIR:-$root/build-fuzz}"
# Only the fuzz targets are built (with -Werror, as every developer build): tests and tools stay out.
CC="$cc" cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCLRNN_FUZZ=ON -DCLRNN_WERROR=ON \
  -DCLRNN_BUILD_TESTS=OFF -DCLRNN_BUILD_TOOLS=OFF >/dev/null || exit 2
cmake --build "$build" --target "${targets[@]}" -j"$(nproc)" >/dev/null || exit 2
status=0
# The __tls_get_addr hook stays on here (the test suites turn it off, see CLRNN_LSAN in
# tests/CMakeLists.txt): libFuzzer's leak check runs while PoCL's LLVM is loaded, and with the hook
# off what LLVM holds through its dynamic TLS is reported (CI replica of 2026-12-04: SmallVector
# buffers of libLLVM-15 in fuzz_onnx).
lsan="suppressions=$root/tests/lsan.supp:print_suppressions=0"
# PoCL alone, as in the sanitized test suites (tests/CMakeLists.txt, CLRNN_SAN_VENDORS): Clover,
# listed by Debian's mesa-opencl-icd, dlcloses gallium's pipe drivers, and what they keep can show
# as 128 bytes from an "<unknown module>" that no suppression can name.
vendors="$build/ocl-vendors-pocl"
mkdir -p "$vendors" && echo "libpocl.so.2" >"$vendors/pocl.icd"
export OCL_ICD_VENDORS="$vendors"
for t in "${targets[@]}"; do
  name="${t#fuzz_}"
  seeds="$root/tests/fuzz/corpus_$name"
  [ "$name" = keras ] && [ "${CLRNN_FUZZ_KERAS_RAW:-}" = 1 ] && seeds="$root/tests/fuzz/corpus_keras_raw"
  work="$build/corpus-$name"
  crashes="$build/crash-$name"
  mkdir -p "$work" "$crashes"
  dict=()
  [ -f "$root/tests/fuzz/$name.dict" ] && dict=(-dict="$root/tests/fuzz/$name.dict")
  echo "== $t for ${secs}s (seeds: $seeds)"
  log="$build/$t.log"
  # rss: fuzz_onnx caps each model at 512 MiB of host and 512 MiB of device tensors (budgets)
  max_len=4096
  # onnx: 1 MiB, so that deeply nested (and merely large) models are tried, not only the seeds' 8 KiB
  [ "$name" = onnx ] && max_len=1048576
  # keras: configs of 2 to 4 KiB (raw mode, CLRNN_FUZZ_KERAS_RAW=1: files of 15 to 25 KiB)
  [ "$name" = keras ] && max_len=65536
  before="$(ls "$crashes")"
  if LSAN_OPTIONS="$lsan" \
     "$build/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=8192 -max_len="$max_len" \
      -print_final_stats=1 -artifact_prefix="$crashes/" "${dict[@]}" "$work" "$seeds" >"$log" 2>&1; then
    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|Done [0-9]+ runs" "$log" || true
    continue
  fi
  tail -n 60 "$log"
  # A finding counts when its input reproduces it, run alone (as OSS-Fuzz files only reproducible
  # crashes): the model loaders share the process with the OpenCL driver's threads and in-process
  # LLVM, and libFuzzer's per-input leak check has flagged, once in several minutes of fuzzing, 16
  # bytes allocated by C++ code with no clrnn frame that the same input, replayed, never leaks.
  # A finding without an input (a leak at exit, a crash of the harness) always counts.
  new=()
  for f in "$crashes"/*; do
    [ -e "$f" ] || continue
    case $'\n'"$before"$'\n' in *$'\n'"$(basename "$f")"$'\n'*) ;; *) new+=("$f") ;; esac
  done
  if [ ${#new[@]} -eq 0 ]; then
    status=1
    echo "fuzz.sh: $t FAILED without a reproducer (see $log)" >&2
    continue
  fi
  for f in "${new[@]}"; do
    if LSAN_OPTIONS="$lsan" "$build/$t" -runs=3 -timeout=10 -rss_limit_mb=8192 "$f" >"$f.replay.log" 2>&1; then
      echo "fuzz.sh: $t: $(basename "$f") does not reproduce when replayed alone (kept, with $f.replay.log): not counted" >&2
    else
      status=1
      tail -n 40 "$f.replay.log"
      echo "fuzz.sh: $t FAILED; $(basename "$f") reproduces (in $crashes/)" >&2
    fi
  done
done
exit $status
