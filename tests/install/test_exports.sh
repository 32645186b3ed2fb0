#!/bin/sh
# The dynamic symbols that libclrnn.so defines must be exactly the functions include/clrnn.h
# declares, each declared with CLRNN_API: nothing internal (clrnn_fail, clrnn_ox_*, ...) and none of
# the generated onnx__* protobuf-c code may leak, and no public function may be missing.
# The same holds for the global symbols that libclrnn.a defines (given as LIBCLRNN.a): its hidden
# symbols are made local when it is archived (tools/cmake/localize_static.cmake), so an application
# linking it statically may define any of clrnn's internal names itself.
#   tests/install/test_exports.sh LIBCLRNN.so CLRNN.h CC ["MODULES" [LIBCLRNN.a]]
# MODULES: the CLRNN_MODULES list of the build (";"-separated); functions of a module not built
# (clrnn_onnx_* and clrnn_model_* without onnx, clrnn_keras_* without keras) are not expected.
# Used by ctest (the build tree's libraries) and by tools/check-install.sh (the installed ones).
set -eu
lib="$1"
header="$2"
cc="$3"
modules=";${4-onnx;keras};"
archive="${5-}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "test_exports: $*" >&2; exit 1; }
[ -f "$lib" ] || fail "no library at $lib"

# Declared: every clrnn_*( in the preprocessed header (comments gone, macros expanded). Without
# CL_TARGET_OPENCL_VERSION clrnn.h includes no OpenCL header, so only clrnn's names match.
"$cc" -E -P -x c "$header" >"$tmp/pp" || fail "the preprocessor failed on $header"
grep -oE '\bclrnn_[a-z0-9_]+[[:space:]]*\(' "$tmp/pp" | sed 's/[[:space:](]//g' | sort -u >"$tmp/declared"
# Marked: the names that follow CLRNN_API (declarations spread over lines joined first).
"$cc" -E -P -x c -DCLRNN_API=CLRNN_API_MARK "$header" | tr '\n' ' ' |
  grep -oE 'CLRNN_API_MARK[^;(]*\bclrnn_[a-z0-9_]+[[:space:]]*\(' |
  sed -E 's/.*[^a-z0-9_](clrnn_[a-z0-9_]+)[[:space:]]*\($/\1/' | sort -u >"$tmp/marked"
case "$modules" in *";onnx;"*) ;; *) grep -vE '^clrnn_(onnx|model)_' "$tmp/declared" >"$tmp/d" || true; mv "$tmp/d" "$tmp/declared" ;; esac
case "$modules" in *";keras;"*) ;; *) grep -vE '^clrnn_keras_' "$tmp/declared" >"$tmp/d" || true; mv "$tmp/d" "$tmp/declared" ;; esac
[ -s "$tmp/declared" ] || fail "found no function declaration in $header"

# check LIB LIST: LIST (the symbols LIB defines for others) against the declared functions
status=0
check() {
  unmarked="$(comm -23 "$tmp/declared" "$tmp/marked")"
  if [ -n "$unmarked" ]; then
    echo "test_exports: declared in $header without CLRNN_API (so hidden):" $unmarked >&2
    status=1
  fi
  missing="$(comm -23 "$tmp/declared" "$2")"
  if [ -n "$missing" ]; then
    echo "test_exports: declared in $header but not exported by $1:" $missing >&2
    status=1
  fi
  extra="$(comm -13 "$tmp/declared" "$2")"
  if [ -n "$extra" ]; then
    echo "test_exports: $1 exports $(echo "$extra" | wc -l) symbol(s) that $header does not declare" \
         "(internal ones must stay hidden: static, or declared in src/internal.h without CLRNN_API):" >&2
    echo "$extra" | head -n 40 | sed 's/^/  /' >&2
    status=1
  fi
}

# Exported: every symbol the .so defines in its dynamic table (functions and data alike).
nm -D --defined-only "$lib" | awk '{print $NF}' | sed 's/@.*//' | sort -u >"$tmp/exported"
check "$lib" "$tmp/exported"
done_what="$(basename "$lib")"
if [ -n "$archive" ]; then
  [ -f "$archive" ] || fail "no static library at $archive"
  # Global: every symbol of the archive's members an application's objects could collide with.
  nm -g --defined-only "$archive" | awk 'NF == 3 {print $3}' | sort -u >"$tmp/global"
  check "$archive" "$tmp/global"
  done_what="$done_what and $(basename "$archive")"
fi
[ $status -eq 0 ] || exit 1
echo "test_exports: $done_what export exactly the $(wc -l <"$tmp/declared") functions of $(basename "$header")"
