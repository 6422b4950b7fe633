-- tide.http.listen: requests and responses over real sockets, keep-alive,
-- pipelining, HEAD, 100-continue, errors, limits and timeouts, request
-- smuggling refusals (each its own spec), graceful close.
local tide = require "tide"
local H = require "helper"
local with_server = require("http_helper").with_server

-- Sends raw bytes, returns everything the server sends until it closes
-- (or `until_` appears in it).
local function exchange(host, port, bytes, until_)
  local c = assert(tide.tcp.connect(host, port))
  c:setoptions{read_timeout = 5}
  assert(c:write(bytes))
  local got = {}
  while true do
    local data = c:read()
    if not data then break end
    got[#got + 1] = data
    if until_ and table.concat(got):find(until_, 1, true) then break end
  end
  c:close()
  return table.concat(got)
end

local function hello(req, res)
  return 200, {["Content-Type"] = "text/plain"}, "hello " .. req.path
end

local function count(s, pat)
  local n = 0
  for _ in s:gmatch(pat) do n = n + 1 end
  return n
end

describe("tide.http server", function()
  it("answers a request with the fields of the request", function()
    local seen
    with_server(function(req, res)
      seen = req
      return 201, {["X-A"] = "1", ["X-List"] = {"a", "b"}}, "made"
    end, function(host, port)
      local out = exchange(host, port,
        "GET /p/q?x=1&y=2 HTTP/1.1\r\nHost: h\r\nX-Dup: 1\r\nx-dup: 2\r\n" ..
        "Connection: close\r\n\r\n")
      assert.truthy(out:find("^HTTP/1.1 201 Created\r\n"))
      assert.truthy(out:find("\r\nContent-Length: 4\r\n", 1, true))
      assert.truthy(out:find("\r\nConnection: close\r\n", 1, true))
      assert.truthy(out:find("\r\nX-List: a\r\nX-List: b\r\n", 1, true))
      assert.truthy(out:find("\r\nDate: %u%l%l, %d%d %u%l%l %d%d%d%d %d%d:%d%d:%d%d GMT\r\n"))
      assert.truthy(out:find("\r\n\r\nmade$"))
    end)
    assert.equal("GET", seen.method)
    assert.equal("/p/q?x=1&y=2", seen.target)
    assert.equal("/p/q", seen.path)
    assert.equal("x=1&y=2", seen.query)
    assert.equal("1.1", seen.version)
    assert.equal("h", seen.headers.host)
    assert.equal("h", seen.headers.Host)
    assert.equal("h", seen:header("HOST"))
    assert.equal("1, 2", seen.headers["x-dup"])
    assert.same({"1", "2"}, seen:header_values("X-Dup"))
  end)

  it("keeps the connection alive and answers pipelined requests in order", function()
    local order = {}
    with_server(function(req, res)
      order[#order + 1] = req.path
      if req.path == "/slow" then tide.sleep(0.05) end
      return 200, nil, req.path
    end, function(host, port)
      local reqs = {}
      for i, p in ipairs{"/a", "/slow", "/c", "/d"} do
        reqs[i] = "GET " .. p .. " HTTP/1.1\r\nHost: h\r\n\r\n"
      end
      local out = exchange(host, port, table.concat(reqs), "\r\n\r\n/d")
      local bodies = {}
      for b in out:gmatch("\r\n\r\n(/%l+)") do bodies[#bodies + 1] = b end
      assert.same({"/a", "/slow", "/c", "/d"}, bodies)
    end)
    assert.same({"/a", "/slow", "/c", "/d"}, order)
  end)

  it("answers pipelined requests of every kind in order, holding none back when it waits", function()
    with_server(function(req, res)
      if req.path == "/stream" then
        res:write("s1")
        res:write("s2")
        return res:finish()
      end
      return 200, nil, req.path
    end, function(host, port)
      local c = assert(tide.tcp.connect(host, port))
      c:setoptions{read_timeout = 5}
      c:write("GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /stream HTTP/1.1\r\nHost: h\r\n\r\n" ..
        "GET /b HTTP/1.1\r\nHost: h\r\n\r\nGET /c HTTP/1.1\r\nHost: h\r\n\r\nGET /d HTTP/1.1\r\n")
      -- /d's head is not complete: the answers before it must all arrive.
      local got = c:readuntil("\r\n\r\n/c", true)
      local order = {}
      for b in got:gmatch("\r\n\r\n([^H]+)") do order[#order + 1] = b end
      assert.same({"/a", "2\r\ns1\r\n2\r\ns2\r\n0\r\n\r\n", "/b", "/c"}, order)
      c:write("Host: h\r\nConnection: close\r\n\r\n")
      local rest = {}
      for data in function() return c:read() end do rest[#rest + 1] = data end
      assert.truthy(table.concat(rest):find("/d$"))
      c:close()
    end)
  end)

  it("reads bodies whole or streamed, chunked or with a length", function()
    local got = {}
    with_server(function(req, res)
      if req.path == "/whole" then
        got.whole = assert(req:body())
      elseif req.path == "/stream" then
        local parts = {}
        for piece in function() return req:read(3) end do parts[#parts + 1] = piece end
        got.parts = parts
      end
      return 200, nil, "ok"
    end, function(host, port)
      local out = exchange(host, port,
        "POST /whole HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello" ..
        "POST /stream HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" ..
        "5\r\nworld\r\n1;ext=x\r\n!\r\n0\r\nTrailer: t\r\n\r\n" ..
        "GET /end HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
      assert.equal(3, count(out, "HTTP/1.1 200"))
    end)
    assert.equal("hello", got.whole)
    assert.same({"wor", "ld", "!"}, got.parts)
  end)

  it("streams a response with chunked encoding or the given length", function()
    with_server(function(req, res)
      if req.path == "/len" then res:header("Content-Length", "6") end
      res:write("abc")
      res:write("def")
      res:finish()
    end, function(host, port)
      local out = exchange(host, port,
        "GET /chunked HTTP/1.1\r\nHost: h\r\n\r\nGET /len HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
      assert.truthy(out:find("Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n", 1, true))
      assert.truthy(out:find("Content-Length: 6\r\n", 1, true))
      assert.truthy(out:find("\r\n\r\nabcdef$"))
    end)
  end)

  it("answers HEAD without a body and HTTP/1.0 with close by default", function()
    with_server(hello, function(host, port)
      local out = exchange(host, port, "HEAD /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
      assert.truthy(out:find("Content-Length: 8\r\n", 1, true))
      assert.truthy(out:find("\r\n\r\n$"))
      out = exchange(host, port, "GET /y HTTP/1.0\r\n\r\n")
      assert.truthy(out:find("Connection: close\r\n", 1, true))
      assert.truthy(out:find("hello /y$"))
      out = exchange(host, port, "GET /z HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "hello /z")
      assert.truthy(out:find("Connection: keep-alive\r\n", 1, true))
    end)
  end)

  it("sends 100 Continue when the handler reads the body", function()
    with_server(function(req, res)
      return 200, nil, "got " .. assert(req:body())
    end, function(host, port)
      local c = assert(tide.tcp.connect(host, port))
      c:write("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
      assert.equal("HTTP/1.1 100 Continue", c:readline())
      assert.equal("", c:readline())
      c:write("abc")
      local head = c:readuntil("\r\n\r\n")
      assert.truthy(head:find("^HTTP/1.1 200"))
      assert.equal("got abc", c:read())
      c:close()
      -- An expectation the server does not know: 417.
      local out = exchange(host, port, "GET / HTTP/1.1\r\nHost: h\r\nExpect: magic\r\n\r\n")
      assert.truthy(out:find("^HTTP/1.1 417"))
    end)
  end)

  it("turns a handler error into a 500, reports it and serves the next connection", function()
    local errs = H.capture_errors(function()
      with_server(function(req, res)
        if req.path == "/boom" then error("kaboom") end
        return 200, nil, "fine"
      end, function(host, port)
        local out = exchange(host, port, "GET /boom HTTP/1.1\r\nHost: h\r\n\r\n")
        assert.truthy(out:find("^HTTP/1.1 500"))
        assert.truthy(out:find("Connection: close", 1, true))
        out = exchange(host, port, "GET /ok HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        assert.truthy(out:find("fine$"))
      end)
    end)
    assert.equal(1, #errs)
    assert.truthy(errs[1]:find("kaboom", 1, true))
  end)

  it("turns a handler's return that is no response into a 500", function()
    local errs = H.capture_errors(function()
      with_server(function(req, res)
        if req.path == "/status" then return "200", nil, "x" end
        if req.path == "/headers" then return 200, "x", "x" end
        if req.path == "/body" then return 200, nil, {} end
        return 200, nil, "ok"
      end, function(host, port)
        for _, p in ipairs{"/status", "/headers", "/body"} do
          local out = exchange(host, port, "GET " .. p .. " HTTP/1.1\r\nHost: h\r\n\r\n")
          assert.truthy(out:find("^HTTP/1.1 500"), p)
        end
      end)
    end)
    assert.equal(3, #errs)
    assert.truthy(errs[1]:find("invalid status 200", 1, true))
    assert.truthy(errs[2]:find("headers that are not a table", 1, true))
    assert.truthy(errs[3]:find("body that is not a string", 1, true))
  end)

  it("refuses bodies over max_body with 413 and closes", function()
    with_server(function(req, res)
      local body, err, name = req:body()
      if not body then return 413, nil, name end
      return 200, nil, body
    end, {max_body = 4}, function(host, port)
      local out = exchange(host, port, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789")
      assert.truthy(out:find("^HTTP/1.1 413"))
      assert.truthy(out:find("EMSGSIZE$"))
      out = exchange(host, port, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n")
      assert.truthy(out:find("^HTTP/1.1 413"))
    end)
  end)

  it("answers 414 and 431 past its limits", function()
    with_server(hello, {max_line = 100, max_head = 200, max_fields = 3}, function(host, port)
      local out = exchange(host, port, "GET /" .. ("a"):rep(200) .. " HTTP/1.1\r\nHost: h\r\n\r\n")
      assert.truthy(out:find("^HTTP/1.1 414"))
      out = exchange(host, port, "GET / HTTP/1.1\r\nHost: h\r\nX: " .. ("b"):rep(300) .. "\r\n\r\n")
      assert.truthy(out:find("^HTTP/1.1 431"))
      out = exchange(host, port, "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n")
      assert.truthy(out:find("^HTTP/1.1 431"))
    end)
  end)

  it("closes after max_requests requests", function()
    with_server(hello, {max_requests = 2}, function(host, port)
      local out = exchange(host, port, ("GET / HTTP/1.1\r\nHost: h\r\n\r\n"):rep(3))
      assert.equal(2, count(out, "HTTP/1.1 200"))
      assert.truthy(out:find("Connection: close", 1, true))
    end)
  end)

  it("closes a keep-alive connection left idle past idle_timeout", function()
    with_server(hello, {idle_timeout = 0.05}, function(host, port)
      local t0 = tide.now()
      local out = exchange(host, port, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
      assert.truthy(out:find("hello /$"))
      assert.truthy(tide.now() - t0 < 4)
    end)
  end)

  it("drops a slowloris client after header_timeout with 408", function()
    with_server(hello, {header_timeout = 0.1}, function(host, port)
      local c = assert(tide.tcp.connect(host, port))
      c:setoptions{read_timeout = 5}
      c:write("GET / HTTP/1.1\r\n")
      for i = 1, 3 do
        tide.sleep(0.04)
        if not c:write("X-" .. i .. ": y\r\n") then break end
      end
      local out = {}
      for data in function() return c:read() end do out[#out + 1] = data end
      c:close()
      assert.truthy(table.concat(out):find("^HTTP/1.1 408"))
    end)
  end)

  it("closes idle connections at once and lets requests in flight finish on close", function()
    H.run(function()
      local release = tide.future()
      local srv = assert(tide.http.listen("127.0.0.1", 0, function(req, res)
        if req.path == "/slow" then release:await() end
        return 200, nil, req.path
      end))
      local host, port = srv:address()
      local idle = assert(tide.tcp.connect(host, port))
      idle:write("GET /fast HTTP/1.1\r\nHost: h\r\n\r\n")
      assert.truthy(idle:readuntil("/fast"))
      local busy = assert(tide.tcp.connect(host, port))
      busy:write("GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
      tide.sleep(0.02)
      local closer = tide.spawn(function() srv:close{wait = 5} end)
      tide.sleep(0.02)
      assert.is_nil(idle:read()) -- idle keep-alive connection: closed
      assert.falsy(closer:done())
      release:set_result()
      local out = {}
      for data in function() return busy:read() end do out[#out + 1] = data end
      out = table.concat(out)
      assert.truthy(out:find("Connection: close", 1, true))
      assert.truthy(out:find("/slow$"))
      closer:await()
      idle:close()
      busy:close()
      assert.is_nil((tide.tcp.connect(host, port)))
    end)
  end)

  it("cancels what is still running after close{wait = s}", function()
    H.run(function()
      local cancelled = false
      local srv = assert(tide.http.listen("127.0.0.1", 0, function(req, res)
        local ok, err = pcall(tide.sleep, 10)
        if not ok and tide.is_cancelled(err) then cancelled = true end
        error(err, 0)
      end))
      local host, port = srv:address()
      local c = assert(tide.tcp.connect(host, port))
      c:write("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
      tide.sleep(0.02)
      srv:close{wait = 0.05}
      assert.is_true(cancelled)
      c:close()
    end)
  end)

  it("checks its options and handler", function()
    assert.has_error(function() tide.http.listen("127.0.0.1", 0, hello, {bogus = 1}) end,
      "tide.http.listen: unknown option 'bogus' (known: backlog, body_timeout, discard, family, header_timeout, idle_timeout, ipv6only, max_body, max_fields, max_head, max_line, max_requests, reuseport, tls, write_timeout)")
    assert.has_error(function() tide.http.listen("127.0.0.1", 0, 42) end)
    H.run(function()
      local srv = assert(tide.http.listen("127.0.0.1", 0, function(req, res)
        local ok, err = pcall(res.header, res, "Bad Name", "x")
        assert(not ok and err:find("invalid header name"))
        ok, err = pcall(function()
          res:header("X", "a\r\nInjected: yes")
          res:finish("x")
        end)
        assert(not ok and err:find("CR, LF or NUL"))
        res._headers, res._names = {}, {}
        return 200, nil, "safe"
      end))
      local host, port = srv:address()
      local out = exchange(host, port, "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
      assert.falsy(out:find("Injected"))
      assert.truthy(out:find("safe$"))
      srv:close{wait = 1}
    end)
  end)
end)

-- Each request-smuggling vector: refused with 400 (or 501) and the
-- connection closed, so nothing after it is read as another request.
describe("tide.http server refuses request smuggling", function()
  local cases = {
    {"Content-Length and Transfer-Encoding together", 400,
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
    {"two Content-Length fields", 400,
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n"},
    {"two equal Content-Length fields", 400,
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\n"},
    {"a Content-Length list", 400,
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4, 4\r\n\r\n"},
    {"a signed Content-Length", 400,
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +4\r\n\r\n"},
    {"an unknown transfer coding", 501,
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"},
    {"chunked twice", 400,
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"},
    {"a malformed chunked coding name", 400,
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \"chunked\"\r\n\r\n"},
    {"Transfer-Encoding in HTTP/1.0", 400,
      "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
    {"whitespace before the colon", 400,
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n"},
    {"obs-fold", 400,
      "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n Transfer-Encoding: chunked\r\n\r\n"},
    {"a folded first field", 400,
      "GET / HTTP/1.1\r\n Transfer-Encoding: chunked\r\nHost: h\r\n\r\n"},
    {"a bare LF in the head", 400,
      "GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n"},
    {"a bare CR in the head", 400,
      "GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n"},
    {"a NUL in a value", 400,
      "GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n"},
    {"an invalid token in a name", 400,
      "GET / HTTP/1.1\r\nHost: h\r\nX[1]: y\r\n\r\n"},
    {"an invalid method", 400,
      "G@T / HTTP/1.1\r\nHost: h\r\n\r\n"},
    {"a missing Host", 400,
      "GET / HTTP/1.1\r\nX: y\r\n\r\n"},
    {"two Host fields", 400,
      "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
  }
  for _, case in ipairs(cases) do
    it(case[1], function()
      local handled = 0
      with_server(function(req, res)
        handled = handled + 1
        return 200, nil, "handled"
      end, function(host, port)
        -- A second request follows: it must never be answered.
        local out = exchange(host, port, case[3] .. "GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n")
        assert.truthy(out:find("^HTTP/1.1 " .. case[2]), out)
        assert.truthy(out:find("Connection: close", 1, true))
        assert.equal(1, count(out, "HTTP/1.1 "))
      end)
      assert.equal(0, handled)
    end)
  end

  it("a malformed chunk size after the head ends the connection", function()
    with_server(function(req, res)
      local body, err, name = req:body()
      return 400, nil, tostring(name)
    end, function(host, port)
      local out = exchange(host, port,
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" ..
        "5\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n")
      assert.truthy(out:find("^HTTP/1.1 400"))
      assert.truthy(out:find("EPROTO$"))
      assert.equal(1, count(out, "HTTP/1.1 "))
    end)
  end)
end)
