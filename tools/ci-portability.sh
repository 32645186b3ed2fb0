#!/usr/bin/env bash
# CI on the OpenCL implementations besides PoCL (issue 15), each selected through a private
# OCL_ICD_VENDORS directory written here (never /etc/OpenCL/vendors):
#   1. all three ICDs at once: the default device must be PoCL's CPU device, never Oclgrind's
#      simulator or Rusticl's llvmpipe (test_device_choice with CLRNN_REQUIRE_ICDS=1, clrnn-probe --list);
#   2. Mesa Rusticl, device llvmpipe (RUSTICL_ENABLE=llvmpipe): clrnn-probe, test_context, and the
#      forward, fp16-storage forward and golden, storage and golden suites under every plan (the tiled plan in
#      its compact build, CLRNN_COMPACT, which program.c picks there), with one Mesa shader cache
#      shared by the test processes; that the trace says "no device timestamps" there (Rusticl 22.3
#      has no profiling timer); llvmpipe's loop bound (test_loop_bound's device_bound_* cases);
#      the golden suite under the persistent scan (every cell against the frameworks);
#      CLRNN_CI_RUSTICL=full adds the probe's self-check (clrnn-probe --full) and the forward suite
#      under the persistent scan;
#   3. Oclgrind: a kernel-checking pass on small shapes (clrnn-probe's self-check: every cell and
#      direction, lengths {7,4,1}, 2 layers, the persistent scan forced on every cell (--full),
#      SGEMMs 67x45x33 and 64^3)
#      under every plan, fp32 and fp16 storage (--storage fp16), with its memory checker (always on), data-race detector and API checks;
#      any Oclgrind report fails the pass; test_context there too. Not --uninitialized: it flags every buffer filled by
#      clEnqueueFillBuffer and makes the tiled kernels compute wrong numbers (portability review
#      2026-12, item 5).
# Usage: tools/ci-portability.sh [BUILD_DIR]   (a Release build; default build/)
#   CLRNN_CI_PLANS="generic tiled"  overrides the plans (default: every <plan> of test_forward_<plan>_plan)
#   CLRNN_CI_PASSES="1 3"            runs only those passes (default: 1 2 3)
# Needs mesa-opencl-icd and oclgrind (tools/install-deps.sh). Exit status 0 only if every pass passed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
[ -x "$build/clrnn-probe" ] || { echo "ci-portability: no clrnn-probe in $build (build first)" >&2; exit 2; }
nproc_="$(nproc)"

# The ICD libraries (Debian 12 paths; the loader also searches the usual library path).
pocl_lib=libpocl.so.2
rusticl_lib=libRusticlOpenCL.so.1
oclgrind_lib=/usr/lib/oclgrind/liboclgrind-rt-icd.so
[ -e "$oclgrind_lib" ] || { echo "ci-portability: $oclgrind_lib missing (apt-get install oclgrind)" >&2; exit 2; }
[[ "$(ldconfig -p)" == *"$rusticl_lib"* ]] || { echo "ci-portability: $rusticl_lib missing (apt-get install mesa-opencl-icd)" >&2; exit 2; }

work="$(mktemp -d /tmp/clrnn-ci-portability.XXXXXX)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/all" "$work/rusticl" "$work/oclgrind"
echo "$pocl_lib" >"$work/all/pocl.icd"
echo "$rusticl_lib" >"$work/all/rusticl.icd"
echo "$oclgrind_lib" >"$work/all/oclgrind.icd"
echo "$rusticl_lib" >"$work/rusticl/rusticl.icd"
echo "$oclgrind_lib" >"$work/oclgrind/oclgrind.icd"
# Mesa's shader cache: kept in the build tree so a rerun starts warm, one directory for every
# process of the pass (each kernel is compiled once)
mesa_cache="$build/ci-portability-mesa-cache"
mkdir -p "$mesa_cache"

cd "$build"
plans="${CLRNN_CI_PLANS:-$(ctest -N | sed -n 's/.*Test *#[0-9]*: test_forward_\([a-z]*\)_plan$/\1/p' | tr '\n' ' ')}"
[ -n "${plans// /}" ] || { echo "ci-portability: no plans found (ctest -N lists no test_forward_<plan>_plan)" >&2; exit 2; }
failed=()
t_all=$SECONDS

passes=" ${CLRNN_CI_PASSES:-1 2 3} "
if [[ "$passes" == *" 1 "* ]]; then
echo "== 1. PoCL + Rusticl + Oclgrind visible: the default device is PoCL's"
t0=$SECONDS
if ! env -u CLRNN_DEVICE OCL_ICD_VENDORS="$work/all" RUSTICL_ENABLE=llvmpipe CLRNN_REQUIRE_ICDS=1 \
    ctest --output-on-failure -R '^test_device_choice$'; then
  failed+=("device choice")
fi
list="$(env -u CLRNN_DEVICE OCL_ICD_VENDORS="$work/all" RUSTICL_ENABLE=llvmpipe ./clrnn-probe --list 2>&1)" || true
echo "$list"
default_line="$(grep '^default: ' <<<"$list" || true)"
if ! grep -q '^\*. \[[0-9]*\] pthread' <<<"$list" || ! grep -q '^default: \[[0-9]*\] pthread.*passed over: ' <<<"$default_line" ||
   ! grep -q 'Oclgrind Simulator' <<<"$default_line" || ! grep -q 'llvmpipe' <<<"$default_line"; then
  echo "ci-portability: the default is not PoCL's CPU device, or the probe does not say what it passed over" >&2
  failed+=("probe --list default")
fi
echo "-- pass 1: $((SECONDS - t0)) s"
fi

if [[ "$passes" == *" 2 "* ]]; then
echo "== 2. Rusticl llvmpipe: probe, test_context, the forward, fp16 forward and golden, storage and golden suites of every plan ($plans), the golden suite under the persistent scan, the trace's device times (CLRNN_CI_RUSTICL=full: the probe's self-check, the forward suite under the persistent scan)"
t0=$SECONDS
# CLRNN_CACHE_MODE=driver: Mesa keeps its own shader cache (as PoCL does), and asking Rusticl for
# a program binary (clrnn's binary cache) compiles every kernel of the program at once
rusticl_env=(OCL_ICD_VENDORS="$work/rusticl" RUSTICL_ENABLE=llvmpipe CLRNN_DEVICE=llvmpipe CLRNN_CACHE_MODE=driver
             MESA_SHADER_CACHE_DIR="$mesa_cache" MESA_SHADER_CACHE_MAX_SIZE=1G)
# Kernels are created on first use (clCreateKernel is where Rusticl compiles). The tiled kernels'
# named accumulators took llvmpipe's compiler minutes each (xproj_tiled_4 338 s cold); their compact
# build (CLRNN_COMPACT, added there by program.c) takes 1-5 s a kernel (LSTMP and training scans up
# to ~25 s, load ~10), a generic or gpu kernel 0.1-0.8 s, 2-12 ms from Mesa's cache. By default the
# probe runs without its self-check (every cell's scan under several shapes);
# CLRNN_CI_RUSTICL=full adds it and the persistent scan.
rusticl_plans="$plans"
probe_args=(--no-selfcheck)
[ "${CLRNN_CI_RUSTICL:-subset}" = full ] && probe_args=(--full)
if ! env "${rusticl_env[@]}" ./clrnn-probe "${probe_args[@]}"; then failed+=("rusticl probe"); fi
suites='^test_context$'
for p in $rusticl_plans; do
  suites+="|^test_golden_${p}_plan\$|^test_forward_${p}_plan\$|^test_forward_fp16_${p}_plan\$|^test_golden_fp16_${p}_plan\$|^test_storage_${p}_plan\$"
done
# the persistent scan of every cell (LSTM, LSTMP, both GRUs, the RNN) against the frameworks'
# outputs: ~65 s from a cold Mesa cache; the forward suite under it had not finished after 10 minutes there, so
# that one is CLRNN_CI_RUSTICL=full's
suites+='|^test_golden_persistent_scan$'
if [ "${CLRNN_CI_RUSTICL:-subset}" = full ]; then
  suites+='|^test_golden$|^test_forward$|^test_forward_persistent_scan$'
fi
if ! env "${rusticl_env[@]}" ctest --output-on-failure -j"$nproc_" --timeout 1800 -R "$suites"; then
  failed+=("rusticl suites")
fi
# llvmpipe's loop bound (65535 iterations a kernel invocation, then every loop ends silently):
# measured by a probe kernel against the context's (ctx->loop_limit), and shapes whose launches pass
# it unsplit (a GEMM with K = 70000, a training step with T*N = 70000) against the float64
# references under that bound; ~25 s warm
if ! env "${rusticl_env[@]}" CLRNN_LOOP_BOUND_TESTS='*bound_*' ./tests/test_loop_bound; then
  failed+=("rusticl loop bound")
fi
# Rusticl 22.3 accepts a profiling queue but has no timer (resolution 0, every event stamped 0..3
# ns): the trace must say so instead of showing 0 ms kernels
prof="$(env "${rusticl_env[@]}" ./clrnn-bench --profile --cell rnn_tanh --seq 4 --batch 2 --input 8 --hidden 16 --repeat 2 2>&1)" || true
if ! grep -q '^note: no device timestamps' <<<"$prof"; then
  echo "$prof" >&2
  echo "ci-portability: clrnn-bench --profile on llvmpipe does not say 'no device timestamps'" >&2
  failed+=("rusticl profile")
fi
echo "-- pass 2: $((SECONDS - t0)) s"
fi

if [[ "$passes" == *" 3 "* ]]; then
echo "== 3. Oclgrind (memcheck, data races, API checks): clrnn-probe's small-shape self-check under every plan ($plans), fp32 and fp16 storage"
t0=$SECONDS
# Kernel reports go to OCLGRIND_LOG, API errors and fatal errors to stderr: both are read.
oclgrind_env=(OCL_ICD_VENDORS="$work/oclgrind" OCLGRIND_CHECK_API=1 OCLGRIND_DATA_RACES=1 OCLGRIND_NUM_THREADS="$nproc_")
oclgrind_reported() { # LOG STDERR: 0 when Oclgrind reported anything
  [ -s "$1" ] || grep -qE 'Oclgrind - OpenCL runtime error|OCLGRIND FATAL|Invalid (read|write)|data race' "$2"
}
# First, that a report is seen at all: a planted out-of-bounds write, local-memory race and bad
# API call must each be caught, or a silent Oclgrind would pass everything.
cat >"$work/plant.c" <<'EOF'
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
static const char *src = "__kernel void k(__global float *a, __local float *l) { int i = get_global_id(0);"
                         " l[0] = i; barrier(CLK_LOCAL_MEM_FENCE); a[i + 1] = l[0]; }";
int main(void) {
    cl_platform_id p; cl_device_id d; cl_int e; size_t g = 16;
    if (clGetPlatformIDs(1, &p, NULL) || clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 1, &d, NULL)) return 1;
    cl_context c = clCreateContext(NULL, 1, &d, NULL, NULL, &e);
    cl_command_queue q = clCreateCommandQueue(c, d, 0, &e);
    cl_program pr = clCreateProgramWithSource(c, 1, &src, NULL, &e);
    if (clBuildProgram(pr, 1, &d, "", NULL, NULL)) return 1;
    cl_kernel k = clCreateKernel(pr, "k", &e);
    cl_mem m = clCreateBuffer(c, CL_MEM_READ_WRITE, 16 * sizeof(float), NULL, &e);
    clSetKernelArg(k, 0, sizeof m, &m);
    clSetKernelArg(k, 1, sizeof(float), NULL);
    clEnqueueNDRangeKernel(q, k, 1, NULL, &g, &g, 0, NULL, NULL);
    clFinish(q);
    clSetKernelArg(k, 5, sizeof(float), NULL);
    return 0;
}
EOF
if cc -w -o "$work/plant" "$work/plant.c" -lOpenCL &&
   env "${oclgrind_env[@]}" OCLGRIND_LOG="$work/plant.log" "$work/plant" 2>"$work/plant.err" &&
   grep -q 'Invalid write' "$work/plant.log" && grep -q 'data race' "$work/plant.log" &&
   grep -q 'CL_INVALID_ARG_INDEX' "$work/plant.err"; then
  echo "planted bugs reported: out-of-bounds write, data race, API error"
else
  echo "ci-portability: Oclgrind did not report the planted bugs" >&2
  failed+=("oclgrind planted bugs")
fi
for run in $(for p in $plans; do echo "$p:fp32 $p:fp16"; done); do
  p="${run%%:*}" storage="${run#*:}"
  log="$work/oclgrind-$p-$storage.log" err="$work/oclgrind-$p-$storage.err"
  : >"$log"
  # -cl-opt-disable: Oclgrind 21.10 cannot run the llvm.experimental.noalias.scope.decl that
  # LLVM's inliner leaves in optimized code (jrprice/Oclgrind#223; "Undefined external function",
  # clCreateKernel fails). Unoptimized, every access of the source is checked as written.
  # CLRNN_CACHE_DISABLE: an entry built without that option must not be loaded.
  if ! env "${oclgrind_env[@]}" OCLGRIND_LOG="$log" OCLGRIND_BUILD_OPTIONS=-cl-opt-disable CLRNN_DEVICE=oclgrind \
      CLRNN_PLAN="$p" CLRNN_CACHE_DISABLE=1 ./clrnn-probe --full --sgemm-size 64 --storage "$storage" 2>"$err"; then
    failed+=("oclgrind probe ($p plan, $storage)")
  fi
  cat "$err" >&2
  if oclgrind_reported "$log" "$err"; then
    echo "ci-portability: Oclgrind reported (plan $p, $storage):" >&2
    head -c 20000 "$log" >&2
    failed+=("oclgrind reports ($p plan, $storage)")
  fi
done
# test_context on the simulator too (it hard-coded PoCL once): device choice by name, index and
# type, adopted OpenCL objects
log="$work/oclgrind-context.log" err="$work/oclgrind-context.err"
: >"$log"
if ! env "${oclgrind_env[@]}" OCLGRIND_LOG="$log" OCLGRIND_BUILD_OPTIONS=-cl-opt-disable CLRNN_DEVICE=oclgrind \
    CLRNN_CACHE_DISABLE=1 ./tests/test_context 2>"$err"; then
  cat "$err" >&2
  failed+=("oclgrind test_context")
fi
if oclgrind_reported "$log" "$err"; then
  cat "$err" >&2
  head -c 20000 "$log" >&2
  failed+=("oclgrind reports (test_context)")
fi
echo "-- pass 3: $((SECONDS - t0)) s"
fi

echo "== ci-portability: $((SECONDS - t_all)) s in all"
if [ ${#failed[@]} -gt 0 ]; then
  printf 'ci-portability: FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "ci-portability: all passes passed"
