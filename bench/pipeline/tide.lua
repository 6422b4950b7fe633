-- pipeline, tide: N items through 4 stages joined by tide.Queue(64): a
-- producer task puts 1..N and then 0 (the end) into the first queue; stages
-- 1-3 each get from their queue and put item+1 into the next; stage 4 sums.
--   lua5.4 bench/pipeline/tide.lua [N]   or   build/bin/tide bench/pipeline/tide.lua [N]
-- prints: result ns_per_item=... check=<sum> (N(N+1)/2 + 3N)
local B = dofile((arg[0]:match("^(.*)/[^/]*/[^/]*$") or ".") .. "/lib/tide_env.lua")
local tide = B.tide
local N = tonumber(arg[1]) or 1000000
local QSIZE, STAGES = 64, 4

local function produce(out)
  for i = 1, N do out:put(i) end
  out:put(0)
end

local function pass(inq, out)
  while true do
    local v = inq:get()
    if v == 0 then return out:put(0) end
    out:put(v + 1)
  end
end

local function sink(inq)
  local sum = 0
  while true do
    local v = inq:get()
    if v == 0 then return sum end
    sum = sum + v
  end
end

B.main(function()
  local t0 = tide.now()
  local q = {}
  for i = 1, STAGES do q[i] = tide.Queue(QSIZE) end
  local tasks = {tide.spawn(produce, q[1])}
  for i = 1, STAGES - 1 do tasks[#tasks + 1] = tide.spawn(pass, q[i], q[i + 1]) end
  local last = tide.spawn(sink, q[STAGES])
  for _, t in ipairs(tasks) do t:await() end
  local sum = last:await()
  local dt = tide.now() - t0
  assert(sum == N * (N + 1) // 2 + 3 * N, "wrong sum")
  print(("result ns_per_item=%.1f check=%d"):format(dt * 1e9 / N, sum))
end)
