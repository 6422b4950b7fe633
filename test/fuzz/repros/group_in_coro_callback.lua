-- A tide.group inside a coroutine that is resumed where the task cannot
-- yield (here: inside table.sort's comparator, a C call boundary): the
-- await inside the group cannot reach the task, and the group's exit (its
-- wait for the children, lua/tide/group.lua) fails and retries without
-- end. Today: spins forever (killed by run.sh's timeout).
-- Expected: the group raises ("cannot await across a C call boundary")
-- and its children are cancelled; the run ends.
local tide = require "tide"
tide.run(function()
  pcall(table.sort, {3, 2, 1}, function(a, b)
    coroutine.wrap(function()
      tide.group(function(g) g:spawn(tide.sleep, 0) end)
    end)()
    return a < b
  end)
end)
print("ok")
