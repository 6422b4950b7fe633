-- idle, luv (callbacks): a line echo server; each connection keeps the
-- bytes of an unfinished line in a string of its own and writes back every
-- complete line from its read callback.
--   lua5.4 bench/idle/luv.lua PORT   prints "port N", exits on SIGTERM or SIGINT
local uv = require "luv"
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
    local start = 1
    while true do
      local nl = pending:find("\n", start, true)
      if not nl then break end
      c:write(pending:sub(start, nl))
      start = nl + 1
    end
    pending = pending:sub(start)
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
