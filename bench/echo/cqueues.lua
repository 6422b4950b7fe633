-- echo server, cqueues (one coroutine per connection), for bench/echo.sh:
--   lua5.4 bench/echo/cqueues.lua PORT
local cqueues = require "cqueues"
local socket = require "cqueues.socket"
local signal = require "cqueues.signal"
local cq = cqueues.new()
local srv = socket.listen{host = "127.0.0.1", port = tonumber(arg[#arg]) or 0, backlog = 1024}
srv:listen()
local _, _, port = srv:localname()
io.stdout:write("port ", port, "\n")
io.stdout:flush()
signal.block(signal.SIGTERM, signal.SIGINT)
cq:wrap(function()
  local l = signal.listen(signal.SIGTERM, signal.SIGINT)
  l:wait()
  os.exit(0)
end)
cq:wrap(function()
  for con in srv:clients() do
    cq:wrap(function()
      con:setmode("bn", "bn")
      -- socket errors (a reset when the client leaves) raise by default
      pcall(function()
        while true do
          local data = con:read(-65536) -- whatever has arrived, up to 64 KiB
          if not data then break end
          con:write(data)
          con:flush()
        end
      end)
      con:close()
    end)
  end
end)
assert(cq:loop())
