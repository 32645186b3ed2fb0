#!/usr/bin/env bash
# Proves that clrnn installs like a library. Installs a build into a scratch prefix, checks the
# tree (files, license, SONAME, exported symbols, no OpenCL level imposed, every tool's --version),
# then builds the apps of tools/example against the installed prefix four ways, each with
# -Wall -Wextra -Werror, and runs them:
#   CMake find_package(clrnn) with clrnn::clrnn and with clrnn::clrnn_static,
#   pkg-config, shared and --static;
# each way an app without any OpenCL define (example.c, clrnn's API only) and an OpenCL 3.0 app
# (opencl_app.c, -DCL_TARGET_OPENCL_VERSION=300) that passes clrnn its own context and queue; and
# example.c statically with clash.c, which defines names clrnn uses internally.
#   tools/check-install.sh [BUILD_DIR [SCRATCH_DIR]]
# BUILD_DIR: a configured and built tree (CI: build/ after tools/test.sh; ctest's install_consumer:
# its own tree). Without it, clrnn is configured as a user would (defaults, no tests) and built in
# SCRATCH_DIR/build. SCRATCH_DIR: default a new temporary directory, removed on success.
# Exit status 0 when everything passed; otherwise the failing step is named on stderr.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-}"
keep=1
if [ -n "${2:-}" ]; then scratch="$2"; else scratch="$(mktemp -d)"; keep=0; fi
step="setup"
trap 'rc=$?; [ $rc -eq 0 ] || echo "check-install: FAILED at: $step (files in $scratch)" >&2' EXIT
die() { echo "check-install: $*" >&2; exit 1; }
cc="${CC:-cc}"
flags=(-std=c11 -Wall -Wextra -Werror)

if [ -z "$build" ]; then
  step="configure and build clrnn with the defaults"
  build="$scratch/build"
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCLRNN_BUILD_TESTS=OFF >"$scratch/build.log" 2>&1 ||
    { tail -n 30 "$scratch/build.log"; die "configuring clrnn failed"; }
  cmake --build "$build" -j"$(nproc)" >>"$scratch/build.log" 2>&1 ||
    { tail -n 30 "$scratch/build.log"; die "building clrnn failed"; }
fi
[ -f "$build/CMakeCache.txt" ] || die "$build is not a configured build tree"
prefix="$scratch/prefix"
rm -rf "$prefix" "$scratch/apps"
mkdir -p "$scratch/apps"

step="cmake --install"
cmake --install "$build" --prefix "$prefix" >"$scratch/install.log" 2>&1 || { cat "$scratch/install.log"; die "cmake --install failed"; }
libdir="$(ls -d "$prefix"/lib* | head -n1)"
version="$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")"
modules="$(sed -n 's/^CLRNN_MODULES:STRING=//p' "$build/CMakeCache.txt")"
step="installed files"
for f in include/clrnn.h "${libdir#"$prefix"/}/libclrnn.a" "${libdir#"$prefix"/}/libclrnn.so" \
         "${libdir#"$prefix"/}/pkgconfig/clrnn.pc" "${libdir#"$prefix"/}/cmake/clrnn/clrnnConfig.cmake" \
         "${libdir#"$prefix"/}/cmake/clrnn/clrnnConfigVersion.cmake" \
         share/doc/clrnn/LICENSE share/doc/clrnn/NOTICE share/doc/clrnn/CHANGELOG.md; do
  [ -e "$prefix/$f" ] || die "missing in the install tree: $f"
done
grep -q "Apache License" "$prefix/share/doc/clrnn/LICENSE" || die "share/doc/clrnn/LICENSE is not the Apache-2.0 text"
soname="$(objdump -p "$libdir/libclrnn.so" | awk '/SONAME/ {print $2}')"
[ "$soname" = "libclrnn.so.${version%%.*}" ] || die "SONAME is '$soname', expected libclrnn.so.${version%%.*}"

step="exported symbols of the installed libclrnn.so and libclrnn.a"
sh "$root/tests/install/test_exports.sh" "$libdir/libclrnn.so" "$prefix/include/clrnn.h" "$cc" "$modules" "$libdir/libclrnn.a"

step="no OpenCL version imposed on the application"
if grep -n "CL_TARGET_OPENCL_VERSION" "$libdir"/cmake/clrnn/*.cmake; then
  die "the exported CMake targets carry CL_TARGET_OPENCL_VERSION (the app chooses its OpenCL level)"
fi
export PKG_CONFIG_PATH="$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
pkg-config --validate clrnn || die "pkg-config --validate clrnn failed"
case " $(pkg-config --cflags clrnn) " in *CL_TARGET_OPENCL_VERSION*) die "clrnn.pc's Cflags define CL_TARGET_OPENCL_VERSION" ;; esac
# clrnn.h alone must leave the macro undefined and include no OpenCL header (so no Khronos message)
printf '%s\n' '#include <clrnn.h>' '#if defined(CL_TARGET_OPENCL_VERSION) || defined(__OPENCL_CL_H)' \
  '#error "clrnn.h chose an OpenCL level (or included <CL/cl.h>) for an app that did not"' '#endif' \
  'int main(void) { return clrnn_version() == CLRNN_VERSION_MAJOR * 10000 + CLRNN_VERSION_MINOR * 100 + CLRNN_VERSION_PATCH ? 0 : 1; }' \
  >"$scratch/apps/plain.c"
"$cc" "${flags[@]}" -Wpedantic -I"$prefix/include" -c "$scratch/apps/plain.c" -o "$scratch/apps/plain.o" \
  >"$scratch/apps/plain.log" 2>&1 || { cat "$scratch/apps/plain.log"; die "clrnn.h does not compile on its own"; }
[ ! -s "$scratch/apps/plain.log" ] || { cat "$scratch/apps/plain.log"; die "clrnn.h alone gives compiler diagnostics"; }
if command -v c++ >/dev/null; then
  # and in C++ (-x c++), both without an OpenCL level and with one
  for def in "" "-DCL_TARGET_OPENCL_VERSION=300"; do
    c++ -x c++ -Wall -Wextra -Werror $def -I"$prefix/include" -fsyntax-only "$prefix/include/clrnn.h" ||
      die "clrnn.h does not compile as C++ ${def:-without an OpenCL define}"
  done
fi

step="--version of every installed tool"
tools=("$prefix"/bin/clrnn-*)
[ -e "${tools[0]}" ] || die "no tool installed in $prefix/bin"
sh "$root/tests/install/test_tool_version.sh" "$version" "${tools[@]}" >/dev/null

# run APP [shared|static]: runs it and checks which libclrnn it was linked with
run() {
  local app="$1" kind="$2"
  if readelf -d "$app" | grep -q 'NEEDED.*libclrnn\.so'; then
    [ "$kind" = shared ] || die "$app was linked against libclrnn.so, expected the static library"
  else
    [ "$kind" = static ] || die "$app does not load libclrnn.so"
  fi
  "$app" || die "$app failed (exit status $?)"
}

# ---- CMake package ----
for kind in shared static; do
  target=clrnn::clrnn
  static=OFF
  if [ $kind = static ]; then target=clrnn::clrnn_static; static=ON; fi
  step="CMake find_package(clrnn), $target"
  app="$scratch/apps/cmake-$kind"
  cmake -S "$root/tools/example" -B "$app" -DCMAKE_PREFIX_PATH="$prefix" -DCLRNN_EXAMPLE_STATIC=$static \
        "-DCMAKE_C_FLAGS=${flags[*]}" -DCMAKE_BUILD_TYPE=Release >"$app.log" 2>&1 ||
    { cat "$app.log"; die "configuring the CMake app failed"; }
  cmake --build "$app" >>"$app.log" 2>&1 || { cat "$app.log"; die "building the CMake app failed"; }
  # no LD_LIBRARY_PATH: CMake gives the shared build a RUNPATH to the prefix
  run "$app/clrnn_example" $kind
  run "$app/clrnn_opencl_app" $kind
done

# ---- pkg-config ----
# build NAME SOURCE DEFINE LIBS...: the compiler must print nothing at all (no warning, no note)
build_pc() {
  local out="$scratch/apps/$1" src="$2" def="$3"
  shift 3
  "$cc" "${flags[@]}" $def $(pkg-config --cflags clrnn) -o "$out" "$src" "$@" -lm >"$out.log" 2>&1 ||
    { cat "$out.log"; die "compiling $(basename "$src") failed"; }
  [ ! -s "$out.log" ] || { cat "$out.log"; die "compiling $(basename "$src") printed diagnostics"; }
}
step="pkg-config --libs clrnn (shared)"
build_pc pc-shared-example "$root/tools/example/example.c" "" $(pkg-config --libs clrnn)
build_pc pc-shared-opencl "$root/tools/example/opencl_app.c" -DCL_TARGET_OPENCL_VERSION=300 $(pkg-config --libs clrnn)
# pkg-config binaries have no RUNPATH: the loader needs the prefix (as the README says)
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" run "$scratch/apps/pc-shared-example" shared
LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" run "$scratch/apps/pc-shared-opencl" shared
step="pkg-config --static --libs clrnn"
# libclrnn.a by name (-l:libclrnn.a): with both libraries in one directory the linker takes the .so
static_libs="$(pkg-config --static --libs clrnn)"
static_libs="${static_libs/-lclrnn /-l:libclrnn.a }"
build_pc pc-static-example "$root/tools/example/example.c" "" $static_libs
build_pc pc-static-opencl "$root/tools/example/opencl_app.c" -DCL_TARGET_OPENCL_VERSION=300 $static_libs
run "$scratch/apps/pc-static-example" static
run "$scratch/apps/pc-static-opencl" static
step="a static app with its own definitions of clrnn's internal names"
# an app carrying its own protobuf-c ONNX code (onnx__*) and names clrnn uses inside: with
# libclrnn.a's internals global this fails to link (multiple definition); they are local
build_pc pc-static-clash "$root/tools/example/example.c" "" "$root/tools/example/clash.c" $static_libs
run "$scratch/apps/pc-static-clash" static

step="done"
echo "check-install: clrnn $version installed to a scratch prefix: files, license, SONAME $soname, exports, --version of ${#tools[@]} tools;"
echo "check-install: CMake (clrnn::clrnn, clrnn::clrnn_static) and pkg-config (shared, --static) apps built with -Werror, with and without -DCL_TARGET_OPENCL_VERSION=300, and ran;"
echo "check-install: a static app defining clrnn's internal and onnx__* names itself linked and ran"
[ $keep -eq 1 ] || rm -rf "$scratch"
