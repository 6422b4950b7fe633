-- echo server, luv (callbacks), for bench/echo.sh: lua5.4 bench/echo/luv.lua PORT
local uv = require "luv"
local server = uv.new_tcp()
assert(server:bind("127.0.0.1", tonumber(arg[#arg]) or 0))
assert(server:listen(1024, function(err)
  assert(not err, err)
  local c = uv.new_tcp()
  server:accept(c)
  c:read_start(function(rerr, data)
    if rerr or not data then c:close(); return end
    c:write(data)
  end)
end))
io.stdout:write("port ", server:getsockname().port, "\n")
io.stdout:flush()
for _, name in ipairs({"sigterm", "sigint"}) do
  local s = uv.new_signal()
  s:start(name, function() uv.stop() end)
end
uv.run()
os.exit(0)
