-- offload, luv: the round trip of a trivial job through uv.new_work /
-- queue_work (libuv's thread pool, a Lua state per thread), N times one
-- after the other; then a CPU-bound job (a Lua loop), 4 one at a time and
-- 4 at once on a thread pool of 2: speedup = time one at a time / at once.
--   lua5.4 bench/offload/luv.lua [N]
local uv = require "luv"
uv.os_setenv("UV_THREADPOOL_SIZE", "2") -- before the pool starts
local N = tonumber(arg[1]) or 20000
local ITER = math.min(N * 250, 5000000)

local ok, started = 0, 0
local trivial
trivial = uv.new_work(function(x) return x + 1 end, function(r)
  if r == started + 1 then ok = ok + 1 end
  if started < N then
    started = started + 1
    trivial:queue(started)
  end
end)

local burn_done = 0
local burn = uv.new_work(function(n)
  local s = 0
  for i = 1, n do s = s + i % 7 end
  return s
end, function() burn_done = burn_done + 1 end)

local function burn_all(at_once)
  local t0 = uv.hrtime()
  burn_done = 0
  if at_once then
    for _ = 1, 4 do burn:queue(ITER) end
    uv.run()
  else
    for _ = 1, 4 do
      burn:queue(ITER)
      uv.run()
    end
  end
  return (uv.hrtime() - t0) / 1e9
end

-- Warm up: both threads and their Lua states.
burn:queue(1)
burn:queue(1)
uv.run()
local t0 = uv.hrtime()
started = 1
trivial:queue(1)
uv.run()
local rt = (uv.hrtime() - t0) / 1e3 / N
local t1 = burn_all(false)
local t2 = burn_all(true)
print(("result rt_us=%.2f speedup=%.2f check=%d"):format(rt, t1 / t2,
  ok + burn_done - 4))
