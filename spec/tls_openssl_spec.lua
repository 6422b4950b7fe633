-- tide.tls against an implementation tide did not write: tide's clients
-- against `openssl s_server`, tide's servers against `openssl s_client`
-- (each run in the background on an ephemeral port, and always stopped).
local tide = require "tide"
local H = require "helper"
local T = require "tls_helper"

local tcp = tide.tcp
local serve, upper = T.serve, T.upper

-- Runs fn(proc) and stops the process whatever happens.
local function with(proc, fn)
  local ok, err = pcall(fn, proc)
  T.kill(proc)
  if not ok then error(err, 0) end
end

-- Answers one line in upper case, then closes (s_client runs with
-- -ign_eof: it exits when the server has closed, after the answer).
local function upper_once(s)
  local line = s:readline()
  if line then s:write(line:upper() .. "\n") end
end

-- s_client arguments that verify tide's server (the test CA, the name).
-- With commands (for a FIFO stdin), s_client takes lines as commands and
-- quits at EOF; without, it ignores EOF.
local function verifying(port, name, commands)
  return ("-connect 127.0.0.1:%d -CAfile %s -verify_return_error "
    .. "-verify_hostname %s -servername %s %s"):format(port,
    T.path("ca.pem"), name or "localhost", name or "localhost",
    commands and "" or "-ign_eof")
end

describe("tide.tls and openssl", function()
  teardown(T.cleanup)

  describe("tide's client, openssl s_server", function()
    local function s_server(extra)
      return T.s_server(("-cert %s -key %s -naccept 1 %s"):format(
        T.path("server.pem"), T.path("server.key"), extra or "-rev"))
    end

    it("verifies it and talks TLS 1.3, then TLS 1.2", function()
      H.run(function()
        for _, v in ipairs({{"", "TLSv1.3"}, {"-tls1_2", "TLSv1.2"}}) do
          local proc, port = s_server("-rev " .. v[1])
          with(proc, function()
            local c = assert(tcp.connect("localhost", port,
              {tls = T.client_ctx()}))
            c:write("hello\n")
            assert.equal("olleh", c:readline())
            local info = c:tlsinfo()
            assert.equal(v[2], info.version)
            assert.is_true(info.verified)
            assert.equal("CN=localhost", info.peer_cert.subject)
            c:close()
          end)
        end
      end)
    end)

    it("refuses its expired or self-signed certificate", function()
      H.run(function()
        for cert, want in pairs({expired = "certificate has expired",
                                 self = "self%-signed certificate"}) do
          local proc, port = T.s_server(("-cert %s -key %s -naccept 1 -rev")
            :format(T.path(cert .. ".pem"), T.path(cert .. ".key")))
          with(proc, function()
            local c, err, name = tcp.connect("localhost", port,
              {tls = T.client_ctx()})
            assert.is_nil(c)
            assert.equal("ETLSVERIFY", name)
            assert.matches(want .. " %(depth 0%)", err)
          end)
        end
      end)
    end)

    it("negotiates ALPN and presents a client certificate", function()
      H.run(function()
        local proc, port = s_server(("-rev -alpn h2,http/1.1 -Verify 1 "
          .. "-verify_return_error -CAfile %s"):format(T.path("ca.pem")))
        with(proc, function()
          local c = assert(tcp.connect("localhost", port, {tls = T.client_ctx({
            alpn = {"h2"}, cert = T.path("client.pem"),
            key = T.path("client.key")})}))
          c:write("abc\n")
          assert.equal("cba", c:readline())
          assert.equal("h2", c:tlsinfo().alpn)
          c:close()
          local text = T.wait_output(proc, "CN ?= ?client")
          assert.matches("CN ?= ?client", text)
        end)
      end)
    end)

    it("talks over a Unix socket", function()
      local path = os.tmpname()
      os.remove(path)
      H.run(function()
        local proc = T.spawn(("exec openssl s_server -unix %s -cert %s "
          .. "-key %s -naccept 1 -rev"):format(path, T.path("server.pem"),
          T.path("server.key")))
        with(proc, function()
          T.wait_output(proc, "ACCEPT")
          local c = assert(tide.unix.connect(path, {tls = T.client_ctx(),
                                                    servername = "localhost"}))
          c:write("unix\n")
          assert.equal("xinu", c:readline())
          c:close()
        end)
      end)
      os.remove(path)
    end)
  end)

  describe("tide's server, openssl s_client", function()
    it("is verified, echoes, and ends cleanly", function()
      H.run(function()
        local srv, port = serve(upper_once, {tls = T.server_ctx()})
        local proc = T.s_client(verifying(port), "hello-tide\n")
        local text = T.finish(proc)
        srv:close{wait = true}
        assert.matches("Verify return code: 0 %(ok%)", text)
        assert.matches("HELLO%-TIDE", text)
        assert.matches("Protocol *: TLSv1.3", text)
      end)
    end)

    it("serves SNI names and ALPN", function()
      H.run(function()
        local srv, port = serve(upper_once, {tls = T.server_ctx(nil, {
          alpn = {"h2", "http/1.1"},
          sni = {["alt.test"] = T.server_ctx("alt", {alpn = {"http/1.1"}})},
        })})
        local text = T.finish(T.s_client(verifying(port, "alt.test")
          .. " -alpn h2,http/1.1", "sni\n"))
        assert.matches("Verify return code: 0 %(ok%)", text)
        assert.matches("subject=CN ?= ?alt.test", text)
        assert.matches("ALPN protocol: http/1.1", text)
        text = T.finish(T.s_client(verifying(port) .. " -alpn h2", "x\n"))
        assert.matches("subject=CN ?= ?localhost", text)
        assert.matches("ALPN protocol: h2", text)
        srv:close{wait = true}
      end)
    end)

    it("upgrades an SMTP session with starttls", function()
      H.run(function()
        local srv, port = serve(function(s)
          s:write("220 tide ESMTP\r\n")
          assert.matches("^EHLO", s:readline())
          s:write("250-tide\r\n250 STARTTLS\r\n")
          assert.equal("STARTTLS", s:readline())
          s:write("220 go ahead\r\n")
          assert(s:starttls(T.server_ctx()))
          upper_once(s)
        end)
        local text = T.finish(T.s_client(verifying(port) .. " -starttls smtp",
          "mail-from\n"))
        srv:close{wait = true}
        assert.matches("Verify return code: 0 %(ok%)", text)
        assert.matches("MAIL%-FROM", text)
      end)
    end)

    it("refuses a renegotiation and goes on serving", function()
      H.run(function()
        local errs = {}
        local srv, port = serve(function(s)
          while true do
            local line, err = s:readline()
            if not line then
              errs[#errs + 1] = err
              return
            end
            s:write(line:upper() .. "\n")
            if line == "again-1" then return end
          end
        end, {tls = T.server_ctx(nil, {max_version = "1.2"})})
        local proc = T.s_client(verifying(port, nil, true), true)
        with(proc, function()
          T.send(proc, "hello\n")
          assert.matches("HELLO", T.wait_output(proc, "HELLO"))
          T.send(proc, "R\n") -- s_client renegotiates
          local text = T.wait_output(proc, "no renegotiation")
          assert.matches("no renegotiation", text)
        end)
        while #errs == 0 do tide.sleep(0.01) end
        assert.matches("^ETLS: ", errs[1])
        -- Still serving.
        local text = T.finish(T.s_client(verifying(port), "again-1\n"))
        assert.matches("AGAIN%-1", text)
        srv:close{wait = true}
      end)
    end)

    it("answers a TLS 1.3 key update", function()
      H.run(function()
        local srv, port = serve(upper, {tls = T.server_ctx()})
        local proc = T.s_client(verifying(port, nil, true), true)
        with(proc, function()
          T.send(proc, "one\n")
          T.wait_output(proc, "ONE")
          T.send(proc, "K\n") -- a key update that asks for ours
          T.wait_output(proc, "KEYUPDATE")
          T.send(proc, "two\n")
          assert.matches("TWO", T.wait_output(proc, "TWO"))
        end)
        srv:close{cancel = true}
      end)
    end)

    it("requires and checks s_client's certificate", function()
      H.run(function()
        local subjects = {}
        local srv, port = serve(function(s)
          subjects[#subjects + 1] = s:tlsinfo().peer_cert.subject
          upper_once(s)
        end, {tls = T.server_ctx(nil, {verify = true,
                                       ca = T.path("ca.pem")})})
        local text = T.finish(T.s_client(verifying(port) .. (" -cert %s -key %s")
          :format(T.path("client.pem"), T.path("client.key")), "me-client\n"))
        assert.matches("ME%-CLIENT", text)
        T.finish(T.s_client(verifying(port), "anonymous\n"))
        srv:close{wait = true}
        assert.same({"CN=client"}, subjects)
        assert.equal(1, srv:handshake_errors())
      end)
    end)
  end)
end)
