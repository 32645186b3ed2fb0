#!/bin/sh
# Every tool answers --version with one line "clrnn-xxx VERSION" on stdout (the project version),
# nothing on stderr, exit status 0.
#   tests/install/test_tool_version.sh VERSION TOOL...
set -u
version="$1"
shift
status=0
errf="$(mktemp)"
trap 'rm -f "$errf"' EXIT
for tool in "$@"; do
  name="$(basename "$tool")"
  out="$("$tool" --version 2>"$errf")"
  rc=$?
  err="$(cat "$errf")"
  if [ $rc -ne 0 ] || [ "$out" != "$name $version" ] || [ -n "$err" ]; then
    echo "tool_version: '$name --version' gave exit status $rc, stdout '$out', stderr '$err';" \
         "expected status 0 and '$name $version'" >&2
    status=1
  else
    echo "$out"
  fi
done
exit $status
