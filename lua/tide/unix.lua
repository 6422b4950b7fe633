-- tide.unix: Unix domain socket clients and servers; the same streams and
-- servers as tide.tcp.
--
--   tide.unix.connect(path [, opts]) -> stream | nil, err, name
--   tide.unix.listen(path, handler [, opts]) -> server | nil, err, name
--
-- opts: timeout (connect), backlog (listen), and the stream options. The
-- server removes its socket file when it closes. TLS as for tide.tcp,
-- except that a verifying client names the server with servername (there
-- is no host name to default to).
local core = require "tide.core"
local stream = require "tide.stream"
local tls = require "tide.tls"
local net = core._net

local unix = {}

local check_options, now = core.check_options, core.now
local CONNECT = stream.known("timeout", table.unpack(tls.CONNECT))
local LISTEN = stream.known("backlog", table.unpack(tls.LISTEN))

local function check_path(path, opts, fname)
  if type(path) ~= "string" then
    error(("bad argument #1 to '%s' (path string expected, got %s)")
      :format(fname, type(path)), 3)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error(("bad argument to '%s' (options table expected)"):format(fname), 3)
  end
end

function unix.connect(path, opts)
  check_path(path, opts, "connect")
  check_options(opts, "tide.unix.connect", CONNECT)
  local ctx, servername = tls.client(opts, nil, "tide.unix.connect")
  local timeout = opts and opts.timeout
  if timeout ~= nil and (type(timeout) ~= "number" or timeout ~= timeout or timeout < 0) then
    error("tide.unix.connect: option 'timeout': number of seconds >= 0 expected, got " ..
      tostring(timeout), 2)
  end
  local deadline = timeout and now() + timeout
  local s, err, name = net.unix_connect(path, timeout, opts)
  if not s or not ctx then return s, err, name end
  return tls.handshake(s, ctx, servername, opts, deadline and deadline - now())
end

function unix.listen(path, handler, opts)
  check_path(path, opts, "listen")
  check_options(opts, "tide.unix.listen", LISTEN)
  local server_tls = tls.server(opts, "tide.unix.listen")
  -- Not a tail call: serve's bad-argument error names our caller's line.
  local srv, err, name = stream.serve(handler, "tide.unix", function(runner)
    return net.unix_listen(path, runner, opts)
  end, server_tls)
  return srv, err, name
end

return unix
