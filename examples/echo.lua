-- examples/echo.lua: a TCP echo server, one task per connection.
--
--   tide examples/echo.lua [port]     (default 0: the system picks a port)
--
-- Try it with `nc 127.0.0.1 PORT`. Stops on Ctrl-C or SIGTERM, cancelling
-- the connections still open.
local tide = require "tide"

io.stdout:setvbuf("line")
local port = tonumber(arg and arg[1]) or 0

local server = assert(tide.tcp.listen("127.0.0.1", port, function(conn)
  local host, p = conn:peername()
  print(("connection from %s:%d"):format(host, p))
  while true do
    local data = conn:read()   -- whatever has arrived; nil at EOF
    if not data then break end
    conn:write(data)           -- waits only if the peer stops reading
  end
  print(("%s:%d disconnected"):format(host, p))
end))

local host, p = server:address()
print(("echo server listening on %s:%d"):format(host, p))

local stop = tide.future()
local function quit() if not stop:done() then stop:set_result() end end
local sigint = tide.on_signal("SIGINT", quit)
local sigterm = tide.on_signal("SIGTERM", quit)
stop:await()
sigint:close()
sigterm:close()
server:close{cancel = true}
print("echo server stopped")
