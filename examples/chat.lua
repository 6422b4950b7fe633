-- examples/chat.lua: a line-based chat server.
--
--   tide examples/chat.lua [port]     (default 0: the system picks a port)
--
-- Connect with `nc 127.0.0.1 PORT`: the first line you send is your name,
-- every line after it goes to everyone else; "/who" lists who is here,
-- "/quit" leaves. A client that stops reading is disconnected once 64 KiB
-- of chat wait for it, so one slow reader never holds the others up.
local tide = require "tide"

io.stdout:setvbuf("line")
local port = tonumber(arg and arg[1]) or 0
local MAX_BACKLOG = 64 * 1024

local clients = {} -- stream -> name

local function broadcast(from, line)
  for conn, name in pairs(clients) do
    if conn ~= from then
      local _, queued = conn:buffered()
      if queued and queued > MAX_BACKLOG then
        print(("%s is too slow: disconnected"):format(name))
        clients[conn] = nil
        conn:close()
      else
        conn:write(line)
      end
    end
  end
end

local function session(conn)
  conn:setoptions{max_line = 1024}
  conn:write("welcome! your name?\n")
  local name = conn:readline()
  if not name or name == "" then return end
  clients[conn] = name
  print(("%s joined"):format(name))
  broadcast(conn, ("* %s joined\n"):format(name))
  while true do
    local line, err = conn:readline()
    if not line then
      if err then conn:write("error: " .. err .. "\n") end
      break
    end
    if line == "/quit" then break end
    if line == "/who" then
      local names = {}
      for _, n in pairs(clients) do names[#names + 1] = n end
      table.sort(names)
      conn:write("* here: " .. table.concat(names, ", ") .. "\n")
    elseif line ~= "" then
      broadcast(conn, ("%s: %s\n"):format(name, line))
    end
  end
  if clients[conn] then
    clients[conn] = nil
    print(("%s left"):format(name))
    broadcast(conn, ("* %s left\n"):format(name))
  end
end

local server = assert(tide.tcp.listen("127.0.0.1", port, session))
local host, p = server:address()
print(("chat server listening on %s:%d"):format(host, p))

local stop = tide.future()
local function quit() if not stop:done() then stop:set_result() end end
local sigint = tide.on_signal("SIGINT", quit)
local sigterm = tide.on_signal("SIGTERM", quit)
stop:await()
sigint:close()
sigterm:close()
server:close{cancel = true}
print("chat server stopped")
