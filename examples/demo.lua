-- examples/demo.lua: a server and several clients in one script.
--
--   tide examples/demo.lua
--
-- A "shouting" server upper-cases every line it receives. Three clients
-- talk to it at the same time, each in its own task; one of them sends a
-- line longer than the server accepts, one hangs up half-way (half-close)
-- and still reads the answer. Everything is logged with the time since the
-- start, then the server shuts down and the script ends by itself.
local tide = require "tide"

local t0 = tide.now()
local function log(who, fmt, ...)
  print(("%6.1f ms  %-7s %s"):format((tide.now() - t0) * 1000, who,
    fmt:format(...)))
end

-- The server: one task per connection.
local server = assert(tide.tcp.listen("127.0.0.1", 0, function(conn)
  local _, port = conn:peername()
  local who = "server"
  log(who, "connection from port %d", port)
  local lines = 0
  while true do
    local line, err = conn:readline()
    if not line then
      if err then
        log(who, "port %d: %s", port, err)
        conn:write("error: " .. err .. "\n")
      end
      break
    end
    lines = lines + 1
    conn:write(line:upper() .. "\n")
  end
  log(who, "port %d done after %d line(s)", port, lines)
end, {max_line = 100}))

local host, port = server:address()
log("server", "listening on %s:%d", host, port)

-- A client: sends its lines, reads one answer per line.
local function client(name, lines, opts)
  opts = opts or {}
  local conn <close> = assert(tide.tcp.connect(host, port))
  log(name, "connected")
  for _, line in ipairs(lines) do
    conn:write(line .. "\n")
    local answer = conn:readline()
    log(name, "sent %q, got %q", #line > 20 and line:sub(1, 17) .. "..." or line,
      answer or "(closed)")
    tide.sleep(0.005)
  end
  if opts.half_close then
    conn:write("last words\n")
    conn:shutdown()
    log(name, "shut down its sending side")
    log(name, "still reads %q", conn:readline())
  end
  log(name, "bye")
  return name
end

local done = tide.gather(
  function() return client("alice", {"hello", "how are you?", "bye"}) end,
  function() return client("bob", {"hi there", ("x"):rep(150)}) end,
  function() return client("carol", {"quick question"}, {half_close = true}) end)

log("main", "clients finished: %s", table.concat(done, ", "))
server:close{wait = true}
log("main", "server closed with %d connection(s) open", server:connections())
