#!/bin/sh
# Installs what tide needs to build and test, from Debian's packages.
#
# Versions (Debian 12 "bookworm"; newer releases work too):
#   lua5.4 / liblua5.4-dev  5.4.4   the language and its headers
#   libuv1-dev              1.44.2  the loop (tide needs >= 1.44)
#   lua-busted              2.1.1   the spec runner (run as busted --lua=lua5.4)
#   luarocks                3.8     for the rockspec path (no network needed)
#   gcc, make, pkg-config           the build
#   valgrind                        the memory checks of `make valgrind`
#   node-llhttp             8.1.0   llhttp's C sources: the HTTP parser's
#                                   differential tests build it (tests only)
#   python3-h11             0.14    the other reference of those tests
#   clang, libclang-rt-14-dev       libFuzzer for the parser's fuzz target
#                                   and the stream buffer's (make fuzz-core)
#   curl, wrk, python3-websockets   clients tide did not write, for specs
#   libssl-dev              3.0     OpenSSL 3: TLS streams (tide.tls)
#   openssl                 3.0     the command: the TLS tests make their
#                                   certificates and cross-check against
#                                   openssl s_server / s_client
#
# As root it runs apt-get; otherwise it prints the exact command to run.
# Usage: sh deps/install.sh [extra packages...]
set -eu

PKGS="gcc make pkg-config lua5.4 liblua5.4-dev libuv1-dev lua-busted luarocks valgrind"
# TLS (issue 10): OpenSSL 3, and its command for the specs' certificates.
PKGS="$PKGS libssl-dev openssl"
# HTTP (issue 12): parser differential tests, fuzzing, specs against peers.
PKGS="$PKGS node-llhttp python3-h11 clang libclang-rt-14-dev curl wrk python3-websockets"
PKGS="$PKGS $*"

missing=""
for p in $PKGS; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing="$missing $p"
  fi
done

if [ -z "$missing" ]; then
  echo "deps: all installed ($PKGS)"
  exit 0
fi

cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" = 0 ]; then
  echo "deps: installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || echo "deps: apt-get update failed; trying the install anyway" >&2
  # shellcheck disable=SC2086
  $cmd
else
  echo "deps: missing:$missing" >&2
  echo "deps: run as root:  apt-get update && $cmd" >&2
  exit 1
fi

# The libuv that tide builds against must be new enough.
if ! pkg-config --atleast-version=1.44 libuv; then
  echo "deps: libuv >= 1.44 is required, found $(pkg-config --modversion libuv)" >&2
  exit 1
fi
# ... and OpenSSL 3.
if ! pkg-config --atleast-version=3.0 openssl; then
  echo "deps: OpenSSL >= 3.0 is required, found $(pkg-config --modversion openssl)" >&2
  exit 1
fi
