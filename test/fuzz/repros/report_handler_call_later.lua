-- An error handler that makes a call_later while the end of tide.run
-- reports the failures nobody retrieved: the timers stayed armed after
-- tide.run returned (l_run stopped its rounds once no task was pending,
-- without closing what the reports made; src/lua/lcore.c on main at
-- de024af). Found by the API fuzzer (seed 96119407223, minimized).
-- Expected: no timer left armed when tide.run returns.
local tide = require "tide"
local old = tide.set_error_handler(function()
  tide.call_later(0, function() end)
end)
tide.run(function()
  for i = 1, 3 do tide.spawn(error, "fail " .. i) end
end)
local timers = tide.stats().timers
tide.set_error_handler(old)
assert(timers == 0, timers .. " timer(s) left armed after tide.run returned")
print("ok")
