-- Error messages and small inconsistencies found while writing the
-- reference (issue 16, part 5): each case below once gave a confusing
-- message, passed a bad value silently, or acted before checking.
local tide = require "tide"
local H = require "helper"

local function raises(pattern, fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "no error raised")
  assert.matches(pattern, tostring(err), 1, true)
  return err
end

describe("error messages (issue 16)", function()
  it("tide.error(kind) without a message names the kind", function()
    local e = tide.error("ETIMEDOUT")
    assert.equals("tide: ETIMEDOUT", e.message)
    assert.equals("ETIMEDOUT", e.kind)
    assert.equals("given", tide.error("EX", "given").message)
  end)

  it("backlog must be an integer in range, named in the message", function()
    H.run(function()
      raises("tide.tcp.listen: option 'backlog': integer 1..65535 expected, got 0",
        tide.tcp.listen, "127.0.0.1", 0, function() end, {backlog = 0})
      raises("option 'backlog'", tide.tcp.listen, "127.0.0.1", 0,
        function() end, {backlog = 1.5})
      raises("option 'backlog'", tide.unix.listen, os.tmpname() .. ".sock",
        function() end, {backlog = "x"})
    end)
  end)

  it("tide.unix.connect checks its timeout", function()
    H.run(function()
      raises("tide.unix.connect: option 'timeout'", tide.unix.connect,
        "/nonexistent.sock", {timeout = -1})
      raises("option 'timeout'", tide.unix.connect, "/nonexistent.sock",
        {timeout = "1"})
    end)
  end)

  it("server:close with a bad option closes nothing", function()
    H.run(function()
      local srv = assert(tide.tcp.listen("127.0.0.1", 0, function(c) c:close() end))
      local host, port = srv:address()
      raises("unknown option 'wiat'", srv.close, srv, {wiat = true})
      raises("table or true expected", srv.close, srv, 5)
      -- Still listening: a connection is accepted.
      local c = assert(tide.tcp.connect(host, port))
      c:close()
      assert.is_true(srv:close(true))
    end)
  end)

  it("PriorityQueue says why items of mixed types cannot be ordered", function()
    H.run(function()
      local q = tide.PriorityQueue()
      q:put_nowait(1)
      raises("tide.PriorityQueue: cannot order the items (string vs number)",
        q.put_nowait, q, "a")
      -- The failed put lost nothing and added nothing.
      assert.equals(1, q:qsize())
      assert.equals(1, q:get_nowait())
      -- Tables with __lt still order.
      local mt = {__lt = function(a, b) return a.k < b.k end}
      q:put_nowait(setmetatable({k = 2}, mt))
      q:put_nowait(setmetatable({k = 1}, mt))
      assert.equals(1, q:get_nowait().k)
    end)
  end)
end)
