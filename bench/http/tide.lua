-- http, tide: a keep-alive "hello world" responder on tide.tcp (not an HTTP
-- library: it reads each request head up to the blank line and answers it).
--   build/bin/tide bench/http/tide.lua PORT   (or lua5.4 ...)
-- prints "port N", exits on SIGTERM.
local B = dofile((arg[0]:match("^(.*)/[^/]*/[^/]*$") or ".") .. "/lib/tide_env.lua")
local tide = B.tide
collectgarbage("generational") -- short-lived strings: as bench/echo_tide.lua

local RESP = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!"

local function handle(s)
  while true do
    local head = s:readuntil("\r\n\r\n")
    if not head then return end
    if not s:write(RESP) then return end
  end
end

B.main(function()
  local srv = assert(tide.tcp.listen("127.0.0.1", tonumber(arg[#arg]) or 0, handle, {backlog = 1024}))
  local _, port = srv:address()
  io.stdout:write("port ", port, "\n")
  io.stdout:flush()
  local stop = tide.future()
  local function on_stop() if not stop:done() then stop:set_result() end end
  local w1, w2 = tide.on_signal("SIGTERM", on_stop), tide.on_signal("SIGINT", on_stop)
  stop:await()
  w1:close(); w2:close()
  srv:close{cancel = true}
end)
