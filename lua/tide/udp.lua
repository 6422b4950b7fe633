-- tide.udp: UDP sockets.
--
--   tide.udp.open([family]) -> sock           (unbound; 4 or 6)
--   tide.udp.bind(host, port [, opts]) -> sock | nil, err, name
--   tide.udp.connect(host, port [, opts]) -> sock | nil, err, name
--
--   sock:sendto(data, host, port), sock:recvfrom() -> data, ip, port
--   sock:send(data), sock:recv() -> data          (connected mode)
--   sock:connect(ip, port | nil), sock:bind(ip, port [, reuseaddr])
--   sock:sockname(), sock:peername() -> ip, port
--   sock:setbroadcast(on), setttl(n), setmulticastttl(n),
--   setmulticastloop(on), setmulticastinterface(ip), join(group [, iface]),
--   leave(group [, iface]), settimeout(seconds), close(), closed()
--
-- opts: reuseaddr, timeout (receive timeout, seconds), family (4 or 6).
-- bind, connect and sendto resolve host names (sendto: a name costs a
-- lookup per call; resolve once with tide.dns.resolve for a busy loop);
-- the other methods take numeric addresses.
local core = require "tide.core"
local net = core._net

local udp = {}

local function family(opts)
  local f = opts and opts.family or 0
  if f == "inet" then return 4 elseif f == "inet6" then return 6 end
  if f ~= 0 and f ~= 4 and f ~= 6 then
    error("option 'family': 4 or 6 expected", 3)
  end
  return f
end

local function check(host, port, opts, fname)
  if type(host) ~= "string" then
    error(("bad argument #1 to '%s' (host string expected, got %s)"):format(fname, type(host)), 3)
  end
  if math.type(port) ~= "integer" or port < 0 or port > 65535 then
    error(("bad argument #2 to '%s' (port 0-65535 expected, got %s)")
      :format(fname, math.type(port) == "integer" and tostring(port) or type(port)), 3)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error(("bad argument #3 to '%s' (options table expected)"):format(fname), 3)
  end
end

local function resolve(host, fam)
  if net.is_ip(host) then return host end
  local list, err, name = net.getaddrinfo(host, fam)
  if not list then return nil, err, name end
  if #list == 0 then
    return nil, "EAI_NONAME: unknown node or service", "EAI_NONAME"
  end
  return list[1]
end

local function make(host, port, opts, what)
  local fam = family(opts)
  local ip, err, name = resolve(host, fam)
  if not ip then return nil, err, name end
  local sock
  sock, err, name = net.udp_new(fam)
  if not sock then return nil, err, name end
  local ok
  if what == "bind" then
    ok, err, name = sock:bind(ip, port, opts and opts.reuseaddr)
  else
    ok, err, name = sock:connect(ip, port)
  end
  if not ok then
    sock:close()
    return nil, err, name
  end
  if opts and opts.timeout then sock:settimeout(opts.timeout) end
  return sock
end

-- sendto accepts a host name as well as an address: the name is resolved
-- (awaiting, in the family of the socket's own address) before the send.
do
  local methods = debug.getregistry()["tide.udp"].__index
  local raw_sendto = methods.sendto
  local is_ip = net.is_ip
  function methods.sendto(sock, data, host, port)
    if type(host) == "string" and not is_ip(host) then
      local mine = sock:sockname()
      local ip, err, name = resolve(host,
        (type(mine) == "string" and mine:find(":", 1, true)) and 6 or 4)
      if not ip then return nil, err, name end
      host = ip
    end
    return raw_sendto(sock, data, host, port)
  end
end

function udp.open(fam)
  return net.udp_new(family({family = fam}))
end

function udp.bind(host, port, opts)
  check(host, port, opts, "bind")
  core.check_options(opts, "tide.udp.bind",
    {reuseaddr = true, timeout = true, family = true})
  return make(host, port, opts, "bind")
end

function udp.connect(host, port, opts)
  check(host, port, opts, "connect")
  core.check_options(opts, "tide.udp.connect", {timeout = true, family = true})
  return make(host, port, opts, "connect")
end

return udp
