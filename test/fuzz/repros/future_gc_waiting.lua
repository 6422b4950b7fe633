-- A future is collected while a task is still registered as waiting on it:
-- the task awaits the future through a plain coroutine, whose stack holds
-- the only reference; coroutine.close drops it and the collector frees the
-- future (its waiter list with it). The task's next cancel reads the freed
-- future through t->waiting (tide__task_cancel, src/task.c).
-- Today: heap-use-after-free under ASan (run it with the asan build).
-- Expected: the close is refused (main since eacf386), or it unregisters
-- the waiter (or keeps the future alive); the cancel then ends the task.
local tide = require "tide"
tide.run(function()
  local co = coroutine.create(function() tide.future():await() end)
  local t = tide.spawn(function() coroutine.resume(co) end)
  tide.yield()
  pcall(coroutine.close, co) -- refused since eacf386: the coroutine waits
  co = nil
  collectgarbage()
  collectgarbage()
  t:cancel()
  tide.sleep(0.01)
end)
print("ok")
