-- A Condition wait cancelled while another task holds the lock takes the
-- lock back before raising, in a park that ignores cancellation. The main
-- task ends holding the lock, so the lock never comes back: the end of
-- tide.run cancelled the waiter, then cancelled it again at the end of the
-- grace period, and neither ended the park (task_cancel_again, src/task.c,
-- on main at de024af); tide.run returned with the task pending. Found by
-- the API fuzzer (seed 96119405379, minimized).
-- Expected: the second cancellation ends the park; nothing is pending.
local tide = require "tide"
local saved = tide.cleanup_grace()
tide.cleanup_grace(0.05)
local cond = tide.Condition()
tide.run(function()
  tide.spawn(function() cond:with(function() cond:wait() end) end)
  tide.yield()
  cond:acquire() -- the main task ends holding it
end)
local left = tide.stats().tasks
tide.cleanup_grace(saved)
assert(left == 0, left .. " task(s) still pending after tide.run returned")
print("ok")
