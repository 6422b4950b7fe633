-- workers, the spread of connections: N connections (default 10,000), C at
-- a time (default 50), each one request with "Connection: close"; counts
-- the X-Worker header of the answers and prints Jain's fairness index
-- (sum x)^2 / (n * sum x^2) over the workers' counts (1: perfectly even).
--   lua5.4 bench/workers/fairness.lua PORT WORKERS [N [C]]
-- prints "result jain=J conns=N per_worker=a,b,... check=N"
local B = dofile((arg[0]:match("^(.*)/[^/]*/[^/]*$") or ".") .. "/lib/tide_env.lua")
local tide = B.tide

local port, workers = assert(tonumber(arg[1])), assert(tonumber(arg[2]))
local n, c = tonumber(arg[3]) or 10000, tonumber(arg[4]) or 50
local REQ = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"

B.main(function()
  local counts, left, failed = {}, n, 0
  for i = 1, workers do counts[i] = 0 end
  tide.group(function(g)
    for _ = 1, c do
      g:spawn(function()
        while left > 0 do
          left = left - 1
          local s = tide.tcp.connect("127.0.0.1", port, {timeout = 10, read_timeout = 10})
          local got = s and s:write(REQ) and s:read(4096)
          local id = got and tonumber(got:match("X%-Worker: (%d+)"))
          if s then s:close() end
          if id and counts[id] then counts[id] = counts[id] + 1 else failed = failed + 1 end
        end
      end)
    end
  end)
  local sum, sq = 0, 0
  for i = 1, workers do
    sum = sum + counts[i]
    sq = sq + counts[i] * counts[i]
  end
  local jain = sq > 0 and sum * sum / (workers * sq) or 0
  print(("result jain=%.4f conns=%d failed=%d per_worker=%s check=%d"):format(
    jain, n, failed, table.concat(counts, ","), sum))
end)
