-- pingpong, tide: two tasks hand a counter back and forth N times.
--   lua5.4 bench/pingpong/tide.lua [N] [queue|event|future]
-- queue (default, the idiomatic one): a pair of tide.Queue(1);
-- event: a pair of tide.Event (wait, clear, then set the other side's)
-- around a shared slot; future: a fresh tide.future() per hand-off.
-- prints: result ns_per_handoff=... check=N
local B = dofile((arg[0]:match("^(.*)/[^/]*/[^/]*$") or ".") .. "/lib/tide_env.lua")
local tide = B.tide
local N = tonumber(arg[1]) or 1000000
local mode = arg[2] or "queue"
N = N + N % 2

local function with_queues()
  local to_pong, to_ping = tide.Queue(1), tide.Queue(1)
  local pong = tide.spawn(function()
    while true do
      local v = to_pong:get()
      to_ping:put(v + 1)
      if v + 1 >= N then return end
    end
  end)
  local v = 0
  to_pong:put(v + 1)
  while true do
    v = to_ping:get()
    if v >= N then break end
    to_pong:put(v + 1)
  end
  pong:await()
  return v
end

-- Each side waits for its own event, clears it, takes the counter from the
-- shared slot and sets the other side's event.
local function with_events()
  local to_pong, to_ping = tide.Event(), tide.Event()
  local slot
  local pong = tide.spawn(function()
    while true do
      to_pong:wait()
      to_pong:clear()
      local v = slot
      slot = v + 1
      to_ping:set()
      if v + 1 >= N then return end
    end
  end)
  local v = 0
  slot = v + 1
  to_pong:set()
  while true do
    to_ping:wait()
    to_ping:clear()
    v = slot
    if v >= N then break end
    slot = v + 1
    to_pong:set()
  end
  pong:await()
  return v
end

-- Each side awaits a future the other sets; the setter passes along the
-- next future to wait on.
local function with_futures()
  local to_pong = tide.future()
  local pong = tide.spawn(function(f)
    while true do
      local v, reply = f:await()
      local nextf = tide.future()
      reply:set_result(v + 1, nextf)
      if v + 1 >= N then return end
      f = nextf
    end
  end, to_pong)
  local v, f = 0, to_pong
  while true do
    local reply = tide.future()
    f:set_result(v + 1, reply)
    v, f = reply:await()
    if v >= N then break end
  end
  pong:await()
  return v
end

B.main(function()
  local t0 = tide.now()
  local run = ({queue = with_queues, event = with_events, future = with_futures})[mode]
  assert(run, "mode: queue, event or future")
  local v = run()
  local dt = tide.now() - t0
  assert(v == N, "wrong count " .. tostring(v))
  print(("result ns_per_handoff=%.1f check=%d"):format(dt * 1e9 / N, v))
end)
