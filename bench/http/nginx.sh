#!/usr/bin/env bash
# http, nginx + Lua (libnginx-mod-http-lua): one worker, content_by_lua_block.
#   bench/http/nginx.sh PORT    (0: pick a free port)   prints "port N"
# nginx cannot report a kernel-chosen port, so with 0 this picks a free one
# from the ephemeral range that nothing listens on.
set -euo pipefail
port=${!#:-0}
if [[ $port == 0 ]]; then
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 20000))
    ss -Htln "sport = :$p" | grep -q . || { port=$p; break; }
  done
fi
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
nginx -p "$dir" -c "$dir/nginx.conf" &
pid=$!
trap 'kill -QUIT $pid 2>/dev/null; wait $pid; rm -rf "$dir"' TERM INT
for _ in $(seq 100); do
  ss -Htln "sport = :$port" | grep -q . && break
  sleep 0.05
done
echo "port $port"
wait $pid || true
