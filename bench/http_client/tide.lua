-- http-client, tide: N requests (default 100,000) over 10 keep-alive
-- connections (10 tasks sharing tide.http's pool) to the server at PORT
-- (the C responder); prints the client's own CPU per request.
--   build/bin/tide bench/http_client/tide.lua N PORT
local B = dofile((arg[0]:match("^(.*)/[^/]*/[^/]*$") or ".") .. "/lib/tide_env.lua")
local tide = B.tide
collectgarbage("generational")

local N, port = tonumber(arg[1]) or 100000, tonumber(arg[2])
local url = ("http://127.0.0.1:%d/"):format(port)

local function cpu()
  local f = assert(io.open("/proc/self/stat"))
  local s = f:read("a"):match("%) (.*)")
  f:close()
  local fields = {}
  for x in s:gmatch("%S+") do fields[#fields + 1] = x end
  return (tonumber(fields[12]) + tonumber(fields[13])) / 100 -- CLK_TCK 100
end

B.main(function()
  local ok, left = 0, N
  local t0, c0 = tide.now(), cpu()
  local tasks = {}
  for i = 1, 10 do
    tasks[i] = tide.spawn(function()
      while left > 0 do
        left = left - 1
        local r = assert(tide.http.get(url))
        if r.status == 200 and r.body == "Hello, World!" then ok = ok + 1 end
      end
    end)
  end
  for i = 1, 10 do tasks[i]:await() end
  local secs, used = tide.now() - t0, cpu() - c0
  tide.http.close_pool()
  print(("result cpu_us_per_req=%.3f req_per_s=%.0f check=%d"):format(used * 1e6 / N, N / secs, ok))
end)
