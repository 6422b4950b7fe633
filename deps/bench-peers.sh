#!/bin/sh
# Installs the peers of `make bench-peers` from Debian's packages (Debian 12
# "bookworm" versions in brackets):
#   python3, python3-uvloop [0.17]   asyncio with and without uvloop
#   nodejs [18/20]                   Node.js (built-ins only)
#   golang-go [1.19]                 Go (standard library only, GOMAXPROCS=1)
#   lua-luv [1.44]                   libuv bindings for Lua (callbacks)
#   lua-cqueues [20200726]           cqueues (coroutine controller)
#   nginx, libnginx-mod-http-lua     nginx + Lua (http workloads only)
#   python3-aiohttp [3.8]            aiohttp (http-lib workloads)
#   libnginx-mod-stream              nginx's stream module with ssl (the TLS
#                                    echo's peer, in front of the C echo)
#   wrk [4.1]                        HTTP load generator
#   gnuplot-nox                      the chart
#   util-linux (taskset), procps     pinning, process inspection
# plus what tide itself needs (deps/install.sh).
#
# As root it runs apt-get; otherwise it prints the exact command to run.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec sh "$here/install.sh" python3 python3-uvloop nodejs golang-go lua-luv \
  lua-cqueues nginx libnginx-mod-http-lua libnginx-mod-stream python3-aiohttp wrk gnuplot-nox util-linux procps "$@"
