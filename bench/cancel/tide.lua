-- cancel, tide: N tasks sleep, then all are cancelled; how long the
-- cancellation takes per task, and whether memory goes back afterwards.
--   lua5.4 bench/cancel/tide.lua [N]   or   build/bin/tide bench/cancel/tide.lua [N]
-- prints: result ns_per_cancel=... rss_before_kb=... rss_peak_kb=...
--         rss_after_kb=... after_ratio=... check=N
-- rss_before: before the burst; rss_after: once every task has ended and
-- been collected (two full collections, then a loop turn for tide to give
-- freed memory back); after_ratio = rss_after / rss_before.
local B = dofile((arg[0]:match("^(.*)/[^/]*/[^/]*$") or ".") .. "/lib/tide_env.lua")
local tide = B.tide
local N = tonumber(arg[1]) or 1000000

B.main(function()
  collectgarbage()
  collectgarbage()
  tide.sleep(0)
  local rss0 = B.status_kb("VmRSS")
  local tasks, started = {}, 0
  local function sleeper()
    started = started + 1
    tide.sleep(1000)
  end
  for i = 1, N do tasks[i] = tide.spawn(sleeper) end
  while started < N do tide.yield() end
  local peak = B.status_kb("VmRSS")
  local t0 = tide.now()
  for i = 1, N do tasks[i]:cancel() end
  local ended = 0
  for i = 1, N do
    if not pcall(tasks[i].await, tasks[i]) then ended = ended + 1 end
  end
  local dt = tide.now() - t0
  assert(ended == N, "not all cancelled")
  tasks = nil
  collectgarbage()
  collectgarbage()
  tide.sleep(0.01) -- a few loop turns: tide trims the heap from the loop
  local rss2 = B.status_kb("VmRSS")
  print(("result ns_per_cancel=%.1f rss_before_kb=%d rss_peak_kb=%d rss_after_kb=%d after_ratio=%.2f check=%d")
    :format(dt * 1e9 / N, rss0, peak, rss2, rss2 / rss0, ended))
end)
