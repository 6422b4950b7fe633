-- spawn, luv (callbacks): N "tasks", each a callback queued on a ready queue
-- drained by an idle handle (bench/lib/luv_rq.lua); each stores its result
-- and reports completion; the last one wakes the root callback.
--   lua5.4 bench/spawn/luv.lua [N]
local dir = arg[0]:match("^(.*)/[^/]*/[^/]*$") or "."
package.path = dir .. "/lib/?.lua;" .. package.path
local uv, rq = require "luv", require "luv_rq"
local N = tonumber(arg[1]) or 200000

local results, pending, t0 = {}, N, nil
local function finish()
  local sum = 0
  for i = 1, N do sum = sum + results[i] end
  local dt = (uv.hrtime() - t0) / 1e9
  assert(sum == N * (N + 1) // 2)
  print(("result ns_per_task=%.1f rss_kb=%d check=%d"):format(dt * 1e9 / N, rq.status_kb("VmHWM"), sum))
  rq.close()
end
local function task(i)
  results[i] = i
  pending = pending - 1
  if pending == 0 then rq.soon(finish) end
end

t0 = uv.hrtime()
for i = 1, N do rq.soon(task, i) end
uv.run()
