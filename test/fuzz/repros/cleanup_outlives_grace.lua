-- tide.cleanup(fn) inside a task that the end of tide.run cancels: its
-- shield was bounded only by its own deadline (the grace period as it was
-- when it opened), and the runtime's second cancellation (the end of the
-- shutdown's grace period) did not reach inside it. A script that shortened
-- the grace period after the cleanup opened saw tide.run return with the
-- task still waiting in its cleanup (task_cancel_again, src/task.c, on main
-- at de024af). Found by the API fuzzer (seed 96119407252, minimized, then
-- reduced by hand).
-- Expected: a second cancellation ends tide.cleanup's shield as it ends a
-- <close> handler's awaits; nothing is pending when tide.run returns.
local tide = require "tide"
local saved = tide.cleanup_grace()
local srv, c
tide.run(function()
  srv = assert(tide.tcp.listen("127.0.0.1", 0, function(s)
    tide.cleanup(function() s:readline() end) -- nobody writes: waits
  end))
  c = assert(tide.tcp.connect(srv:address()))
  tide.yield()
  tide.yield() -- the handler is in its cleanup, bounded by 5 s
  tide.cleanup_grace(0.05)
end)
local left = tide.stats().tasks
tide.cleanup_grace(saved)
srv:close()
c:close()
tide.run(function() end)
assert(left == 0, left .. " task(s) still pending after tide.run returned")
print("ok")
