-- TCP echo server on tide, for bench/echo.sh (against bench/echo_uv.c).
--
--   tide bench/echo_tide.lua [--tls] [port]   (the port is the LAST
--                                  argument; 0 or none: the kernel picks one)
--
-- Listens on 127.0.0.1, prints "port N" (flushed) once listening, echoes
-- every byte back with a plain read/write loop per connection, and exits
-- with status 0 on SIGTERM or SIGINT. With --tls (the tls and
-- tls-handshake workloads, against bench/tls/c.c) it speaks TLS, with
-- $BENCH_TLS_DIR/server.pem and server.key (test/tls_certs.sh) and tide's
-- server defaults otherwise.
local tide = require "tide"

-- Every message becomes a short-lived Lua string: the generational
-- collector handles that garbage for about half the work of the default
-- incremental one (measured with callgrind: ~4100 -> ~3500 instructions
-- per message in the server's user space). Remove to measure the default.
collectgarbage("generational")

local port = tonumber(arg[#arg] or "0") or 0

-- One task per connection: read whatever has arrived, write it back. write
-- waits only when the peer stops reading (the queue is past the high-water
-- mark), which bounds memory like echo_uv's back-pressure.
local function echo(s)
  local read, write = s.read, s.write
  while true do
    local data = read(s)
    if not data then return end
    if not write(s, data) then return end
  end
end

local opts = {backlog = 1024}
if arg[1] == "--tls" then
  local dir = assert(os.getenv("BENCH_TLS_DIR"),
    "set BENCH_TLS_DIR (test/tls_certs.sh DIR)")
  opts.tls = assert(tide.tls.context{server = true,
    cert = dir .. "/server.pem", key = dir .. "/server.key"})
end

local srv = assert(tide.tcp.listen("127.0.0.1", port, echo, opts))
local _, bound = srv:address()
io.stdout:write("port ", bound, "\n")
io.stdout:flush()

local stop = tide.future()
local function on_stop() if not stop:done() then stop:set_result() end end
local w1 = tide.on_signal("SIGTERM", on_stop)
local w2 = tide.on_signal("SIGINT", on_stop)
stop:await()
w1:close()
w2:close()
srv:close{cancel = true}
