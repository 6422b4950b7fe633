-- spawn, cqueues: cq:wrap N coroutines, run the controller until all finish.
--   lua5.4 bench/spawn/cqueues.lua [N] [plain|fanout]
-- fanout: the coroutines share a semaphore of 100 permits made of a count
-- and a cqueues.condition (cqueues has no semaphore): each waits while no
-- permit is left, takes one, yields once (cqueues.sleep(0)) while holding
-- it, gives it back and signals one waiter.
local cqueues = require "cqueues"
local condition = require "cqueues.condition"
local N = tonumber(arg[1]) or 200000
local mode = arg[2] or "plain"
local LIMIT = 100
local function status_kb(key)
  local f = assert(io.open("/proc/self/status")); local s = f:read("a"); f:close()
  return tonumber(s:match(key .. ":%s*(%d+)"))
end
local cq = cqueues.new()
local results = {}

local free, permits, inside = condition.new(), LIMIT, 0
local function fanout(i)
  while permits == 0 do free:wait() end
  permits = permits - 1
  inside = inside + 1
  assert(inside <= LIMIT, "more tasks inside than permits")
  cqueues.sleep(0)
  inside = inside - 1
  permits = permits + 1
  free:signal(1)
  results[i] = i
end
assert(mode == "plain" or mode == "fanout", "mode: plain or fanout")

local t0 = cqueues.monotime()
if mode == "plain" then
  for i = 1, N do cq:wrap(function() results[i] = i end) end
else
  for i = 1, N do cq:wrap(fanout, i) end
end
assert(cq:loop())
local sum = 0
for i = 1, N do sum = sum + results[i] end
local dt = cqueues.monotime() - t0
assert(sum == N * (N + 1) // 2)
print(("result ns_per_task=%.1f rss_kb=%d check=%d"):format(dt * 1e9 / N, status_kb("VmHWM"), sum))
