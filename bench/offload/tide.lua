-- offload, tide: the round trip of a trivial job through tide.offload, N
-- times one after the other; then a CPU-bound job (a Lua loop), 4 of them
-- at once on a pool of 1 thread and on a pool of 2: speedup = time on 1 /
-- time on 2 (2 is the best 2 threads can do).
--   lua5.4 bench/offload/tide.lua [N]   or   build/bin/tide bench/offload/tide.lua [N]
-- prints: result rt_us=... speedup=... check=<jobs right>
local B = dofile((arg[0]:match("^(.*)/[^/]*/[^/]*$") or ".") .. "/lib/tide_env.lua")
local tide = B.tide
local N = tonumber(arg[1]) or 20000
local ITER = math.min(N * 250, 5000000) -- per CPU job: ~40 ms at N = 20000

local function trivial(x) return x + 1 end

local function burn(n)
  local s = 0
  for i = 1, n do s = s + i % 7 end
  return s
end

-- burn(n)'s value, without the loop.
local function burned(n) return n // 7 * 21 + (n % 7) * (n % 7 + 1) // 2 end

local function four_on(pool)
  local tasks = {}
  local t0 = tide.now()
  for i = 1, 4 do tasks[i] = tide.spawn(pool.offload, pool, burn, ITER) end
  local ok = 0
  for i = 1, 4 do
    if tasks[i]:await() == burned(ITER) then ok = ok + 1 end
  end
  return tide.now() - t0, ok
end

B.main(function()
  local ok = 0
  tide.offload(trivial, 0) -- the pool's thread and state exist from here
  local t0 = tide.now()
  for i = 1, N do
    if tide.offload(trivial, i) == i + 1 then ok = ok + 1 end
  end
  local rt = (tide.now() - t0) * 1e6 / N
  local one, two = tide.worker_pool{size = 1}, tide.worker_pool{size = 2}
  one:offload(trivial, 0)
  -- Both threads of the second pool (and their Lua states) made now.
  tide.gather(function() return two:offload(burn, 100000) end,
    function() return two:offload(burn, 100000) end)
  local t1 = four_on(one)
  local t2, ok2 = four_on(two)
  one:close()
  two:close()
  print(("result rt_us=%.2f speedup=%.2f check=%d"):format(rt, t1 / t2,
    ok + ok2 - 4))
end)
