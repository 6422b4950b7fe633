-- examples/https_get.lua: an HTTPS server and a client fetching a page from
-- it, in one script, with certificate verification on (as it always is by
-- default). Needs no network: the server listens on 127.0.0.1 and uses a
-- CA and a certificate that the script makes with the openssl command.
--
--   tide examples/https_get.lua
--
-- It prints the response, what the client learned about the connection
-- (TLS version, cipher, ALPN, the server's certificate), and what happens
-- without the script's CA: the system's CA store does not know it, so the
-- same request fails with ETLSVERIFY instead of going out unverified.
local tide = require "tide"

io.stdout:setvbuf("line")

-- A CA and a certificate for localhost / 127.0.0.1 signed by it, in a
-- temporary directory (removed at the end).
local dir = os.tmpname()
os.remove(dir)
local function sh(cmd)
  assert(os.execute(cmd .. " >/dev/null 2>&1"), "failed: " .. cmd)
end
sh("mkdir -p " .. dir)
sh(("cd %s && openssl ecparam -name prime256v1 -genkey -noout -out ca.key && "
  .. "openssl req -x509 -new -key ca.key -subj '/CN=example CA' -days 1 "
  .. "-addext basicConstraints=critical,CA:true -out ca.pem && "
  .. "openssl ecparam -name prime256v1 -genkey -noout -out server.key && "
  .. "openssl req -new -key server.key -subj /CN=localhost -out server.csr && "
  .. "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > san.ext && "
  .. "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key "
  .. "-CAcreateserial -days 1 -extfile san.ext -out server.pem"):format(dir))

-- The server: one HTTP/1.1 response per connection.
local server_ctx = assert(tide.tls.context{
  server = true,
  cert = dir .. "/server.pem",
  key = dir .. "/server.key",
  alpn = {"http/1.1"},
})
local server = assert(tide.tcp.listen("127.0.0.1", 0, function(conn)
  local request = conn:readline()
  if not request then return end
  repeat local header = conn:readline() until header == "" or not header
  local body = ("<h1>hello over %s</h1>\n"):format(conn:tlsinfo().version)
  conn:write(("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
    .. "Content-Length: %d\r\nConnection: close\r\n\r\n%s"):format(#body,
    body))
end, {tls = server_ctx}))
local _, port = server:address()

-- The client: GET / and the whole response (Connection: close).
local function get(ctx)
  local conn, err = tide.tcp.connect("localhost", port, {tls = ctx})
  if not conn then return nil, err end
  conn:write("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
  local parts = {}
  for data in function() return conn:read() end do parts[#parts + 1] = data end
  local info = conn:tlsinfo()
  conn:close()
  return table.concat(parts), info
end

-- Verification against the script's CA: the server's chain and its name
-- (localhost) are checked.
local client_ctx = assert(tide.tls.context{ca = dir .. "/ca.pem",
                                           alpn = {"http/1.1"}})
local response, info = assert(get(client_ctx))
print(response)
print(("connection: %s, %s, ALPN %s, verified: %s"):format(info.version,
  info.cipher, info.alpn, info.verified))
print(("server certificate: %s, issued by %s, names %s"):format(
  info.peer_cert.subject, info.peer_cert.issuer,
  table.concat(info.peer_cert.sans, " ")))

-- tls = true: the system's CA store, which has never heard of our CA.
local ok, err = get(true)
print(("with the system's CA store: %s"):format(ok and "fetched?!" or err))

server:close()
sh("rm -rf " .. dir)
