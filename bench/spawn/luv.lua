-- spawn, luv (callbacks): N "tasks", each a callback queued on a ready queue
-- drained by an idle handle (bench/lib/luv_rq.lua); each stores its result
-- and reports completion; the last one wakes the root callback.
--   lua5.4 bench/spawn/luv.lua [N] [plain|fanout]
-- fanout: the C floor's design in Lua: the tasks share a semaphore of 100
-- permits (a count and a FIFO of waiting tasks); each takes a permit or
-- waits for one, gives the loop one turn while holding it, then releases it
-- to the oldest waiter (queued to run) or to the count.
local dir = arg[0]:match("^(.*)/[^/]*/[^/]*$") or "."
package.path = dir .. "/lib/?.lua;" .. package.path
local uv, rq = require "luv", require "luv_rq"
local N = tonumber(arg[1]) or 200000
local mode = arg[2] or "plain"
local LIMIT = 100

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

local permits, inside = LIMIT, 0
local waiters, whead, wtail = {}, 1, 0
local holding
local function after_yield(i)
  inside = inside - 1
  if whead <= wtail then -- the permit goes to the oldest waiter
    local w = waiters[whead]
    waiters[whead] = nil
    whead = whead + 1
    rq.soon(holding, w)
  else
    permits = permits + 1
  end
  task(i)
end
function holding(i)
  inside = inside + 1
  assert(inside <= LIMIT, "more tasks inside than permits")
  rq.soon(after_yield, i)
end
local function fanout(i)
  if permits > 0 and whead > wtail then
    permits = permits - 1
    return holding(i)
  end
  wtail = wtail + 1
  waiters[wtail] = i
end

local body = ({plain = task, fanout = fanout})[mode]
assert(body, "mode: plain or fanout")
t0 = uv.hrtime()
for i = 1, N do rq.soon(body, i) end
uv.run()
