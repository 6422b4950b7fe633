-- Queue throughput between one producer task and one consumer task.
--
--   lua5.4 bench/queue.lua [items] [rounds]
--
-- Prints ns per item (put + get) as the median of several rounds, for a
-- bounded and an unbounded queue. Uses the checkout's lua/ and the C module
-- of build/ (or $TIDE_BUILD). Target: <= 500 ns per item.
local root = (arg[0]:match("^(.*)/bench/[^/]*$") or ".")
local build = os.getenv("TIDE_BUILD") or (root .. "/build")
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
package.cpath = build .. "/?.so;" .. package.cpath

local tide = require "tide"

local N = tonumber(arg[1]) or 1000000
local ROUNDS = tonumber(arg[2]) or 7

-- One round: a producer puts N integers, a consumer gets them; returns the
-- wall time in seconds.
local function round(maxsize)
  return tide.run(function()
    local q = tide.Queue(maxsize)
    local t0 = tide.now()
    local consumer = tide.spawn(function()
      local sum = 0
      for _ = 1, N do sum = sum + q:get() end
      return sum
    end)
    for i = 1, N do q:put(i) end
    local sum = consumer:await()
    assert(sum == N * (N + 1) // 2)
    return tide.now() - t0
  end)
end

local function median(t)
  table.sort(t)
  return t[(#t + 1) // 2]
end

for _, maxsize in ipairs({128, 0}) do
  round(maxsize) -- warm up
  local times = {}
  for r = 1, ROUNDS do
    collectgarbage()
    times[r] = round(maxsize) / N * 1e9
  end
  print(("queue (maxsize %s): %.0f ns per item (median of %d rounds of %d items; min %.0f, max %.0f)")
    :format(maxsize == 0 and "none" or tostring(maxsize), median(times),
      ROUNDS, N, times[1], times[#times]))
end
