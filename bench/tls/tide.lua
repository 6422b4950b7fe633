-- TLS echo server on tide, for the tls and tls-handshake workloads
-- (bench/run.sh; bench/tls/c.c is the C floor).
--
--   BENCH_TLS_DIR=dir tide bench/tls/tide.lua [port]
--
-- $BENCH_TLS_DIR/server.pem and server.key (test/tls_certs.sh) are the
-- certificate and key; tide's server defaults otherwise (TLS 1.3, session
-- tickets on). Listens on 127.0.0.1, prints "port N" once listening,
-- echoes with a plain read/write loop per connection (the same as
-- bench/echo_tide.lua), exits with status 0 on SIGTERM or SIGINT.
local tide = require "tide"

collectgarbage("generational") -- as bench/echo_tide.lua

local port = tonumber(arg[#arg] or "0") or 0
local dir = assert(os.getenv("BENCH_TLS_DIR"),
  "set BENCH_TLS_DIR (test/tls_certs.sh DIR)")
local ctx = assert(tide.tls.context{server = true, cert = dir .. "/server.pem",
                                    key = dir .. "/server.key"})

local function echo(s)
  local read, write = s.read, s.write
  while true do
    local data = read(s)
    if not data then return end
    if not write(s, data) then return end
  end
end

local srv = assert(tide.tcp.listen("127.0.0.1", port, echo,
  {backlog = 1024, tls = ctx}))
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
