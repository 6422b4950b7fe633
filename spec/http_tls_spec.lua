-- HTTPS and WSS: tide.http over tide.tls. The server takes a server
-- context (tls=); the client verifies against the system's CAs or the
-- context it is given, and the URL's host name. Against curl too.
local tide = require "tide"
local H = require "helper"
local T = require "tls_helper"

local function hello_server(opts)
  opts = opts or {}
  opts.tls = opts.tls or T.server_ctx()
  local srv = assert(tide.http.listen("127.0.0.1", 0, function(req, res)
    if req.headers.upgrade then
      local ws = assert(res:upgrade_websocket())
      while true do
        local msg, kind = ws:receive()
        if not msg then return end
        ws:send(msg:upper(), kind)
      end
    end
    local info = req:tlsinfo()
    return 200, {["Content-Type"] = "text/plain"},
      ("hello over %s to %s"):format(info.version, req.path)
  end, opts))
  local _, port = srv:address()
  return srv, port
end

describe("tide.http over TLS", function()
  teardown(T.cleanup)

  it("serves https to tide's client, verified with the test CA", function()
    H.run(function()
      local srv, port = hello_server()
      local ctx = T.client_ctx()
      for _, host in ipairs{"localhost", "127.0.0.1"} do
        local r = assert(tide.http.get(("https://%s:%d/x"):format(host, port), {tls = ctx}))
        assert.equal(200, r.status)
        assert.matches("^hello over TLSv1%.3 to /x$", r.body)
      end
      -- Keep-alive: a second request on the pooled connection.
      local r = assert(tide.http.request{url = ("https://localhost:%d/y"):format(port), tls = ctx})
      assert.equal("hello over TLSv1.3 to /y", r.body)
      tide.http.close_pool()
      srv:close{wait = true}
    end)
  end)

  it("refuses a server the client cannot verify, and never reuses another context's connection", function()
    H.run(function()
      local srv, port = hello_server()
      -- The system's CAs do not know the test CA.
      local r, err, name = tide.http.get(("https://localhost:%d/"):format(port))
      assert.is_nil(r)
      assert.equal("ETLSVERIFY", name, err)
      -- A connection verified with the test CA sits in the pool ...
      assert(tide.http.get(("https://localhost:%d/"):format(port), {tls = T.client_ctx()}))
      -- ... and a request with the default context does not take it.
      r, err, name = tide.http.get(("https://localhost:%d/"):format(port))
      assert.is_nil(r)
      assert.equal("ETLSVERIFY", name, err)
      -- The name in the certificate must match the URL's.
      local wrong = T.server_ctx("wronghost")
      local srv2, port2 = hello_server{tls = wrong}
      r, err, name = tide.http.get(("https://localhost:%d/"):format(port2), {tls = T.client_ctx()})
      assert.is_nil(r)
      assert.equal("ETLSVERIFY", name, err)
      tide.http.close_pool()
      srv:close{wait = true}
      srv2:close{wait = true}
    end)
  end)

  it("answers curl over https", function()
    H.run(function()
      local srv, port = hello_server()
      -- curl runs without the sanitizer the ASan suite preloads.
      local r = assert(tide.process.run{"curl", "-sS", "--cacert", T.path("ca.pem"),
        ("https://localhost:%d/from-curl"):format(port), env = {LD_PRELOAD = false}, timeout = 20})
      assert.equal(0, r.code, r.stderr)
      assert.matches("^hello over TLSv1%.3 to /from%-curl$", r.stdout)
      -- curl without the CA refuses, as it should.
      r = assert(tide.process.run{"curl", "-sS", ("https://localhost:%d/"):format(port),
        env = {LD_PRELOAD = false}, timeout = 20})
      assert.are_not.equal(0, r.code)
      srv:close{wait = true}
    end)
  end)

  it("runs a WebSocket over wss://", function()
    H.run(function()
      local srv, port = hello_server()
      local ws = assert(tide.http.websocket(("wss://localhost:%d/ws"):format(port),
        {tls = T.client_ctx()}))
      assert(ws:send("secret"))
      assert.same({"SECRET", "text"}, {ws:receive()})
      ws:close()
      local _, err, name = tide.http.websocket(("wss://localhost:%d/ws"):format(port))
      assert.equal("ETLSVERIFY", name, err)
      srv:close{wait = true}
    end)
  end)
end)
