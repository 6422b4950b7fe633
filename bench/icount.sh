#!/usr/bin/env bash
# bench/icount.sh: instructions per operation, counted by valgrind's
# callgrind (exact and repeatable where timings on a shared machine are
# not). Each program runs at two sizes; the difference in instructions over
# the difference in operations is the cost of one operation, with start-up,
# module loading and the end cancelled out.
#
#   bench/icount.sh [TIDE_ROOT]        default: this checkout
#
# TIDE_ROOT is the checkout whose lua/ and build/ (TIDE_BUILD) are measured;
# the bench programs are this checkout's, so an older commit can be measured
# with today's programs: git worktree add /tmp/before <commit>, make there,
# then bench/icount.sh /tmp/before. Sizes: ICOUNT_N1 (20000), ICOUNT_N2
# (120000) operations.
set -euo pipefail
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$BENCH/.."
TIDE_ROOT=$(cd "${1:-.}" && pwd)
export TIDE_ROOT
export TIDE_BUILD=${TIDE_BUILD:-$TIDE_ROOT/build}
TIDE="$TIDE_BUILD/bin/tide"
N1=${ICOUNT_N1:-20000}
N2=${ICOUNT_N2:-120000}
command -v valgrind >/dev/null || { echo "icount.sh: valgrind not found" >&2; exit 1; }
[[ -x $TIDE ]] || { echo "icount.sh: no $TIDE: run make in $TIDE_ROOT" >&2; exit 1; }

ir() { # cmd (with @N) n -> instructions executed
  local cmd=${1//@N/$2} out
  # shellcheck disable=SC2086
  out=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null $cmd 2>&1 >/dev/null)
  sed -n 's/.*Collected : *\([0-9][0-9]*\).*/\1/p' <<<"$out"
}

per_op() { # label unit cmd
  local a b
  a=$(ir "$3" "$N1")
  b=$(ir "$3" "$N2")
  [[ -n $a && -n $b ]] || { echo "icount.sh: $1: no count from: $3" >&2; exit 1; }
  awk -v l="$1" -v u="$2" -v a="$a" -v b="$b" -v n1="$N1" -v n2="$N2" \
    'BEGIN { printf "%-36s %8.0f instructions per %s\n", l, (b - a) / (n2 - n1), u }'
}

echo "tide: $TIDE_ROOT ($(git -C "$TIDE_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')); sizes $N1 and $N2"
per_op "pingpong, Queue(1)" hand-off "$TIDE bench/pingpong/tide.lua @N queue"
per_op "pingpong, Event" hand-off "$TIDE bench/pingpong/tide.lua @N event"
per_op "spawn + await" task "$TIDE bench/spawn/tide.lua @N"
per_op "spawn, bare Lua coroutine" task "lua5.4 bench/spawn/lua.lua @N"
per_op "fanout, Semaphore(100)" task "$TIDE bench/spawn/tide.lua @N fanout"
per_op "pipeline, 4 stages" item "$TIDE bench/pipeline/tide.lua @N"
