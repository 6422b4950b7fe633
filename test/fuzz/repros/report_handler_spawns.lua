-- The end of tide.run reports the failed tasks nobody awaited
-- (tide__task_report_unobserved, called by l_run in src/lua/lcore.c after
-- the tasks left were cancelled); an error handler that spawns a task
-- there leaves that task pending after tide.run has returned (it never
-- runs, or runs in the next tide.run). Found by the API fuzzer (seed
-- 300304, minimized).
-- Expected: no task pending once tide.run returns (the report comes
-- before the cancellation of what is left, or what it spawns is
-- cancelled too).
local tide = require "tide"
tide.set_error_handler(function() tide.spawn(function() end) end)
tide.run(function() tide.spawn(error, "unobserved") end)
local left = tide.stats().tasks
tide.set_error_handler(nil)
tide.run(function() end)
assert(left == 0, left .. " task(s) still pending after tide.run returned")
print("ok")
