-- sleepers, cqueues: N coroutines each cqueues.sleep a random 0-1 s.
local cqueues = require "cqueues"
local N = tonumber(arg[1]) or 100000
local function status_kb(key)
  local f = assert(io.open("/proc/self/status")); local s = f:read("a"); f:close()
  return tonumber(s:match(key .. ":%s*(%d+)"))
end
math.randomseed(1)
local cq = cqueues.new()
local started, woke, late_sum, late_max = 0, 0, 0, 0
local rss0, rss1
cq:wrap(function()
  collectgarbage()
  rss0 = status_kb("VmRSS")
  for _ = 1, N do
    local d = math.random()
    cq:wrap(function()
      local due = cqueues.monotime() + d
      started = started + 1
      cqueues.sleep(d)
      local late = math.max(0, cqueues.monotime() - due)
      late_sum = late_sum + late
      if late > late_max then late_max = late end
      woke = woke + 1
    end)
  end
  while started < N do cqueues.sleep(0) end
  rss1 = status_kb("VmRSS")
end)
assert(cq:loop())
assert(woke == N)
print(("result bytes_per_task=%.0f overshoot_ms_mean=%.3f overshoot_ms_max=%.3f check=%d")
  :format((rss1 - rss0) * 1024 / N, late_sum / N * 1e3, late_max * 1e3, woke))
