-- Run by examples/embed/host.c: awaits the host's own asynchronous
-- operation (host.compute, finished by a worker thread in C) alongside a
-- TCP exchange over loopback, both in the same tide loop as the host's
-- timer. Returns "441 echo: hello".
local tide = require "tide"
local host = require "host"

-- A one-line echo server on an ephemeral port.
local server = assert(tide.tcp.listen("127.0.0.1", 0, function(s)
  local line = s:readline()
  if line then s:write("echo: " .. line .. "\n") end
end))
local _, port = server:address()

local results = tide.gather(
  function() return host.compute(21) end,
  function()
    local c = assert(tide.tcp.connect("127.0.0.1", port))
    assert(c:write("hello\n"))
    local reply = c:readline()
    c:close()
    return reply
  end)
server:close()

return ("%d %s"):format(results[1], results[2])
