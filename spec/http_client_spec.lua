-- tide.http.request / get against tide's own server: URLs, the pool
-- (reuse, limit, a connection the server closed), bodies, timeouts and
-- cancellation, errors. spec/http_peers_spec.lua runs the client against
-- Python's http.server.
local tide = require "tide"
local H = require "helper"

-- with_server from http_helper, the client given the server's base URL.
local function with_server(handler, opts, fn)
  if fn == nil then fn, opts = opts, nil end
  return require("http_helper").with_server(handler, opts, function(host, port, srv)
    return fn(("http://%s:%d"):format(host, port), srv)
  end)
end

describe("tide.http client", function()
  it("parses URLs", function()
    local p = require("tide.http_client")._parse_url
    assert.same({"http", "example.com", 80, "/"}, {p("http://Example.COM")})
    assert.same({"https", "a", 8443, "/x?y=1"}, {p("https://a:8443/x?y=1#frag")})
    assert.same({"http", "::1", 8080, "/?q"}, {p("http://[::1]:8080?q")})
    assert.is_nil((p("ftp://a/")))
    assert.is_nil((p("/relative")))
    assert.is_nil((p("http://u:p@a/")))
    assert.is_nil((p("http://a/b c")))
    local r = require("tide.http_client")._resolve
    assert.equal("http://h/x", r("http://h/a/b", "/x"))
    assert.equal("http://h/a/y", r("http://h/a/b", "y"))
    assert.equal("https://o/z", r("http://h/a", "https://o/z"))
    assert.equal("http://o/z", r("http://h/a", "//o/z"))
  end)

  it("reuses keep-alive connections and bounds them per host", function()
    local peers, active, most = {}, 0, 0
    with_server(function(req, res)
      local _, p = req:peername()
      peers[p] = true
      active = active + 1
      most = math.max(most, active)
      tide.sleep(0.01)
      active = active - 1
      return 200, nil, "ok"
    end, function(base)
      for _ = 1, 5 do assert.equal("ok", assert(tide.http.get(base .. "/")).body) end
      local n = 0
      for _ in pairs(peers) do n = n + 1 end
      assert.equal(1, n)
      tide.http.close_pool() -- pool_limit counts when a host's pool is made
      local tasks = {}
      for i = 1, 8 do
        tasks[i] = tide.spawn(function()
          return assert(tide.http.request{url = base .. "/", pool_limit = 3}).status
        end)
      end
      for i = 1, 8 do assert.equal(200, tasks[i]:await()) end
      assert.is_true(most <= 3)
    end)
  end)

  it("retries an idempotent request once on a pooled connection the server closed", function()
    with_server(function(req, res) return 200, nil, "n" end, {idle_timeout = 0.05}, function(base)
      assert(tide.http.get(base .. "/"))
      tide.sleep(0.15) -- the server has closed the idle connection
      assert.equal("n", assert(tide.http.get(base .. "/")).body)
    end)
  end)

  it("streams bodies both ways and bounds them", function()
    with_server(function(req, res)
      if req.path == "/big" then
        for i = 1, 100 do res:write(("%04d"):format(i)) end
        return res:finish()
      end
      return 200, nil, assert(req:body())
    end, function(base)
      local r = assert(tide.http.request{url = base .. "/big", stream = true})
      local got = {}
      for piece in function() return r:read() end do got[#got + 1] = piece end
      assert.equal(400, #table.concat(got))
      local n = 0
      r = assert(tide.http.request{method = "POST", url = base .. "/echo", body = function()
        n = n + 1
        if n <= 3 then return "part" .. n end
      end})
      assert.equal("part1part2part3", r.body)
      local _, err, name = tide.http.request{url = base .. "/big", max_body = 100}
      assert.equal("EMSGSIZE", name)
      r = assert(tide.http.request{url = base .. "/big", stream = true})
      r:close() -- gives up the rest: the connection is not reused
      assert.equal(400, #assert(tide.http.get(base .. "/big")).body)
    end)
  end)

  it("times out and cancels cleanly", function()
    with_server(function(req, res)
      tide.sleep(req.path == "/slow" and 5 or 0)
      return 200, nil, "late"
    end, function(base)
      local _, err, name = tide.http.get(base .. "/slow", {timeout = 0.05})
      assert.equal("ETIMEDOUT", name)
      _, err, name = tide.http.get(base .. "/slow", {read_timeout = 0.05})
      assert.equal("ETIMEDOUT", name)
      local t = tide.spawn(function() return tide.http.get(base .. "/slow") end)
      tide.sleep(0.02)
      t:cancel()
      assert.is_true(pcall(function() tide.wait{t} end))
      assert.is_true(t:cancelled())
      assert.equal("late", assert(tide.http.get(base .. "/")).body)
    end)
  end)

  it("fails with nil, message, code", function()
    H.run(function()
      local r, err, name = tide.http.get("http://127.0.0.1:1/")
      assert.is_nil(r)
      assert.equal("ECONNREFUSED", name)
      assert.truthy(err:find("^ECONNREFUSED: "))
      r, err, name = tide.http.get("gopher://x/")
      assert.equal("EINVAL", name)
      r, err, name = tide.http.get("https://127.0.0.1:1/")
      assert.equal("ECONNREFUSED", name)
      assert.has_error(function() tide.http.request{url = "http://a/", bogus = 1} end)
      assert.has_error(function() tide.http.request{url = "http://a/", method = "GE T"} end)
      assert.has_error(function() tide.http.request("http://a/") end)
    end)
    H.run(function()
      -- A server that answers garbage.
      local srv = assert(tide.tcp.listen("127.0.0.1", 0, function(s)
        s:readuntil("\r\n\r\n")
        s:write("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx")
      end))
      local host, port = srv:address()
      local r, err, name = tide.http.get(("http://%s:%d/"):format(host, port))
      assert.equal("EPROTO", name)
      srv:close{wait = true}
    end)
  end)
end)
