-- A cycle of awaits through a task group: task t runs a group whose child
-- awaits t. t waits in the group's exit for the child; the child waits for
-- t. Cancelling them (here: the end of tide.run) does not break the cycle:
-- cancelling the child cancels t and waits for it to finish (the rule for
-- an awaited task), while t, cancelled, still waits in the group for its
-- child. tide.run gives up after the cleanup grace period (5 s) and
-- returns with both tasks pending. (A direct cycle, a awaits b awaits a,
-- ends; see await_cycle_cancel.lua.) Found by the API fuzzer on main at
-- 2d5f6b8 (seed 13, minimized, then reduced by hand).
-- With a task outside the cycle awaiting t (the root, say), that task
-- waits for t without bound once cancelled: tide.run hangs (fuzzer seed
-- 4000581). With tide.shield(t) inside the child instead of t:await(),
-- nothing can break the cycle at all (seed 2001233, minimized to 6
-- statements).
-- Expected: both tasks end cancelled when the run ends; nothing pending.
local tide = require "tide"
local t
local started = os.time()
tide.run(function()
  t = tide.spawn(function()
    tide.group(function(g)
      g:spawn(function() t:await() end)
    end)
  end)
end)
local left = tide.stats().tasks
assert(left == 0, ("%d task(s) still pending after tide.run returned (after " ..
  "%d s)"):format(left, os.time() - started))
print("ok")
