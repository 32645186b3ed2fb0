#!/usr/bin/env bash
# Runs clrnn-probe under valgrind (memcheck) and fails on any memory error or definite leak that
# tests/valgrind.supp does not cover (dynamic loader, PoCL and LLVM internals only).
#   tools/valgrind-probe.sh [BUILD_DIR] [clrnn-probe options...]     default build dir: build-rel
# The full probe (self-check of every cell and direction) takes ~10-20 min under valgrind on a
# 2-core machine, most of it PoCL compiling the kernels for the CPU valgrind emulates; pass
# --no-selfcheck for a quicker run. The log is kept in BUILD_DIR/valgrind-probe.log.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build-rel}"
shift || true
probe="$build/clrnn-probe"
if [ ! -x "$probe" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build" --target clrnn-probe -j"$(nproc)" >/dev/null
fi
command -v valgrind >/dev/null || { echo "valgrind-probe: valgrind is not installed" >&2; exit 2; }
log="$build/valgrind-probe.log"
cache="$build/valgrind-kernel-cache"
set +e
valgrind --tool=memcheck --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,possible \
  --errors-for-leak-kinds=definite --num-callers=40 --track-origins=no \
  --suppressions="$root/tests/valgrind.supp" --log-file="$log" \
  "$probe" --cache-dir "$cache" "$@"
rc=$?
set -e
grep -E "ERROR SUMMARY|definitely lost:|indirectly lost:|possibly lost:" "$log" | sed 's/^==[0-9]*== *//'
# "possibly lost" blocks are not errors (LLVM and PoCL keep interior pointers), but one that clrnn
# allocated itself would be a clrnn leak: fail when the frame right below the allocator is clrnn's.
if awk '/are possibly lost/{rec=1; next}
        rec && /(at|by) 0x[0-9A-F]+: (malloc|calloc|realloc|operator new|memalign|posix_memalign|aligned_alloc)/{next}
        rec && /by 0x/{ if ($0 ~ /clrnn|probe\.c/) found=1; rec=0 }
        END{exit !found}' "$log"; then
  echo "valgrind-probe: a possibly-lost block allocated from clrnn code (see $log)" >&2
  rc=98
fi
case $rc in
  0) echo "valgrind-probe: clean (probe passed, no unsuppressed memcheck errors)";;
  99) echo "valgrind-probe: memcheck errors (see $log)" >&2;;
  98) ;;
  *) echo "valgrind-probe: clrnn-probe failed with status $rc (see $log)" >&2;;
esac
exit $rc
