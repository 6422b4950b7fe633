-- tide.http against implementations tide did not write: curl, Python's
-- http.client and h11 and wrk (with pipelining) as clients of a tide
-- server; Python's http.server as the server of tide's client.
local tide = require "tide"
local H = require "helper"
local P = require "http_helper"

local function have(cmd)
  return os.execute("command -v " .. cmd .. " >/dev/null 2>&1")
end

describe("tide.http server with outside clients", function()
  local srv
  setup(function() srv = P.start_tide_server() end)
  teardown(function()
    local err = P.stop(srv)
    assert.equal("", err)
  end)

  it("serves curl: keep-alive, POST, chunked, HEAD", function()
    local base = "http://127.0.0.1:" .. srv.port
    local out, err, code = P.sh(("curl -sS --http1.1 %s/ %s/chunked -w '|%%{num_connects}'"):format(base, base))
    assert.equal(0, code, err)
    assert.equal("Hello, World!|1line 1\nline 2\nline 3\nline 4\nline 5\n|0", out)
    out, err, code = P.sh(("curl -sS --data-binary 'abc def' %s/echo -D -"):format(base))
    assert.equal(0, code, err)
    assert.truthy(out:find("X-Body-Length: 7", 1, true))
    assert.truthy(out:find("\r\n\r\nabc def$"))
    out, err, code = P.sh(("curl -sS -H 'Transfer-Encoding: chunked' --data-binary @- %s/echo < /etc/hostname"):format(base))
    assert.equal(0, code, err)
    out, err, code = P.sh(("curl -sS -I %s/"):format(base))
    assert.equal(0, code, err)
    assert.truthy(out:find("Content-Length: 13", 1, true))
    out, err, code = P.sh(("curl -sS -H 'Expect: 100-continue' --data-binary 'x' %s/echo"):format(base))
    assert.equal(0, code, err)
    assert.equal("x", out)
  end)

  it("serves Python's http.client and h11", function()
    local out, err, code = P.sh(("%s spec/http/py_clients.py %d"):format(P.python, srv.port))
    assert.equal(0, code, err .. out)
    assert.equal("ok\n", out)
  end)

  it("serves wrk with 16 pipelined requests per connection", function()
    if not have("wrk") then pending("wrk not installed") return end
    local out, err, code = P.sh(("wrk -t1 -c4 -d1s -s bench/http/pipeline.lua http://127.0.0.1:%d/ -- 16"):format(srv.port))
    assert.equal(0, code, err)
    assert.falsy(out:find("Non%-2xx"))
    assert.falsy(out:find("Socket errors"))
    assert.truthy(tonumber(out:match("(%d+) requests in")) > 16)
  end)
end)

describe("tide.http client with an outside server", function()
  local py
  setup(function() py = P.start(P.python .. " spec/http/peer_server.py") end)
  teardown(function() P.stop(py) end)

  it("gets, posts, follows redirects, reads chunked bodies, reuses connections", function()
    H.run(function()
      local base = "http://127.0.0.1:" .. py.port
      local r = assert(tide.http.get(base .. "/hello"))
      assert.equal(200, r.status)
      assert.equal("hello from python", r.body)
      assert.equal("text/plain", r.headers["Content-Type"])
      r = assert(tide.http.get(base .. "/agent"))
      assert.truthy(r.body:find("^tide/"))
      r = assert(tide.http.request{method = "POST", url = base .. "/echo", body = ("z"):rep(100000)})
      assert.equal(100000, #r.body)
      assert.equal("100000", r.headers["x-got"])
      r = assert(tide.http.get(base .. "/chunked"))
      assert.equal("one two three", r.body)
      r = assert(tide.http.get(base .. "/redirect"))
      assert.equal(302, r.status)
      r = assert(tide.http.get(base .. "/redirect", {follow = 2}))
      assert.equal("hello from python", r.body)
      r = assert(tide.http.request{method = "HEAD", url = base .. "/hello"})
      assert.equal("17", r.headers["content-length"])
      assert.equal("", r.body)
      r = assert(tide.http.get(base .. "/close"))
      assert.equal("bye", r.body)
      assert.is_false(r.keep_alive)
      local _, err, name = tide.http.get(base .. "/slow", {timeout = 0.1})
      assert.equal("ETIMEDOUT", name)
      _, err, name = tide.http.get(base .. "/slow", {read_timeout = 0.1})
      assert.equal("ETIMEDOUT", name)
      tide.http.close_pool()
    end)
  end)
end)
