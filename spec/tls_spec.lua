-- tide.tls: TLS on tide streams, tide against tide (spec/tls_openssl_spec.lua
-- has the cross-tests against openssl s_server / s_client). Certificates
-- are made at test time (test/tls_certs.sh); 127.0.0.1 and port 0 only.
local tide = require "tide"
local H = require "helper"
local T = require "tls_helper"

local tcp = tide.tcp
local serve, upper, box = T.serve, T.upper, T.box

-- Connects to a TLS server whose certificate is cert.pem and returns what
-- connect returned (the stream is closed).
local function try_cert(cert, copts, cctx)
  local got, put = box()
  local srv, port = serve(function() end, {
    tls = T.server_ctx(cert),
    on_handshake_error = function(err, name) put(err, name) end,
  })
  local s, err, name = tcp.connect(copts and copts.host or "localhost", port,
    {tls = cctx or T.client_ctx(), servername = copts and copts.servername})
  if s then s:close() else got:await() end
  srv:close{wait = true}
  if not got:done() then return s, err, name end
  return s, err, name, got:result()
end

describe("tide.tls", function()
  teardown(T.cleanup)

  it("connects with verification, serves, and describes both ends", function()
    H.run(function()
      local server_info
      local srv, port = serve(function(s)
        server_info = s:tlsinfo()
        upper(s)
      end, {tls = T.server_ctx(nil, {alpn = {"h2", "http/1.1"}})})
      local c = assert(tcp.connect("localhost", port,
        {tls = T.client_ctx({alpn = {"http/1.1"}})}))
      assert.is_true(c:write("hello\n"))
      assert.equal("HELLO", c:readline())
      local info = c:tlsinfo()
      assert.equal("TLSv1.3", info.version)
      assert.is_string(info.cipher)
      assert.equal("http/1.1", info.alpn)
      assert.equal("localhost", info.servername)
      assert.is_true(info.verified)
      assert.is_false(info.resumed)
      assert.is_false(info.server)
      assert.equal("CN=localhost", info.peer_cert.subject)
      assert.equal("CN=tide test CA", info.peer_cert.issuer)
      assert.same({"DNS:localhost", "IP:127.0.0.1"}, info.peer_cert.sans)
      assert.is_true(info.peer_cert.not_after > os.time())
      assert.is_true(info.peer_cert.not_before <= os.time())
      assert.equal(64, #info.peer_cert.fingerprint)
      assert.matches("tls", tostring(c))
      c:close()
      srv:close{wait = true}
      assert.equal("TLSv1.3", server_info.version)
      assert.equal("localhost", server_info.servername)
      assert.equal("http/1.1", server_info.alpn)
      assert.is_true(server_info.server)
      assert.is_nil(server_info.peer_cert)
    end)
  end)

  it("verifies an IP address against the certificate's IP SAN", function()
    H.run(function()
      local s = assert(try_cert("server", {host = "127.0.0.1"}))
      local _, err, name = try_cert("wronghost", {host = "127.0.0.1"})
      assert.equal("ETLSVERIFY", name)
      assert.equal("ETLSVERIFY: IP address mismatch for '127.0.0.1' (depth 0)",
        err)
      assert.is_true(s:closed())
    end)
  end)

  it("refuses an unknown CA by default (the system's store)", function()
    H.run(function()
      local s, err, name, serr, sname = try_cert("server", nil, true)
      assert.is_nil(s)
      assert.equal("ETLSVERIFY", name)
      assert.equal(
        "ETLSVERIFY: unable to get local issuer certificate (depth 0)", err)
      -- The server hears why: the client's alert.
      assert.equal("ETLS", sname)
      assert.matches("unknown ca", serr)
    end)
  end)

  it("refuses expired, self-signed, other-CA and wrong-host certificates", function()
    H.run(function()
      local cases = {
        expired = "certificate has expired %(depth 0%)",
        self = "self%-signed certificate %(depth 0%)",
        unknown = "unable to get local issuer certificate %(depth 0%)",
        wronghost = "hostname mismatch for 'localhost' %(depth 0%)",
      }
      for cert, want in pairs(cases) do
        local s, err, name = try_cert(cert)
        assert.is_nil(s, cert)
        assert.equal("ETLSVERIFY", name, cert)
        assert.matches("^ETLSVERIFY: " .. want .. "$", err)
      end
    end)
  end)

  it("connects without verification only when told (verify = false)", function()
    H.run(function()
      local ctx = assert(tide.tls.context{verify = false})
      local srv, port = serve(upper, {tls = T.server_ctx("self")})
      local c = assert(tcp.connect("127.0.0.1", port, {tls = ctx,
                                                        servername = false}))
      c:write("x\n")
      assert.equal("X", c:readline())
      assert.is_false(c:tlsinfo().verified)
      assert.is_nil(c:tlsinfo().servername)
      c:close()
      srv:close{wait = true}
    end)
  end)

  it("raises on misuse of contexts and options", function()
    H.run(function()
      local handles = tide.stats().handles
      local function raises(pat, fn, ...)
        local ok, err = pcall(fn, ...)
        assert.is_false(ok)
        assert.matches(pat, err)
      end
      local ctx = tide.tls.context
      raises("unknown option 'verfy'", ctx, {verfy = false})
      raises("needs cert and key", ctx, {server = true})
      raises("cert and key go together", ctx, {cert = T.path("server.pem")})
      raises("option 'verify': boolean expected", ctx, {verify = "no"})
      raises("expected, got '1%.9'", ctx, {min_version = "1.9"})
      raises("option 'alpn'", ctx, {alpn = "h2"})
      raises("option 'alpn'", ctx, {alpn = {""}})
      raises("option 'sni' is for servers", ctx, {sni = {}})
      raises("must map to server contexts", T.server_ctx, nil,
        {sni = {["a.test"] = T.client_ctx()}})
      raises("unknown option 'tsl'", tcp.connect, "127.0.0.1", 1, {tsl = true})
      raises("a client context expected", tcp.connect, "127.0.0.1", 1,
        {tls = T.server_ctx()})
      raises("a tide.tls.context or true expected", tcp.connect, "127.0.0.1",
        1, {tls = "yes"})
      raises("a name is needed", tcp.connect, "127.0.0.1", 1,
        {tls = true, servername = false})
      raises("a name is needed", tide.unix.connect, "/nonexistent",
        {tls = T.client_ctx()})
      raises("a server tide.tls.context expected", tcp.listen, "127.0.0.1", 0,
        print, {tls = true})
      raises("a server tide.tls.context expected", tcp.listen, "127.0.0.1", 0,
        print, {tls = T.client_ctx()})
      raises("unknown option 'servername'", tcp.listen, "127.0.0.1", 0, print,
        {tls = T.server_ctx(), servername = "x"})
      raises("option 'handshake_timeout'", tcp.listen, "127.0.0.1", 0, print,
        {tls = T.server_ctx(), handshake_timeout = "soon"})
      raises("option 'on_handshake_error'", tcp.listen, "127.0.0.1", 0,
        print, {tls = T.server_ctx(), on_handshake_error = 1})
      assert.equal(handles, tide.stats().handles) -- nothing was opened
    end)
  end)

  it("returns nil, err, name for files and settings OpenSSL rejects", function()
    H.run(function()
      local ctx, err, name = tide.tls.context{server = true,
        cert = "/nonexistent/cert.pem", key = T.path("server.key")}
      assert.is_nil(ctx)
      assert.equal("ENOENT", name)
      assert.equal("ENOENT: cert '/nonexistent/cert.pem': no such file or "
        .. "directory", err)
      ctx, err, name = tide.tls.context{server = true,
        cert = T.path("server.pem"), key = T.path("client.key")}
      assert.is_nil(ctx)
      assert.equal("ETLS", name)
      assert.equal("ETLS: key: key values mismatch", err)
      ctx, err, name = tide.tls.context{ciphers = "NO-SUCH-CIPHER"}
      assert.equal("ETLS", name)
      assert.matches("^ETLS: ciphers: no cipher match", err)
      ctx, err, name = tide.tls.context{ca = "not a PEM -----BEGIN x"}
      assert.equal("ETLS", name)
      assert.matches("^ETLS: ca: ", err)
    end)
  end)

  it("decrypts an encrypted key with the password, never asks for one",
     function()
    H.run(function()
      local function ctx(password)
        return tide.tls.context{server = true, cert = T.path("server.pem"),
          key = T.path("server-enc.key"), password = password}
      end
      assert(ctx("secret"))
      assert(tide.tls.context{server = true, cert = T.path("server.pem"),
        key = T.read("server-enc.key"), password = "secret"})
      for _, password in ipairs({"wrong", false}) do
        local c, err, name = ctx(password or nil)
        assert.is_nil(c)
        assert.equal("ETLS", name)
        assert.matches("^ETLS: key: ", err)
      end
    end)
  end)

  it("takes certificates, keys and CAs as PEM text, CAs as a directory",
     function()
    H.run(function()
      local sctx = assert(tide.tls.context{server = true,
        cert = T.read("chain.pem"), key = T.read("server.key")})
      local srv, port = serve(upper, {tls = sctx})
      for _, ca in ipairs({T.read("ca.pem"), T.path("cadir")}) do
        local cctx = assert(tide.tls.context{ca = ca})
        local c = assert(tcp.connect("localhost", port, {tls = cctx}))
        c:write("pem\n")
        assert.equal("PEM", c:readline())
        c:close()
      end
      srv:close{wait = true}
    end)
  end)

  it("tlsinfo is nil on a plain stream", function()
    H.run(function()
      local srv, port = serve(function(s) s:read() end)
      local c = assert(tcp.connect("127.0.0.1", port))
      assert.is_nil(c:tlsinfo())
      c:close()
      srv:close{wait = true}
    end)
  end)

  it("negotiates versions, ALPN and SNI", function()
    H.run(function()
      -- A TLS 1.3 server and a client that stops at 1.2.
      local s, err, name = (function()
        local srv, port = serve(upper, {tls = T.server_ctx(nil,
          {min_version = "1.3"})})
        local r = table.pack(tcp.connect("localhost", port,
          {tls = T.client_ctx({max_version = "TLSv1.2"})}))
        srv:close{wait = true}
        return table.unpack(r, 1, 3)
      end)()
      assert.is_nil(s)
      assert.equal("ETLS", name)
      assert.matches("protocol version", err)
      -- TLS 1.2 when both can.
      local srv, port = serve(upper, {tls = T.server_ctx(nil,
        {max_version = "1.2", alpn = {"h2"},
         sni = {["alt.test"] = T.server_ctx("alt"),
                ["*.wild.test"] = T.server_ctx("wronghost")}})})
      local c = assert(tcp.connect("localhost", port,
        {tls = T.client_ctx({alpn = {"http/1.1"}})}))
      assert.equal("TLSv1.2", c:tlsinfo().version)
      assert.is_nil(c:tlsinfo().alpn) -- nothing in common
      c:close()
      c = assert(tcp.connect("localhost", port, {tls = T.client_ctx({
        ciphers = "ECDHE-ECDSA-CHACHA20-POLY1305"})}))
      assert.equal("ECDHE-ECDSA-CHACHA20-POLY1305", c:tlsinfo().cipher)
      c:close()
      -- SNI picks the certificate of the name asked for.
      c = assert(tcp.connect("127.0.0.1", port,
        {tls = T.client_ctx(), servername = "alt.test"}))
      assert.equal("CN=alt.test", c:tlsinfo().peer_cert.subject)
      c:close()
      local _, werr = tcp.connect("127.0.0.1", port,
        {tls = T.client_ctx(), servername = "x.wild.test"})
      assert.matches("hostname mismatch for 'x.wild.test'", werr)
      srv:close{wait = true}
      -- TLS 1.3 suites.
      srv, port = serve(upper, {tls = T.server_ctx(nil,
        {ciphersuites = "TLS_CHACHA20_POLY1305_SHA256"})})
      c = assert(tcp.connect("localhost", port, {tls = T.client_ctx()}))
      assert.equal("TLS_CHACHA20_POLY1305_SHA256", c:tlsinfo().cipher)
      c:close()
      srv:close{wait = true}
    end)
  end)

  it("resumes sessions with a client session cache", function()
    H.run(function()
      local srv, port = serve(upper, {tls = T.server_ctx()})
      local ctx = T.client_ctx({session_cache = true})
      local resumed = {}
      for i = 1, 3 do
        local c = assert(tcp.connect("localhost", port, {tls = ctx}))
        c:write("x\n")
        assert.equal("X", c:readline()) -- the tickets arrive meanwhile
        resumed[i] = c:tlsinfo().resumed
        c:close()
      end
      assert.same({false, true, true}, resumed)
      -- Without a cache, never.
      local c = assert(tcp.connect("localhost", port, {tls = T.client_ctx()}))
      assert.is_false(c:tlsinfo().resumed)
      c:close()
      srv:close{wait = true}
      -- Nor with a server that keeps none (and sends no tickets).
      srv, port = serve(upper, {tls = T.server_ctx(nil,
        {session_cache = false})})
      for i = 1, 2 do
        c = assert(tcp.connect("localhost", port, {tls = ctx}))
        c:write("x\n")
        assert.equal("X", c:readline())
        resumed[i] = c:tlsinfo().resumed
        c:close()
      end
      assert.same({false, false}, {resumed[1], resumed[2]})
      srv:close{wait = true}
    end)
  end)

  it("verifies clients that must present a certificate", function()
    H.run(function()
      local sctx = T.server_ctx(nil, {verify = true, ca = T.path("ca.pem")})
      local errs = {}
      local srv, port = serve(function(s)
        s:write(s:tlsinfo().peer_cert.subject .. "\n")
      end, {tls = sctx, on_handshake_error = function(err)
        errs[#errs + 1] = err
      end})
      local c = assert(tcp.connect("localhost", port, {tls = T.client_ctx({
        cert = T.path("client.pem"), key = T.path("client.key")})}))
      assert.equal("CN=client", c:readline())
      c:close()
      -- TLS 1.3: the client's side of the handshake ends before the server
      -- has checked it; the refusal arrives at the first read.
      c = assert(tcp.connect("localhost", port, {tls = T.client_ctx()}))
      local data, err, name = c:read()
      assert.is_nil(data)
      assert.equal("ETLS", name)
      assert.matches("certificate required", err)
      c:close()
      srv:close{wait = true}
      assert.equal(1, #errs)
      assert.matches("peer did not return a certificate", errs[1])
    end)
  end)

  it("carries TLS over Unix sockets", function()
    local path = os.tmpname()
    os.remove(path)
    H.run(function()
      local srv = assert(tide.unix.listen(path, upper,
        {tls = T.server_ctx()}))
      local c = assert(tide.unix.connect(path, {tls = T.client_ctx(),
                                                servername = "localhost"}))
      c:write("unix\n")
      assert.equal("UNIX", c:readline())
      assert.equal("localhost", c:tlsinfo().servername)
      c:close()
      srv:close{wait = true}
    end)
  end)

  it("reads and writes with every stream method, large data intact", function()
    H.run(function()
      local srv, port = serve(function(s)
        local n = tonumber(s:readline())
        local data = s:readexactly(n)
        s:write(data)
        s:write("a|b||c")
        assert.equal("a", s:readuntil("|"))
        s:shutdown() -- close_notify, then FIN: the peer sees a clean EOF
        assert.equal("tail", s:read())
        assert.is_nil(s:read())
      end, {tls = T.server_ctx()})
      local c = assert(tcp.connect("localhost", port, {tls = T.client_ctx()}))
      local parts = {}
      for i = 1, 4096 do parts[i] = ("%08d"):format(i):rep(32) end
      local big = table.concat(parts) -- 1 MiB
      c:write(#big .. "\n")
      assert.is_true(c:write(big))
      assert.equal(big, c:readexactly(#big))
      assert.equal("a", c:readuntil("|"))
      assert.equal("b|", c:readuntil("|", true))
      assert.equal("|c", c:readexactly(2))
      c:write("a|")
      assert.is_nil(c:read()) -- the server's shutdown: a clean EOF
      c:write("tail")
      c:close() -- close_notify: a clean EOF there too
      srv:close{wait = true}
    end)
  end)

  it("applies read and write timeouts to TLS streams", function()
    H.run(function()
      local srv, port = serve(function(s)
        s:write("hi\n")
        while s:read() do end -- never answers again
      end, {tls = T.server_ctx()})
      local c = assert(tcp.connect("localhost", port, {tls = T.client_ctx(),
        read_timeout = 0.1, write_timeout = 0.1, high_water = 1024}))
      assert.equal("hi", c:readline())
      local data, err, name = c:readline()
      assert.is_nil(data)
      assert.equal("ETIMEDOUT", name)
      -- Still usable after a timeout.
      c:setoptions{read_timeout = 0}
      c:close()
      srv:close{wait = true}
    end)
  end)

  describe("bad peers", function()
    -- A TLS server that reports its failed handshakes into errs.
    local function tls_server(errs, opts)
      opts = opts or {}
      opts.tls = opts.tls or T.server_ctx()
      opts.on_handshake_error = function(err, name)
        errs[#errs + 1] = name .. " " .. err
      end
      return serve(upper, opts)
    end

    -- The server still serves a good client.
    local function still_serves(port)
      local c = assert(tcp.connect("localhost", port, {tls = T.client_ctx()}))
      c:write("ok\n")
      assert.equal("OK", c:readline())
      c:close()
    end

    it("a plain-text client, and garbage instead of a ClientHello", function()
      H.run(function()
        local errs = {}
        local srv, port = tls_server(errs)
        local c = assert(tcp.connect("127.0.0.1", port))
        c:write("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        local reply = c:read() -- an alert, then the end
        while reply do reply = c:read() end
        c:close()
        c = assert(tcp.connect("127.0.0.1", port))
        c:write(("\x16\x03\x01\x00\x05garbage"):rep(3))
        while c:read() do end
        c:close()
        c = assert(tcp.connect("127.0.0.1", port))
        c:write("\0\1\2\3\4\5\6\7" .. ("\255"):rep(100))
        while c:read() do end
        c:close()
        still_serves(port)
        srv:close{wait = true}
        assert.equal(3, srv:handshake_errors())
        assert.equal("ETLS ETLS: http request", errs[1])
        for i = 2, 3 do assert.matches("^ETLS ETLS: ", errs[i]) end
      end)
    end)

    it("a client that stalls mid-handshake times out, nothing leaks", function()
      H.run(function()
        local errs = {}
        local srv, port = tls_server(errs, {handshake_timeout = 0.2})
        local c = assert(tcp.connect("127.0.0.1", port))
        c:write("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        local silent = assert(tcp.connect("127.0.0.1", port))
        local t0 = tide.now()
        assert.is_nil(c:read()) -- the server gives up and closes
        assert.is_nil(silent:read())
        assert.is_true(tide.now() - t0 >= 0.15)
        c:close()
        silent:close()
        still_serves(port)
        srv:close{wait = true}
        assert.same({"ETIMEDOUT ETIMEDOUT: TLS handshake timed out",
                     "ETIMEDOUT ETIMEDOUT: TLS handshake timed out"}, errs)
      end)
    end)

    it("a server that never answers: connect times out", function()
      H.run(function()
        local srv, port = serve(function(s) while s:read() do end end)
        local t0 = tide.now()
        local c, err, name = tcp.connect("localhost", port,
          {tls = T.client_ctx(), timeout = 0.2})
        assert.is_nil(c)
        assert.equal("ETIMEDOUT", name)
        assert.equal("ETIMEDOUT: TLS handshake timed out", err)
        assert.is_true(tide.now() - t0 >= 0.15)
        c, err, name = tcp.connect("localhost", port,
          {tls = T.client_ctx(), handshake_timeout = 0.1})
        assert.equal("ETIMEDOUT", name)
        srv:close{cancel = true}
      end)
    end)

    it("a server that sends garbage, or closes, mid-handshake", function()
      H.run(function()
        local srv, port = serve(function(s)
          s:read()
          s:write("HTTP/1.0 400 Bad Request\r\n\r\n")
        end)
        local c, err, name = tcp.connect("localhost", port,
          {tls = T.client_ctx()})
        assert.is_nil(c)
        assert.equal("ETLS", name)
        assert.equal("ETLS: wrong version number", err)
        srv:close{wait = true}
        srv, port = serve(function(s) s:read() end)
        c, err, name = tcp.connect("localhost", port, {tls = T.client_ctx()})
        assert.equal("ETLSEOF", name)
        assert.equal("ETLSEOF: connection closed during the TLS handshake", err)
        srv:close{wait = true}
      end)
    end)

    it("a server context refuses a peer's renegotiation", function()
      -- (spec/tls_openssl_spec.lua and test/test_tls.c renegotiate for
      -- real; here: the option is set on every context.)
      H.run(function()
        local srv, port = serve(upper, {tls = T.server_ctx(nil,
          {max_version = "1.2"})})
        still_serves(port)
        srv:close{wait = true}
      end)
    end)
  end)

  describe("ends", function()
    -- A plain TCP proxy in front of port. ctl.cut(n): the server's next
    -- bytes reach the client up to n of them, then the client's side is
    -- closed (a FIN, no close_notify: what a truncation attack looks like).
    local function proxy(port)
      local ctl = {}
      local srv = serve(function(down)
        local up = assert(tcp.connect("127.0.0.1", port))
        ctl.down, ctl.up = down, up
        local t = tide.spawn(function()
          for d in function() return down:read() end do up:write(d) end
        end)
        while true do
          local d = up:read()
          if not d or down:closed() then break end
          if ctl.left then
            d = d:sub(1, ctl.left)
            ctl.left = ctl.left - #d
          end
          down:write(d)
          if ctl.left == 0 then break end
        end
        down:close()
        up:close()
        t:cancel()
        pcall(t.await, t)
      end)
      function ctl.cut(n)
        ctl.left = n
        if n == 0 then
          ctl.down:close()
          ctl.up:close()
        end
      end
      local _, pport = srv:address()
      return srv, pport, ctl
    end

    it("a peer that closes without close_notify is ETLSEOF", function()
      H.run(function()
        local go, put = box()
        local srv, port = serve(function(s)
          s:write("abc")
          go:await()
          s:write(("z"):rep(1000))
          go = tide.future()
          go:await()
        end, {tls = T.server_ctx()})
        local psrv, pport, ctl = proxy(port)
        local c = assert(tcp.connect("localhost", pport,
          {tls = T.client_ctx()}))
        assert.equal("abc", c:readexactly(3))
        ctl.cut(0)
        local data, err, name = c:read()
        assert.is_nil(data)
        assert.equal("ETLSEOF", name)
        assert.equal("ETLSEOF: connection closed without a TLS close_notify "
          .. "(truncated?)", err)
        c:close()
        psrv:close{wait = true}
        -- Cut mid-record: the bytes of a partial record are not data.
        psrv, pport, ctl = proxy(port)
        c = assert(tcp.connect("localhost", pport, {tls = T.client_ctx()}))
        assert.equal("abc", c:readexactly(3))
        ctl.cut(100)
        put()
        data, err, name = c:readline()
        assert.is_nil(data)
        assert.equal("ETLSEOF", name)
        c:close()
        psrv:close{wait = true}
        srv:close{cancel = true}
      end)
    end)

    it("close() sends close_notify and does not wait for the peer's", function()
      H.run(function()
        local got, put = box()
        local hold = tide.future()
        local srv, port = serve(function(s)
          put(s:read())
          hold:await() -- never answers with its own close_notify
        end, {tls = T.server_ctx()})
        local c = assert(tcp.connect("localhost", port,
          {tls = T.client_ctx()}))
        local before = tide.stats().handles
        c:close()
        for _ = 1, 100 do -- a few loop iterations, not a wait for the peer
          if tide.stats().handles < before then break end
          tide.sleep(0.001)
        end
        assert.equal(before - 1, tide.stats().handles)
        assert.is_nil(got:await()) -- a clean EOF: nil, no error
        srv:close{cancel = true}
      end)
    end)
  end)

  describe("starttls", function()
    it("feeds the server's read-ahead bytes to TLS", function()
      H.run(function()
        local buffered
        local srv, port = serve(function(s)
          assert.equal("STARTTLS", s:readline())
          -- The client did not wait for an answer: its ClientHello is in
          -- our read buffer already, behind the line (cqueues#73).
          while s:buffered() == 0 do tide.sleep(0.001) end
          buffered = s:buffered()
          assert(s:starttls(T.server_ctx()))
          upper(s)
        end)
        local c = assert(tcp.connect("127.0.0.1", port))
        c:write("STARTTLS\n")
        assert.is_nil(c:tlsinfo())
        assert.is_true(c:starttls(T.client_ctx(), {servername = "localhost"}))
        assert.equal("TLSv1.3", c:tlsinfo().version)
        c:write("x\n")
        assert.equal("X", c:readline())
        c:close()
        srv:close{wait = true}
        assert.is_true(buffered > 0)
      end)
    end)

    it("feeds the client's read-ahead bytes to TLS", function()
      H.run(function()
        -- Roles reversed so that TLS bytes follow a plain line at once:
        -- the listening side is the TLS client.
        local srv, port = serve(function(s)
          s:write("OK\n")
          assert(s:starttls(T.client_ctx(), {servername = "localhost"}))
          upper(s)
        end)
        local c = assert(tcp.connect("127.0.0.1", port))
        assert.equal("OK", c:readline())
        while c:buffered() == 0 do tide.sleep(0.001) end
        assert.is_true(c:starttls(T.server_ctx()))
        c:write("y\n")
        assert.equal("Y", c:readline())
        assert.is_true(c:tlsinfo().server)
        c:close()
        srv:close{wait = true}
      end)
    end)

    it("raises while a read or write is pending, or on a TLS stream", function()
      H.run(function()
        local srv, port = serve(function(s) while s:read() do end end,
          {high_water = 1024})
        local c = assert(tcp.connect("127.0.0.1", port))
        local reader = tide.spawn(function() return c:read() end)
        tide.sleep(0.01)
        local ok, err = pcall(c.starttls, c, T.client_ctx(),
          {servername = "localhost"})
        assert.is_false(ok)
        assert.matches("a read is pending", err)
        reader:cancel()
        pcall(reader.await, reader)
        ok, err = pcall(c.starttls, c, T.client_ctx())
        assert.is_false(ok)
        assert.matches("a name is needed", err)
        ok, err = pcall(c.starttls, c, T.client_ctx(), {sni = "x"})
        assert.matches("unknown option 'sni'", err)
        c:close()
        srv:close{wait = true}
        srv, port = serve(upper, {tls = T.server_ctx()})
        c = assert(tcp.connect("localhost", port, {tls = T.client_ctx()}))
        ok, err = pcall(c.starttls, c, T.client_ctx(),
          {servername = "localhost"})
        assert.matches("TLS already", err)
        c:close()
        local data, _, name = select(2, pcall(c.starttls, c, T.client_ctx(),
          {servername = "localhost"}))
        assert.is_nil(data)
        assert.equal("ECLOSED", name)
        srv:close{wait = true}
      end)
    end)
  end)

  describe("cancellation", function()
    it("during the client's handshake closes the stream", function()
      H.run(function()
        local srv, port = serve(function(s) while s:read() do end end)
        local t = tide.spawn(function()
          return tcp.connect("localhost", port, {tls = T.client_ctx()})
        end)
        tide.sleep(0.05)
        t:cancel()
        local ok, err = pcall(t.await, t)
        assert.is_false(ok)
        assert.is_true(tide.is_cancelled(err))
        srv:close{wait = true}
      end)
    end)

    it("during the server's handshake ends the connection's task", function()
      H.run(function()
        local srv, port = serve(upper, {tls = T.server_ctx()})
        local c = assert(tcp.connect("127.0.0.1", port))
        while srv:connections() == 0 do tide.sleep(0.001) end
        srv:close{cancel = true}
        assert.equal(0, srv:connections())
        assert.equal(0, srv:handshake_errors())
        assert.is_nil(c:read())
        c:close()
      end)
    end)

    it("during a TLS read consumes nothing", function()
      H.run(function()
        local go, put = box()
        local srv, port = serve(function(s)
          go:await()
          s:write("later\n")
          s:read()
        end, {tls = T.server_ctx()})
        local c = assert(tcp.connect("localhost", port,
          {tls = T.client_ctx()}))
        local t = tide.spawn(function() return c:readline() end)
        tide.sleep(0.01)
        t:cancel()
        assert.is_false(pcall(t.await, t))
        put()
        assert.equal("later", c:readline())
        c:close()
        srv:close{wait = true}
      end)
    end)

    it("a 1 MiB write waits for a slow reader (the water marks hold)",
       function()
      H.run(function()
        local parts = {}
        for i = 1, 16384 do parts[i] = ("%063d\n"):format(i) end
        local big = table.concat(parts) -- 1 MiB of numbered lines
        local queued_after
        local srv, port = serve(function(s)
          assert.is_true(s:write(big))
          -- write() returned: the queue is down to the low-water mark.
          queued_after = select(2, s:buffered())
          s:write("end\n")
        end, {tls = T.server_ctx(), high_water = 64 * 1024,
              low_water = 16 * 1024})
        local c = assert(tcp.connect("localhost", port,
          {tls = T.client_ctx()}))
        for i = 1, 16384 do
          assert.equal(("%063d"):format(i), c:readline())
          if i % 1024 == 0 then tide.sleep(0.005) end -- a slow reader
        end
        assert.equal("end", c:readline())
        assert.is_nil(c:read())
        c:close()
        srv:close{wait = true}
        assert.is_true(queued_after <= 16 * 1024, tostring(queued_after))
      end)
    end)

    it("during a TLS write leaves its data queued (backpressure holds)",
       function()
      H.run(function()
        local chunk = ("0123456789abcdef"):rep(4096) -- 64 KiB
        local written, peak = 0, 0
        local writer
        local srv, port = serve(function(s)
          writer = tide.spawn(function()
            for _ = 1, 256 do -- 16 MiB: more than the kernel's buffers
              local ok = s:write(chunk)
              if not ok then return end
              written = written + #chunk
              peak = math.max(peak, select(2, s:buffered()))
            end
          end)
          pcall(writer.await, writer)
          s:close() -- the queued bytes still go out, then close_notify
        end, {tls = T.server_ctx(), high_water = 64 * 1024})
        local c = assert(tcp.connect("localhost", port,
          {tls = T.client_ctx()}))
        -- The reader is slow: the writer must wait for it.
        tide.sleep(0.2)
        assert.is_false(writer:done())
        local before = written
        assert.is_true(before < 16 * 1024 * 1024)
        -- Below high water plus one write's ciphertext.
        assert.is_true(peak <= 64 * 1024 + #chunk + 1024, tostring(peak))
        writer:cancel()
        local total = 0
        while true do
          local data = c:read()
          if not data then break end
          total = total + #data
        end
        -- Everything written, the cancelled write's data too.
        assert.is_true(total >= before + #chunk)
        assert.equal(0, total % #chunk)
        c:close()
        srv:close{wait = true}
      end)
    end)
  end)
end)
