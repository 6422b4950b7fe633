-- idle, tide: a line echo server, one task per connection waiting in
-- c:readline() (the case issue 17's target is about: an idle connection
-- whose handler waits for its next line).
--   build/bin/tide bench/idle/tide.lua PORT   (or lua5.4 ...)
-- prints "port N", exits on SIGTERM or SIGINT. The collector is whatever
-- the runner gives (build/bin/tide: generational), not forced: RSS with
-- the garbage a runtime leaves is what the workload measures.
local B = dofile((arg[0]:match("^(.*)/[^/]*/[^/]*$") or ".") .. "/lib/tide_env.lua")
local tide = B.tide

local function handle(c)
  while true do
    local line = c:readline()
    if not line then return end
    if not c:write(line .. "\n") then return end
  end
end

B.main(function()
  local srv = assert(tide.tcp.listen("127.0.0.1", tonumber(arg[#arg]) or 0, handle, {backlog = 1024}))
  local _, port = srv:address()
  io.stdout:write("port ", port, "\n")
  io.stdout:flush()
  local stop = tide.future()
  local function on_stop() if not stop:done() then stop:set_result() end end
  local w1, w2 = tide.on_signal("SIGTERM", on_stop), tide.on_signal("SIGINT", on_stop)
  stop:await()
  w1:close(); w2:close()
  srv:close{cancel = true}
end)
