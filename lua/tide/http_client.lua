-- tide.http's client: tide.http.request{...} and tide.http.get(url), over
-- a keep-alive connection pool per host. Response heads are parsed and
-- bodies decoded by the same C parser as the server's (src/lua/lhttp.c).
--
--   tide.http.request{method=, url=, headers=, body=, timeout=, stream=,
--                     follow=, connect_timeout=, read_timeout=, max_body=,
--                     pool=, tls=}
--     -> res | nil, err, code
--   tide.http.get(url [, opts]) -> the same
--
-- res: status, reason, version, headers (any case finds a field), body
-- (the whole body, unless stream = true: then res:read() gives it piece by
-- piece and res:close() gives up the rest), keep_alive.
-- Failures: nil, "ECONNREFUSED: connection refused", "ECONNREFUSED";
-- "ETIMEDOUT" past timeout (the whole request: connect, send, head and
-- body) or read_timeout (each read); "EPROTO" for a malformed response;
-- "EMSGSIZE" past max_body; TLS failures (https) as tide.tls reports them.
local core = require "tide.core"
local tcp = require "tide.tcp"
local sync = require "tide.sync"
local deadline = require "tide.deadline"
local http = require "tide.http"

local H = core._http
local check_options, is_error, spawn, now, sleep =
  core.check_options, core.is_error, core.spawn, core.now, core.sleep
local type, tostring, error, pairs, setmetatable, tonumber, select =
  type, tostring, error, pairs, setmetatable, tonumber, select
local lower, concat = string.lower, table.concat
local headers_mt = http.headers_mt

local client = {}

-- ------------------------------------------------------------ URLs

-- Splits an http(s) URL: scheme, host, port, target ("/path?query").
-- Returns nil and a message for anything else.
local function parse_url(url)
  if type(url) ~= "string" then return nil, "URL must be a string" end
  local scheme, rest = url:match("^(%a[%w+.-]*)://(.*)$")
  if not scheme then return nil, "not an absolute URL: " .. url end
  scheme = lower(scheme)
  if scheme ~= "http" and scheme ~= "https" then
    return nil, "unsupported scheme: " .. scheme
  end
  local authority, target = rest:match("^([^/?#]*)(.*)$")
  target = target:gsub("#.*$", "")
  if target == "" then target = "/" end
  if target:sub(1, 1) == "?" then target = "/" .. target end
  if target:find("[%c ]") then return nil, "invalid characters in URL" end
  if authority:find("@", 1, true) then
    return nil, "credentials in the URL are not supported"
  end
  local host, port
  if authority:sub(1, 1) == "[" then
    host, port = authority:match("^%[([%x:.]+)%]:?(%d*)$")
  else
    host, port = authority:match("^([^:]+):?(%d*)$")
  end
  if not host or host == "" then return nil, "no host in URL: " .. url end
  port = tonumber(port) or (scheme == "https" and 443 or 80)
  if port < 1 or port > 65535 then return nil, "invalid port in URL" end
  return scheme, lower(host), port, target
end
client._parse_url = parse_url

-- Resolves a redirect's Location against the URL it came from.
local function resolve(base, loc)
  if loc:match("^%a[%w+.-]*://") then return loc end
  local scheme, authority = base:match("^(%a[%w+.-]*)://([^/?#]*)")
  if loc:sub(1, 2) == "//" then return scheme .. ":" .. loc end
  if loc:sub(1, 1) == "/" then return scheme .. "://" .. authority .. loc end
  local dir = base:match("^%a[%w+.-]*://[^/?#]*(/[^?#]*/)") or "/"
  return scheme .. "://" .. authority .. dir .. loc
end
client._resolve = resolve

-- ------------------------------------------------------------ the pool

-- Per host key ("http://host:port"): idle connections (newest last), a
-- semaphore bounding the connections in use (pool_limit, from the request
-- that made the host's pool: default 10), and a reaper task that
-- closes idle connections past their idle time and, when it is cancelled
-- (the end of tide.run), all of them: the pool never outlives the run.
local hosts = {}
local DEFAULT_LIMIT, IDLE_TIME = 10, 4

local function reap(key, h)
  local ok, err = pcall(function()
    while #h.idle > 0 do
      local t, first = now(), h.idle[1].expires
      if first <= t then
        table.remove(h.idle, 1).stream:close()
      else
        sleep(first - t)
      end
    end
  end)
  h.reaper = nil
  if not ok then
    for i = #h.idle, 1, -1 do h.idle[i].stream:close() end
    h.idle = {}
    if hosts[key] == h then hosts[key] = nil end
    if is_error(err, "cancelled") then error(err, 0) end
    error(err, 0)
  end
end

local function host_entry(key, limit)
  local h = hosts[key]
  if not h then
    h = {idle = {}, sem = sync.Semaphore(limit)}
    hosts[key] = h
  end
  return h
end

-- Gives a connection back for reuse, or closes it.
local function checkin(key, h, c, keep)
  h.sem:release()
  if not keep or c.stream:closed() or #h.idle >= DEFAULT_LIMIT then
    c.stream:close()
    return
  end
  c.expires = now() + IDLE_TIME
  h.idle[#h.idle + 1] = c
  if not h.reaper then
    h.reaper = spawn({name = "tide.http pool " .. key}, reap, key, h)
  end
end

-- client.close_pool(): closes every idle connection now.
function client.close_pool()
  for key, h in pairs(hosts) do
    for i = #h.idle, 1, -1 do h.idle[i].stream:close() end
    h.idle = {}
    if h.reaper then h.reaper:cancel() end
    hosts[key] = nil
  end
end

local function connect(scheme, host, port, opts)
  local copts = {timeout = opts.connect_timeout or 10}
  if scheme == "https" then
    -- Verified against the system's CAs (or opts.tls, a client context)
    -- and the URL's host name.
    copts.tls = opts.tls or true
    copts.servername = host
  end
  local s, err, name = tcp.connect(host, port, copts)
  if not s then return nil, err, name end
  local c = {stream = s, conn = H.conn(s, {
    response = true, headers_mt = headers_mt,
    max_line = 8192, max_head = opts.max_head or 65536, max_fields = 256,
    idle_timeout = opts.read_timeout or 0, header_timeout = opts.read_timeout or 0,
    body_timeout = opts.read_timeout or 0,
  })}
  return c
end

-- ------------------------------------------------------------ responses

local Response = {}
Response.__index = Response

-- res:read([max]) -> the next piece of a streamed body; nil at its end
-- (the connection then goes back to the pool).
function Response:read(max)
  local c = self._c
  if not c then return nil end
  local data, err, name = c.conn:read_body(max)
  if data then return data end
  self._c = nil
  checkin(self._key, self._h, c, not err and self.keep_alive)
  return nil, err, name
end

-- res:close(): gives up what is left of a streamed body (the connection
-- closes unless the body was read to its end).
function Response:close()
  local c = self._c
  if not c then return end
  self._c = nil
  checkin(self._key, self._h, c, c.conn:body_state() == "none" and self.keep_alive)
end
Response.__close = Response.close

function Response:header(name) return self.headers[lower(name)] end

-- ------------------------------------------------------------ requests

local IDEMPOTENT = {GET = true, HEAD = true, PUT = true, DELETE = true,
  OPTIONS = true, TRACE = true}

-- Sends the request (its first line, fields and body) on c and reads the
-- response head; returns the
-- message, or nil, err, name, and whether nothing at all came back.
local function exchange(c, first, method, hdrs, body, max_body)
  local framing
  if type(body) == "string" then framing = #body
  elseif type(body) == "function" then framing = "chunked"
  elseif method == "POST" or method == "PUT" or method == "PATCH" then framing = 0
  else framing = false end
  local ok, err, name = c.stream:write(H.head(first, hdrs, framing, nil, nil,
    type(body) == "string" and body or nil))
  if not ok then return nil, err, name, true end
  if type(body) == "function" then
    for piece in body do
      if piece ~= "" then
        ok, err, name = c.stream:write(H.chunk(piece))
        if not ok then return nil, err, name end
      end
    end
    ok, err, name = c.stream:write("0\r\n\r\n")
    if not ok then return nil, err, name end
  end
  c.conn:expect_head(method == "HEAD")
  c.conn:set_max_body(max_body or 0)
  while true do
    local msg, code, msg2 = c.conn:read_head()
    if msg == nil then
      if code == nil then
        return nil, "EOF: connection closed before a response", "EOF", true
      end
      return nil, code, msg2, false
    end
    if msg == false then
      return nil, "EPROTO: malformed response: " .. msg2, "EPROTO"
    end
    if msg.status >= 200 or msg.status == 101 then return msg end
    -- 1xx informational responses are skipped.
  end
end

local REQUEST_OPTS = {
  method = true, url = true, headers = true, body = true, timeout = true,
  stream = true, follow = true, connect_timeout = true, read_timeout = true,
  max_body = true, pool = true, tls = true, max_head = true,
  pool_limit = true,
}

-- Parsed URLs and their default fields, by URL (a bounded cache: most
-- programs call a handful of URLs again and again).
local url_cache, url_cache_n = {}, 0

local function url_info(url)
  local u = url_cache[url]
  if u then return u end
  local scheme, host, port, target = parse_url(url)
  if not scheme then return nil, host end
  local default_port = (scheme == "https" and 443 or 80)
  local h = host:find(":", 1, true) and "[" .. host .. "]" or host
  u = {scheme = scheme, host = host, port = port, target = target,
    key = scheme .. "://" .. host .. ":" .. port,
    host_field = port == default_port and h or h .. ":" .. port,
    first = {}}
  u.fields = {Host = u.host_field, ["User-Agent"] = "tide/" .. core.version}
  if url_cache_n >= 256 then url_cache, url_cache_n = {}, 0 end
  url_cache[url], url_cache_n = u, url_cache_n + 1
  return u
end

local function one_request(opts, method, url, body)
  local u, uerr = url_info(url)
  if not u then return nil, "EINVAL: " .. uerr, "EINVAL" end
  local scheme, host, port, key = u.scheme, u.host, u.port, u.key
  -- A connection made with one TLS context (its CAs, its verify setting,
  -- its client certificate) never serves a request that names another.
  if scheme == "https" and opts.tls ~= nil then key = key .. "|" .. tostring(opts.tls) end
  local hdrs = u.fields -- shared: never changed
  if opts.headers then
    local has = {}
    hdrs = {}
    for k, v in pairs(opts.headers) do
      hdrs[k] = v
      has[lower(k)] = true
    end
    if not has.host then hdrs.Host = u.host_field end
    if not has["user-agent"] then hdrs["User-Agent"] = u.fields["User-Agent"] end
  end
  local first = u.first[method]
  if not first then
    first = method .. " " .. u.target .. " HTTP/1.1\r\n"
    u.first[method] = first
  end
  local use_pool = opts.pool ~= false
  local h = host_entry(key, opts.pool_limit or DEFAULT_LIMIT)
  h.sem:acquire()
  local attempt = 0
  while true do
    attempt = attempt + 1
    local c, reused
    if use_pool then
      while #h.idle > 0 and not c do
        local e = table.remove(h.idle)
        if e.stream:closed() or e.expires <= now() then e.stream:close()
        else c, reused = e, true end
      end
    end
    if not c then
      local err, name
      c, err, name = connect(scheme, host, port, opts)
      if not c then
        h.sem:release()
        return nil, err, name
      end
    end
    -- A cancellation (a timeout) in the middle leaves the connection in
    -- an unknown state: it is closed, its permit given back.
    local okx, msg, err, name, nothing = pcall(exchange, c, first, method, hdrs,
      body, opts.max_body)
    if not okx then
      c.stream:close()
      h.sem:release()
      error(msg, 0)
    end
    if msg then
      local res = setmetatable(msg, Response)
      res._c, res._key, res._h = c, key, h
      if not use_pool then res.keep_alive = false end
      if msg.status == 101 then
        res._c = nil
        res.stream, res.conn = c.stream, c.conn
        h.sem:release()
        return res
      end
      if opts.stream then return res end
      local parts, n = {}, 0
      while true do
        local okr, data, e2, n2 = pcall(res.read, res)
        if not okr then
          res:close()
          error(data, 0)
        end
        if not data then
          if e2 then return nil, e2, n2 end
          break
        end
        n = n + 1
        parts[n] = data
      end
      res.body = n == 1 and parts[1] or concat(parts)
      return res
    end
    c.stream:close()
    -- A pooled connection the server had closed: try once more, afresh,
    -- when the request is idempotent and nothing came back.
    if not (reused and nothing and attempt == 1 and IDEMPOTENT[method] and
      type(body) ~= "function") then
      h.sem:release()
      return nil, err, name
    end
  end
end

local REDIRECTS = {[301] = true, [302] = true, [303] = true, [307] = true,
  [308] = true}

local function do_request(opts)
  local method = opts.method and opts.method:upper() or "GET"
  local url, body = opts.url, opts.body
  local follow = opts.follow or 0
  while true do
    local res, err, name = one_request(opts, method, url, body)
    if not res then return nil, err, name end
    local loc = res.headers.location
    if follow <= 0 or not REDIRECTS[res.status] or not loc then return res end
    follow = follow - 1
    res:close()
    local next_url = resolve(url, loc)
    if res.status == 303 or ((res.status == 301 or res.status == 302) and
      method == "POST") then
      method, body = method == "HEAD" and "HEAD" or "GET", nil
    end
    local _, h1 = parse_url(url)
    local _, h2 = parse_url(next_url)
    if h1 ~= h2 and opts.headers then
      -- Credentials are not handed to another host.
      local kept = {}
      for k, v in pairs(opts.headers) do
        local l = lower(k)
        if l ~= "authorization" and l ~= "cookie" then kept[k] = v end
      end
      opts = setmetatable({headers = kept}, {__index = opts})
    end
    url = next_url
  end
end

function client.request(opts)
  if type(opts) ~= "table" then
    error("bad argument #1 to 'request' (table expected, got " .. type(opts) .. ")", 2)
  end
  check_options(opts, "tide.http.request", REQUEST_OPTS)
  if type(opts.url) ~= "string" then
    error(("tide.http.request: option 'url' (string) expected, got %s"):format(type(opts.url)), 2)
  end
  if opts.method ~= nil and (type(opts.method) ~= "string" or
    not opts.method:find("^[%w!#$%%&'*+%-.^_`|~]+$")) then
    error("tide.http.request: 'method' must be a token", 2)
  end
  local b = opts.body
  if b ~= nil and type(b) ~= "string" and type(b) ~= "function" then
    error("tide.http.request: 'body' must be a string or an iterator function", 2)
  end
  if opts.timeout then
    local r = table.pack(pcall(deadline.timeout, opts.timeout, do_request, opts))
    if r[1] then return table.unpack(r, 2, r.n) end
    if core.is_error(r[2], "timeout") then
      return nil, "ETIMEDOUT: request timed out", "ETIMEDOUT"
    end
    error(r[2], 0)
  end
  return do_request(opts)
end

function client.get(url, opts)
  if type(url) ~= "string" then
    error("bad argument #1 to 'get' (URL string expected, got " .. type(url) .. ")", 2)
  end
  local o = {url = url}
  if opts ~= nil then
    if type(opts) ~= "table" then error("bad argument #2 to 'get' (table expected)", 2) end
    for k, v in pairs(opts) do o[k] = v end
  end
  return client.request(o)
end

-- tide.http.request / get / close_pool.
http.request, http.get, http.close_pool = client.request, client.get,
  client.close_pool

return client
