-- tide.dns: name resolution through libuv's getaddrinfo / getnameinfo
-- (run in libuv's thread pool: the loop never blocks).
--
--   tide.dns.resolve(host [, opts]) -> {"127.0.0.1", "::1", ...} | nil, err, name
--   tide.dns.reverse(addr [, opts]) -> "localhost" | nil, err, name
--
-- opts: family (4 or 6; default both), timeout (seconds).
local core = require "tide.core"
local net = core._net

local dns = {}

local function check_opts(opts)
  if opts ~= nil and type(opts) ~= "table" then
    error("bad argument #2 (options table expected)", 3)
  end
  local t = opts and opts.timeout
  if t ~= nil and (type(t) ~= "number" or t < 0) then
    error("option 'timeout': number of seconds >= 0 expected", 3)
  end
  return t
end

function dns.resolve(host, opts)
  if type(host) ~= "string" then
    error("bad argument #1 to 'resolve' (string expected)", 2)
  end
  core.check_options(opts, "tide.dns.resolve", {family = true, timeout = true})
  local t = check_opts(opts)
  local f = opts and opts.family or 0
  if f == "inet" then f = 4 elseif f == "inet6" then f = 6 end
  if f ~= 0 and f ~= 4 and f ~= 6 then
    error("option 'family': 4 or 6 expected", 2)
  end
  local list, err, name = net.getaddrinfo(host, f, t)
  if list and #list == 0 then
    return nil, "EAI_NONAME: unknown node or service", "EAI_NONAME"
  end
  return list, err, name
end

function dns.reverse(addr, opts)
  if type(addr) ~= "string" or not net.is_ip(addr) then
    error("bad argument #1 to 'reverse' (IP address expected)", 2)
  end
  core.check_options(opts, "tide.dns.reverse", {timeout = true})
  return net.getnameinfo(addr, check_opts(opts))
end

-- dns.is_ip(s) -> "inet" | "inet6" | false
dns.is_ip = net.is_ip

return dns
