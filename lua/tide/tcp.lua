-- tide.tcp: TCP clients and servers over tide streams.
--
--   tide.tcp.connect(host, port [, opts]) -> stream | nil, err, name
--   tide.tcp.listen(host, port, handler [, opts]) -> server | nil, err, name
--
-- Host names resolve through libuv's getaddrinfo (in its thread pool);
-- connect races the addresses (happy eyeballs, below). opts: timeout (connect, seconds,
-- covering resolution and the TLS handshake too), family (4 or 6), and the
-- stream options read_timeout, write_timeout, max_line, high_water,
-- low_water, nodelay; listen also takes backlog (511) and ipv6only.
--
-- TLS (tide.tls, docs/tls.md): connect's tls = a client context or true
-- (verifies the server's certificate and name against the system's CA
-- store), servername (default: host; false: none, only with verify =
-- false), handshake_timeout; listen's tls = a server context,
-- handshake_timeout (30 s), on_handshake_error(err, name).
local core = require "tide.core"
local stream = require "tide.stream"
local tls = require "tide.tls"
local deadlines = require "tide.deadline"
local move_on_after, shield = deadlines.move_on_after, deadlines.shield
local net = core._net

local type, error, math_type = type, error, math.type
local now = core.now

local tcp = {}

local check_options = core.check_options
local unpack = table.unpack
local CONNECT = stream.known("timeout", "family", unpack(tls.CONNECT))
local LISTEN = stream.known("backlog", "ipv6only", "family", "reuseport",
  unpack(tls.LISTEN))

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

-- Happy eyeballs (RFC 8305): the addresses of a name are tried in a
-- staggered race, IPv6 and IPv4 interleaved; each attempt gets 250 ms
-- before the next one starts alongside it (at once if it fails), the first
-- connection wins and the other attempts are cancelled. An address that
-- never answers no longer holds up the others, and no single timeout ends
-- the whole connect: only the overall deadline does.
local ATTEMPT_DELAY = 0.25

-- Interleaves the families, keeping each family's order (RFC 8305 4).
local function interleave(list)
  local a, b = {}, {}
  local first = list[1]:find(":", 1, true) ~= nil
  for _, ip in ipairs(list) do
    if (ip:find(":", 1, true) ~= nil) == first then a[#a + 1] = ip
    else b[#b + 1] = ip end
  end
  local out = {}
  for i = 1, math.max(#a, #b) do
    out[#out + 1] = a[i]
    out[#out + 1] = b[i]
  end
  return out
end

local function race(list, port, deadline, opts)
  local function left()
    if not deadline then return nil end
    local l = deadline - now()
    return l > 0 and l or nil
  end
  if #list == 1 then
    if deadline and not left() then return timed_out() end
    return net.tcp_connect(list[1], port, left(), opts)
  end
  list = interleave(list)
  local winner, first_err, first_name
  local done, tasks = {}, {}
  local changed = core.Event()
  local function attempt(i)
    local l = left()
    local s, err, name
    if deadline and not l then
      err, name = "ETIMEDOUT: connection timed out", "ETIMEDOUT"
    else
      s, err, name = net.tcp_connect(list[i], port, l, opts)
    end
    done[i] = true
    if s then
      if winner then s:close() else winner = s end
    elseif not first_err then
      first_err, first_name = err, name
    end
    changed:set()
  end
  local function all_done()
    for i = 1, #tasks do if not done[i] then return false end end
    return true
  end
  local ok, raised = pcall(function()
    for i = 1, #list do
      if winner or (deadline and not left()) then break end
      tasks[i] = core.spawn(attempt, i)
      changed:clear()
      if not done[i] and not winner then
        local wait = ATTEMPT_DELAY
        if deadline then wait = math.min(wait, left() or 0) end
        move_on_after(wait, changed.wait, changed)
      end
    end
    while not winner and not all_done() do
      changed:clear()
      if deadline then
        if not move_on_after(left() or 0, changed.wait, changed) then
          break
        end
      else
        changed:wait()
      end
    end
  end)
  -- The losers are cancelled and waited for (shielded: this task may be
  -- cancelled itself): none outlives the connect.
  for i = 1, #tasks do
    if not tasks[i]:done() then tasks[i]:cancel() end
  end
  shield(function()
    for i = 1, #tasks do pcall(tasks[i].await, tasks[i]) end
  end)
  if not ok then
    if winner then winner:close() end
    error(raised, 0)
  end
  if winner then return winner end
  if deadline and not left() then return timed_out() end
  return nil, first_err, first_name
end
tcp._race = race -- for the specs

function tcp.connect(host, port, opts)
  check_args(host, port, opts, "connect")
  check_options(opts, "tide.tcp.connect", CONNECT)
  local ctx, servername = tls.client(opts, host, "tide.tcp.connect")
  local timeout = opts and opts.timeout
  if timeout ~= nil and (type(timeout) ~= "number" or timeout < 0) then
    error("option 'timeout': number of seconds >= 0 expected", 2)
  end
  local deadline = timeout and now() + timeout
  local list, err, name = addresses(host, family(opts), timeout)
  if not list then return nil, err, name end
  local s
  s, err, name = race(list, port, deadline, opts)
  if not s or not ctx then return s, err, name end
  -- TLS on the connection that won: a failed handshake is no reason to
  -- try the other addresses.
  return tls.handshake(s, ctx, servername, opts, deadline and deadline - now())
end

-- handler(stream) runs in a task of its own per connection; the stream is
-- closed when it returns or fails (a failure is reported and ends only
-- that connection). server:address() -> host, port; server:close([opts]).
function tcp.listen(host, port, handler, opts)
  check_args(host, port, opts, "listen")
  check_options(opts, "tide.tcp.listen", LISTEN)
  local server_tls = tls.server(opts, "tide.tcp.listen")
  -- Not a tail call: serve's bad-argument error names our caller's line.
  local srv, err, name = stream.serve(handler, "tide.tcp", function(runner)
    local list, err, name = addresses(host, family(opts))
    if not list then return nil, err, name end
    return net.tcp_listen(list[1], port, runner, opts)
  end, server_tls)
  return srv, err, name
end

return tcp
