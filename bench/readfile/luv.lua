-- readfile, luv (callbacks): open, fstat, read, close of a 4 KiB file (four
-- requests of libuv's thread pool, as luv offers no readfile), N times one
-- at a time, then N times with 64 reads in flight.
--   lua5.4 bench/readfile/luv.lua [N]
local uv = require "luv"
local N = tonumber(arg[1]) or 10000
local path = ("/tmp/tide-bench-readfile-%d"):format(uv.os_getpid())

local started, reads = 0, 0
local function start_one()
  started = started + 1
  uv.fs_open(path, "r", 438, function(err, fd)
    assert(not err, err)
    uv.fs_fstat(fd, function(err2, st)
      assert(not err2, err2)
      uv.fs_read(fd, st.size, 0, function(err3, data)
        assert(not err3, err3)
        uv.fs_close(fd, function()
          if #data == 4096 then reads = reads + 1 end
          if started < N then start_one() end
        end)
      end)
    end)
  end)
end

local function phase(conc)
  local t0 = uv.hrtime()
  started = 0
  while started < conc and started < N do start_one() end
  uv.run()
  return (uv.hrtime() - t0) / 1e3 / N
end

local f = assert(io.open(path, "wb"))
f:write(("x"):rep(4096))
f:close()
local seq = phase(1)
local par = phase(64)
os.remove(path)
print(("result seq_us=%.2f par_us=%.2f check=%d"):format(seq, par, reads))
