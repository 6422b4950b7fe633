-- sleepers, luv (callbacks): N one-shot uv timers, random 0-1 s.
local dir = arg[0]:match("^(.*)/[^/]*/[^/]*$") or "."
package.path = dir .. "/lib/?.lua;" .. package.path
local uv, rq = require "luv", require "luv_rq"
local N = tonumber(arg[1]) or 100000
rq.close()
math.randomseed(1)
local woke, late_sum, late_max = 0, 0, 0
local function now() return uv.hrtime() / 1e9 end
collectgarbage()
local rss0 = rq.status_kb("VmRSS")
for _ = 1, N do
  local d = math.random()
  local due = now() + d
  local t = uv.new_timer()
  t:start(math.floor(d * 1000), 0, function()
    local late = math.max(0, now() - due)
    late_sum = late_sum + late
    if late > late_max then late_max = late end
    woke = woke + 1
    t:close()
  end)
end
local rss1 = rq.status_kb("VmRSS")
uv.run()
assert(woke == N)
print(("result bytes_per_task=%.0f overshoot_ms_mean=%.3f overshoot_ms_max=%.3f check=%d")
  :format((rss1 - rss0) * 1024 / N, late_sum / N * 1e3, late_max * 1e3, woke))
