-- http-lib, tide: keep-alive "hello world" through tide.http.listen (the
-- HTTP library: strict parsing, header table, response head built in C).
--   build/bin/tide bench/http/tide_lib.lua PORT   (or lua5.4 ...)
-- prints "port N", exits on SIGTERM.
local B = dofile((arg[0]:match("^(.*)/[^/]*/[^/]*$") or ".") .. "/lib/tide_env.lua")
local tide = B.tide
collectgarbage("generational")

local HDRS = {["Content-Type"] = "text/plain"}

local function handler(req, res)
  return 200, HDRS, "Hello, World!"
end

B.main(function()
  local srv = assert(tide.http.listen("127.0.0.1", tonumber(arg[#arg]) or 0, handler,
    {backlog = 1024, max_requests = 1000000})) -- as nginx.sh's keepalive_requests
  local _, port = srv:address()
  io.stdout:write("port ", port, "\n")
  io.stdout:flush()
  local stop = tide.future()
  local function on_stop() if not stop:done() then stop:set_result() end end
  local w1, w2 = tide.on_signal("SIGTERM", on_stop), tide.on_signal("SIGINT", on_stop)
  stop:await()
  w1:close(); w2:close()
  srv:close{wait = 1}
end)
