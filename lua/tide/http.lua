-- tide.http: an HTTP/1.1 server (and, from tide.http_client, a client)
-- over tide streams. Heads are parsed and bodies decoded in C
-- (src/lua/lhttp.c over src/http1.c), straight from each stream's read
-- buffer; this file runs connections, requests and responses.
--
--   tide.http.listen(host, port, handler [, opts]) -> server | nil, err, name
--
-- handler(req, res) runs in the connection's task, once per request, in
-- order (pipelined requests are answered strictly in turn). It may answer
-- with res:status(n), res:header(k, v), res:write(chunk), res:finish([body])
-- or just return status, headers, body. A handler error becomes a 500 (if
-- nothing was sent yet) and is reported; the connection then closes and
-- the server goes on. docs/http.md has the rules and limits.
local core = require "tide.core"
local tcp = require "tide.tcp"
local deadline = require "tide.deadline"

local H, net = core._http, core._net
local check_options, is_error = core.check_options, core.is_error
local type, tostring, error, pairs, setmetatable, rawget, select =
  type, tostring, error, pairs, setmetatable, rawget, select
local xpcall, pcall, os_time, os_date = xpcall, pcall, os.time, os.date
local math_type = math.type
local traceback = debug.traceback
local lower, concat = string.lower, table.concat
local head, chunk = H.head, H.chunk

local http = {}

-- ------------------------------------------------------------ shared

local REASONS = {
  [100] = "Continue", [101] = "Switching Protocols", [200] = "OK",
  [201] = "Created", [202] = "Accepted", [204] = "No Content",
  [206] = "Partial Content", [301] = "Moved Permanently", [302] = "Found",
  [303] = "See Other", [304] = "Not Modified", [307] = "Temporary Redirect",
  [308] = "Permanent Redirect", [400] = "Bad Request", [401] = "Unauthorized",
  [403] = "Forbidden", [404] = "Not Found", [405] = "Method Not Allowed",
  [408] = "Request Timeout", [409] = "Conflict", [411] = "Length Required",
  [413] = "Content Too Large", [414] = "URI Too Long", [415] = "Unsupported Media Type",
  [417] = "Expectation Failed", [426] = "Upgrade Required",
  [429] = "Too Many Requests", [431] = "Request Header Fields Too Large",
  [500] = "Internal Server Error", [501] = "Not Implemented",
  [502] = "Bad Gateway", [503] = "Service Unavailable",
  [504] = "Gateway Timeout", [505] = "HTTP Version Not Supported",
}
http.reasons = REASONS

-- "HTTP/1.1 200 OK\r\n" per status, made once.
local status_lines = setmetatable({}, {__index = function(t, code)
  local line = ("HTTP/1.1 %d %s\r\n"):format(code, REASONS[code] or "Unknown")
  t[code] = line
  return line
end})

-- Header tables: lowercase keys; any case finds them.
local headers_mt = {__index = function(t, k)
  if type(k) == "string" then
    local l = lower(k)
    if l ~= k then return rawget(t, l) end
  end
end}
http.headers_mt = headers_mt

-- The Date field, made once per second.
local date_t, date_s = 0, nil
local function date()
  local t = os_time()
  if t ~= date_t then
    date_t, date_s = t, os_date("!%a, %d %b %Y %H:%M:%S GMT", t)
  end
  return date_s
end
http._date = date

local function no_body_status(code)
  return code < 200 or code == 204 or code == 304
end
http._no_body_status = no_body_status

local function raise_cancel(err)
  if is_error(err, "cancelled") then error(err, 0) end
end

-- ------------------------------------------------------------ output

-- Pipelining: while more requests are already buffered, the fast path's
-- responses (a handler that returns status, headers, body) are held back
-- in C (conn:respond) and go out together in one write, before the
-- connection waits for more input, instead of one write (one syscall, one
-- TCP segment) each. Every other write of the connection goes through
-- emit, which sends what is held first: the order never changes.
local function emit(cs, data)
  local ok, err, name = cs.conn:flush()
  if not ok then return nil, err, name end
  return cs.stream:write(data)
end

-- ------------------------------------------------------------ requests

local Req = {}
Req.__index = Req

-- Sends "100 Continue" once, when the handler first reads a body the
-- client waits to be asked for.
local function continue(req)
  if req.expect == "100-continue" and not req._continued then
    req._continued = true
    if req._res._state == "new" then
      return emit(req._cs, "HTTP/1.1 100 Continue\r\n\r\n")
    end
  end
  return true
end

-- req:read([max]) -> the next piece of the body (chunked framing removed),
-- nil at its end; nil, err, name on failure (EMSGSIZE past max_body).
function Req:read(max)
  local ok, err, name = continue(self)
  if not ok then return nil, err, name end
  return self._conn:read_body(max)
end

-- req:body() -> the whole body (within max_body) as a string.
function Req:body()
  if self._body then return self._body end
  local parts, n = {}, 0
  while true do
    local data, err, name = self:read()
    if data == nil then
      if err then return nil, err, name end
      break
    end
    n = n + 1
    parts[n] = data
  end
  self._body = n == 1 and parts[1] or table.concat(parts)
  return self._body
end

-- req:peername() -> the client's address and port.
function Req:peername() return self._conn:stream():peername() end

-- req:tlsinfo() -> the connection's TLS details (stream:tlsinfo(): version,
-- cipher, alpn, the client's certificate ...), or nil over plain HTTP.
function Req:tlsinfo() return self._conn:stream():tlsinfo() end

-- req:header(name) -> the value (repeated fields joined with ", ");
-- req:header_values(name) -> a list of every value.
function Req:header(name) return self.headers[lower(name)] end
function Req:header_values(name)
  local l = lower(name)
  local m = self.multi and self.multi[l]
  if m then return m end
  local v = self.headers[l]
  return v and {v} or {}
end

-- ------------------------------------------------------------ responses

local Res = {}
Res.__index = Res

function Res:status(code)
  if type(code) ~= "number" or code < 100 or code > 999 or code % 1 ~= 0 then
    error("bad argument #1 to 'status' (status code 100-999 expected)", 2)
  end
  if self._state ~= "new" then error("tide.http: response head already sent", 2) end
  self._code = code
  return self
end

-- res:header(name, value): sets a field (a list of values repeats it; nil
-- removes it). Names are matched without regard to case.
local function check_value(name, v)
  local tv = type(v)
  if tv == "number" then return end
  if tv ~= "string" then
    error(("tide.http: value of header '%s' must be a string"):format(name), 3)
  end
  if v:find("[\r\n%z]") then
    error(("tide.http: CR, LF or NUL in the value of header '%s'"):format(name), 3)
  end
end

function Res:header(name, value)
  if type(name) ~= "string" then error("bad argument #1 to 'header' (string expected)", 2) end
  if not name:find("^[%w!#$%%&'*+%-.^_`|~]+$") then
    error(("tide.http: invalid header name '%s'"):format(name), 2)
  end
  if type(value) == "table" then
    for i = 1, #value do check_value(name, value[i]) end
  elseif value ~= nil then
    check_value(name, value)
  end
  if self._state ~= "new" then error("tide.http: response head already sent", 2) end
  local l = lower(name)
  local names, hdrs = self._names, self._headers
  if not names then
    names, hdrs = {}, {}
    self._names, self._headers = names, hdrs
  end
  local old = names[l]
  if old then hdrs[old] = nil end
  names[l] = value ~= nil and name or nil
  if value ~= nil then hdrs[name] = value end
  return self
end

-- Whether the connection ends after this response.
local function must_close(res)
  local req = res._req
  return res._close or not req.keep_alive or res._srv._closing
end

local function conn_field(res)
  if must_close(res) then return true end
  if res._req.version == "1.0" then return "keep-alive" end
  return nil
end

-- Sends the head with framing (an integer length, "chunked" or false) and
-- body (or nil) in one write; the response is then in state (default
-- "body"). Bad header names or values raise before anything changes.
local function send_head(res, framing, body, state)
  local close = res._close
  if framing == false and not no_body_status(res._code) and
    res._req.method ~= "HEAD" then
    close = true -- the body runs until the connection closes
  end
  res._close = close
  local data = head(status_lines[res._code], res._headers, framing,
    conn_field(res), date(), body)
  res._state = state or "body"
  local ok, err, name = emit(res._cs, data)
  if not ok then res._close = true end
  return ok, err, name
end

-- The framing the caller asked for with a Content-Length field, if any.
local function user_length(res)
  local n = res._names and res._names["content-length"]
  if not n then return nil end
  local v = math.tointeger(tonumber(res._headers[n]))
  if not v or v < 0 then error("tide.http: invalid Content-Length", 3) end
  return v
end

-- res:write(chunk): streams the body: with the Content-Length the handler
-- set, else chunked (HTTP/1.0: until the connection closes). The head
-- goes out with the first write.
function Res:write(data)
  if type(data) ~= "string" then error("bad argument #1 to 'write' (string expected)", 2) end
  local st = self._state
  if st == "done" then error("tide.http: response already finished", 2) end
  if st == "upgraded" then error("tide.http: connection was upgraded", 2) end
  if st == "new" then
    local n = user_length(self)
    local framing
    if no_body_status(self._code) then framing = false
    elseif n then framing = n
    elseif self._req.version == "1.1" then framing = "chunked"
    else framing = false end
    self._framing = framing
    self._sent = 0
    local ok, err, name = send_head(self, framing)
    if not ok then return nil, err, name end
  end
  if data == "" or self._req.method == "HEAD" or no_body_status(self._code) then
    return true
  end
  local f = self._framing
  if f == "chunked" then data = chunk(data)
  elseif f then
    if self._sent + #data > f then
      error("tide.http: body longer than its Content-Length", 2)
    end
  end
  self._sent = self._sent + #data
  local ok, err, name = emit(self._cs, data)
  if not ok then self._close = true end
  return ok, err, name
end

-- res:finish([body]): ends the response. Before any write, the head and
-- body go out together with Content-Length: #body.
function Res:finish(body)
  if body ~= nil and type(body) ~= "string" then
    error("bad argument #1 to 'finish' (string expected)", 2)
  end
  local st = self._state
  if st == "done" or st == "upgraded" then return true end
  if st == "new" then
    body = body or ""
    if no_body_status(self._code) then return send_head(self, false, nil, "done") end
    if self._req.method == "HEAD" then
      return send_head(self, user_length(self) or #body, nil, "done")
    end
    return send_head(self, #body, body, "done")
  end
  local ok, err, name = true, nil, nil
  if body and body ~= "" then ok, err, name = self:write(body) end
  self._state = "done"
  if not ok then return nil, err, name end
  if self._framing == "chunked" and self._req.method ~= "HEAD" then
    ok, err, name = emit(self._cs, "0\r\n\r\n")
  elseif self._framing and self._sent < self._framing and
    self._req.method ~= "HEAD" then
    self._close = true -- short body: the client must see the end
  end
  return ok, err, name
end

function Res:finished() return self._state == "done" end

-- ------------------------------------------------------------ connections

local function handler_msgh(err)
  if type(err) == "string" then return traceback(err, 2) end
  return err
end

-- Answers a request the server refuses, and closes.
local function refuse(cs, code, msg)
  emit(cs, head(status_lines[code], {["Content-Type"] = "text/plain"},
    #msg + 1, true, date(), msg .. "\n"))
end

-- Reads what the handler left of the request body, so the next request
-- can be parsed: false when the connection must close instead.
local function drain_body(req, cfg)
  local conn = req._conn
  local state, got = conn:body_state()
  if state == "none" then return true end
  if state == "broken" then return false end
  if req.expect == "100-continue" and not req._continued then return false end
  if (req.content_length or 0) - got > cfg.discard then return false end
  local left = cfg.discard
  while true do
    local data = conn:read_body()
    if not data then return conn:body_state() == "none" end
    left = left - #data
    if left < 0 then return false end
  end
end

-- Runs one request through the handler; returns true to keep the
-- connection (and true again when the handler upgraded it).
-- A handler failed (err) or answered what is not a response: reported;
-- a 500 when nothing was sent yet. The connection then closes.
local function handler_failed(req, res, err)
  raise_cancel(err)
  net.report(("tide.http: handler failed for %s %s: %s"):format(req.method,
    req.target, tostring(err)))
  if res._state == "new" then
    res._close = true
    res._code = 500
    res._headers, res._names = nil, nil
    res:finish("internal server error\n")
  end
  return false
end

-- Runs one request through the handler; returns true to keep the
-- connection (and true again when the handler upgraded it).
local function serve_request(srv, cs, req, handler, cfg)
  local stream = cs.stream
  local res = setmetatable({_req = req, _stream = stream, _cs = cs, _srv = srv,
    _code = 200, _state = "new"}, Res)
  local expect = req.expect
  if expect then
    if expect == "other" then
      res._close = true
      res._code = 417
      res:finish("expectation failed\n")
      return false
    end
    req._cs, req._res = cs, res -- for 100-continue
  end
  local ok, code, hdrs, body = xpcall(handler, handler_msgh, req, res)
  if not ok then return handler_failed(req, res, code) end
  local st = res._state
  if st == "upgraded" then return false, true end
  if st == "new" and code ~= nil then
    local line = rawget(status_lines, code)
    if not line then
      if math_type(code) ~= "integer" or code < 100 or code > 999 then
        return handler_failed(req, res,
          "the handler returned an invalid status " .. tostring(code))
      end
      line = status_lines[code]
    end
    res._code = code
    if not res._headers and req.method ~= "HEAD" and code >= 200 and
      code ~= 204 and code ~= 304 then
      -- The common case in one step, from C: the handler's own table is
      -- the head's fields (every name and value checked), the body in the
      -- same write.
      local close = not req.keep_alive or srv._closing
      res._state = "done"
      local done, drain = cs.conn:respond(line, hdrs, body,
        close or (req.version == "1.0" and "keep-alive") or nil)
      if done == false then
        res._state = "new"
        return handler_failed(req, res, drain)
      end
      if not done or close then return false end
      if drain and not stream:drain() then return false end
      if req.content_length or req._chunked then return drain_body(req, cfg) end
      return true
    end
    if hdrs ~= nil and type(hdrs) ~= "table" then
      return handler_failed(req, res, "the handler returned headers that are not a table")
    end
    if body ~= nil and type(body) ~= "string" then
      return handler_failed(req, res, "the handler returned a body that is not a string")
    end
    if hdrs then
      for k, v in pairs(hdrs) do res:header(k, v) end
    end
  end
  if res._state ~= "done" then res:finish(body) end
  if must_close(res) then return false end
  if req.content_length or req._chunked then return drain_body(req, cfg) end
  return true
end

local function serve_conn(srv, handler, cfg)
  return function(stream)
    local conn = H.conn(stream, cfg)
    local cs = {stream = stream, conn = conn}
    local me = {stream = stream, idle = true}
    srv._conns[me] = true
    local n = 0
    local ok, err = pcall(function()
      while not srv._closing do
        me.idle = true
        local req, code, msg = conn:read_head() -- sends what was held first
        me.idle = false
        if not req then
          if req == false then refuse(cs, code, msg) end
          return
        end
        n = n + 1
        if n >= cfg.max_requests then req.keep_alive = false end
        local keep, upgraded = serve_request(srv, cs, req, handler, cfg)
        if upgraded then
          me.upgraded = true
          return
        end
        if not keep then return end
      end
    end)
    conn:flush()
    srv._conns[me] = nil
    if not ok then raise_cancel(err); error(err, 0) end
  end
end

-- ------------------------------------------------------------ servers

local Server = {}
Server.__index = Server

function Server:address() return self._tcp:address() end
function Server:connections() return self._tcp:connections() end

-- server:close([{wait = s}]): stops accepting at once and closes idle
-- keep-alive connections; requests in flight finish (their connections
-- close after their response). With wait, returns once every connection
-- has ended, cancelling those still running after s seconds (wait = true:
-- no limit).
function Server:close(opts)
  check_options(opts, "tide.http.server:close", {wait = true})
  self._closing = true
  self._tcp:close()
  for c in pairs(self._conns) do
    if c.idle then c.stream:close() end
  end
  local wait = opts and opts.wait
  if wait then
    local tcpsrv = self._tcp
    if wait == true then
      tcpsrv:close{wait = true}
    else
      deadline.move_on_after(wait, function() tcpsrv:close{wait = true} end)
      tcpsrv:close{cancel = true}
    end
  end
  return true
end

local LISTEN_OPTS = {
  backlog = true, ipv6only = true, family = true, tls = true, reuseport = true,
  max_line = true, max_head = true, max_fields = true, max_body = true,
  header_timeout = true, idle_timeout = true, body_timeout = true,
  write_timeout = true, max_requests = true, discard = true,
}

local function number_opt(opts, key, def)
  local v = opts and opts[key]
  if v == nil then return def end
  if type(v) ~= "number" or v < 0 then
    error(("tide.http.listen: option '%s': number >= 0 expected"):format(key), 3)
  end
  return v
end

-- tide.http.listen(host, port, handler [, opts]): see the file's comment.
-- opts: backlog, family, ipv6only, reuseport (as tide.tcp.listen); tls (a tide.tls
-- context); limits max_line (8192), max_head (8192), max_fields (100),
-- max_body (1 MiB; 0: none), max_requests per connection (1000), discard
-- (bytes of an unread body read and dropped to keep the connection,
-- 64 KiB); timeouts in seconds (0: none) header_timeout (10, the whole
-- head), idle_timeout (5, keep-alive), body_timeout (10, each body read),
-- write_timeout (30).
function http.listen(host, port, handler, opts)
  if type(handler) ~= "function" then
    error("bad argument #3 to 'listen' (function expected, got " ..
      type(handler) .. ")", 2)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error("bad argument #4 to 'listen' (table expected)", 2)
  end
  check_options(opts, "tide.http.listen", LISTEN_OPTS)
  local cfg = {
    message_mt = Req, headers_mt = headers_mt,
    max_line = number_opt(opts, "max_line", 8192),
    max_head = number_opt(opts, "max_head", 8192),
    max_fields = number_opt(opts, "max_fields", 100),
    max_body = number_opt(opts, "max_body", 1024 * 1024),
    max_requests = number_opt(opts, "max_requests", 1000),
    discard = number_opt(opts, "discard", 64 * 1024),
    header_timeout = number_opt(opts, "header_timeout", 10),
    idle_timeout = number_opt(opts, "idle_timeout", 5),
    body_timeout = number_opt(opts, "body_timeout", 10),
  }
  local topts = {
    backlog = opts and opts.backlog, ipv6only = opts and opts.ipv6only,
    family = opts and opts.family, reuseport = opts and opts.reuseport,
    write_timeout = number_opt(opts, "write_timeout", 30),
  }
  -- HTTPS: a server context of tide.tls (its alpn, if any, should offer
  -- "http/1.1"); the handshake runs in the connection's task.
  if opts and opts.tls ~= nil then topts.tls = opts.tls end
  local srv = setmetatable({_conns = {}, _closing = false}, Server)
  local t, err, name = tcp.listen(host, port, serve_conn(srv, handler, cfg), topts)
  if not t then return nil, err, name end
  srv._tcp = t
  -- SIGTERM's graceful stop (the tide command, a worker): idle keep-alive
  -- connections close at once, requests in flight finish.
  core._on_stopping(srv, srv.close)
  return srv
end

-- For tide.http_client and tide.websocket.
http._Req, http._Res, http._status_lines, http._emit = Req, Res, status_lines, emit

return http
