-- Two tasks awaiting each other, then one is cancelled (here: by the end
-- of tide.run): tide__task_cancel passes the request to the awaited task's
-- cancel hook (task_cancel_hook), which cancels the first task again, and
-- so on without end (src/task.c). Today: SIGSEGV (stack overflow).
-- Expected: both tasks end cancelled; the run returns.
local tide = require "tide"
local a, b
tide.run(function()
  a = tide.spawn(function() tide.yield() b:await() end)
  b = tide.spawn(function() tide.yield() a:await() end)
  tide.sleep(0.01) -- both wait now
  a:cancel()
  tide.sleep(0.01)
end)
assert(a:done() and b:done(), "the tasks of the cycle are still pending")
assert(tide.stats().tasks == 0)
print("ok")
