-- pingpong, luv (callbacks): two callbacks hand a counter back and forth N
-- times through the ready queue (bench/lib/luv_rq.lua), one loop turn each.
local dir = arg[0]:match("^(.*)/[^/]*/[^/]*$") or "."
package.path = dir .. "/lib/?.lua;" .. package.path
local uv, rq = require "luv", require "luv_rq"
local N = tonumber(arg[1]) or 1000000
N = N + N % 2
local t0 = uv.hrtime()
local ping, pong
function ping(v)
  if v >= N then
    local dt = (uv.hrtime() - t0) / 1e9
    print(("result ns_per_handoff=%.1f check=%d"):format(dt * 1e9 / N, v))
    rq.close()
    return
  end
  rq.soon(pong, v + 1)
end
function pong(v) rq.soon(ping, v + 1) end
rq.soon(pong, 1)
uv.run()
