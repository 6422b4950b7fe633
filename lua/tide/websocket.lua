-- tide.http's WebSocket (RFC 6455): res:upgrade_websocket() on the server,
-- tide.http.websocket(url) as a client. Frames are parsed in C straight
-- from the stream's buffer (src/lua/lws.c over src/ws.c; docs/http.md says
-- why not libwslay).
--
--   ws:send(data [, "binary"])  -> true | nil, err, name   (text by default)
--   ws:receive() -> message, "text" | "binary"
--                 | nil, "closed", code, reason   (the close handshake done)
--                 | nil, err, name                (EPROTO, EMSGSIZE, ...)
--   ws:ping([data]), ws:close([code [, reason]])
--
-- Fragmented messages are joined (up to max_message bytes, 1 MiB by
-- default); pings are answered with pongs; a close from the peer is
-- answered and ends receive(). Text messages must be valid UTF-8.
local core = require "tide.core"
local tcp = require "tide.tcp"
local http = require "tide.http"
local deadline = require "tide.deadline"

local W, H = core._ws, core._http
local read_frame, frame = W.read_frame, W.frame
local check_options = core.check_options
local type, error, setmetatable, tostring, concat = type, error,
  setmetatable, tostring, table.concat
local utf8_len, spack, sunpack, lower = utf8.len, string.pack, string.unpack,
  string.lower

local M = {}

local TEXT, BINARY, CLOSE, PING, PONG = 1, 2, 8, 9, 10

local WS = {}
WS.__index = WS

local function new(stream, client, opts)
  return setmetatable({stream = stream, client = client,
    max_message = opts and opts.max_message or 1024 * 1024,
    close_timeout = opts and opts.close_timeout or 5}, WS)
end
M._new = new

local function send_frame(self, op, data, fin)
  if self.sent_close then return nil, "ECLOSED: WebSocket is closing", "ECLOSED" end
  return self.stream:write(frame(op, data, fin, self.client))
end

-- ws:send(data [, kind]): one message, "text" (the default) or "binary".
function WS:send(data, kind)
  if type(data) ~= "string" then error("bad argument #1 to 'send' (string expected)", 2) end
  local op = TEXT
  if kind == "binary" then op = BINARY
  elseif kind ~= nil and kind ~= "text" then
    error("bad argument #2 to 'send' ('text' or 'binary' expected)", 2)
  end
  return send_frame(self, op, data, true)
end

function WS:ping(data)
  data = data or ""
  if #data > 125 then error("bad argument #1 to 'ping' (at most 125 bytes)", 2) end
  return send_frame(self, PING, data, true)
end

local function close_payload(code, reason)
  if not code then return "" end
  return spack(">I2", code) .. (reason or "")
end

-- Fails the connection: a close frame with code, then the socket closes.
local function fail(self, code, err, name)
  if not self.sent_close then
    self.stream:write(frame(CLOSE, close_payload(code), true, self.client))
    self.sent_close = true
  end
  self.stream:close()
  self.closed = true
  return nil, err, name
end

-- ws:receive(): see the file's comment.
function WS:receive()
  if self.closed then return nil, "closed", self.close_code, self.close_reason end
  local parts, n, size, op = nil, 0, 0, nil
  local masked = not self.client
  while true do
    local fin, opcode, payload = read_frame(self.stream, self.max_message, masked)
    if fin == nil then
      if payload == "EMSGSIZE" then return fail(self, 1009, opcode, payload) end
      if payload == "EPROTO" then return fail(self, 1002, opcode, payload) end
      self.closed = true
      self.stream:close()
      return nil, opcode, payload
    end
    if opcode == PING then
      if not self.sent_close then self.stream:write(frame(PONG, payload, true, self.client)) end
    elseif opcode == PONG then
      -- unsolicited or answering our ping: nothing to do
    elseif opcode == CLOSE then
      local code, reason = 1005, ""
      if #payload == 1 then return fail(self, 1002, "EPROTO: bad close frame", "EPROTO") end
      if #payload >= 2 then
        code = sunpack(">I2", payload)
        reason = payload:sub(3)
        if code < 1000 or code == 1004 or code == 1005 or code == 1006 or
          (code > 1014 and code < 3000) or code > 4999 or not utf8_len(reason) then
          return fail(self, 1002, "EPROTO: bad close frame", "EPROTO")
        end
      end
      self.close_code, self.close_reason = code, reason
      if not self.sent_close then
        self.sent_close = true
        self.stream:write(frame(CLOSE, close_payload(code), true, self.client))
      end
      self.closed = true
      -- The server closes the TCP connection first (RFC 6455 7.1.1).
      if not self.client then self.stream:close() end
      if self.close_waiter then self.close_waiter:set_result() end
      return nil, "closed", code, reason
    else
      if opcode == 0 then
        if not op then return fail(self, 1002, "EPROTO: continuation without a message", "EPROTO") end
      else
        if op then return fail(self, 1002, "EPROTO: new message inside a fragmented one", "EPROTO") end
        op = opcode
      end
      size = size + #payload
      if size > self.max_message then
        return fail(self, 1009, "EMSGSIZE: WebSocket message too large", "EMSGSIZE")
      end
      if fin and n == 0 then
        parts = payload
      else
        parts = parts or {}
        if type(parts) == "string" then parts = {parts} end
        n = n + 1
        parts[n] = payload
      end
      if fin then
        local msg = type(parts) == "table" and concat(parts) or parts
        if op == TEXT and not utf8_len(msg) then
          return fail(self, 1007, "EPROTO: text message is not UTF-8", "EPROTO")
        end
        return msg, op == TEXT and "text" or "binary"
      end
      if n == 0 then parts, n = {parts}, 1 end
    end
  end
end

-- ws:close([code [, reason]]): starts the close handshake and waits (up
-- to close_timeout seconds) for the peer's close, reading and dropping
-- messages meanwhile; then closes the connection.
function WS:close(code, reason)
  if self.closed then self.stream:close() return true end
  code = code or 1000
  if reason and #reason > 123 then error("bad argument #2 to 'close' (reason too long)", 2) end
  if not self.sent_close then
    self.sent_close = true
    self.stream:write(frame(CLOSE, close_payload(code, reason), true, self.client))
  end
  deadline.move_on_after(self.close_timeout, function()
    while not self.closed do
      local msg, err = self:receive()
      if msg == nil and err ~= "closed" then break end
    end
  end)
  self.closed = true
  self.stream:close()
  return true
end
WS.__close = WS.close

-- ------------------------------------------------------------ server

-- res:upgrade_websocket([opts]) -> ws | nil, err: answers the handshake
-- (101) of a request that asks for a WebSocket, or 400/426 when it does
-- not. opts: max_message, close_timeout, protocol (the subprotocol to
-- confirm).
function http._Res.upgrade_websocket(res, opts)
  check_options(opts, "tide.http res:upgrade_websocket",
    {max_message = true, close_timeout = true, protocol = true})
  local req = res._req
  local h = req.headers
  local key = h["sec-websocket-key"]
  if res._state ~= "new" then error("tide.http: response head already sent", 2) end
  if not req.upgrade or lower(h.upgrade or "") ~= "websocket" or req.method ~= "GET" then
    res._code = 426
    res:header("Upgrade", "websocket")
    res:finish("WebSocket upgrade expected\n")
    return nil, "EPROTO: not a WebSocket handshake", "EPROTO"
  end
  if h["sec-websocket-version"] ~= "13" or not key or #key ~= 24 then
    res._code = 400
    res:header("Sec-WebSocket-Version", "13")
    res:finish("bad WebSocket handshake\n")
    return nil, "EPROTO: bad WebSocket handshake", "EPROTO"
  end
  local hdrs = {Upgrade = "websocket", ["Sec-WebSocket-Accept"] = W.accept(key)}
  if opts and opts.protocol then hdrs["Sec-WebSocket-Protocol"] = opts.protocol end
  res._state = "upgraded"
  local ok, err, name = http._emit(res._cs, H.head(http._status_lines[101], hdrs,
    false, "Upgrade", nil))
  if not ok then return nil, err, name end
  return new(res._stream, false, opts)
end

-- ------------------------------------------------------------ client

-- tide.http.websocket(url [, opts]) -> ws | nil, err, name: opens ws://
-- (or wss://, with tide.tls) and does the handshake. opts: headers,
-- timeout (connect and handshake, 10 s), max_message, close_timeout,
-- protocols (a list offered in Sec-WebSocket-Protocol).
function M.connect(url, opts)
  if type(url) ~= "string" then error("bad argument #1 to 'websocket' (string expected)", 2) end
  check_options(opts, "tide.http.websocket", {headers = true, timeout = true,
    max_message = true, close_timeout = true, protocols = true, tls = true})
  local scheme, rest = url:match("^(wss?)://(.*)$")
  if not scheme then return nil, "EINVAL: not a ws:// or wss:// URL", "EINVAL" end
  local parse = require("tide.http_client")._parse_url
  local _, host, port, target = parse((scheme == "wss" and "https://" or "http://") .. rest)
  if not _ then return nil, "EINVAL: " .. tostring(host), "EINVAL" end
  local timeout = opts and opts.timeout or 10
  local copts = {timeout = timeout}
  if scheme == "wss" then
    copts.tls, copts.servername = opts and opts.tls or true, host
  end
  local key = W.key()
  local hdrs = {Host = ((port == 80 or port == 443) and host or host .. ":" .. port),
    Upgrade = "websocket", ["Sec-WebSocket-Key"] = key,
    ["Sec-WebSocket-Version"] = "13"}
  if opts and opts.protocols then hdrs["Sec-WebSocket-Protocol"] = concat(opts.protocols, ", ") end
  if opts and opts.headers then for k, v in pairs(opts.headers) do hdrs[k] = v end end
  local res, err, name
  local ok, e = pcall(deadline.timeout, timeout, function()
    local s
    s, err, name = tcp.connect(host, port, copts)
    if not s then return end
    local okw
    okw, err, name = s:write(H.head("GET " .. target .. " HTTP/1.1\r\n", hdrs, false, "Upgrade"))
    if not okw then s:close() return end
    local conn = H.conn(s, {response = true, max_head = 65536})
    local msg, code, m2 = conn:read_head()
    if not msg then
      s:close()
      if msg == false then err, name = "EPROTO: malformed response: " .. m2, "EPROTO"
      elseif code then err, name = code, m2
      else err, name = "EOF: connection closed", "EOF" end
      return
    end
    local h = msg.headers
    if msg.status ~= 101 or lower(h.upgrade or "") ~= "websocket" or
      h["sec-websocket-accept"] ~= W.accept(key) then
      s:close()
      err, name = ("EPROTO: WebSocket handshake refused (status %d)"):format(msg.status), "EPROTO"
      return
    end
    res = new(s, true, opts)
    res.protocol = h["sec-websocket-protocol"]
  end)
  if not ok then
    if core.is_error(e, "timeout") then return nil, "ETIMEDOUT: WebSocket handshake timed out", "ETIMEDOUT" end
    error(e, 0)
  end
  if not res then return nil, err, name end
  return res
end

http.websocket = M.connect
return M
