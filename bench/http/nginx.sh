#!/usr/bin/env bash
# http, nginx + Lua (libnginx-mod-http-lua): one worker, content_by_lua_block.
#   bench/http/nginx.sh PORT    (0: pick a free port)   prints "port N"
# nginx cannot report a kernel-chosen port, so with 0 this picks a free one
# below the ephemeral range (client sockets take those: a port nothing
# listens on may still be bound), and picks again if nginx cannot bind it.
set -euo pipefail
want=${!#:-0}
pick() {
  local p
  for _ in $(seq 50); do
    p=$((10000 + RANDOM % 20000))
    ss -Htan "sport = :$p" | grep -q . || { echo "$p"; return; }
  done
  echo 0
}
port=$want
[[ $port == 0 ]] && port=$(pick)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mods=/usr/lib/nginx/modules
cat >"$dir/nginx.conf" <<CONF
load_module $mods/ndk_http_module.so;
load_module $mods/ngx_http_lua_module.so;
worker_processes 1;
daemon off;
master_process on;
pid $dir/nginx.pid;
error_log $dir/error.log error;
events { worker_connections 1024; }
http {
  access_log off;
  lua_code_cache on;
  server {
    listen 127.0.0.1:$port backlog=1024;
    keepalive_requests 1000000;
    location / {
      default_type text/plain;
      content_by_lua_block { ngx.print("Hello, World!") }
    }
  }
}
CONF
nginx -t -q -p "$dir" -c "$dir/nginx.conf"
for attempt in 1 2 3 4 5; do
  nginx -p "$dir" -c "$dir/nginx.conf" &
  pid=$!
  trap 'kill -QUIT $pid 2>/dev/null; wait $pid; rm -rf "$dir"' TERM INT
  up=0
  for _ in $(seq 100); do
    ss -Htln "sport = :$port" | grep -q . && { up=1; break; }
    kill -0 $pid 2>/dev/null || break # it could not bind: pick again
    sleep 0.05
  done
  ((up)) && break
  kill -QUIT $pid 2>/dev/null || true
  wait $pid 2>/dev/null || true
  [[ $want == 0 ]] || break
  old=$port
  port=$(pick)
  sed -i "s/listen 127.0.0.1:$old /listen 127.0.0.1:$port /" "$dir/nginx.conf"
done
echo "port $port"
wait $pid || true
