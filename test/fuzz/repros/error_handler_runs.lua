-- An error handler that calls tide.run while the end of a run reports the
-- errors nobody retrieved: tide.run was allowed there (the loop was not
-- running and no task was current), and each nested run reported the next
-- error to the same handler, one run deeper per failed task, until Lua's
-- C stack overflowed (l_run, src/lua/lcore.c, on main at de024af). Found by
-- the API fuzzer under make asan's fuzz-ci (seed 96125819079, minimized).
-- Expected: tide.run refuses to start while a run is ending; every error
-- is reported once.
local tide = require "tide"
local reported, refused = 0, 0
local old = tide.set_error_handler(function()
  reported = reported + 1
  local ok, err = pcall(tide.run, function() end)
  if not ok and tostring(err):find("a run is ending", 1, true) then
    refused = refused + 1
  end
end)
tide.run(function()
  for i = 1, 400 do tide.spawn(error, "fail " .. i) end
end)
tide.set_error_handler(old)
assert(reported == 400, reported .. " errors reported, 400 expected")
assert(refused == 400, refused .. " nested runs refused, 400 expected")
tide.run(function() end) -- a run after the end works
print("ok")
