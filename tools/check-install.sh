#!/usr/bin/env bash
# Installs a build tree into a scratch prefix and builds tools/example against the installed
# library both ways a desktop app would: find_package(clrnn) and pkg-config. Runs both.
#   tools/check-install.sh BUILD_DIR [SCRATCH_DIR]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$1"
scratch="${2:-$(mktemp -d)}"
prefix="$scratch/prefix"
rm -rf "$scratch/prefix" "$scratch/cmake-app" "$scratch/pc-app"
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir="$(ls -d "$prefix"/lib* | head -n1)"
for f in "$prefix/include/clrnn.h" "$libdir/libclrnn.a" "$libdir/pkgconfig/clrnn.pc" \
         "$libdir/cmake/clrnn/clrnnConfig.cmake" "$prefix/bin/clrnn-probe"; do
  [ -e "$f" ] || { echo "check-install: missing $f"; exit 1; }
done
soname="$(objdump -p "$libdir/libclrnn.so" | awk '/SONAME/ {print $2}')"
[ "$soname" = "libclrnn.so.0" ] || { echo "check-install: SONAME is '$soname'"; exit 1; }
export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# 1. CMake package
cmake -S "$root/tools/example" -B "$scratch/cmake-app" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$scratch/cmake-app" >/dev/null
"$scratch/cmake-app/clrnn_example"

# 2. pkg-config
mkdir -p "$scratch/pc-app"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
cc -std=c11 -Wall -Wextra -Werror -o "$scratch/pc-app/clrnn_example" "$root/tools/example/example.c" \
   $(pkg-config --cflags clrnn) $(pkg-config --libs clrnn) -lm
"$scratch/pc-app/clrnn_example"
echo "check-install: CMake package and pkg-config consumers both built and ran"
