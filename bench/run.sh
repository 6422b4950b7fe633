#!/usr/bin/env bash
# bench/run.sh: tide's benchmark suite, alone (make bench) or against its
# peers (make bench-peers), interleaved so the machine's drift hits all alike.
#
#   bench/run.sh [--peers] [workload ...]
#   workloads: echo http http-lib http-lib-pipe http-client spawn pingpong
#     sleepers fanout pipeline cancel procs readfile offload workers tls
#     tls-handshake idle
#
# Knobs (environment): ROUNDS (default 5), SECONDS_MEASURED (echo/http
# window, default 3), SPAWN_N (200000), PINGPONG_N (1000000), SLEEPERS_N
# (100000), FANOUT_N (100000), PIPELINE_N (1000000), CANCEL_N (1000000),
# PROCS_N (2000), READFILE_N (10000), OFFLOAD_N (20000), IDLE_N (10000),
# TIDE_ROOT (checkout with lua/ and build/, default this one), TIDE_BUILD
# (default $TIDE_ROOT/build), OUT (default bench/results).
#
# Every program prints one line `result key=value ... check=N` (spawn,
# pingpong, sleepers, fanout, pipeline, cancel, procs, readfile: in-process
# numbers, the program pinned to CPU 0; offload: on every CPU, its point
# being the other cores) or is a server for bench/echo.sh (echo) or wrk
# (http), pinned to CPU 0 with the load on CPU 1 and the server's CPU time
# read from /proc over the measured window. workers: bench/workers/tide.lua
# under `tide --workers 1` and `--workers 2`, wrk and the servers sharing
# both CPUs (no pinning: the point is the second core), CPU of the whole
# process tree; then Jain's index of 10,000 connections over 2 workers.
# tls and tls-handshake: servers for bench/echo.sh with bench/tls/load.c
# as the load; certificates made by test/tls_certs.sh (BENCH_TLS_DIR).
# idle: line echo servers (CPU 0) and bench/idle/load.c (CPU 1), which
# leaves IDLE_N connections open and idle once each has echoed a line; the
# server's VmRSS before and after, per connection.
# Each program is checked once for correct output before any timing.
# Rows go to $OUT/raw.txt; bench/report.lua makes the tables and the chart.
set -euo pipefail
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
cd "$ROOT"
TIDE_ROOT=${TIDE_ROOT:-$ROOT}
export TIDE_ROOT
export TIDE_BUILD=${TIDE_BUILD:-$TIDE_ROOT/build}
ROUNDS=${ROUNDS:-5}
SECS=${SECONDS_MEASURED:-3}
SPAWN_N=${SPAWN_N:-200000}
PINGPONG_N=${PINGPONG_N:-1000000}
SLEEPERS_N=${SLEEPERS_N:-100000}
FANOUT_N=${FANOUT_N:-100000}
PIPELINE_N=${PIPELINE_N:-1000000}
CANCEL_N=${CANCEL_N:-1000000}
PROCS_N=${PROCS_N:-2000}
READFILE_N=${READFILE_N:-10000}
OFFLOAD_N=${OFFLOAD_N:-20000}
IDLE_N=${IDLE_N:-10000}
OUT=${OUT:-$BENCH/results}
PY=${PYTHON:-/usr/bin/python3} # Debian's python3, where python3-uvloop lives

peers=0
if [[ ${1:-} == --peers ]]; then peers=1; shift; fi
workloads=("$@")
((${#workloads[@]})) || workloads=(echo http http-lib http-lib-pipe http-client spawn pingpong sleepers fanout pipeline cancel procs readfile offload workers tls tls-handshake idle)
HTTP_CLIENT_N=${HTTP_CLIENT_N:-100000}

die() { echo "run.sh: $*" >&2; exit 1; }
[[ -x $TIDE_BUILD/bin/tide ]] || die "no $TIDE_BUILD/bin/tide: run make first"
TIDE="$TIDE_BUILD/bin/tide"
if ((peers)); then make -s -C "$BENCH" peers >&2; else make -s -C "$BENCH" >&2; fi

# name|command per runtime and workload; the C floor comes first. The
# size goes where a command says @N, else at its end.
runtimes() {
  local w=$1 b=bench/build d=$1 m=''
  [[ $w == fanout ]] && d=spawn m=' @N fanout' # fanout: a mode of spawn's programs
  case $w in
  echo)
    echo "c|$b/echo_uv"
    echo "tide|$TIDE bench/echo_tide.lua" ;;
  cancel) # tide alone: what it measures is tide's own cancellation
    echo "tide|$TIDE bench/cancel/tide.lua" ;;
  http)
    echo "c|$b/http_c"
    echo "tide|$TIDE bench/http/tide.lua" ;;
  http-lib | http-lib-pipe)
    # tide.http.listen against the raw C responder (the floor) and the
    # HTTP libraries of the peers.
    echo "c|$b/http_c"
    echo "tide|$TIDE bench/http/tide_lib.lua"
    if ((peers)); then
      echo "nginx-lua|bench/http/nginx.sh"
      echo "node|node bench/http/node.js"
      echo "go|env GOMAXPROCS=1 $b/http_go"
      echo "luv|lua5.4 bench/http/luv.lua"
      "$PY" -c "import aiohttp" 2>/dev/null && echo "aiohttp|$PY bench/http/aio_web.py"
      "$PY" -c "import aiohttp, uvloop" 2>/dev/null && echo "aiohttp-uvloop|$PY bench/http/aio_web.py --uvloop"
    fi
    return 0 ;;
  http-client)
    echo "tide|$TIDE bench/http_client/tide.lua"
    if ((peers)); then
      echo "node|node bench/http_client/node.js"
      echo "go|env GOMAXPROCS=1 $b/http_client_go"
    fi
    return 0 ;;
  tls | tls-handshake)
    echo "c|$b/tls_c"
    echo "tide|$TIDE bench/echo_tide.lua --tls"
    ((peers)) && echo "nginx|bench/tls/nginx.sh"
    return 0 ;;
  idle) # line echo servers; c keeps a read buffer per connection
    echo "c|$b/idle_c"
    echo "tide|$TIDE bench/idle/tide.lua"
    if ((peers)); then
      echo "luv|lua5.4 bench/idle/luv.lua"
      echo "luv-coroutine|lua5.4 bench/idle/luv_co.lua"
      echo "node|node bench/idle/node.js"
      echo "go|env GOMAXPROCS=1 $b/idle_go"
    fi
    return 0 ;;
  *)
    echo "c|$b/${d}_c$m"
    echo "tide|$TIDE bench/$d/tide.lua$m" ;;
  esac
  case $w in
  pingpong)
    echo "tide-event|$TIDE bench/pingpong/tide.lua @N event"
    echo "tide-future|$TIDE bench/pingpong/tide.lua @N future" ;;
  spawn) # the floor of a task in Lua: a coroutine, no scheduler
    echo "lua-coroutine|lua5.4 bench/spawn/lua.lua" ;;
  esac
  ((peers)) || return 0
  case $w in
  procs)
    echo "luv|lua5.4 bench/$w/luv.lua"
    echo "node|node bench/$w/node.js"
    echo "asyncio|$PY bench/$w/py.py"
    echo "uvloop|$PY bench/$w/py.py --uvloop"
    return 0 ;;
  readfile)
    echo "luv|lua5.4 bench/$w/luv.lua"
    echo "node|node bench/$w/node.js"
    return 0 ;;
  offload)
    echo "luv|lua5.4 bench/$w/luv.lua"
    return 0 ;;
  cancel) return 0 ;;
  pipeline) ;; # callbacks (luv) and cqueues have no queue to compare
  *)
    echo "luv|lua5.4 bench/$d/luv.lua$m"
    echo "cqueues|lua5.4 bench/$d/cqueues.lua$m" ;;
  esac
  echo "node|node bench/$d/node.js$m"
  [[ $w == pingpong ]] && echo "node-event|node bench/$d/node.js @N event"
  echo "go|env GOMAXPROCS=1 $b/${d}_go$m"
  [[ $w == pingpong ]] && echo "go-event|env GOMAXPROCS=1 $b/${d}_go @N event"
  echo "asyncio|$PY bench/$d/py.py$m"
  [[ $w == pingpong ]] && echo "asyncio-event|$PY bench/$d/py.py @N event"
  echo "uvloop|$PY bench/$d/py.py$m --uvloop"
  [[ $w == pingpong ]] && echo "uvloop-event|$PY bench/$d/py.py @N event --uvloop"
  [[ $w == http ]] && echo "nginx-lua|bench/http/nginx.sh"
  return 0
}

size_of() {
  case $1 in
  spawn) echo "$SPAWN_N" ;; pingpong) echo "$PINGPONG_N" ;; sleepers) echo "$SLEEPERS_N" ;;
  procs) echo "$PROCS_N" ;; readfile) echo "$READFILE_N" ;; offload) echo "$OFFLOAD_N" ;;
  fanout) echo "$FANOUT_N" ;; pipeline) echo "$PIPELINE_N" ;; cancel) echo "$CANCEL_N" ;;
  esac
}

mkdir -p "$OUT"
RAW="$OUT/raw.txt"
: >"$RAW"
tmp=$(mktemp -d)
server_pid='' load_pid=''
cleanup() {
  [[ -n $load_pid ]] && kill -KILL -- "-$load_pid" 2>/dev/null
  [[ -n $server_pid ]] && kill -KILL -- "-$server_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Certificates for the TLS servers (bench/tls/), made once per run.
if [[ -z ${BENCH_TLS_DIR:-} ]]; then
  export BENCH_TLS_DIR="$tmp/tls"
  sh test/tls_certs.sh "$BENCH_TLS_DIR" >/dev/null 2>&1 || die "test/tls_certs.sh failed"
fi

# ------------------------------------------------------------ in-process
run_inproc() { # workload name cmd size -> the result line
  local w=$1 name=$2 cmd=$3 n=$4 line
  local cpus=0
  [[ $w == offload ]] && cpus=0-$(($(nproc) - 1))
  if [[ $cmd == *@N* ]]; then cmd=${cmd//@N/$n}; else cmd="$cmd $n"; fi
  line=$(taskset -c "$cpus" bash -c "exec $cmd" 2>"$tmp/err" | grep '^result ' | tail -1) || true
  [[ -n $line ]] || { cat "$tmp/err" >&2; die "$w/$name: no result line from: $cmd"; }
  echo "$line"
}

check_inproc() { # the check= value must be what the workload implies
  local w=$1 name=$2 cmd=$3 n line got want
  n=1000
  case $w in
  spawn | fanout) want=$((n * (n + 1) / 2)) ;; # the sum of every task's result
  pipeline) want=$((n * (n + 1) / 2 + 3 * n)) ;; # 1..n, plus one at each of 3 stages
  pingpong | sleepers | cancel) want=$n ;;
  procs) n=50 want=100 ;; readfile) n=500 want=1000 ;; offload) n=200 want=200 ;;
  esac
  line=$(run_inproc "$w" "$name" "$cmd" "$n")
  got=$(sed -n 's/.*check=\([0-9]*\).*/\1/p' <<<"$line")
  [[ $got == "$want" ]] || die "$w/$name: check failed: '$line' (want check=$want)"
  echo "  check $w/$name ok: $line" >&2
}

bench_inproc() {
  local w=$1 n k r i line
  local -a names cmds
  n=$(size_of "$w")
  while IFS='|' read -r a b; do names+=("$a") cmds+=("$b"); done < <(runtimes "$w")
  for ((i = 0; i < ${#names[@]}; i++)); do check_inproc "$w" "${names[i]}" "${cmds[i]}"; done
  for ((r = 1; r <= ROUNDS; r++)); do
    for ((k = 0; k < ${#names[@]}; k++)); do
      i=$(((r - 1 + k) % ${#names[@]}))
      line=$(run_inproc "$w" "${names[i]}" "${cmds[i]}" "$n")
      echo "  $w round $r/$ROUNDS ${names[i]}: ${line#result }" >&2
      echo "$w $r ${names[i]} ${line#result }" >>"$RAW"
    done
  done
}

# ------------------------------------------------------------ servers
start_server() { # cmd -> sets server_pid, port
  local cmd=$1 i
  : >"$tmp/server.out"
  setsid taskset -c 0 bash -c "exec $cmd 0" >"$tmp/server.out" 2>"$tmp/server.err" &
  server_pid=$!
  port=''
  for ((i = 0; i < 200; i++)); do
    port=$(sed -n 's/^port \([0-9][0-9]*\)[[:space:]]*$/\1/p' "$tmp/server.out")
    [[ -n $port ]] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  cat "$tmp/server.err" >&2
  die "server '$cmd' did not print 'port N'"
}

stop_server() {
  kill -TERM -- "-$server_pid" 2>/dev/null || true
  local i
  for ((i = 0; i < 60; i++)); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.05; done
  kill -KILL -- "-$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=''
}

tree_ticks() { # utime+stime of a process and its descendants
  local total=0 p s f c
  for p in "$@"; do
    s=$(<"/proc/$p/stat") 2>/dev/null || continue
    s=${s##*) }
    read -ra f <<<"$s"
    total=$((total + f[11] + f[12]))
    c=$(cat /proc/"$p"/task/*/children 2>/dev/null || true)
    # shellcheck disable=SC2086
    [[ -n $c ]] && total=$((total + $(tree_ticks $c)))
  done
  echo "$total"
}

# One keep-alive connection, two requests: both answers must come back.
check_http() {
  local name=$1 cmd=$2 got
  start_server "$cmd"
  got=$(timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port
    printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n' >&3
    timeout 1 cat <&3" | grep -o 'HTTP/1.1 200\|Hello, World!' | wc -l || true)
  stop_server
  [[ $got == 4 ]] || die "http/$name: expected two 200 responses with 'Hello, World!' (got $got matching lines)"
  echo "  check http/$name ok" >&2
}

check_echo() {
  local name=$1 cmd=$2
  start_server "$cmd"
  taskset -c 1 bench/build/echo_load 127.0.0.1 "$port" 10 1024 0.2 0.1 >"$tmp/load.out" 2>&1 ||
    { cat "$tmp/load.out" >&2; stop_server; die "echo/$name: echo check failed"; }
  stop_server
  echo "  check echo/$name ok" >&2
}

bench_http() { # [workload [wrk args...]]: http by default
  local w=${1:-http} n k r i clk t0 t1 out reqs rps
  local -a names cmds wargs=("${@:2}")
  clk=$(getconf CLK_TCK)
  command -v wrk >/dev/null || die "wrk not found (deps/bench-peers.sh)"
  while IFS='|' read -r a b; do names+=("$a") cmds+=("$b"); done < <(runtimes "$w")
  for ((i = 0; i < ${#names[@]}; i++)); do check_http "${names[i]}" "${cmds[i]}"; done
  for ((r = 1; r <= ROUNDS; r++)); do
    for ((k = 0; k < ${#names[@]}; k++)); do
      i=$(((r - 1 + k) % ${#names[@]}))
      sleep 0.5
      start_server "${cmds[i]}"
      taskset -c 1 wrk -t1 -c100 -d1s "http://127.0.0.1:$port/" "${wargs[@]}" >/dev/null # warmup
      t0=$(tree_ticks "$server_pid")
      out=$(taskset -c 1 wrk -t1 -c100 "-d${SECS}s" "http://127.0.0.1:$port/" "${wargs[@]}")
      t1=$(tree_ticks "$server_pid")
      stop_server
      if grep -q 'Non-2xx\|Socket errors' <<<"$out"; then
        echo "$out" >&2
        echo "run.sh: warning: $w/${names[i]}: errors in round $r" >&2
      fi
      reqs=$(awk '/requests in/ { print $1 }' <<<"$out")
      rps=$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")
      [[ -n $reqs && $reqs -gt 0 ]] || { echo "$out" >&2; die "$w/${names[i]}: no requests"; }
      line=$(awk -v t=$((t1 - t0)) -v clk="$clk" -v n="$reqs" -v rps="$rps" \
        'BEGIN { printf "req_per_s=%.0f cpu_us_per_req=%.3f", rps, t / clk * 1e6 / n }')
      echo "  $w round $r/$ROUNDS ${names[i]}: $line" >&2
      echo "$w $r ${names[i]} $line" >>"$RAW"
    done
  done
}

bench_workers() {
  local r k w t0 t1 out reqs rps line fair clk
  clk=$(getconf CLK_TCK)
  command -v wrk >/dev/null || die "wrk not found (deps/bench-peers.sh)"
  for ((r = 1; r <= ROUNDS; r++)); do
    for ((k = 0; k < 2; k++)); do
      w=$(((r + k) % 2 + 1)) # alternate which goes first
      sleep 0.5
      : >"$tmp/server.out"
      setsid "$TIDE" --workers "$w" --grace 2 bench/workers/tide.lua 0 >"$tmp/server.out" 2>"$tmp/server.err" &
      server_pid=$!
      port=''
      for ((i = 0; i < 200; i++)); do
        (($(grep -c '^port ' "$tmp/server.out") == w)) && break
        sleep 0.05
      done
      port=$(sed -n 's/^port \([0-9]*\)$/\1/p' "$tmp/server.out" | head -1)
      [[ -n $port ]] || { cat "$tmp/server.err" >&2; die "workers: the workers did not start"; }
      wrk -t2 -c100 -d1s "http://127.0.0.1:$port/" >/dev/null # warmup
      t0=$(tree_ticks "$server_pid")
      out=$(wrk -t2 -c100 "-d${SECS}s" "http://127.0.0.1:$port/")
      t1=$(tree_ticks "$server_pid")
      fair=''
      if ((w == 2)); then
        fair=$("$TIDE" bench/workers/fairness.lua "$port" 2 10000 50 | grep '^result ')
        [[ $fair == *"failed=0 "* && $fair == *"check=10000"* ]] || die "workers: fairness run failed: $fair"
        fair=" jain=$(sed -n 's/.*jain=\([0-9.]*\).*/\1/p' <<<"$fair")"
      fi
      stop_server
      grep -q 'Non-2xx\|Socket errors' <<<"$out" && { echo "$out" >&2; echo "run.sh: warning: workers/$w: errors in round $r" >&2; }
      reqs=$(awk '/requests in/ { print $1 }' <<<"$out")
      rps=$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")
      [[ -n $reqs && $reqs -gt 0 ]] || { echo "$out" >&2; die "workers/$w: no requests"; }
      line=$(awk -v t=$((t1 - t0)) -v clk="$clk" -v n="$reqs" -v rps="$rps" \
        'BEGIN { printf "cpu_us_per_req=%.3f req_per_s=%.0f", t / clk * 1e6 / n, rps }')$fair
      echo "  workers round $r/$ROUNDS tide-${w}w: $line" >&2
      echo "workers $r tide-${w}w $line" >>"$RAW"
    done
  done
}

# http-client: each client program makes HTTP_CLIENT_N requests over 10
# keep-alive connections to the C responder (CPU 0), itself on CPU 1, and
# prints its own CPU per request.
bench_http_client() {
  local k r i line
  local -a names cmds
  while IFS='|' read -r a b; do names+=("$a") cmds+=("$b"); done < <(runtimes http-client)
  start_server "bench/build/http_c"
  for ((i = 0; i < ${#names[@]}; i++)); do
    line=$(taskset -c 1 bash -c "exec ${cmds[i]} 1000 $port" 2>"$tmp/err" | grep '^result ' | tail -1) || true
    [[ $line == *check=1000* ]] || { cat "$tmp/err" >&2; stop_server; die "http-client/${names[i]}: check failed: '$line'"; }
    echo "  check http-client/${names[i]} ok: $line" >&2
  done
  for ((r = 1; r <= ROUNDS; r++)); do
    for ((k = 0; k < ${#names[@]}; k++)); do
      i=$(((r - 1 + k) % ${#names[@]}))
      line=$(taskset -c 1 bash -c "exec ${cmds[i]} $HTTP_CLIENT_N $port" 2>"$tmp/err" | grep '^result ' | tail -1) || true
      [[ -n $line ]] || { cat "$tmp/err" >&2; stop_server; die "http-client/${names[i]}: no result"; }
      echo "  http-client round $r/$ROUNDS ${names[i]}: ${line#result }" >&2
      echo "http-client $r ${names[i]} ${line#result }" >>"$RAW"
    done
  done
  stop_server
}

bench_echo() {
  local -a args
  local i
  while IFS='|' read -r a b; do
    check_echo "$a" "$b"
    args+=("$a" "$b")
  done < <(runtimes echo)
  bench/echo.sh --rounds "$ROUNDS" --seconds "$SECS" --out "$OUT/echo-detail.md" \
    --raw "$tmp/echo.raw" -- "${args[@]}"
  # round name msgs seconds msgs_per_sec server_ticks load other steal clk
  awk '{ printf "echo %d %s msgs_per_s=%.0f cpu_us_per_msg=%.3f\n", $1, $2, $5, $6 / $10 * 1e6 / $3 }' \
    "$tmp/echo.raw" >>"$RAW"
}

# tls: 100 connections, 1 KiB messages; tls-handshake: 100 slots of new
# connection, full handshake, 1-byte echo, close (bench/tls/load.c).
check_tls() {
  local name=$1 cmd=$2 size=$3
  start_server "$cmd"
  taskset -c 1 bench/build/tls_load 127.0.0.1 "$port" 10 "$size" 0.2 0.1 >"$tmp/load.out" 2>&1 ||
    { cat "$tmp/load.out" >&2; stop_server; die "tls/$name: check failed"; }
  stop_server
  echo "  check tls/$name (size $size) ok" >&2
}

bench_tls() {
  local w=$1 size=1024 k=msgs_per_s c=cpu_us_per_msg
  local -a args
  [[ $w == tls-handshake ]] && size=0 k=hs_per_s c=cpu_us_per_hs
  while IFS='|' read -r a b; do
    check_tls "$a" "$b" "$size"
    args+=("$a" "$b")
  done < <(runtimes "$w")
  bench/echo.sh --load bench/build/tls_load --size "$size" --rounds "$ROUNDS" \
    --seconds "$SECS" --out "$OUT/$w-detail.md" --raw "$tmp/$w.raw" -- "${args[@]}"
  awk -v w="$w" -v k="$k" -v c="$c" '{ printf "%s %d %s %s=%.0f %s=%.3f\n", w, $1, $2, k, $5, c, $6 / $10 * 1e6 / $3 }' \
    "$tmp/$w.raw" >>"$RAW"
}

# idle: the server's VmRSS (kB) before and after n connections have each
# echoed a line and sit idle (bench/idle/load.c on CPU 1; 0.5 s for the
# server to settle either side; no collection forced: a runtime's RSS with
# its garbage is what it costs). Sets idle_line to the raw row's key=value
# part (not printed: a subshell would lose server_pid and load_pid, which
# the exit trap needs).
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
run_idle() { # name cmd n
  local name=$1 cmd=$2 n=$3 before after i
  start_server "$cmd"
  sleep 0.5
  before=$(rss_kb "$server_pid")
  # Emptied first: the load's own redirection may come after the first
  # grep below, which would otherwise read the last run's `ready`.
  : >"$tmp/load.out"
  setsid taskset -c 1 bench/build/idle_load 127.0.0.1 "$port" "$n" </dev/null >"$tmp/load.out" 2>&1 &
  load_pid=$!
  for ((i = 0; i < 1200; i++)); do # the load gives up itself after 120 s
    grep -q '^ready ' "$tmp/load.out" && break
    kill -0 "$load_pid" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep -q "^ready n=$n\$" "$tmp/load.out"; then
    cat "$tmp/load.out" "$tmp/server.err" >&2
    stop_server
    die "idle/$name: the load did not get $n echoes"
  fi
  sleep 0.5
  after=$(rss_kb "$server_pid")
  # Both still there: the server kept every connection, the load saw no error.
  if ! kill -0 "$load_pid" 2>/dev/null || ! kill -0 "$server_pid" 2>/dev/null; then
    cat "$tmp/load.out" "$tmp/server.err" >&2
    stop_server
    die "idle/$name: the load or the server ended while the connections were idle"
  fi
  kill -TERM "$load_pid"
  wait "$load_pid" 2>/dev/null || true
  load_pid=''
  stop_server
  idle_line=$(awk -v b="$before" -v a="$after" -v n="$n" \
    'BEGIN { printf "bytes_per_conn=%.0f rss_before_kb=%d rss_after_kb=%d\n", (a - b) * 1024 / n, b, a }')
}

bench_idle() {
  local k r i idle_line
  local -a names cmds
  while IFS='|' read -r a b; do names+=("$a") cmds+=("$b"); done < <(runtimes idle)
  for ((i = 0; i < ${#names[@]}; i++)); do
    run_idle "${names[i]}" "${cmds[i]}" 100
    echo "  check idle/${names[i]} ok: $idle_line" >&2
  done
  for ((r = 1; r <= ROUNDS; r++)); do
    for ((k = 0; k < ${#names[@]}; k++)); do
      i=$(((r - 1 + k) % ${#names[@]}))
      run_idle "${names[i]}" "${cmds[i]}" "$IDLE_N"
      echo "  idle round $r/$ROUNDS ${names[i]}: $idle_line" >&2
      echo "idle $r ${names[i]} $idle_line" >>"$RAW"
    done
  done
}

echo "run.sh: workloads: ${workloads[*]}; $ROUNDS rounds; peers: $peers; tide: $TIDE_ROOT" >&2
for w in "${workloads[@]}"; do
  echo "== $w" >&2
  case $w in
  echo) bench_echo ;;
  http) bench_http ;;
  workers) bench_workers ;;
  http-lib) bench_http http-lib ;;
  http-lib-pipe) bench_http http-lib-pipe -s bench/http/pipeline.lua -- 16 ;;
  http-client) bench_http_client ;;
  spawn | pingpong | sleepers | fanout | pipeline | cancel | procs | readfile | offload) bench_inproc "$w" ;;
  tls | tls-handshake) bench_tls "$w" ;;
  idle) bench_idle ;;
  *) die "unknown workload $w" ;;
  esac
done
CMDLINE="${BENCH_CMD:-bench/run.sh $([[ $peers == 1 ]] && echo --peers) ${workloads[*]}}" \
  ROUNDS="$ROUNDS" IDLE_N="$IDLE_N" lua5.4 bench/report.lua "$RAW" "$OUT"
