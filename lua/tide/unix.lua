-- tide.unix: Unix domain socket clients and servers; the same streams and
-- servers as tide.tcp.
--
--   tide.unix.connect(path [, opts]) -> stream | nil, err, name
--   tide.unix.listen(path, handler [, opts]) -> server | nil, err, name
--
-- opts: timeout (connect), backlog (listen), and the stream options. The
-- server removes its socket file when it closes.
local core = require "tide.core"
local stream = require "tide.stream"
local net = core._net

local unix = {}

local check_options = core.check_options
local CONNECT = stream.known("timeout")
local LISTEN = stream.known("backlog")

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
  return net.unix_connect(path, opts and opts.timeout, opts)
end

function unix.listen(path, handler, opts)
  check_path(path, opts, "listen")
  check_options(opts, "tide.unix.listen", LISTEN)
  return stream.serve(handler, "tide.unix", function(runner)
    return net.unix_listen(path, runner, opts)
  end)
end

return unix
