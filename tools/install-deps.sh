#!/usr/bin/env bash
# Installs the Debian 12 packages clrnn needs to build, test and benchmark, if any is missing.
# Idempotent: does nothing when everything is present. Works as root or through sudo.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  ocl-icd-opencl-dev opencl-headers clinfo pocl-opencl-icd
  mesa-opencl-icd oclgrind
  libclblast-dev clblast-utils
  libcmocka-dev
  libprotobuf-c-dev protobuf-c-compiler libonnx-dev libonnx-testdata
  libhdf5-dev libjansson-dev libzip-dev
  libdnnl-dev
  clang valgrind
  dataset-fashion-mnist python3-numpy
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
