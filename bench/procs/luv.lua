-- procs, luv (callbacks): uv.spawn /bin/true and wait for its exit, N times
-- one at a time, then N times with 64 at once.
--   lua5.4 bench/procs/luv.lua [N]
local uv = require "luv"
local N = tonumber(arg[1]) or 2000

local started, ok = 0, 0
local function start_one()
  started = started + 1
  local handle
  handle = uv.spawn("/bin/true", {stdio = {0, 1, 2}}, function(code, signal)
    if code == 0 and signal == 0 then ok = ok + 1 end
    handle:close()
    if started < N then start_one() end
  end)
  assert(handle, "spawn failed")
end

local function phase(conc)
  local t0 = uv.hrtime()
  started = 0
  while started < conc and started < N do start_one() end
  uv.run()
  return (uv.hrtime() - t0) / 1e3 / N
end

local seq = phase(1)
local par = phase(64)
print(("result seq_us=%.1f par_us=%.1f check=%d"):format(seq, par, ok))
