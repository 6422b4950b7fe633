-- A tide.http server for the specs that drive it with clients tide did not
-- write (curl, Python's http.client and h11, wrk). Run as
--   build/bin/tide spec/http/tide_server.lua
-- prints "port N" and serves until SIGTERM. Routes: / (hello), /echo
-- (the body back, with its length), /chunked (a streamed response), /ws
-- (WebSocket echo),
-- /head (HEAD-friendly), /headers (the request's headers as text).
local tide = require "tide"

local srv = assert(tide.http.listen("127.0.0.1", 0, function(req, res)
  local p = req.path
  if p == "/ws" then
    -- WebSocket echo: each message back as it came; "bye" closes.
    local ws = assert(res:upgrade_websocket{max_message = 1 << 20})
    while true do
      local msg, kind = ws:receive()
      if not msg then return end
      if msg == "bye" then return ws:close(1000, "bye") end
      ws:send(msg, kind)
    end
  elseif p == "/echo" then
    local body = assert(req:body())
    return 200, {["Content-Type"] = "application/octet-stream",
      ["X-Body-Length"] = #body, ["X-Method"] = req.method}, body
  elseif p == "/chunked" then
    res:header("Content-Type", "text/plain")
    for i = 1, 5 do res:write(("line %d\n"):format(i)) end
    return res:finish()
  elseif p == "/headers" then
    local names = {}
    for k, v in pairs(req.headers) do names[#names + 1] = k .. "=" .. v end
    table.sort(names)
    return 200, {["Content-Type"] = "text/plain"}, table.concat(names, "\n")
  end
  return 200, {["Content-Type"] = "text/plain"}, "Hello, World!"
end, {idle_timeout = 10}))
local _, port = srv:address()
io.stdout:write("port ", port, "\n")
io.stdout:flush()
local stop = tide.future()
local w = tide.on_signal("SIGTERM", function() if not stop:done() then stop:set_result() end end)
stop:await()
w:close()
srv:close{wait = 1}
