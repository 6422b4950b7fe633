-- tide.wait_for(s, fn) raises its timeout although fn (run as a task of
-- its own) has returned: when the task finishes in the same loop turn as
-- the deadline, the waiter's cancellation wins over the completed result
-- and wait_for drops it (lua/tide/deadline.lua wait_for: it checks
-- aw:done() only to decide whether to cancel aw). With a stream read in fn,
-- the bytes read are lost. The deadline here passes while the waiter's
-- wake-up is queued: six ready-queue batches into a loop iteration (the
-- loop runs at most eight per iteration), wait_for(0) starts, its task
-- finishes in the eighth, and the waiter's wake-up waits for the next
-- iteration, whose timers run first.
-- Expected: wait_for returns "data" whenever fn returned.
local tide = require "tide"
tide.run(function()
  for n = 0, 12 do
    tide.sleep(0.002)
    for _ = 1, n do tide.yield() end
    local returned = false
    local ok, err = pcall(tide.wait_for, 0, function()
      returned = true
      return "data"
    end)
    assert(ok or not returned, ("after %d yields: wait_for raised '%s' " ..
      "although the function returned"):format(n, tostring(err)))
  end
end)
print("ok")
