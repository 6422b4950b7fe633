-- A few hundred failed tasks whose errors nobody retrieved are reported
-- when tide.run ends, with the default error handler (stderr): each report
-- leaves a value on the main thread's stack, which nothing grows
-- (tide__task_report_unobserved -> tide__task_report_failed ->
-- tide__task_pushlabel, src/task.c: a task whose info table has no name
-- pops one value of the two it pushed, leaving the info table; the same
-- stray value makes tide.tasks() fail, see dump_after_cancel.lua).
-- Today: SIGSEGV (or "double free or corruption") on the plain build past
-- ~300 tasks; under ASan the overflow goes unseen (liblua is not
-- instrumented).
-- Expected: each failure reported once, the run returns.
local tide = require "tide"
tide.run(function()
  for i = 1, 2000 do tide.spawn(error, "fail " .. i) end
end)
io.stderr:write("\n")
print("ok")
