-- http, cqueues: keep-alive "hello world", one coroutine per connection
-- reading the request head line by line up to the blank line.
local cqueues = require "cqueues"
local socket = require "cqueues.socket"
local signal = require "cqueues.signal"
local RESP = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!"
local cq = cqueues.new()
local srv = socket.listen{host = "127.0.0.1", port = tonumber(arg[#arg]) or 0, backlog = 1024}
srv:listen()
local _, _, port = srv:localname()
io.stdout:write("port ", port, "\n")
io.stdout:flush()
signal.block(signal.SIGTERM, signal.SIGINT)
cq:wrap(function()
  signal.listen(signal.SIGTERM, signal.SIGINT):wait()
  os.exit(0)
end)
cq:wrap(function()
  for con in srv:clients() do
    cq:wrap(function()
      con:setmode("tl", "bf")
      pcall(function()
        while true do
          local line = con:read("*l")
          if not line then break end
          if line == "" then con:write(RESP); con:flush() end
        end
      end)
      con:close()
    end)
  end
end)
assert(cq:loop())
