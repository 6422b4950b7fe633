-- spawn, tide: spawn N tasks, then await each one.
--   lua5.4 bench/spawn/tide.lua [N] [plain|fanout]
--   or   build/bin/tide bench/spawn/tide.lua [N] [plain|fanout]
-- prints: result ns_per_task=... rss_kb=<peak> check=<sum of results>
-- fanout: the tasks share a tide.Semaphore(100); each acquires it, yields
-- once (tide.yield) while holding it and releases it before returning.
local B = dofile((arg[0]:match("^(.*)/[^/]*/[^/]*$") or ".") .. "/lib/tide_env.lua")
local tide = B.tide
local N = tonumber(arg[1]) or 200000
local mode = arg[2] or "plain"
local LIMIT = 100

local function work(i) return i end

local sem, inside = tide.Semaphore(LIMIT), 0
local function fanout(i)
  sem:acquire()
  inside = inside + 1
  assert(inside <= LIMIT, "more tasks inside than permits")
  tide.yield()
  inside = inside - 1
  sem:release()
  return i
end

local body = ({plain = work, fanout = fanout})[mode]
assert(body, "mode: plain or fanout")

B.main(function()
  local t0 = tide.now()
  local tasks = {}
  for i = 1, N do tasks[i] = tide.spawn(body, i) end
  local sum = 0
  for i = 1, N do sum = sum + tasks[i]:await() end
  local dt = tide.now() - t0
  assert(sum == N * (N + 1) // 2, "wrong sum")
  print(("result ns_per_task=%.1f rss_kb=%d check=%d"):format(dt * 1e9 / N, B.status_kb("VmHWM"), sum))
end)
