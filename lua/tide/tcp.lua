-- tide.tcp: TCP clients and servers over tide streams.
--
--   tide.tcp.connect(host, port [, opts]) -> stream | nil, err, name
--   tide.tcp.listen(host, port, handler [, opts]) -> server | nil, err, name
--
-- Host names resolve through libuv's getaddrinfo (in its thread pool);
-- connect tries each address in turn. opts: timeout (connect, seconds,
-- covering resolution too), family (4 or 6), and the stream options
-- read_timeout, write_timeout, max_line, high_water, low_water, nodelay;
-- listen also takes backlog (511) and ipv6only.
local core = require "tide.core"
local stream = require "tide.stream"
local net = core._net

local type, error, math_type = type, error, math.type
local now = core.now

local tcp = {}

local check_options = core.check_options
local CONNECT = stream.known("timeout", "family")
local LISTEN = stream.known("backlog", "ipv6only", "family", "reuseport")

local function check_args(host, port, opts, fname)
  if type(host) ~= "string" then
    error(("bad argument #1 to '%s' (host string expected, got %s)")
      :format(fname, type(host)), 3)
  end
  if math_type(port) ~= "integer" or port < 0 or port > 65535 then
    error(("bad argument #2 to '%s' (port 0-65535 expected, got %s)")
      :format(fname, tostring(port)), 3)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error(("bad argument to '%s' (options table expected, got %s)")
      :format(fname, type(opts)), 3)
  end
end

local function family(opts)
  local f = opts and opts.family
  if f == nil or f == 0 then return 0 end
  if f == 4 or f == "inet" then return 4 end
  if f == 6 or f == "inet6" then return 6 end
  error("option 'family': 4 or 6 expected", 3)
end

-- Numeric addresses of host: itself if it is one.
local function addresses(host, fam, timeout)
  if net.is_ip(host) then return {host} end
  local list, err, name = net.getaddrinfo(host, fam, timeout)
  if list and #list == 0 then
    return nil, "EAI_NONAME: unknown node or service", "EAI_NONAME"
  end
  return list, err, name
end

local function timed_out()
  return nil, "ETIMEDOUT: connection timed out", "ETIMEDOUT"
end

function tcp.connect(host, port, opts)
  check_args(host, port, opts, "connect")
  check_options(opts, "tide.tcp.connect", CONNECT)
  local timeout = opts and opts.timeout
  if timeout ~= nil and (type(timeout) ~= "number" or timeout < 0) then
    error("option 'timeout': number of seconds >= 0 expected", 2)
  end
  local deadline = timeout and now() + timeout
  local list, err, name = addresses(host, family(opts), timeout)
  if not list then return nil, err, name end
  for i = 1, #list do
    local left
    if deadline then
      left = deadline - now()
      if left <= 0 then return timed_out() end
    end
    local s
    s, err, name = net.tcp_connect(list[i], port, left, opts)
    if s then return s end
    if name == "ETIMEDOUT" then break end
  end
  return nil, err, name
end

-- handler(stream) runs in a task of its own per connection; the stream is
-- closed when it returns or fails (a failure is reported and ends only
-- that connection). server:address() -> host, port; server:close([opts]).
function tcp.listen(host, port, handler, opts)
  check_args(host, port, opts, "listen")
  check_options(opts, "tide.tcp.listen", LISTEN)
  return stream.serve(handler, "tide.tcp", function(runner)
    local list, err, name = addresses(host, family(opts))
    if not list then return nil, err, name end
    return net.tcp_listen(list[1], port, runner, opts)
  end)
end

return tcp
