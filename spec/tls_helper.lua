-- Helpers of the TLS specs: certificates made at test time (by
-- test/tls_certs.sh, with the openssl command), and openssl s_server /
-- s_client as peers that tide did not write, run in the background and
-- never left running.
local tide = require "tide"

local T = {}

local dir

-- The directory of the test certificates (see test/tls_certs.sh), made on
-- first use; T.cleanup() removes it.
function T.certs()
  if dir then return dir end
  dir = os.tmpname()
  os.remove(dir)
  local ok = os.execute("sh test/tls_certs.sh " .. dir .. " >/dev/null 2>&1")
  assert(ok, "test/tls_certs.sh failed")
  return dir
end

function T.path(name) return T.certs() .. "/" .. name end

function T.read(name)
  local f = assert(io.open(T.path(name), "rb"))
  local s = f:read("a")
  f:close()
  return s
end

function T.cleanup()
  if dir then os.execute("rm -rf " .. dir) end
  dir = nil
end

-- A TCP server on 127.0.0.1 running handler (opts as tcp.listen's); returns
-- it and its port.
function T.serve(handler, opts)
  local srv = assert(tide.tcp.listen("127.0.0.1", 0, handler, opts))
  local _, port = srv:address()
  return srv, port
end

-- A handler: echoes lines in upper case until EOF.
function T.upper(s)
  while true do
    local line = s:readline()
    if not line then return end
    s:write(line:upper() .. "\n")
  end
end

-- A future and the function that resolves it (once).
function T.box()
  local f = tide.future()
  return f, function(...) if not f:done() then f:set_result(...) end end
end

-- A server context with cert NAME.pem / NAME.key (default "server").
function T.server_ctx(name, opts)
  opts = opts or {}
  opts.server = true
  opts.cert = opts.cert or T.path((name or "server") .. ".pem")
  opts.key = opts.key or T.path((name or "server") .. ".key")
  return assert(tide.tls.context(opts))
end

-- A client context trusting the test CA.
function T.client_ctx(opts)
  opts = opts or {}
  opts.ca = opts.ca or T.path("ca.pem")
  return assert(tide.tls.context(opts))
end

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end

-- Is the process running? A zombie (an exited process whose parent, init
-- here, has not reaped it yet) is not.
local function alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return false end
  local stat = f:read("a")
  f:close()
  return stat:match("^%d+ %(.*%) (%a)") ~= "Z"
end

-- Starts cmd (a shell command line) in the background with stdin from the
-- file input (or /dev/null); returns {pid =, out =} (out: the file that
-- gets its stdout and stderr).
function T.spawn(cmd, input)
  local out = os.tmpname()
  local p = io.popen(("%s <%s >%s 2>&1 & echo $!"):format(cmd,
    input or "/dev/null", out))
  local pid = tonumber(p:read("l"))
  p:close()
  return {pid = pid, out = out, input = input}
end

-- Waits (polling, in the task) until the process's output matches
-- pattern, or it has exited; returns the output and its captures.
function T.wait_output(proc, pattern, seconds)
  local deadline = tide.now() + (seconds or 10)
  while true do
    local text = slurp(proc.out)
    if pattern and text:find(pattern) then return text, text:match(pattern) end
    if not alive(proc.pid) or tide.now() > deadline then return text end
    tide.sleep(0.01)
  end
end

-- Waits until the process has exited (killing it after seconds); returns
-- its output. Removes its files.
function T.finish(proc, seconds)
  local deadline = tide.now() + (seconds or 10)
  while alive(proc.pid) and tide.now() < deadline do tide.sleep(0.01) end
  return T.kill(proc)
end

-- Stops the process now (idempotent) and removes its files; returns its
-- output.
function T.kill(proc)
  if alive(proc.pid) then
    os.execute("kill " .. proc.pid .. " 2>/dev/null")
    for _ = 1, 200 do
      if not alive(proc.pid) then break end
      os.execute("sleep 0.01")
    end
    os.execute("kill -9 " .. proc.pid .. " 2>/dev/null")
  end
  if proc.stdin then proc.stdin:close() end
  local text = slurp(proc.out)
  os.remove(proc.out)
  if proc.input then os.remove(proc.input) end
  return text
end

-- openssl s_server on 127.0.0.1 with args (a string); returns the process
-- and its port once it listens.
function T.s_server(args)
  local proc = T.spawn("exec openssl s_server -accept 127.0.0.1:0 " .. args)
  local text, port = T.wait_output(proc, "ACCEPT 127%.0%.0%.1:(%d+)")
  if not port then
    T.kill(proc)
    error("openssl s_server did not start: " .. text)
  end
  return proc, tonumber(port)
end

-- openssl s_client with args, its stdin from the string input; returns the
-- process (finish it with T.finish). input == true: stdin is a FIFO the
-- caller writes with T.send (s_client takes a line alone on a read as a
-- command: "R" renegotiates, "Q" quits).
function T.s_client(args, input)
  local inp = os.tmpname()
  if input == true then
    os.remove(inp)
    assert(os.execute("mkfifo " .. inp))
    local proc = T.spawn("exec openssl s_client " .. args, inp)
    proc.stdin = assert(io.open(inp, "wb")) -- once s_client opened it
    return proc
  end
  local f = assert(io.open(inp, "wb"))
  f:write(input or "")
  f:close()
  return T.spawn("exec openssl s_client " .. args, inp)
end

-- Writes data to a process's FIFO stdin (nil: closes it).
function T.send(proc, data)
  if data == nil then
    proc.stdin:close()
    proc.stdin = nil
    return
  end
  proc.stdin:write(data)
  proc.stdin:flush()
end

return T
