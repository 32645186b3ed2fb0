#!/bin/sh
# Cold start, measured as a new user meets it (issue 14): every run gets EMPTY caches, PoCL's
# (POCL_CACHE_DIR) and clrnn's (CLRNN_CACHE_DIR) pointed at fresh temporary directories.
#
#   tools/coldstart.sh [BUILD_DIR] [--check] [--breakdown]
#
#   1. the ONNX classifier Embedding + LSTM + Linear + Softmax (tests/onnx/torch/
#      classifier_embedding_lstm_linear_softmax, made by tools/export_torch_onnx.py): wall time of
#      clrnn-run to its first result, cold, then once more with the caches it filled (warm); the
#      result is compared with PyTorch's (when python3 with numpy is there);
#   2. clrnn-probe, cold, as users run it: its self-checks run every cell and direction on the
#      default plan and the persistent scan on the LSTM (not --full: that scan on every cell).
# Bars (issue 14): ONNX cold <= 3 s, probe cold <= 10 s. Times are wall clock: the load average
# and the CPU time (user + sys, load-proof) are printed next to them. Without --check an over-bar time is reported, not failed (a loaded CI
# machine would fail it at random); a run that fails or gives a wrong result always fails.
# --breakdown (PoCL): one more cold probe run, traced (CLRNN_VERBOSE=1, POCL_DEBUG=llvm,timing), and
# where its time went: each program build and each kernel's first-launch compile (wall ms, slowest first).
set -u
BUILD=build
CHECK=0
BREAKDOWN=0
for a in "$@"; do
    case "$a" in
    --check) CHECK=1 ;;
    --breakdown) BREAKDOWN=1 ;;
    -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
    *) BUILD=$a ;;
    esac
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODEL=$ROOT/tests/onnx/torch/classifier_embedding_lstm_linear_softmax
RUN=$BUILD/clrnn-run
PROBE=$BUILD/clrnn-probe
[ -x "$RUN" ] || { echo "coldstart: no $RUN (build first)" >&2; exit 2; }
[ -x "$PROBE" ] || { echo "coldstart: no $PROBE (build first)" >&2; exit 2; }
[ -f "$MODEL/model.onnx" ] || { echo "coldstart: no $MODEL/model.onnx" >&2; exit 2; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/clrnn-coldstart.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT INT TERM
FAIL=0
OVER=0

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# CPU ms (user + sys) of the command a `times` (its second line, the children's) was written
# after: a load-proof figure next to the wall time (on a quiet machine the cold runs are nearly
# all compiling, in one thread, so wall ~ CPU)
cpu_ms() {
    sed -n 2p "$1" | awk '{ t = 0; for (i = 1; i <= 2; ++i) { split($i, p, "m"); sub("s", "", p[2]); t += p[1] * 60 + p[2] }
                            printf "%d\n", t * 1000 }'
}

# time_run NAME POCL_DIR CLRNN_DIR CMD...: runs CMD with those caches, prints NAME and ms; $MS set.
time_run() {
    name=$1 pd=$2 cd=$3
    shift 3
    t0=$(now_ms)
    if ! POCL_CACHE_DIR=$pd CLRNN_CACHE_DIR=$cd sh -c '"$@"; rc=$?; times >&3; exit $rc' sh "$@" \
        3>"$TMP/times.txt" >"$TMP/out.txt" 2>&1; then
        echo "FAIL $name: exit status $?" >&2
        tail -5 "$TMP/out.txt" >&2
        FAIL=1
    fi
    MS=$(($(now_ms) - t0))
    CPU=$(cpu_ms "$TMP/times.txt")
}

# bar NAME MS LIMIT_MS
bar() {
    if [ "$2" -le "$3" ]; then
        verdict="ok (bar $(($3 / 1000)) s)"
    else
        verdict="OVER the $(($3 / 1000)) s bar"
        OVER=1
    fi
    printf '%-34s %6d ms wall %6d ms CPU  %s\n' "$1" "$2" "$CPU" "$verdict"
}

echo "clrnn cold start ($(uname -n), $(nproc) cores, load average:$(uptime | sed 's/.*load average://'))"

# 1. the ONNX classifier
mkdir -p "$TMP/pocl1" "$TMP/clrnn1" "$TMP/out1" "$TMP/out2"
time_run "onnx cold" "$TMP/pocl1" "$TMP/clrnn1" "$RUN" "$MODEL/model.onnx" --input "tokens=$MODEL/set0/in/tokens.npy" \
    --output-dir "$TMP/out1"
bar "onnx classifier, first result cold" "$MS" 3000
time_run "onnx warm" "$TMP/pocl1" "$TMP/clrnn1" "$RUN" "$MODEL/model.onnx" --input "tokens=$MODEL/set0/in/tokens.npy" \
    --output-dir "$TMP/out2"
printf '%-34s %6d ms wall %6d ms CPU\n' "onnx classifier, warm caches" "$MS" "$CPU"
PY=
for p in /usr/bin/python3 python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import numpy' 2>/dev/null; then PY=$p; break; fi
done
if [ -n "$PY" ]; then
    for o in out1 out2; do
        if ! "$PY" - "$TMP/$o/probs.npy" "$MODEL/set0/out/probs.npy" <<'EOF'; then
import sys
import numpy as np
got, want = np.load(sys.argv[1]), np.load(sys.argv[2])
err = float(np.max(np.abs(got - want))) if got.shape == want.shape else float("inf")
print("  result vs PyTorch: max abs err %.3g" % err)
sys.exit(0 if err <= 1e-5 else 1)
EOF
            echo "FAIL onnx: the result differs from PyTorch's" >&2
            FAIL=1
        fi
    done
else
    echo "  (no python3 with numpy: the result is not compared with PyTorch's)"
fi

# 2. clrnn-probe
mkdir -p "$TMP/pocl2" "$TMP/clrnn2"
time_run "probe cold" "$TMP/pocl2" "$TMP/clrnn2" "$PROBE"
if ! grep -q ' 0 failed' "$TMP/out.txt"; then
    echo "FAIL probe: not every check passed" >&2
    grep -E 'FAIL|failed' "$TMP/out.txt" >&2
    FAIL=1
fi
bar "clrnn-probe, cold" "$MS" 10000

if [ "$BREAKDOWN" -eq 1 ]; then
    mkdir -p "$TMP/pocl3" "$TMP/clrnn3"
    POCL_CACHE_DIR=$TMP/pocl3 CLRNN_CACHE_DIR=$TMP/clrnn3 CLRNN_VERBOSE=1 POCL_DEBUG=llvm,timing "$PROBE" >"$TMP/trace.txt" 2>&1
    echo "clrnn-probe cold, traced (wall ms; PoCL compiles a kernel on its first launch, one at a time):"
    # PoCL names the kernel ("Temporary kernel.so file for kernel NAME :") before its compile time
    # (">>> VALUE UNIT ... API: llvm_codegen", the work-group function's generation included)
    awk -F, '/^clrnn_verbose,build,/ { printf "%8.0f  build: %s (from %s)\n", $5, $3, $4 }
             / Temporary kernel.so file for kernel / { n = split($0, w, " ");
                 for (i = 1; i < n; ++i) if (w[i] == "kernel" && w[i + 1] != "kernel.so") k = w[i + 1] }
             / API: llvm_codegen/ { n = split($0, w, " "); for (i = 1; i < n; ++i) if (w[i] == ">>>") { t = w[i + 1]; u = w[i + 2] }
                 t = u == "s" ? t * 1000 : u == "us" ? t / 1000 : t; printf "%8.0f  first launch: %s\n", t, k }' \
        "$TMP/trace.txt" | sort -rn >"$TMP/breakdown.txt"
    if [ -s "$TMP/breakdown.txt" ]; then
        cat "$TMP/breakdown.txt"
        awk '{ t += $1 } END { printf "%8.0f  total\n", t }' "$TMP/breakdown.txt"
    else
        echo "  (no build or PoCL timing lines: the breakdown needs PoCL)"
    fi
fi

[ "$FAIL" -eq 0 ] || exit 1
[ "$CHECK" -eq 1 ] && [ "$OVER" -eq 1 ] && exit 1
exit 0
