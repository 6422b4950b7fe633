-- spawn, cqueues: cq:wrap N coroutines, run the controller until all finish.
local cqueues = require "cqueues"
local N = tonumber(arg[1]) or 200000
local function status_kb(key)
  local f = assert(io.open("/proc/self/status")); local s = f:read("a"); f:close()
  return tonumber(s:match(key .. ":%s*(%d+)"))
end
local cq = cqueues.new()
local results = {}
local t0 = cqueues.monotime()
for i = 1, N do cq:wrap(function() results[i] = i end) end
assert(cq:loop())
local sum = 0
for i = 1, N do sum = sum + results[i] end
local dt = cqueues.monotime() - t0
assert(sum == N * (N + 1) // 2)
print(("result ns_per_task=%.1f rss_kb=%d check=%d"):format(dt * 1e9 / N, status_kb("VmHWM"), sum))
