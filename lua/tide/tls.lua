-- tide.tls: TLS for tide streams (OpenSSL 3), verified by default.
--
--   tide.tls.context{...} -> ctx | nil, err, name      (see docs/tls.md)
--   tide.tcp.connect(host, port, {tls = ctx or true, servername = ...})
--   tide.tcp.listen(host, port, handler, {tls = server_ctx, ...})
--   stream:starttls(ctx [, {servername =, handshake_timeout =}])
--   stream:tlsinfo()
--
-- The context constructor, starttls and tlsinfo are C (src/lua/ltls.c);
-- connect and listen run the handshake through starttls (tcp.lua,
-- unix.lua, stream.lua).
local core = require "tide.core"
local net = core._net

local tls = {}

-- tide.tls.context(opts): a reusable context. Clients verify the server's
-- chain and name against the system's CA store unless told otherwise.
tls.context = net.tls_context

-- The options of connect and listen that concern TLS, for their checks
-- (stream.known(..., table.unpack(tls.CONNECT))).
tls.CONNECT = {"tls", "servername", "handshake_timeout"}
tls.LISTEN = {"tls", "handshake_timeout", "on_handshake_error"}

-- The client context and the name to verify for connect's opts (raises on
-- misuse before anything connects); nil without opts.tls. default_name:
-- the name connect was given (tcp: the host), or nil (Unix sockets).
function tls.client(opts, default_name, fname)
  local ctx = opts and opts.tls
  if not ctx then return nil end
  local name = opts.servername
  if name == nil then name = default_name end
  if name ~= nil and name ~= false and type(name) ~= "string" then
    error(fname .. ": option 'servername': string expected", 3)
  end
  return net.tls_client(ctx, name, fname), name or nil
end

-- The listen side: {ctx =, opts = starttls options, on_error =}, or nil.
function tls.server(opts, fname)
  local ctx = opts and opts.tls
  if not ctx then return nil end
  local on_error = opts.on_handshake_error
  if on_error ~= nil and type(on_error) ~= "function" then
    error(fname .. ": option 'on_handshake_error': function expected", 3)
  end
  local limit = opts.handshake_timeout
  if limit ~= nil and (type(limit) ~= "number" or not (limit >= 0)) then
    error(fname .. ": option 'handshake_timeout': number of seconds >= 0 "
      .. "expected", 3)
  end
  return {ctx = net.tls_server(ctx, fname), on_error = on_error,
          opts = {handshake_timeout = opts.handshake_timeout}}
end

-- Runs the client handshake on a stream just connected; on failure the
-- stream is closed and nil, err, name returned. timeout: what is left of
-- connect's own timeout, or nil.
function tls.handshake(s, ctx, name, opts, timeout)
  local limit = opts.handshake_timeout
  if timeout and (not limit or limit == 0 or timeout < limit) then
    limit = timeout
  end
  local ok, err, ename = s:starttls(ctx, {servername = name,
                                          handshake_timeout = limit})
  if not ok then return nil, err, ename end
  return s
end

return tls
