-- procs, tide: spawn /bin/true and wait for it, N times one at a time,
-- then N times with 64 at once (64 tasks taking turns).
--   lua5.4 bench/procs/tide.lua [N]   or   build/bin/tide bench/procs/tide.lua [N]
-- prints: result seq_us=... par_us=... check=<exits with 0>
local B = dofile((arg[0]:match("^(.*)/[^/]*/[^/]*$") or ".") .. "/lib/tide_env.lua")
local tide = B.tide
local N = tonumber(arg[1]) or 2000
local spawn = tide.process.spawn

local function one()
  local p = assert(spawn{"/bin/true"})
  local code = p:wait()
  p:close()
  return code == 0 and 1 or 0
end

B.main(function()
  local ok = 0
  local t0 = tide.now()
  for _ = 1, N do ok = ok + one() end
  local seq = (tide.now() - t0) * 1e6 / N
  local left, tasks = N, {}
  t0 = tide.now()
  for w = 1, 64 do
    tasks[w] = tide.spawn(function()
      local c = 0
      while left > 0 do
        left = left - 1
        c = c + one()
      end
      return c
    end)
  end
  for w = 1, 64 do ok = ok + tasks[w]:await() end
  local par = (tide.now() - t0) * 1e6 / N
  print(("result seq_us=%.1f par_us=%.1f check=%d"):format(seq, par, ok))
end)
