#!/bin/sh
# make install into a scratch prefix, then use the installed copy the way an
# outside project would: build examples/embed/host.c with
# `pkg-config --cflags --libs tide` and run it, run the installed tide
# command, require "tide" from plain lua5.4 with the prefix's Lua paths;
# finally make uninstall and check nothing of tide is left.
#
#   BUILD=build sh test/install_test.sh       (run from the checkout)
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
CC=${CC:-cc}
PKG_CONFIG=${PKG_CONFIG:-pkg-config}
LUA=${LUA:-lua5.4}
PREFIX=$(mktemp -d /tmp/tide-install.XXXXXX)
trap 'rm -rf "$PREFIX"' EXIT
fail() { echo "install_test: FAIL: $*" >&2; exit 1; }

make -s BUILD="$BUILD" PREFIX="$PREFIX" install >/dev/null

for f in include/tide.h lib/libtide.a lib/libtide.so lib/libtide.so.0 \
         lib/pkgconfig/tide.pc bin/tide lib/lua/5.4/tide/core.so \
         share/lua/5.4/tide/init.lua share/lua/5.4/tide/tcp.lua; do
  [ -e "$PREFIX/$f" ] || fail "$f not installed"
done
echo "ok installed files"

# An outside build: only the prefix, through pkg-config.
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
[ "$($PKG_CONFIG --modversion tide)" = "0.1.0" ] || fail "pkg-config version"
OUT="$PREFIX/embed_host"
# The guide's command (docs/embedding.md), under a strict -std=c99.
# shellcheck disable=SC2046
$CC -std=c99 -Wall -o "$OUT" examples/embed/host.c \
  $($PKG_CONFIG --cflags --libs tide) -lpthread \
  -Wl,-rpath,"$($PKG_CONFIG --variable=libdir tide)"
ldd "$OUT" | grep -q "$PREFIX/lib/libtide.so.0" || fail "not linked with the installed libtide.so"
out=$("$OUT" examples/embed/script.lua) || fail "example host: $out"
echo "$out" | grep -q "441 echo: hello" || fail "example host said: $out"
echo "ok example host built with pkg-config --cflags --libs tide: $out"
# Static: libtide.a with pkg-config's --static flags.
# shellcheck disable=SC2046
$CC -std=c99 -o "$OUT.static" examples/embed_poll/host.c \
  $($PKG_CONFIG --cflags tide) "$PREFIX/lib/libtide.a" \
  $($PKG_CONFIG --static --libs libuv lua5.4 openssl) -lm -lpthread
ldd "$OUT.static" | grep -q libtide && fail "static host links libtide.so"
out=$("$OUT.static" examples/embed_poll/script.lua) || fail "static poll host: $out"
echo "ok static poll-driven host: $out"

# The installed command and the installed Lua module.
[ "$("$PREFIX/bin/tide" -e "print(require('tide').version)")" = "0.1.0" ] \
  || fail "installed tide command"
out=$(cd /tmp && P="$PREFIX" \
  LUA_PATH="$PREFIX/share/lua/5.4/?.lua;$PREFIX/share/lua/5.4/?/init.lua" \
  LUA_CPATH="$PREFIX/lib/lua/5.4/?.so" "$LUA" -e '
  local core = package.searchpath("tide.core", package.cpath)
  assert(core and core:find(os.getenv("P"), 1, true), "not the installed core")
  local tide = require "tide"
  print(tide.run(function()
    local srv = assert(tide.tcp.listen("127.0.0.1", 0, function(s)
      s:write(s:readline() .. "!\n")
    end))
    local _, port = srv:address()
    local c = assert(tide.tcp.connect("127.0.0.1", port))
    c:write("ping\n")
    local r = c:readline()
    c:close()
    srv:close()
    return r
  end))' 2>&1) || fail "lua5.4 with the installed module: $out"
[ "$out" = "ping!" ] || fail "lua5.4 with the installed module said: $out"
echo "ok lua5.4 requires the installed tide and serves a socket"

make -s BUILD="$BUILD" PREFIX="$PREFIX" uninstall >/dev/null
left=$(cd "$PREFIX" && find . \( -name '*tide*' \) -print)
[ -z "$left" ] || fail "left after uninstall: $left"
echo "ok uninstall removed everything"
