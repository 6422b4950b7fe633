-- tide.tasks() and tide.dump() raise "attempt to index a tide.task value"
-- once a task was cancelled with a message (or went through a timeout):
-- the cancel path leaves the task's userdata on the stack, where l_tasks
-- expects its table (src/task.c tide__task_cancel, src/lua/ltask.c
-- l_tasks). Expected: a list / a text.
local tide = require "tide"
tide.run(function()
  local t = tide.spawn(function() tide.sleep(10) end)
  local other = tide.spawn(function() tide.sleep(10) end)
  tide.yield()
  t:cancel("why")
  assert(type(tide.tasks()) == "table")
  assert(type(tide.dump()) == "string")
  other:cancel()
end)
print("ok")
