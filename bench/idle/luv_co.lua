-- idle, luv with a coroutine per connection: the connection's handler is
-- straight-line code, `while true do write(readline()) end`, and readline
-- yields the coroutine until the read callback has a whole line for it (the
-- shape of a coroutine runtime built on luv, without a scheduler).
--   lua5.4 bench/idle/luv_co.lua PORT   prints "port N", exits on SIGTERM or SIGINT
local uv = require "luv"

local function serve(c)
  local pending, waiting = "", false
  local co

  -- The next line with its "\n", or nil at the end or on an error.
  local function readline()
    while true do
      if not pending then return nil end
      local nl = pending:find("\n", 1, true)
      if nl then
        local line = pending:sub(1, nl)
        pending = pending:sub(nl + 1)
        return line
      end
      waiting = true
      coroutine.yield()
    end
  end

  co = coroutine.create(function()
    while true do
      local line = readline()
      if not line then break end
      c:write(line)
    end
    c:close()
  end)

  c:read_start(function(err, data)
    if err or not data then
      pending = nil
    else
      pending = pending .. data
    end
    if waiting then
      waiting = false
      assert(coroutine.resume(co))
    end
  end)
  assert(coroutine.resume(co))
end

local server = uv.new_tcp()
assert(server:bind("127.0.0.1", tonumber(arg[#arg]) or 0))
assert(server:listen(1024, function(err)
  assert(not err, err)
  local c = uv.new_tcp()
  server:accept(c)
  serve(c)
end))
io.stdout:write("port ", server:getsockname().port, "\n")
io.stdout:flush()
for _, name in ipairs({"sigterm", "sigint"}) do
  local s = uv.new_signal()
  s:start(name, function() uv.stop() end)
end
uv.run()
os.exit(0)
