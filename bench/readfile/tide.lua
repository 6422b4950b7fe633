-- readfile, tide: tide.fs.readfile of a 4 KiB file, N times one at a time,
-- then N times with 64 reads in flight (64 tasks taking turns).
--   lua5.4 bench/readfile/tide.lua [N]   or   build/bin/tide bench/readfile/tide.lua [N]
-- prints: result seq_us=... par_us=... check=<reads>
local B = dofile((arg[0]:match("^(.*)/[^/]*/[^/]*$") or ".") .. "/lib/tide_env.lua")
local tide = B.tide
local N = tonumber(arg[1]) or 10000
local readfile = tide.fs.readfile

B.main(function()
  local path = ("/tmp/tide-bench-readfile-%d"):format(tide.process.pid)
  assert(tide.fs.writefile(path, ("x"):rep(4096)))
  local reads = 0
  local t0 = tide.now()
  for _ = 1, N do
    if #readfile(path) == 4096 then reads = reads + 1 end
  end
  local seq = (tide.now() - t0) * 1e6 / N
  local left, tasks = N, {}
  t0 = tide.now()
  for w = 1, 64 do
    tasks[w] = tide.spawn(function()
      local c = 0
      while left > 0 do
        left = left - 1
        if #readfile(path) == 4096 then c = c + 1 end
      end
      return c
    end)
  end
  for w = 1, 64 do reads = reads + tasks[w]:await() end
  local par = (tide.now() - t0) * 1e6 / N
  assert(tide.fs.unlink(path))
  print(("result seq_us=%.2f par_us=%.2f check=%d"):format(seq, par, reads))
end)
