#!/bin/sh
# Runs every regression script of this directory (each a standalone Lua
# script: exit 0 and "ok" once its bug is fixed) and prints one line each.
#   sh test/fuzz/repros/run.sh                 the build in ./build
#   TIDE_BUILD=build-asan sh test/fuzz/repros/run.sh   under ASan+UBSan
# Run from the checkout. The memory bugs (use-after-free, leaks) show only
# under the sanitizer build. Exit status: the number of scripts that fail.
BUILD=${TIDE_BUILD:-build}
LUA=${LUA:-lua5.4}
export LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH="$BUILD/?.so;;"
case "$BUILD" in
*asan*)
  CC=${CC:-cc}
  export LD_PRELOAD="$($CC -print-file-name=libasan.so) $($CC -print-file-name=libubsan.so)"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  ;;
esac
failed=0
for f in test/fuzz/repros/*.lua; do
  out=$(timeout -k 2 20 "$LUA" "$f" 2>&1)
  code=$?
  if [ $code -eq 0 ]; then
    echo "ok    $f"
  else
    failed=$((failed + 1))
    why=$(printf '%s\n' "$out" | grep -m1 -E 'ERROR: [A-Za-z]+Sanitizer|runtime error|lua5.4: ' | cut -c1-120)
    [ $code -eq 124 ] || [ $code -eq 137 ] && why="hangs (killed after 20 s)"
    [ -z "$why" ] && why="exit $code"
    echo "FAIL  $f: $why"
  fi
done
exit $failed
