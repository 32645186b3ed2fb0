#!/usr/bin/env bash
# The GPU check (issue 15) for a lent NVIDIA machine that has the driver and PyTorch with cuDNN but
# no package archive: a Release build and the Debian libraries it needs travel with it.
#
#   tools/gpu-check.sh pack [--build DIR] [--pack DIR]
#       Here (Debian 12): builds a Release tree in DIR (default build-gpu-check; oneDNN left out, the
#       comparison there is cuDNN) and fills the pack (default .gpu-check, ignored through
#       .git/info/exclude) with clrnn-probe, clrnn-bench, clrnn-run, test_forward and test_golden,
#       every shared library `ldd` shows for them except glibc's, taken from the Debian packages
#       that own them (apt-get download, dpkg -x), tools/gpu_check_cudnn.py and a sha256 manifest.
#   tools/gpu-check.sh run [--dry-run] [--pack DIR] [--out DIR]
#       There: checks the pack against its manifest, runs ldd on every carried program with only
#       the carried libraries (anything else but glibc is a failure), points the ICD loader at the
#       driver's libnvidia-opencl.so.1 through a private vendors directory, then runs clrnn-probe,
#       the forward and golden suites under the GPU plan ($CLRNN_GPU_PLAN, default gpu),
#       clrnn-bench --suite --json (that plan) and tools/gpu_check_cudnn.py (PyTorch cuDNN LSTM/GRU/RNN on S1-S6),
#       writing one table (clrnn ms, cuDNN ms, ratio, max |diff|) to OUT/gpu-check.md (OUT: --out,
#       else $OUT, else gpu-check-out). --dry-run (this GPU-less machine): the pack checks and ldd,
#       then the cuDNN script's pipeline on the CPU with tiny shapes when $PYTHON (default python3)
#       imports torch and onnx,
#       and "no GPU", exit 0.
# With the device tool: carry [".gpu-check"] and run `tools/gpu-check.sh run` (estimated 4-8 minutes, not
# yet run on a GPU); CLRNN_GPU_PLAN=generic runs the old plan instead, for comparison.
# Exit status: 0 all passed (or a dry run's checks passed), 1 a check failed, 2 bad usage or no pack.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
mode="${1:-}"
[ $# -gt 0 ] && shift
build="$root/build-gpu-check" pack="$root/.gpu-check" out="${OUT:-$root/gpu-check-out}" dry=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --pack) pack="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --dry-run) dry=1; shift ;;
    *) echo "gpu-check: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
programs=(clrnn-probe clrnn-bench clrnn-run test_forward test_golden)
# glibc's own libraries: the target's are used (Debian 12 builds need glibc >= 2.34)
is_glibc() { [[ "$1" =~ ^(linux-vdso|ld-linux|libc|libm|libdl|libpthread|librt|libresolv|libutil)[.-] ]]; }

do_pack() {
  command -v apt-get >/dev/null && command -v dpkg >/dev/null || { echo "gpu-check pack: needs Debian's apt-get and dpkg" >&2; exit 2; }
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCLRNN_WERROR=ON -DCLRNN_WITH_DNNL=OFF >/dev/null
  cmake --build "$build" -j"$(nproc)" --target "${programs[@]}"
  rm -rf "$pack"
  mkdir -p "$pack/bin" "$pack/lib" "$pack/debs"
  for p in "${programs[@]}"; do
    f="$(find "$build" -maxdepth 2 -type f -name "$p" -perm -u+x | head -1)"
    [ -n "$f" ] || { echo "gpu-check pack: $p not built in $build" >&2; exit 1; }
    cp "$f" "$pack/bin/"
  done
  # every non-glibc library the programs load, and the Debian package that owns it
  declare -A pkgs=()
  while read -r name path; do
    is_glibc "$name" && continue
    real="$(readlink -f "$path")"
    owner="$(dpkg -S "$real" 2>/dev/null || dpkg -S "$path" 2>/dev/null || true)"
    owner="${owner%%:*}"
    [ -n "$owner" ] || { echo "gpu-check pack: no Debian package owns $path" >&2; exit 1; }
    pkgs["$owner"]=1
    echo "$name $owner" >>"$pack/debs/libraries.txt"
  done < <(for p in "${programs[@]}"; do ldd "$pack/bin/$p"; done | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | sort -u)
  # the installed version (the one the build was linked and tested against) where the archive still
  # has it, else the archive's (a security update the lists know and this machine lacks, or the reverse)
  # (apt-cache knows an installed version even when no source still offers it, so the download
  # itself decides, package by package)
  local p v
  for p in "${!pkgs[@]}"; do
    v="$(dpkg-query -W -f='${Version}' "$p")"
    if ! (cd "$pack/debs" && apt-get download -q=2 "$p=$v" 2>/dev/null); then
      echo "gpu-check pack: $p $v is not in the archive; taking its candidate" >&2
      (cd "$pack/debs" && apt-get download -q=2 "$p") || { echo "gpu-check pack: cannot download $p" >&2; exit 1; }
    fi
  done
  local x="$pack/debs/x"
  for deb in "$pack"/debs/*.deb; do
    dpkg -x "$deb" "$x"
    dpkg-deb -f "$deb" Package Version | paste -sd' ' >>"$pack/debs/packages.txt"
  done
  # only the libraries ldd named (and their soname links), not the whole packages
  while read -r name owner; do
    f="$(find "$x" -name "$name" \( -type f -o -type l \) | head -1)"
    [ -n "$f" ] || { echo "gpu-check pack: $name not in $owner's .deb" >&2; exit 1; }
    cp -L "$f" "$pack/lib/$name"
  done <"$pack/debs/libraries.txt"
  rm -rf "$x" "$pack"/debs/*.deb
  cp "$root/tools/gpu_check_cudnn.py" "$pack/"
  { echo "commit $(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)"
    echo "built $(date -u +%FT%TZ) on $(. /etc/os-release && echo "$PRETTY_NAME")"
    echo "glibc needed $(for p in "$pack"/bin/* "$pack"/lib/*; do objdump -T "$p" 2>/dev/null; done |
                         grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)"; } >"$pack/BUILD_INFO"
  (cd "$pack" && find . -type f ! -name MANIFEST.sha256 | sort | xargs sha256sum >MANIFEST.sha256)
  echo "gpu-check pack: $pack, $(du -sh "$pack" | cut -f1) ($(du -sb "$pack" | cut -f1) bytes; the device tool carries 64 MiB with the repository)"
  cat "$pack/BUILD_INFO" "$pack/debs/packages.txt"
}

# ldd with only the carried libraries: every dependency resolves into PACK/lib or is glibc's
check_ldd() {
  local bad=0
  for p in "$pack"/bin/*; do
    local l
    l="$(LD_LIBRARY_PATH="$pack/lib" ldd "$p" 2>&1)" || { echo "ldd $p failed: $l" >&2; bad=1; continue; }
    while read -r line; do
      name="$(awk '{print $1}' <<<"$line")"
      if grep -q 'not found' <<<"$line"; then echo "  $(basename "$p"): $line" >&2; bad=1; continue; fi
      path="$(awk '$2 == "=>" {print $3}' <<<"$line")"
      [ -z "$path" ] && continue
      is_glibc "$name" && continue
      case "$(readlink -f "$path")" in
        "$(readlink -f "$pack/lib")"/*) ;;
        *) echo "  $(basename "$p"): $name comes from $path, not the pack" >&2; bad=1 ;;
      esac
    done <<<"$l"
  done
  for p in "$pack"/lib/*; do # the carried libraries' own needs, too
    local miss
    miss="$(LD_LIBRARY_PATH="$pack/lib" ldd "$p" 2>&1 | grep 'not found' || true)"
    [ -z "$miss" ] || { echo "  $(basename "$p"): $miss" >&2; bad=1; }
  done
  return $bad
}

find_nvidia_opencl() {
  local c
  for c in "$(ldconfig -p 2>/dev/null | awk '/libnvidia-opencl\.so\.1 /{print $NF; exit}')" \
           /usr/local/nvidia/lib64/libnvidia-opencl.so.1 /usr/lib/x86_64-linux-gnu/libnvidia-opencl.so.1 \
           /usr/lib64/libnvidia-opencl.so.1 /usr/local/nvidia/lib/libnvidia-opencl.so.1; do
    [ -n "$c" ] && [ -e "$c" ] && { echo "$c"; return 0; }
  done
  find /usr /opt -xdev -name 'libnvidia-opencl.so.1*' 2>/dev/null | head -1
}

do_run() {
  [ -f "$pack/MANIFEST.sha256" ] || { echo "gpu-check: no pack at $pack (tools/gpu-check.sh pack; carry it)" >&2; exit 2; }
  mkdir -p "$out"
  local failed=()
  echo "== the pack: $pack ($(du -sh "$pack" | cut -f1))"
  cat "$pack/BUILD_INFO"
  if (cd "$pack" && sha256sum --quiet -c MANIFEST.sha256); then echo "manifest: every file intact"
  else failed+=("manifest"); fi
  for p in "${programs[@]}"; do [ -x "$pack/bin/$p" ] || failed+=("missing bin/$p"); done
  echo "== ldd with only the carried libraries ($(ls "$pack/lib" | wc -l) of them)"
  if check_ldd; then echo "ldd: every program resolves to the pack or glibc"; else failed+=("ldd"); fi
  local lib="$pack/lib" py="${PYTHON:-python3}"
  work="$(mktemp -d /tmp/clrnn-gpu-check.XXXXXX)"
  trap 'rm -rf "$work"' EXIT
  # what the clrnn programs get; Python never sees the carried libraries (Debian's libstdc++ is
  # older than PyTorch's): it calls clrnn-run through a wrapper that sets them
  local env_clrnn=(LD_LIBRARY_PATH="$lib" CLRNN_CACHE_DIR="$work/kernel-cache" CLRNN_GOLDEN_DIR="$root/tests/golden"
                   CLRNN_SOURCE_DIR="$root")
  printf '#!/bin/sh\nLD_LIBRARY_PATH="%s" exec "%s" "$@"\n' "$lib" "$pack/bin/clrnn-run" >"$work/clrnn-run"
  chmod +x "$work/clrnn-run"
  # onnx.save, not just "import onnx": Debian's libonnx-testdata installs dist-packages/onnx/backend
  # without python3-onnx, which makes "onnx" an empty namespace package that imports fine
  if [ "$dry" = 1 ] && "$py" -c 'import torch, numpy, onnx.helper, onnx.numpy_helper; onnx.save' 2>/dev/null; then
    echo "== dry run: the cuDNN script's pipeline on the CPU, tiny shapes, clrnn-run on the default device"
    if CLRNN_CACHE_DIR="$work/kernel-cache" "$py" "$pack/gpu_check_cudnn.py" --cpu --tiny --clrnn-run "$work/clrnn-run" \
        --work "$work/py" --out "$out/gpu-check-dry.md"; then :; else failed+=("cuDNN script (CPU, tiny)"); fi
  elif [ "$dry" = 1 ]; then
    echo "(dry run: $py has no torch/onnx/numpy, the cuDNN script's CPU pipeline is not run)"
  fi
  local icd
  icd="$(find_nvidia_opencl || true)"
  if [ -z "$icd" ] || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "no GPU: ${icd:-no libnvidia-opencl.so.1}; $( (command -v nvidia-smi >/dev/null && nvidia-smi -L 2>&1 | head -1) || echo "no nvidia-smi")"
    if [ ${#failed[@]} -gt 0 ]; then printf 'gpu-check: FAILED: %s\n' "${failed[@]}" >&2; exit 1; fi
    [ "$dry" = 1 ] && { echo "gpu-check --dry-run: the pack checks passed; no GPU"; exit 0; }
    exit 1
  fi
  if [ "$dry" = 1 ]; then
    echo "GPU found ($icd); a dry run stops here"
    [ ${#failed[@]} -eq 0 ] || { printf 'gpu-check: FAILED: %s\n' "${failed[@]}" >&2; exit 1; }
    exit 0
  fi
  [ ${#failed[@]} -eq 0 ] || { printf 'gpu-check: FAILED: %s\n' "${failed[@]}" >&2; exit 1; }
  mkdir -p "$work/vendors"
  echo "$icd" >"$work/vendors/nvidia.icd"
  env_clrnn+=(OCL_ICD_VENDORS="$work/vendors" CLRNN_DEVICE=gpu)
  local plan="${CLRNN_GPU_PLAN:-gpu}"
  nvidia-smi -L | tee "$out/nvidia-smi.txt"
  echo "== clrnn-probe"
  env "${env_clrnn[@]}" timeout 300 "$pack/bin/clrnn-probe" --full 2>&1 | tee "$out/probe.txt" || failed+=("probe")
  for t in test_forward test_golden; do
    echo "== $t, CLRNN_PLAN=$plan"
    env "${env_clrnn[@]}" CLRNN_PLAN="$plan" timeout 400 "$pack/bin/$t" >"$out/$t.txt" 2>&1 || failed+=("$t ($plan plan)")
    tail -3 "$out/$t.txt"
  done
  # the plan under test for the table's clrnn side too (once the GPU plan is the default on GPUs,
  # that is what users get)
  echo "== clrnn-bench --suite, CLRNN_PLAN=$plan"
  env "${env_clrnn[@]}" CLRNN_PLAN="$plan" timeout 400 "$pack/bin/clrnn-bench" --suite --json >"$out/bench.json" \
    2>"$out/bench.err" || failed+=("bench ($plan plan)")
  echo "== PyTorch cuDNN on S1-S6 against clrnn-run (same weights, CLRNN_PLAN=$plan)"
  env OCL_ICD_VENDORS="$work/vendors" CLRNN_DEVICE=gpu CLRNN_PLAN="$plan" CLRNN_CACHE_DIR="$work/kernel-cache" \
    timeout 400 "$py" "$pack/gpu_check_cudnn.py" \
    --clrnn-run "$work/clrnn-run" --bench-json "$out/bench.json" --work "$work/py" --out "$out/gpu-check.md" ||
    failed+=("cuDNN comparison")
  [ ${#failed[@]} -eq 0 ] || { printf 'gpu-check: FAILED: %s\n' "${failed[@]}" >&2; exit 1; }
  echo "gpu-check: all passed; table in $out/gpu-check.md"
}

case "$mode" in
  pack) do_pack ;;
  run) do_run ;;
  *) sed -n '2,/^# Exit status/p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
