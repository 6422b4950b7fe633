-- tide.first/tide.race given the calling task among its awaitables: once
-- another one wins, first cancels the losers, the caller among them, and
-- waits for them to finish (lua/tide/combinators.lua M.first:
-- cancel_pending, then wait_children): the task waits for itself. It ends
-- only when the run's cleanup grace period runs out, and tide.run returns
-- with it pending. (t:await(), wait_for and shield refuse a task that
-- awaits itself: "a task cannot await itself"; gather and wait, given the
-- caller, end cancelled.) Found by the API fuzzer on main at 2d5f6b8
-- (seeds 2000167, 2000254, 2000365, minimized).
-- Worse when another task awaits it: cancelling that task (a deadline
-- around t:await(), the run's end, Ctrl-C) cancels t and waits for it
-- without bound, so tide.timeout(0.1, t.await, t) never times out: the
-- run ends in "tide.run: deadlock" when nothing else keeps the loop alive,
-- and hangs for ever when something does (a listening server): the API
-- fuzzer's hangs on main were all this or group_await_cycle.lua.
-- Expected: first/race raise "a task cannot await itself" (or leave the
-- caller out of the losers); nothing pending after the run.
local tide = require "tide"
local t, err
tide.run(function()
  t = tide.spawn(function()
    local ok, e = pcall(tide.race, function() end, t)
    err = e
  end)
end)
local left = tide.stats().tasks
assert(left == 0, left .. " task(s) still pending after tide.run returned")
print("ok", err)
