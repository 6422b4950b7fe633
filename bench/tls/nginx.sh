#!/usr/bin/env bash
# tls and tls-handshake, the peer: nginx's stream module (libnginx-mod-stream)
# terminating TLS in front of the plain libuv C echo (bench/echo_uv.c), one
# worker. The CPU of both counts (bench/echo.sh measures the process tree).
#   BENCH_TLS_DIR=dir bench/tls/nginx.sh PORT    (0: pick a free port)
# prints "port N". nginx cannot report a kernel-chosen port, so with 0 this
# picks one below the kernel's ephemeral range (the handshake workload
# leaves thousands of connections in TIME_WAIT there) that no socket uses.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
port=${!#:-0}
: "${BENCH_TLS_DIR:?set BENCH_TLS_DIR (test/tls_certs.sh DIR)}"
if [[ $port == 0 ]]; then
  read -r low _ </proc/sys/net/ipv4/ip_local_port_range
  for _ in $(seq 50); do
    p=$((10000 + RANDOM % (low - 10000)))
    ss -Htan "sport = :$p" | grep -q . || { port=$p; break; }
  done
fi
dir=$(mktemp -d)
"$here/build/echo_uv" 0 >"$dir/echo.out" &
echo_pid=$!
trap 'kill $echo_pid 2>/dev/null; rm -rf "$dir"' EXIT
echo_port=''
for _ in $(seq 100); do
  echo_port=$(sed -n 's/^port \([0-9]*\)$/\1/p' "$dir/echo.out")
  [[ -n $echo_port ]] && break
  sleep 0.05
done
[[ -n $echo_port ]] || { echo "nginx.sh: echo_uv did not start" >&2; exit 1; }
cat >"$dir/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1;
daemon off;
master_process on;
pid $dir/nginx.pid;
error_log $dir/error.log error;
events { worker_connections 4096; }
stream {
  server {
    listen 127.0.0.1:$port ssl backlog=1024;
    ssl_certificate $BENCH_TLS_DIR/server.pem;
    ssl_certificate_key $BENCH_TLS_DIR/server.key;
    proxy_pass 127.0.0.1:$echo_port;
  }
}
CONF
nginx -t -q -p "$dir" -c "$dir/nginx.conf"
nginx -p "$dir" -c "$dir/nginx.conf" &
pid=$!
trap 'kill -QUIT $pid 2>/dev/null; wait $pid; kill $echo_pid 2>/dev/null; wait $echo_pid; rm -rf "$dir"' TERM INT
for _ in $(seq 100); do
  ss -Htln "sport = :$port" | grep -q . && break
  sleep 0.05
done
echo "port $port"
wait $pid || true
