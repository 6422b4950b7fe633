-- tide.udp: UDP sockets.
--
--   tide.udp.open([family]) -> sock           (unbound; 4 or 6)
--   tide.udp.bind(host, port [, opts]) -> sock | nil, err, name
--   tide.udp.connect(host, port [, opts]) -> sock | nil, err, name
--
--   sock:sendto(data, ip, port), sock:recvfrom() -> data, ip, port
--   sock:send(data), sock:recv() -> data          (connected mode)
--   sock:connect(ip, port | nil), sock:bind(ip, port [, reuseaddr])
--   sock:sockname(), sock:peername() -> ip, port
--   sock:setbroadcast(on), setttl(n), setmulticastttl(n),
--   setmulticastloop(on), setmulticastinterface(ip), join(group [, iface]),
--   leave(group [, iface]), settimeout(seconds), close(), closed()
--
-- opts: reuseaddr, timeout (receive timeout, seconds), family (4 or 6).
-- bind and connect here resolve host names; the methods take numeric
-- addresses (resolve with tide.dns.resolve).
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
    error(("bad argument #1 to '%s' (host string expected)"):format(fname), 3)
  end
  if math.type(port) ~= "integer" or port < 0 or port > 65535 then
    error(("bad argument #2 to '%s' (port 0-65535 expected)"):format(fname), 3)
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

function udp.open(fam)
  return net.udp_new(family({family = fam}))
end

function udp.bind(host, port, opts)
  check(host, port, opts, "bind")
  return make(host, port, opts, "bind")
end

function udp.connect(host, port, opts)
  check(host, port, opts, "connect")
  return make(host, port, opts, "connect")
end

return udp
