#!/usr/bin/env bash
# bench/echo.sh: side-by-side TCP echo benchmark, reporting messages/s and the
# server's CPU time per message, with the first server as the baseline.
#
# Usage:
#   bench/echo.sh [--rounds N] [--seconds S] [--warmup W] [--conns C]
#                 [--size B] [--out FILE] [--retries K] [--max-other P]
#                 [--raw FILE] [--load PROG]
#                 -- name1 'cmd1' [name2 'cmd2' ...]
#
#   defaults: 5 rounds, 3 s measured + 1 s warmup, 100 connections, 1024 B,
#             table also written to bench/results/echo-latest.md,
#             a run disturbed by foreign work (see below) is redone up to
#             2 times (--retries), "disturbed" meaning more than 15% of a CPU
#             (--max-other) of other busy time or steal on the pinned CPUs;
#             the load generator is bench/build/echo_load (--load: another
#             with its arguments and output, e.g. bench/build/tls_load)
#
# Example (the plain libuv C server against itself, to see the noise):
#   bench/echo.sh -- c bench/build/echo_uv c2 bench/build/echo_uv
#
# Server command contract:
#   - cmd is a simple command line (no pipes, no `VAR=x` prefix: use
#     `env VAR=x prog ...`). The harness runs it as
#         taskset -c 0 bash -c "exec <cmd> 0"
#     i.e. the port is appended as the LAST argument and is always "0": the
#     server must bind 127.0.0.1 on that port (0 = kernel picks one).
#   - Once listening, it prints a line `port N` (the real port) on stdout and
#     FLUSHES (stdout is a file here, so it is block-buffered by default).
#   - It exits on SIGTERM (exit status 0 expected; anything else is reported
#     as a warning, not an error).
#   Relative paths in cmd are resolved from the directory you run this from.
#
# Method, per round, for each server in turn (interleaved, and the order is
# rotated every round so no server always runs first or last):
#   0. wait (15 s at most) for the two CPUs to be idle: the machine may be
#      shared, better to let someone else's build pass than to run into it;
#   1. start the server pinned to CPU 0 and read its port;
#   2. run bench/build/echo_load pinned to CPU 1 (this script pins itself to
#      CPU 1 as well, so its own forks never land on the server's core);
#   3. the load generator prints `measure-start` when warmup ends and its
#      result line when the window ends; the server's CPU time (utime+stime
#      from /proc/PID/stat, summed over the server and any descendants, in
#      clock ticks of getconf CLK_TCK) is sampled right after each, so
#      connection setup, warmup and shutdown are excluded;
#   4. SIGTERM the server and wait for it.
#   5. from /proc/stat, count busy time on the two pinned CPUs that was
#      neither server nor load generator (the load generator reports its own
#      CPU time), plus steal time. If that is above --max-other, redo the
#      run (--retries times at most) and keep the least disturbed attempt.
#      msgs/s suffers most from such interference, CPU per message less.
# Reported per server: median msgs/s, median server CPU us per message (with
# min-max over rounds) and that median divided by the first server's, plus
# the median of per-round ratios (see the table code below).
#
# Env overrides: ECHO_SERVER_CPU (default 0), ECHO_CLIENT_CPU (default 1).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOAD="$BENCH_DIR/build/echo_load"

raw_out=''
rounds=5 seconds=3 warmup=1 conns=100 size=1024 retries=2 max_other=15
out="$BENCH_DIR/results/echo-latest.md"
server_cpu=${ECHO_SERVER_CPU:-0}
client_cpu=${ECHO_CLIENT_CPU:-1}

die() {
  echo "echo.sh: $*" >&2
  exit 1
}
usage() {
  sed -n '4,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

while (($#)); do
  case $1 in
  --load) LOAD=$2; shift 2 ;;
  --rounds) rounds=$2; shift 2 ;;
  --seconds) seconds=$2; shift 2 ;;
  --warmup) warmup=$2; shift 2 ;;
  --conns) conns=$2; shift 2 ;;
  --size) size=$2; shift 2 ;;
  --out) out=$2; shift 2 ;;
  --retries) retries=$2; shift 2 ;;
  --max-other) max_other=$2; shift 2 ;;
  --raw) raw_out=$2; shift 2 ;;
  --) shift; break ;;
  -h | --help) usage ;;
  *) echo "echo.sh: unknown option: $1" >&2; usage ;;
  esac
done
(($# >= 2 && $# % 2 == 0)) || usage
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a positive integer"
[[ $retries =~ ^[0-9]+$ ]] || die "--retries must be a non-negative integer"
[[ $max_other =~ ^[0-9]+$ ]] || die "--max-other must be a non-negative integer"

names=() cmds=()
while (($#)); do
  names+=("$1") cmds+=("$2")
  shift 2
done
n=${#names[@]}
for ((i = 0; i < n; i++)); do
  # Names are table labels and awk fields: keep them to one plain word.
  [[ ${names[i]} =~ ^[A-Za-z0-9._+-]+$ ]] || die "bad name '${names[i]}' (use [A-Za-z0-9._+-])"
  for ((j = 0; j < i; j++)); do
    [[ ${names[i]} != "${names[j]}" ]] || die "duplicate name '${names[i]}'"
  done
done

command -v taskset >/dev/null || die "taskset not found (util-linux)"
make -s -C "$BENCH_DIR" >&2 || die "building bench/ failed"
clk_tck=$(getconf CLK_TCK)

# Keep this script (and the subshells it forks to read /proc) off the server
# core; it mostly sleeps in `read`, but forks at sample time would otherwise
# compete with the server.
taskset -pc "$client_cpu" $$ >/dev/null

tmp=$(mktemp -d)
server_pid='' load_pid=''
# The server runs in its own process group (see run_one), so killing the
# group also gets whatever a wrapper command (e.g. a pyenv shim) forked.
# The PID is signalled too in case setsid has not run yet.
cleanup() {
  set +e # a failing kill must not abort the cleanup
  if [[ -n $load_pid ]]; then
    kill -KILL "$load_pid" 2>/dev/null
    wait "$load_pid" 2>/dev/null
  fi
  if [[ -n $server_pid ]]; then
    kill -KILL -- "-$server_pid" "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# utime+stime (fields 14 and 15) of one process, in clock ticks. The comm
# field may contain spaces and parentheses, so split after the last ')'.
proc_ticks() {
  local s f
  s=$(<"/proc/$1/stat") || return 1
  s=${s##*) }
  read -ra f <<<"$s"
  echo $((f[11] + f[12]))
}

# The server and all its live descendants (in case cmd is a wrapper).
tree_pids() {
  local c
  echo "$1"
  # shellcheck disable=SC2013 # the file is space-separated PIDs, not lines
  for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
    tree_pids "$c"
  done
}

tree_ticks() {
  local total=0 p t
  for p in $(tree_pids "$1"); do
    t=$(proc_ticks "$p" 2>/dev/null) && total=$((total + t))
  done
  echo "$total"
}

# Busy and steal ticks of one CPU from /proc/stat ("cpuN user nice system
# idle iowait irq softirq steal ...").
cpu_ticks() {
  local line
  line=$(grep "^cpu$1 " /proc/stat)
  awk '{ print $2 + $3 + $4 + $7 + $8, $9 }' <<<"$line"
}

# One sample for the measured window: server ticks, and busy and steal
# ticks of the two pinned CPUs. Anything busy on those CPUs that is neither
# the server nor the load generator (which reports its own CPU time: it may
# have exited by the second sample) is someone else's work (other processes,
# kernel threads) and makes that round suspect.
sample() {
  local sb ss cb cs
  read -r sb ss <<<"$(cpu_ticks "$server_cpu")"
  read -r cb cs <<<"$(cpu_ticks "$client_cpu")"
  echo "$(tree_ticks "$server_pid") $((sb + cb)) $((ss + cs))"
}

# Show what a server or the load generator said, then give up.
fail_run() {
  echo "echo.sh: $1" >&2
  local f
  for f in server.out server.err load.err; do
    [[ -s $tmp/$f ]] && { echo "--- $f:" >&2; tail -n 20 "$tmp/$f" >&2; }
  done
  exit 1
}

stop_server() {
  local pid=$server_pid i state rc=0
  kill -TERM -- "-$pid" 2>/dev/null || true
  # kill -0 also succeeds on a zombie, so look at the state instead.
  for ((i = 0; i < 100; i++)); do
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || break
    [[ $state == Z ]] && break
    sleep 0.05
  done
  if [[ -n ${state:-} && $state != Z ]] && kill -0 "$pid" 2>/dev/null; then
    echo "echo.sh: warning: $1 ignored SIGTERM for 5 s, killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || rc=$?
  ((rc == 0)) || echo "echo.sh: warning: $1 exited with status $rc on SIGTERM" >&2
  kill -KILL -- "-$pid" 2>/dev/null || true # leftovers of a wrapper, if any
  server_pid=''
}

# One measured run. Sets row: round name msgs secs msgs_per_sec server_ticks
# load_ticks other_ticks steal_ticks.
run_one() {
  local round=$1 name=$2 cmd=$3 port='' i line rc=0 lfd
  local -a r t0 t1
  # No stale logs from the previous run in error reports.
  : >"$tmp/server.out"
  : >"$tmp/server.err"
  : >"$tmp/load.err"

  # setsid: own process group, whose id is the server's PID (a background
  # job of a non-interactive shell is no group leader, so setsid does not
  # fork). The exec chain setsid -> taskset -> bash -> cmd keeps that PID.
  setsid taskset -c "$server_cpu" bash -c "exec $cmd 0" \
    >"$tmp/server.out" 2>"$tmp/server.err" &
  server_pid=$!
  for ((i = 0; i < 200; i++)); do
    port=$(sed -n 's/^port \([0-9][0-9]*\)[[:space:]]*$/\1/p' "$tmp/server.out")
    [[ -n $port ]] && break
    kill -0 "$server_pid" 2>/dev/null || fail_run "$name: server exited before printing 'port N'"
    sleep 0.05
  done
  [[ -n $port ]] || fail_run "$name: no 'port N' line on stdout within 10 s (flushed?)"

  rm -f "$tmp/load.fifo"
  mkfifo "$tmp/load.fifo"
  taskset -c "$client_cpu" "$LOAD" 127.0.0.1 "$port" "$conns" "$size" \
    "$seconds" "$warmup" >"$tmp/load.fifo" 2>"$tmp/load.err" &
  load_pid=$!
  exec {lfd}<"$tmp/load.fifo"

  # Connecting may take up to the load generator's own 10 s watchdog.
  if ! read -r -t "$(awk "BEGIN{print $warmup + 15}")" -u "$lfd" line ||
    [[ $line != measure-start ]]; then
    fail_run "$name: load generator did not start measuring (got: '${line:-}')"
  fi
  read -ra t0 <<<"$(sample)"
  read -r -t "$(awk "BEGIN{print $seconds + 15}")" -u "$lfd" line || line=''
  read -ra t1 <<<"$(sample)"
  # No result line: the load generator failed (reported below) or hung.
  [[ -n $line ]] || kill -KILL "$load_pid" 2>/dev/null || true
  exec {lfd}<&-
  wait "$load_pid" || rc=$?
  load_pid=''
  ((rc == 0)) || fail_run "$name: load generator failed (exit $rc)"

  read -ra r <<<"$line"
  [[ ${r[0]:-} == msgs && ${r[6]:-} == errors && ${r[7]:-} == 0 &&
    ${r[8]:-} == cpu_seconds ]] ||
    fail_run "$name: unexpected load generator output: '$line'"
  kill -0 "$server_pid" 2>/dev/null || fail_run "$name: server died during the run"
  stop_server "$name"
  local srv=$((t1[0] - t0[0])) ld steal=$((t1[2] - t0[2])) other
  ld=$(awk -v s="${r[9]}" -v tck="$clk_tck" 'BEGIN { printf "%d", s * tck + 0.5 }')
  other=$((t1[1] - t0[1] - srv - ld))
  row="$round $name ${r[1]} ${r[3]} ${r[5]} $srv $ld $((other < 0 ? 0 : other)) $steal"
}

# Derived per-run numbers from a raw row, shared by all the awk below:
# us/msg = server CPU seconds * 1e6 / msgs; busy = server CPU seconds / wall
# seconds; ld, other, steal: the same for the load generator, foreign work
# on the two pinned CPUs, and steal time, in % of one CPU.
# shellcheck disable=SC2016 # awk code, not shell expansions
AWK_DERIVE='
  function pct(t) { return t / tck / $4 * 100 }
  function derive() {
    us = $6 / tck * 1e6 / $3; busy = pct($6); ld = pct($7); other = pct($8); steal = pct($9)
    return sprintf("%10.0f msgs/s %7.2f us/msg, CPU%%: server %3.0f load %3.0f other %3.0f steal %3.0f",
                   $5, us, busy, ld, other, steal)
  }'

# Before each run, wait (15 s at most) for the pinned CPUs to be quiet: busy
# plus steal below --max-other % of one CPU over half a second. This also
# gives the previous run's sockets and processes time to wind down.
wait_quiet() {
  local i a b c d busy
  for ((i = 0; i < 30; i++)); do
    read -r a b <<<"$(cpu_ticks "$server_cpu")"
    read -r c d <<<"$(cpu_ticks "$client_cpu")"
    sleep 0.5
    busy=$(($(cpu_ticks "$server_cpu" | awk '{print $1 + $2}') +
      $(cpu_ticks "$client_cpu" | awk '{print $1 + $2}') - a - b - c - d))
    ((busy * 100 * 2 <= max_other * clk_tck)) && return 0
  done
  echo "echo.sh: warning: pinned CPUs still busy after 15 s, running anyway" >&2
}

# Foreign work plus steal of a row, in % of one CPU.
disturbance() {
  awk -v tck="$clk_tck" "$AWK_DERIVE"'{ derive(); printf "%d", other + steal }' <<<"$1"
}

: >"$tmp/raw"
echo "echo.sh: $n server(s) x $rounds round(s), ${seconds}s (+${warmup}s warmup)," \
  "$conns conns, $size B; server on CPU $server_cpu, load on CPU $client_cpu" >&2
redone=0
for ((round = 1; round <= rounds; round++)); do
  for ((k = 0; k < n; k++)); do
    i=$(((round - 1 + k) % n))
    best='' best_d=''
    for ((attempt = 0; attempt <= retries; attempt++)); do
      ((attempt == 0)) || redone=$((redone + 1))
      wait_quiet
      run_one "$round" "${names[i]}" "${cmds[i]}"
      d=$(disturbance "$row")
      awk -v tck="$clk_tck" -v R="$rounds" -v a="$attempt" "$AWK_DERIVE"'
        { printf "  round %d/%d %-10s %s%s\n", $1, R, $2, derive(), a ? " (retry " a ")" : "" }' \
        <<<"$row" >&2
      if [[ -z $best ]] || ((d < best_d)); then best=$row best_d=$d; fi
      ((d > max_other)) || break
    done
    echo "$best" >>"$tmp/raw"
  done
done

# Per server: medians over rounds, and the ratio to the baseline (first
# server) two ways: ratio of the medians, and the median of per-round ratios
# (each run divided by the baseline's run of the same round). The machine's
# speed drifts between rounds (VM neighbours, other work); runs of one round
# are seconds apart, so the paired ratio cancels most of that drift.
table=$(
  awk -v tck="$clk_tck" -v names="${names[*]}" "$AWK_DERIVE"'
    function sort(a, n,   i, j, t) {
      for (i = 2; i <= n; i++)
        for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    }
    function median(a, n) { return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
    { derive(); rate[$2, $1] = $5; cpu[$2, $1] = us; load[$2, $1] = busy; rounds[$1] = 1 }
    END {
      n = split(names, name, " ")
      for (i = 1; i <= n; i++) {
        k = 0
        for (r in rounds) {
          k++
          a[k] = rate[name[i], r]; b[k] = cpu[name[i], r]; c[k] = load[name[i], r]
          d[k] = cpu[name[i], r] / cpu[name[1], r]
        }
        sort(a, k); sort(b, k); sort(c, k); sort(d, k)
        if (i == 1) base = median(b, k)
        printf "| %s | %.0f | %.2f (%.2f-%.2f) | %.3fx | %.3fx (%.3f-%.3f) | %.0f%% |\n",
               name[i], median(a, k), median(b, k), b[1], b[k], median(b, k) / base,
               median(d, k), d[1], d[k], median(c, k)
      }
    }' "$tmp/raw"
)
header="| runtime | msgs/s median | CPU µs/msg median (min-max) | ratio to ${names[0]} | per-round ratio median (min-max) | server CPU busy median |
|---|---|---|---|---|---|"
suspect=$(awk -v tck="$clk_tck" -v max="$max_other" -v redone="$redone" "$AWK_DERIVE"'
  { derive(); if (other + steal > max) { k++; r = r sprintf(" %d/%s", $1, $2) } }
  END {
    if (k) printf "Warning: %d kept run(s) still had more than %d%% of a CPU of foreign work or steal on the pinned CPUs (round/name:%s). msgs/s is unreliable for them; rerun on a quieter machine if the ratio matters.\n", k, max, r
    if (redone) printf "%d run(s) were redone because of foreign work or steal; the least disturbed attempt was kept.\n", redone
  }' "$tmp/raw")

echo
echo "$header"
echo "$table"
[[ -z $suspect ]] || printf '\n%s\n' "$suspect"

# The same table plus the context needed to compare runs later.
mkdir -p "$(dirname "$out")"
{
  echo "# Echo benchmark"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "- host: $(uname -srm), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(getconf _NPROCESSORS_ONLN) CPUs"
  echo "- libuv: $(pkg-config --modversion libuv 2>/dev/null || echo unknown)"
  echo "- git: $(git -C "$BENCH_DIR" rev-parse --short HEAD 2>/dev/null || echo 'no commit')"
  echo "- load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- params: $rounds rounds (interleaved, order rotated), ${seconds}s measured after ${warmup}s warmup," \
    "$conns connections, $size B messages, one message in flight per connection"
  echo "- pinning: server on CPU $server_cpu, load generator on CPU $client_cpu"
  echo "- CPU = server utime+stime (CLK_TCK=$clk_tck) over the measured window;" \
    "per-round ratio = run's CPU/msg over the baseline's in the same round"
  echo "- raw rows: other = busy time on the two pinned CPUs not used by server or" \
    "load generator, steal = hypervisor steal; both in % of one CPU; runs with" \
    "other+steal > ${max_other}% were redone up to $retries times, keeping the least disturbed"
  echo
  echo "Servers:"
  echo
  for ((i = 0; i < n; i++)); do echo "- \`${names[i]}\`: \`${cmds[i]}\`"; done
  echo
  echo "$header"
  echo "$table"
  [[ -z $suspect ]] || printf '\n%s\n' "$suspect"
  echo
  echo "Raw rounds (kept runs, in run order):"
  echo
  echo '```'
  awk -v tck="$clk_tck" "$AWK_DERIVE"'{ printf "round %d %-10s %s\n", $1, $2, derive() }' "$tmp/raw"
  echo '```'
} >"$out"
# --raw: the kept runs as "round name msgs seconds msgs_per_sec server_ticks
# load_ticks other_ticks steal_ticks clk_tck", for bench/run.sh.
[[ -z $raw_out ]] || awk -v tck="$clk_tck" '{ print $0, tck }' "$tmp/raw" >"$raw_out"
echo >&2
echo "echo.sh: wrote $out" >&2
