-- tide's WebSocket: tide against tide (framing, fragmentation, control
-- frames, limits, close handshake, protocol errors), and against
-- python3-websockets in both roles.
local tide = require "tide"
local H = require "helper"
local P = require "http_helper"

local function echo_server(opts)
  return assert(tide.http.listen("127.0.0.1", 0, function(req, res)
    local ws, err = res:upgrade_websocket(opts)
    if not ws then return end
    while true do
      local msg, kind = ws:receive()
      if not msg then return end
      if msg == "close-me" then return ws:close(4000, "as asked") end
      ws:send(msg, kind)
    end
  end))
end

describe("tide.http websocket", function()
  it("echoes text and binary messages, small and large, and closes cleanly", function()
    H.run(function()
      local srv = echo_server()
      local host, port = srv:address()
      local ws = assert(tide.http.websocket(("ws://%s:%d/chat"):format(host, port)))
      assert(ws:send("hello"))
      assert.same({"hello", "text"}, {ws:receive()})
      assert(ws:send("\0\1\2", "binary"))
      assert.same({"\0\1\2", "binary"}, {ws:receive()})
      for _, n in ipairs{125, 126, 65535, 65536, 200000} do
        local m = ("m"):rep(n)
        ws:send(m)
        assert.equal(m, (ws:receive()))
      end
      assert(ws:ping("are you there"))
      ws:send("after ping")
      assert.equal("after ping", (ws:receive()))
      ws:send("close-me")
      assert.same({nil, "closed", 4000, "as asked"}, {ws:receive()})
      ws:close()
      srv:close{wait = 1}
    end)
  end)

  it("joins fragments, answers pings between them, and bounds message size", function()
    H.run(function()
      local srv = echo_server{max_message = 1000}
      local host, port = srv:address()
      local s = assert(tide.tcp.connect(host, port))
      local key = "dGhlIHNhbXBsZSBub25jZQ=="
      s:write("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" ..
        "Sec-WebSocket-Key: " .. key .. "\r\nSec-WebSocket-Version: 13\r\n\r\n")
      local head = s:readuntil("\r\n\r\n")
      assert.truthy(head:find("^HTTP/1.1 101"))
      assert.truthy(head:find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", 1, true))
      local W = require("tide.core")._ws
      local ws = require("tide.websocket")._new(s, true)
      -- "abc" in three frames with a ping in the middle.
      s:write(W.frame(1, "a", false, true) .. W.frame(0, "b", false, true) ..
        W.frame(9, "pi", true, true) .. W.frame(0, "c", true, true))
      -- The pong comes first, then the echo.
      local fin, op, payload = W.read_frame(s, 1000, false)
      assert.same({true, 10, "pi"}, {fin, op, payload})
      assert.same({"abc", "text"}, {ws:receive()})
      -- Over max_message: the server closes with 1009.
      s:write(W.frame(2, ("x"):rep(1001), true, true))
      fin, op, payload = W.read_frame(s, 1000, false)
      assert.equal(8, op)
      assert.equal(1009, string.unpack(">I2", payload))
      s:close()
      srv:close{wait = 1}
    end)
  end)

  it("fails the connection on protocol errors", function()
    H.run(function()
      local srv = echo_server()
      local host, port = srv:address()
      local W = require("tide.core")._ws
      local function try(bytes)
        local ws = assert(tide.http.websocket(("ws://%s:%d/"):format(host, port)))
        ws.stream:write(bytes)
        local fin, op, payload = W.read_frame(ws.stream, 1000, false)
        ws.stream:close()
        return op, payload and #payload >= 2 and string.unpack(">I2", payload)
      end
      assert.same({8, 1002}, {try(W.frame(1, "unmasked", true, false))})
      assert.same({8, 1002}, {try(W.frame(0, "orphan", true, true))})
      assert.same({8, 1002}, {try(W.frame(3, "", true, true))})
      assert.same({8, 1002}, {try(W.frame(9, "", false, true))})
      assert.same({8, 1007}, {try(W.frame(1, "\xff\xfe", true, true))})
      srv:close{wait = 1}
    end)
  end)

  it("refuses requests that are not handshakes", function()
    H.run(function()
      local srv = echo_server()
      local host, port = srv:address()
      local r = assert(tide.http.get(("http://%s:%d/"):format(host, port)))
      assert.equal(426, r.status)
      local s = assert(tide.tcp.connect(host, port))
      s:write("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" ..
        "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
      assert.truthy(s:readuntil("\r\n\r\n"):find("^HTTP/1.1 400"))
      s:close()
      local _, err, name = tide.http.websocket(("ws://%s:%d/"):format(host, 1))
      assert.equal("ECONNREFUSED", name)
      _, err, name = tide.http.websocket("http://x/")
      assert.equal("EINVAL", name)
      tide.http.close_pool()
      srv:close{wait = 1}
    end)
  end)

  it("talks to python3-websockets as a server", function()
    local py = P.start(P.python .. " spec/http/ws_peer.py server")
    local ok, err = pcall(H.run, function()
      local ws = assert(tide.http.websocket(("ws://127.0.0.1:%d/"):format(py.port)))
      ws:send("héllo")
      assert.same({"héllo", "text"}, {ws:receive()})
      ws:send("\0\255", "binary")
      assert.same({"\0\255", "binary"}, {ws:receive()})
      ws:send("fragments")
      assert.same({"fragmented", "text"}, {ws:receive()})
      local big = ("b"):rep(500000)
      ws:send(big, "binary")
      assert.equal(big, (ws:receive()))
      ws:send("bye")
      assert.same({nil, "closed", 1000, "bye"}, {ws:receive()})
      ws:close()
    end)
    P.stop(py)
    assert(ok, err)
  end)

  it("serves python3-websockets as a client", function()
    local srv = P.start_tide_server()
    local out, err, code = P.sh(("%s spec/http/ws_peer.py client %d"):format(P.python, srv.port))
    local serr = P.stop(srv)
    assert.equal(0, code, err .. out)
    assert.equal("ok\n", out)
    assert.equal("", serr)
  end)
end)
