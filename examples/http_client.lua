-- examples/http_client.lua: tide.http's client against the JSON API of
-- examples/http_server.lua (or any server).
--
--   tide examples/http_client.lua http://127.0.0.1:PORT
--
-- Adds three items concurrently (one task each, over the keep-alive
-- pool), lists them, deletes one, then reads /stream as it arrives.
local tide = require "tide"

local base = assert(arg and arg[1], "usage: tide examples/http_client.lua BASE-URL")
io.stdout:setvbuf("line")

local function check(res, err)
  if not res then error("request failed: " .. err, 2) end
  return res
end

-- Three POSTs at once; gather waits for all of them.
local names = {"tea", "bread", "jam"}
local results = tide.gather(function()
  return check(tide.http.request{method = "POST", url = base .. "/items",
    headers = {["Content-Type"] = "application/json"},
    body = ('{"name": "%s"}'):format(names[1])}).status
end, function()
  return check(tide.http.request{method = "POST", url = base .. "/items",
    body = ('{"name": "%s"}'):format(names[2])}).status
end, function()
  return check(tide.http.request{method = "POST", url = base .. "/items",
    body = ('{"name": "%s"}'):format(names[3])}).status
end)
print("created:", results[1], results[2], results[3])

local res = check(tide.http.get(base .. "/items"))
print("list:", res.status, res.headers["content-type"], (res.body:gsub("\n$", "")))

res = check(tide.http.request{method = "DELETE", url = base .. "/items/2"})
print("delete:", res.status)
res = check(tide.http.get(base .. "/items/2"))
print("get deleted:", res.status, (res.body:gsub("\n$", "")))

-- A streamed body: each line as soon as it arrives.
res = check(tide.http.request{url = base .. "/stream", stream = true})
local n = 0
while true do
  local piece = res:read()
  if not piece then break end
  for _ in piece:gmatch("[^\n]+") do n = n + 1 end
end
print("stream lines:", n)
