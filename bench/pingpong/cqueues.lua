-- pingpong, cqueues: two coroutines hand a counter back and forth N times,
-- each waiting on its own cqueues.condition.
local cqueues = require "cqueues"
local condition = require "cqueues.condition"
local N = tonumber(arg[1]) or 1000000
N = N + N % 2
local cq = cqueues.new()
local to_pong, to_ping = condition.new(), condition.new()
local slot_pong, slot_ping -- one-item mailboxes
local v
local t0 = cqueues.monotime()
cq:wrap(function()
  while true do
    while not slot_pong do to_pong:wait() end
    local x = slot_pong; slot_pong = nil
    slot_ping = x + 1; to_ping:signal()
    if x + 1 >= N then return end
  end
end)
cq:wrap(function()
  slot_pong = 1; to_pong:signal()
  while true do
    while not slot_ping do to_ping:wait() end
    v = slot_ping; slot_ping = nil
    if v >= N then return end
    slot_pong = v + 1; to_pong:signal()
  end
end)
assert(cq:loop())
local dt = cqueues.monotime() - t0
assert(v == N)
print(("result ns_per_handoff=%.1f check=%d"):format(dt * 1e9 / N, v))
