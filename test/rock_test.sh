#!/bin/sh
# luarocks make from this checkout into a scratch tree, offline, then plain
# lua5.4 with only that tree's paths (from `luarocks path`) requires "tide"
# and runs a script that serves and connects a socket.
#
#   sh test/rock_test.sh          (from anywhere; needs luarocks, lua5.4,
#                                  libuv's headers; no network)
set -eu
cd "$(dirname "$0")/.."
LUA=${LUA:-lua5.4}
LUAROCKS=${LUAROCKS:-luarocks}
TREE=$(mktemp -d /tmp/tide-rock.XXXXXX)
trap 'rm -rf "$TREE"' EXIT
fail() { echo "rock_test: FAIL: $*" >&2; exit 1; }

$LUAROCKS --lua-version 5.4 config >/dev/null || fail "luarocks config"
# --deps-mode none would hide a wrong dependency list: keep the default, so
# a dependency that is not already satisfied makes this fail (offline).
$LUAROCKS --lua-version 5.4 make --tree "$TREE" tide-0.1.0-1.rockspec \
  >"$TREE/build.log" 2>&1 || { cat "$TREE/build.log"; fail "luarocks make"; }
$LUAROCKS --lua-version 5.4 list --tree "$TREE" --porcelain | grep -q "^tide	0.1.0-1" \
  || fail "tide not listed in the tree"
echo "ok luarocks make installed tide into $TREE"

# The LuaLS stubs, in the rock's own directory.
ROCKDIR=$($LUAROCKS --lua-version 5.4 show --tree "$TREE" --rock-dir tide)
for f in tide.lua tide/repl.lua; do
  cmp -s "types/$f" "$ROCKDIR/types/$f" || fail "types/$f not in the rock ($ROCKDIR)"
done
echo "ok the rock carries the LuaLS stubs in $ROCKDIR/types"

# Only the tree's paths and the interpreter's defaults; run away from the
# checkout so nothing of it is found by accident.
eval "$($LUAROCKS --lua-version 5.4 path --tree "$TREE")"
out=$(cd / && T="$TREE" "$LUA" -e '
  local tree = os.getenv("T")
  local core = package.searchpath("tide.core", package.cpath)
  assert(core and core:sub(1, #tree) == tree, "tide.core not from the tree: " .. tostring(core))
  local init = package.searchpath("tide", package.path)
  assert(init and init:sub(1, #tree) == tree, "tide not from the tree: " .. tostring(init))
  local tide = require "tide"
  print(tide.run(function()
    local srv = assert(tide.tcp.listen("127.0.0.1", 0, function(s)
      local line = s:readline()
      s:write("got " .. line .. "\n")
    end))
    local _, port = srv:address()
    local replies = tide.gather(
      function()
        local c = assert(tide.tcp.connect("127.0.0.1", port))
        c:write("one\n")
        local r = c:readline()
        c:close()
        return r
      end,
      function()
        local c = assert(tide.tcp.connect("127.0.0.1", port))
        c:write("two\n")
        local r = c:readline()
        c:close()
        return r
      end)
    srv:close()
    return replies[1] .. ", " .. replies[2]
  end))' 2>&1) || fail "lua5.4 with the rock: $out"
[ "$out" = "got one, got two" ] || fail "lua5.4 with the rock said: $out"
echo "ok lua5.4 with the rock's paths serves and connects: $out"

$LUAROCKS --lua-version 5.4 remove --tree "$TREE" tide >/dev/null \
  || fail "luarocks remove"
echo "ok luarocks remove"
