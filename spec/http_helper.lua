-- Helpers of the HTTP specs: programs run in the background (a server
-- tide did not write, or a tide server driven by outside clients), found
-- by the "port N" line they print, stopped by their process id.
local H = require "helper"

local M = {}

local function slurp(p)
  local f = io.open(p, "rb")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end

-- Outside programs run without the sanitizer runtime that make asan
-- preloads into the spec run (they are not built for it: wrk's own leaks
-- would abort it); the tide command is built with the sanitizers itself.
local CLEAN = "env -u LD_PRELOAD "

-- H.sh for outside programs.
function M.sh(cmd) return H.sh(CLEAN .. cmd) end

-- Starts cmd in the background; returns {pid=, port=, out=, err=} once it
-- printed "port N" (raises after 10 s).
function M.start(cmd)
  local out, err, pidf = os.tmpname(), os.tmpname(), os.tmpname()
  cmd = CLEAN .. cmd
  os.execute(("%s >%s 2>%s & echo $! >%s"):format(cmd, out, err, pidf))
  local pid = tonumber(slurp(pidf))
  os.remove(pidf)
  for _ = 1, 200 do
    local port = slurp(out):match("port (%d+)")
    if port then return {pid = pid, port = tonumber(port), out = out, err = err} end
    os.execute("sleep 0.05")
  end
  os.execute("kill -KILL " .. pid)
  error("no port from: " .. cmd .. "\n" .. slurp(err))
end

-- Stops what start() started (SIGTERM, then SIGKILL) and returns its
-- stderr.
function M.stop(p)
  os.execute(("kill -TERM %d 2>/dev/null"):format(p.pid))
  for _ = 1, 100 do
    if not os.execute(("kill -0 %d 2>/dev/null"):format(p.pid)) then break end
    os.execute("sleep 0.02")
  end
  os.execute(("kill -KILL %d 2>/dev/null"):format(p.pid))
  local e = slurp(p.err)
  os.remove(p.out)
  os.remove(p.err)
  return e
end

-- A tide server (spec/http/tide_server.lua) under the tide command.
function M.start_tide_server()
  return M.start(H.tide_bin() .. " spec/http/tide_server.lua")
end

M.python = "/usr/bin/python3"

-- Runs a tide.http server with handler (and opts) and fn(host, port, srv)
-- as its client in one H.run; closes the client pool and the server.
function M.with_server(handler, opts, fn)
  local tide = require "tide"
  if fn == nil then fn, opts = opts, nil end
  return H.run(function()
    local srv = assert(tide.http.listen("127.0.0.1", 0, handler, opts))
    local host, port = srv:address()
    local ok, err = pcall(fn, host, port, srv)
    tide.http.close_pool()
    srv:close{wait = 1}
    if not ok then error(err, 0) end
  end)
end
return M
