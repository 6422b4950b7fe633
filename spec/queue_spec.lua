local tide = require "tide"
local H = require "helper"

describe("tide.Queue", function()
  it("passes items in FIFO order between a producer and a consumer", function()
    H.run(function()
      local q = tide.Queue(3)
      local got = {}
      local consumer = tide.spawn(function()
        for _ = 1, 100 do got[#got + 1] = q:get() end
      end)
      for i = 1, 100 do q:put(i) end
      consumer:await()
      for i = 1, 100 do assert.equal(i, got[i]) end
      assert.is_true(q:empty())
    end)
  end)

  it("makes put wait while full and get wait while empty", function()
    H.run(function()
      local q = tide.Queue(1)
      q:put("a")
      assert.is_true(q:full())
      assert.is_false(q:put_nowait("b"))
      local putter = tide.spawn(function() q:put("b") end)
      tide.yield()
      assert.is_false(putter:done())
      assert.equal("a", q:get())
      putter:await()
      assert.equal("b", q:get_nowait())
      assert.is_nil(q:get_nowait())
      local getter = tide.spawn(function() return q:get() end)
      tide.yield()
      assert.is_false(getter:done())
      assert.is_true(q:put_nowait("c"))
      assert.equal("c", getter:await())
    end)
  end)

  it("serves waiting getters and putters in FIFO order", function()
    H.run(function()
      local q = tide.Queue(1)
      local got = {}
      local getters = {}
      for i = 1, 3 do
        getters[i] = tide.spawn(function()
          local v = q:get()
          got[#got + 1] = i .. v
        end)
      end
      tide.yield()
      q:put("x"); q:put("y"); q:put("z")
      for _, t in ipairs(getters) do t:await() end
      assert.same({"1x", "2y", "3z"}, got)
      -- Putters: the slot freed by a get goes to the oldest waiting put,
      -- not to a put_nowait that comes later.
      q:put("first")
      local putters = {}
      for i = 1, 3 do putters[i] = tide.spawn(q.put, q, "p" .. i) end
      tide.yield()
      assert.equal("first", q:get())
      assert.is_false(q:put_nowait("barger"))
      local order = {}
      for _ = 1, 3 do order[#order + 1] = q:get() end
      assert.same({"p1", "p2", "p3"}, order)
    end)
  end)

  it("unbounded by default; rejects nil items", function()
    H.run(function()
      local q = tide.Queue()
      for i = 1, 1000 do q:put(i) end
      assert.equal(1000, q:qsize())
      assert.is_false(q:full())
      assert.has_error(function() q:put(nil) end,
        "bad argument #1 to 'put' (value expected)")
      assert.has_error(function() tide.Queue(-1) end)
    end)
  end)

  describe("cancellation", function()
    it("of a waiting get takes nothing", function()
      H.run(function()
        local q = tide.Queue()
        local g1 = tide.spawn(q.get, q)
        local g2 = tide.spawn(q.get, q)
        tide.yield()
        g1:cancel()
        local ok, err = pcall(g1.await, g1)
        assert.is_true(tide.is_cancelled(err))
        q:put("item")
        assert.equal("item", g2:await())
        assert.equal(0, q:statistics().getters)
      end)
    end)

    it("after an item was handed over gives the item back", function()
      H.run(function()
        local q = tide.Queue()
        local g1 = tide.spawn(q.get, q)
        local g2 = tide.spawn(q.get, q)
        tide.yield()
        q:put("one") -- handed to g1 ...
        g1:cancel() -- ... cancelled before it runs: g2 gets it
        assert.equal("one", g2:await())
        assert.equal("cancelled", g1:state())
        -- With no other getter, the item goes back to the front.
        local g3 = tide.spawn(q.get, q)
        tide.yield()
        q:put("two")
        q:put("three")
        g3:cancel()
        tide.yield()
        assert.equal("two", q:get())
        assert.equal("three", q:get())
      end)
    end)

    it("of a waiting put puts nothing and passes its slot on", function()
      H.run(function()
        local q = tide.Queue(1)
        q:put("a")
        local p1 = tide.spawn(q.put, q, "b")
        local p2 = tide.spawn(q.put, q, "c")
        tide.yield()
        assert.equal("a", q:get()) -- the slot is reserved for p1 ...
        p1:cancel() -- ... which is cancelled before it runs
        p2:await()
        assert.equal("c", q:get())
        assert.is_true(q:empty())
        assert.equal(0, q:statistics().reserved)
      end)
    end)

    it("of a get under a deadline", function()
      H.run(function()
        local q = tide.Queue()
        local ok, err = pcall(tide.timeout, 0.001, q.get, q)
        assert.is_true(tide.is_timeout(err))
        q:put(1)
        assert.equal(1, q:get())
      end)
    end)
  end)

  it("join waits until every item is task_done", function()
    H.run(function()
      local q = tide.Queue()
      local handled = 0
      for i = 1, 5 do q:put(i) end
      local worker = tide.spawn(function()
        for _ = 1, 5 do
          q:get()
          tide.sleep(0.001)
          handled = handled + 1
          q:task_done()
        end
      end)
      q:join()
      assert.equal(5, handled)
      assert.has_error(function() q:task_done() end,
        "tide: Queue:task_done() called more times than items were put")
      worker:await()
    end)
  end)

  describe("close", function()
    it("wakes waiting getters and putters with a 'closed' error", function()
      H.run(function()
        local empty, full = tide.Queue(), tide.Queue(1)
        full:put(0)
        local getter = tide.spawn(empty.get, empty)
        local putter = tide.spawn(full.put, full, 1)
        tide.yield()
        empty:close()
        full:close()
        local ok, err = pcall(getter.await, getter)
        assert.is_true(tide.is_error(err, "closed"))
        ok, err = pcall(putter.await, putter)
        assert.is_true(tide.is_error(err, "closed"))
        assert.has_error(function() empty:put(1) end)
        assert.is_true(empty:is_closed())
        -- Items already queued can still be got, then get raises.
        assert.equal(0, full:get())
        ok, err = pcall(full.get, full)
        assert.is_true(tide.is_error(err, "closed"))
      end)
    end)

    it("ends a for loop over q:items()", function()
      H.run(function()
        local q = tide.Queue(2)
        tide.spawn(function()
          for i = 1, 5 do q:put(i) end
          q:close()
        end)
        local got = {}
        for item in q:items() do got[#got + 1] = item end
        assert.same({1, 2, 3, 4, 5}, got)
      end)
    end)

    it("immediate: drops the items and releases join", function()
      H.run(function()
        local q = tide.Queue()
        q:put(1); q:put(2)
        local joiner = tide.spawn(q.join, q)
        tide.yield()
        q:close(true)
        joiner:await()
        assert.equal(0, q:qsize())
      end)
    end)
  end)
end)

describe("tide.LifoQueue and tide.PriorityQueue", function()
  it("LifoQueue gives the last item put first", function()
    H.run(function()
      local q = tide.LifoQueue()
      for i = 1, 5 do q:put(i) end
      local got = {}
      for i = 1, 5 do got[i] = q:get() end
      assert.same({5, 4, 3, 2, 1}, got)
      assert.matches("tide.LifoQueue", tostring(q))
    end)
  end)

  it("PriorityQueue gives the smallest item first", function()
    H.run(function()
      local q = tide.PriorityQueue()
      local items = {}
      for i = 1, 200 do items[i] = (i * 7919) % 211 end
      for _, v in ipairs(items) do q:put(v) end
      table.sort(items)
      for i = 1, 200 do assert.equal(items[i], q:get()) end
      assert.is_true(q:empty())
    end)
  end)

  it("PriorityQueue refuses items it cannot compare, changing nothing",
    function()
      H.run(function()
        local q = tide.PriorityQueue()
        for _, v in ipairs({5, 3, 8, 1}) do q:put(v) end
        assert.has_error(function() q:put("x") end)
        assert.has_error(function() q:put({}) end)
        assert.equal(4, q:qsize())
        assert.same({1, 3, 5, 8}, {q:get(), q:get(), q:get(), q:get()})
        -- Tables compare through __lt.
        local mt = {__lt = function(a, b) return a.p < b.p end}
        local a, b = setmetatable({p = 2}, mt), setmetatable({p = 1}, mt)
        q:put(a); q:put(b)
        assert.equal(b, q:get())
      end)
    end)

  it("both wait, are fair and can be closed like Queue", function()
    H.run(function()
      for _, make in ipairs({tide.LifoQueue, tide.PriorityQueue}) do
        local q = make(1)
        local getter = tide.spawn(q.get, q)
        tide.yield()
        q:put(1)
        assert.equal(1, getter:await())
        q:put(2)
        local putter = tide.spawn(q.put, q, 3)
        tide.yield()
        assert.is_true(q:full())
        assert.equal(2, q:get())
        putter:await()
        q:close()
        assert.equal(3, q:get())
        assert.is_true(tide.is_error(select(2, pcall(q.get, q)), "closed"))
      end
    end)
  end)
end)

describe("hand-offs", function()
  it("allocate nothing in steady state", function()
    H.run(function()
      local a, b = tide.Queue(1), tide.Queue(1)
      local n = 100000
      local pong = tide.spawn(function()
        for _ = 1, n do b:put(a:get() + 1) end
      end)
      local function rounds(k)
        local v = 0
        for _ = 1, k do
          a:put(v)
          v = b:get()
        end
        return v
      end
      rounds(1000) -- warm up: buffers, coroutine stacks
      collectgarbage()
      collectgarbage("stop")
      local before = collectgarbage("count")
      rounds(n - 1000)
      local grew = collectgarbage("count") - before
      collectgarbage("restart")
      pong:await()
      assert.is_true(grew < 4, ("%.1f KiB allocated"):format(grew))
    end)
  end)

  it("statistics() count waiters and reservations", function()
    H.run(function()
      local q = tide.Queue(1)
      q:put(0)
      local p = tide.spawn(q.put, q, 1)
      local g = tide.spawn(function() return tide.Queue():get() end)
      tide.yield()
      local s = q:statistics()
      assert.same({size = 1, maxsize = 1, getters = 0, putters = 1,
        joiners = 0, unfinished = 1, reserved = 0}, s)
      assert.equal(0, q:get())
      assert.equal(1, q:statistics().reserved) -- the slot, for p
      p:await()
      g:cancel()
      pcall(g.await, g)
    end)
  end)
end)
