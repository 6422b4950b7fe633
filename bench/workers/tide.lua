-- workers, tide: the http responder of bench/http/tide.lua with the
-- worker's number in an X-Worker header, for `tide --workers N`; a request
-- with "Connection: close" is answered and its connection closed.
--   build/bin/tide --workers N bench/workers/tide.lua PORT
-- every worker prints "port N" (the same port), and stops on SIGTERM (the
-- supervisor forwards it; the tide command drains the connections).
local B = dofile((arg[0]:match("^(.*)/[^/]*/[^/]*$") or ".") .. "/lib/tide_env.lua")
local tide = B.tide
collectgarbage("generational")

local RESP = ("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Worker: %d\r\n" ..
  "Content-Length: 13\r\n\r\nHello, World!"):format(tide.worker_id())

local function handle(s)
  while true do
    local head = s:readuntil("\r\n\r\n")
    if not head then return end
    if not s:write(RESP) then return end
    if head:lower():find("connection: close", 1, true) or tide.stopping() then return end
  end
end

B.main(function()
  local srv = assert(tide.tcp.listen("127.0.0.1", tonumber(arg[#arg]) or 0, handle, {backlog = 1024}))
  local _, port = srv:address()
  io.stdout:write("port ", port, "\n")
  io.stdout:flush()
  tide.sleep(math.huge)
end)
