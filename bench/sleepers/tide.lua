-- sleepers, tide: N tasks each sleep a random 0-1 s and record how late
-- they woke.
--   lua5.4 bench/sleepers/tide.lua [N]
-- prints: result bytes_per_task=... overshoot_ms_mean=... overshoot_ms_max=... check=N
-- bytes_per_task: VmRSS once every task sleeps, minus VmRSS before, over N.
local B = dofile((arg[0]:match("^(.*)/[^/]*/[^/]*$") or ".") .. "/lib/tide_env.lua")
local tide = B.tide
local N = tonumber(arg[1]) or 100000

B.main(function()
  math.randomseed(1)
  local started, woke, late_sum, late_max = 0, 0, 0, 0
  local function sleeper(d)
    local due = tide.now() + d
    started = started + 1
    tide.sleep(d)
    local late = tide.now() - due
    if late < 0 then late = 0 end
    late_sum = late_sum + late
    if late > late_max then late_max = late end
    woke = woke + 1
  end
  collectgarbage()
  local rss0 = B.status_kb("VmRSS")
  local tasks = {}
  for i = 1, N do tasks[i] = tide.spawn(sleeper, math.random()) end
  while started < N do tide.yield() end
  local rss1 = B.status_kb("VmRSS")
  for i = 1, N do tasks[i]:await() end
  assert(woke == N)
  print(("result bytes_per_task=%.0f overshoot_ms_mean=%.3f overshoot_ms_max=%.3f check=%d")
    :format((rss1 - rss0) * 1024 / N, late_sum / N * 1e3, late_max * 1e3, woke))
end)
