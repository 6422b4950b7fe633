-- The tide bench scripts (bench/*/tide.lua) run on tiny sizes and print
-- their result line. No timing is asserted: this only keeps them working.
-- The C and peer programs are not run here (see bench/run.sh).
local build = os.getenv("TIDE_BUILD") or "build"
local tide_bin = build .. "/bin/tide"

local function run(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  local ok, _, code = p:close()
  return ok, out, code
end

local function result_of(out)
  return out:match("result ([^\n]*)")
end

describe("bench scripts", function()
  local cases = {
    {"spawn", "50", "check=1275"},
    {"pingpong", "100", "check=100"},
    {"pingpong", "100 future", "check=100"},
    {"pingpong", "100 event", "check=100"},
    {"spawn", "50 fanout", "check=1275"},
    {"pipeline", "100", "check=5350"},
    {"cancel", "100", "check=100"},
    {"sleepers", "20", "check=20"},
    {"procs", "5", "check=10"},
    {"readfile", "20", "check=40"},
    {"offload", "20", "check=20"},
  }
  for _, c in ipairs(cases) do
    for _, runner in ipairs({"lua5.4", tide_bin}) do
      it(("%s %s under %s"):format(c[1], c[2], runner), function()
        local ok, out = run(("TIDE_BUILD=%s %s bench/%s/tide.lua %s"):format(build, runner, c[1], c[2]))
        assert.is_true(ok, out)
        local r = result_of(out)
        assert.is_truthy(r, out)
        assert.is_truthy(r:find(c[3], 1, true), out)
      end)
    end
  end

  -- Runs a bash script that starts `server` (a command that prints "port
  -- N"), runs `body` with $port set (body leaves what it got in $resp),
  -- stops the server with SIGTERM, which must end it with status 0, and
  -- prints $resp. The script's helpers (bash, sed, ...) run without a
  -- preloaded sanitizer (the sanitizer build preloads one into lua5.4;
  -- those tools would report their own leaks); the tide binary links its
  -- own. Returns ok and the output.
  local function with_server(server, body)
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write([[
      set -e
      out=/tmp/tide-bench-spec-$$.out
      # The file exists before the server starts: the background job's
      # redirection may happen after the first sed below.
      : > $out
      ]] .. server .. [[ > $out &
      pid=$!
      # Whatever happens below, the server does not outlive this script.
      trap 'kill -KILL $pid 2>/dev/null || true; rm -f $out' EXIT
      for i in $(seq 100); do
        port=$(sed -n 's/^port //p' $out); [ -n "$port" ] && break; sleep 0.05
      done
      ]] .. body .. [[

      kill -TERM $pid; wait $pid
      printf '%s' "$resp"
    ]])
    f:close()
    local ok, out = run("env -u LD_PRELOAD bash " .. script)
    os.remove(script)
    return ok, out
  end

  local function count(s, plain)
    return select(2, s:gsub(plain:gsub("%p", "%%%0"), ""))
  end

  it("http responder answers two keep-alive requests and stops on SIGTERM", function()
    local ok, out = with_server(tide_bin .. " bench/http/tide.lua 0", [[
      resp=$(timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port
        printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n' >&3
        timeout 1 cat <&3" || true)]])
    assert.is_true(ok, out)
    assert.are.equal(2, count(out, "Hello, World!"), out)
  end)

  it("TLS echo server echoes to openssl s_client and stops on SIGTERM", function()
    local T = require "tls_helper"
    local ok, out = with_server(("BENCH_TLS_DIR=%s %s bench/echo_tide.lua --tls 0"):format(T.certs(), tide_bin), [[
      resp=$( (echo tls-echo-check; sleep 0.5) | timeout 5 openssl s_client \
        -connect 127.0.0.1:$port -CAfile ]] .. T.path("ca.pem") .. [[ -verify_return_error -quiet \
        -no_ign_eof 2>/dev/null || true)]])
    T.cleanup()
    assert.is_true(ok, out)
    assert.are.equal(1, count(out, "tls-echo-check"), out)
  end)

  it("idle line echo server answers each connection's lines and stops on SIGTERM", function()
    -- Three connections open at once, a line each, then a second line on
    -- the first: each answer must be its own connection's line.
    local ok, out = with_server(tide_bin .. " bench/idle/tide.lua 0", [[
      resp=$(timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port 4<>/dev/tcp/127.0.0.1/$port 5<>/dev/tcp/127.0.0.1/$port
        printf 'one\n' >&3; printf 'two\n' >&4; printf 'three\n' >&5
        read -r a <&3; read -r b <&4; read -r c <&5
        printf 'again\n' >&3; read -r d <&3
        echo \"[\$a \$b \$c \$d]\"" || true)]])
    assert.is_true(ok, out)
    assert.is_truthy(out:find("[one two three again]", 1, true), out)
  end)
end)
