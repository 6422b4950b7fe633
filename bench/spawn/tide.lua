-- spawn, tide: spawn N tasks, then await each one.
--   lua5.4 bench/spawn/tide.lua [N]   or   build/bin/tide bench/spawn/tide.lua [N]
-- prints: result ns_per_task=... rss_kb=<peak> check=<sum of results>
local B = dofile((arg[0]:match("^(.*)/[^/]*/[^/]*$") or ".") .. "/lib/tide_env.lua")
local tide = B.tide
local N = tonumber(arg[1]) or 200000

local function work(i) return i end

B.main(function()
  local t0 = tide.now()
  local tasks = {}
  for i = 1, N do tasks[i] = tide.spawn(work, i) end
  local sum = 0
  for i = 1, N do sum = sum + tasks[i]:await() end
  local dt = tide.now() - t0
  assert(sum == N * (N + 1) // 2, "wrong sum")
  print(("result ns_per_task=%.1f rss_kb=%d check=%d"):format(dt * 1e9 / N, B.status_kb("VmHWM"), sum))
end)
