-- A coroutine closed with coroutine.close while it awaits
-- tide.tcp.connect through the tunnel: the connect attempt
-- (tide__connect_t, src/tcp.c) keeps the continuation's reference, which
-- nothing releases. Today: LeakSanitizer reports it (under make asan's
-- environment), and the attempt's stream stays open.
-- Expected: the close is refused (main since eacf386: "cannot close a
-- coroutine that waits in a tide await"), or the attempt is closed and
-- freed; nothing left open either way.
local tide = require "tide"
tide.run(function()
  local srv = assert(tide.tcp.listen("127.0.0.1", 0, function() end))
  local co = coroutine.create(function() return tide.tcp.connect(srv:address()) end)
  tide.spawn(function() coroutine.resume(co) end)
  tide.yield()
  -- Refusing the close (the coroutine waits in an await) is a fix too.
  pcall(coroutine.close, co)
  tide.sleep(0.01)
  srv:close()
end)
collectgarbage() collectgarbage()
tide.run(function() tide.sleep(0.01) end)
assert(tide.stats().handles == 0, tide.stats().handles .. " handle(s) left open")
print("ok")
