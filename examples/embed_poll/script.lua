-- Run by examples/embed_poll/host.c, whose own poll(2) loop drives tide.
local tide = require "tide"
local host = require "host"

-- Three ticks of the host's ticker, awaited like any future.
local got = 0
for _ = 1, 3 do
  host.next_tick()
  got = got + 1
end

-- Sockets work as usual: tide's descriptor is in the host's poll set.
local server = assert(tide.tcp.listen("127.0.0.1", 0, function(conn)
  conn:write("echo: " .. conn:readline() .. "\n")
end))
local c = assert(tide.tcp.connect(server:address()))
c:write("hello\n")
local echo = c:readline()
c:close()
server:close{wait = true}

-- A wait cut short by a deadline: the host's cancel callback hears of it.
local ok = tide.move_on_after(0.001, host.never)
tide.sleep(0.001)
local seen = host.cancels() == 1 and "cancelled wait seen" or "no cancel"

return ("%d ticks, %s, %s"):format(got, echo, seen)
