-- tide.run can return with a task still pending: after cancelling the
-- tasks left (tide__runtime_cancel_all, src/lua/lcore.c:123 on main at
-- 2d5f6b8), l_run closes the run-scoped resources (here the call_later
-- not yet due) and runs the loop once more for their close callbacks
-- (lcore.c:129-130); that turn also accepts the connection whose connect
-- was cancelled and starts its handler, which then waits in s:read() after
-- the run has returned. (Without the pending call_later the extra turn
-- does not happen.) Its stream stays open; the next tide.run cancels the
-- task. Found by the API fuzzer (seed 20598 and others, minimized, then
-- reduced by hand).
-- Expected: tide.stats().tasks == 0 when tide.run returns (cancel what the
-- last turns started, as long as they start something).
local tide = require "tide"
local srv
tide.run(function()
  tide.call_later(10, function() end) -- not due when the run ends
  srv = assert(tide.tcp.listen("127.0.0.1", 0, function(s) s:read() end))
  local t = tide.spawn(function() tide.tcp.connect(srv:address()) end)
  tide.yield()
  tide.yield()
  t:cancel()
end)
local left = tide.stats().tasks
srv:close()
tide.run(function() end)
assert(left == 0, left .. " task(s) still pending after tide.run returned")
print("ok")
