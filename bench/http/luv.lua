-- http, luv (callbacks): keep-alive "hello world"; counts request heads
-- ("\r\n\r\n") in what arrives and answers each.
local uv = require "luv"
local RESP = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!"
local server = uv.new_tcp()
assert(server:bind("127.0.0.1", tonumber(arg[#arg]) or 0))
assert(server:listen(1024, function(err)
  assert(not err, err)
  local c = uv.new_tcp()
  server:accept(c)
  local pending = ""
  c:read_start(function(rerr, data)
    if rerr or not data then c:close(); return end
    pending = pending .. data
    local n, pos = 0, 1
    while true do
      local e = pending:find("\r\n\r\n", pos, true)
      if not e then break end
      n, pos = n + 1, e + 4
    end
    if n > 0 then
      pending = pending:sub(pos)
      c:write(n == 1 and RESP or RESP:rep(n))
    end
  end)
end))
io.stdout:write("port ", server:getsockname().port, "\n")
io.stdout:flush()
for _, name in ipairs({"sigterm", "sigint"}) do
  uv.new_signal():start(name, function() uv.stop() end)
end
uv.run()
os.exit(0)
