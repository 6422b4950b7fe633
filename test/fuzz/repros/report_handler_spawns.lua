-- The end of tide.run reports the failed tasks nobody awaited
-- (tide__task_report_unobserved, src/lua/lcore.c:131 on main at 2d5f6b8,
-- after tide__runtime_cancel_all at :123); an error handler that spawns a
-- task there leaves that task pending after tide.run has returned (it runs
-- in the next tide.run, if any). Found by the API fuzzer (seeds 300304,
-- 1000027, minimized).
-- Expected: no task pending once tide.run returns (report before the
-- cancellation of what is left, or cancel what the reports spawned).
local tide = require "tide"
tide.set_error_handler(function() tide.spawn(function() end) end)
tide.run(function() tide.spawn(error, "unobserved") end)
local left = tide.stats().tasks
tide.set_error_handler(nil)
tide.run(function() end)
assert(left == 0, left .. " task(s) still pending after tide.run returned")
print("ok")
