local tide = require "tide"
local H = require "helper"

-- A child that sleeps "forever" and records how it ended.
local function sleeper(log, name)
  return function()
    local ok, err = pcall(tide.sleep, 1000)
    log[#log + 1] = name .. (ok and " woke" or
      (tide.is_cancelled(err) and " cancelled" or " failed"))
    if not ok then error(err, 0) end
  end
end

describe("tide.group", function()
  -- Sleeps and deadlines here take no real time: the virtual clock jumps
  -- whenever only timers are pending (sockets in flight keep real time).
  local was_virtual
  setup(function() was_virtual = tide.virtual_clock(true) end)
  teardown(function() tide.virtual_clock(was_virtual) end)

  it("waits for every child and returns the body's values", function()
    H.run(function()
      local done = {}
      local a, b = tide.group(function(g, x)
        for i = 1, 3 do
          g:spawn(function() tide.sleep(0.001 * i); done[#done + 1] = i end)
        end
        return x, "b"
      end, "a")
      assert.same({1, 2, 3}, done)
      assert.equal("a", a)
      assert.equal("b", b)
    end)
  end)

  it("cancels the siblings and the body when a child fails, then raises its error",
    function()
      H.run(function()
        local log = {}
        local sib
        local ok, err = pcall(tide.group, function(g)
          sib = g:spawn(sleeper(log, "sibling"))
          g:spawn(function() tide.sleep(0.001); error({code = 7}) end)
          local ok2, e2 = pcall(tide.sleep, 1000)
          log[#log + 1] = tide.is_cancelled(e2) and "body cancelled" or "body?"
          error(e2, 0)
        end)
        assert.is_false(ok)
        assert.same({code = 7}, err) -- one error: raised as it is
        assert.equal("cancelled", sib:state())
        table.sort(log)
        assert.same({"body cancelled", "sibling cancelled"}, log)
      end)
    end)

  it("raises every error as one 'group' error when several children fail",
    function()
      H.run(function()
        local ok, err = pcall(tide.group, function(g)
          -- Both fail in the same loop turn, before either is cancelled.
          g:spawn(function() tide.sleep(0.001); error("first", 0) end)
          g:spawn(function() tide.sleep(0.001); error("second", 0) end)
        end)
        assert.is_false(ok)
        assert.is_true(tide.is_error(err, "group"))
        assert.same({"first", "second"}, err.errors)
        assert.matches("2 errors in task group: first; second", tostring(err))
      end)
    end)

  it("puts the body's error first, after cancelling the children", function()
    H.run(function()
      local log = {}
      local ok, err = pcall(tide.group, function(g)
        g:spawn(sleeper(log, "child"))
        tide.yield()
        error("body failed", 0)
      end)
      assert.is_false(ok)
      assert.equal("body failed", err)
      assert.same({"child cancelled"}, log)
    end)
  end)

  it("does not count a cancelled child as an error", function()
    H.run(function()
      local r = tide.group(function(g)
        local t = g:spawn(function() tide.sleep(1000) end)
        g:spawn(function() tide.sleep(0.001); t:cancel() end)
        return "fine"
      end)
      assert.equal("fine", r)
    end)
  end)

  it("cancels the children when the task running it is cancelled", function()
    H.run(function()
      local log = {}
      local children
      local parent = tide.spawn(function()
        tide.group(function(g)
          children = {g:spawn(sleeper(log, "a")), g:spawn(sleeper(log, "b"))}
          tide.sleep(1000)
        end)
      end)
      tide.sleep(0.001)
      assert.is_true(parent:cancel())
      local ok, err = pcall(parent.await, parent)
      assert.is_false(ok)
      assert.is_true(tide.is_cancelled(err))
      assert.equal("cancelled", parent:state())
      -- The children finished their cleanup before the parent ended.
      assert.same({"a cancelled", "b cancelled"}, log)
      for _, c in ipairs(children) do assert.is_true(c:done()) end
    end)
  end)

  it("keeps waiting for its children when cancelled while it waits for them",
    function()
      H.run(function()
        local log = {}
        local parent = tide.spawn(function()
          tide.group(function(g)
            g:spawn(function()
              local _ <close> = setmetatable({}, {__close = function()
                -- A slow cleanup: the group must wait for it.
                tide.sleep(0.01)
                log[#log + 1] = "child cleaned up"
              end})
              tide.sleep(1000)
            end)
          end) -- the body is done: the group waits here
          log[#log + 1] = "not reached"
        end)
        tide.sleep(0.001)
        parent:cancel()
        tide.sleep(0.001)
        parent:cancel() -- a second request while the cleanup runs
        assert.is_false(pcall(parent.await, parent))
        assert.same({"child cleaned up"}, log)
      end)
    end)

  it("stops when g:cancel() is called, and returns normally", function()
    H.run(function()
      local log = {}
      local r = {tide.group(function(g)
        g:spawn(sleeper(log, "child"))
        g:spawn(function() tide.sleep(0.001); g:cancel() end)
        tide.sleep(1000)
        return "not reached"
      end)}
      assert.same({}, r)
      assert.same({"child cancelled"}, log)
      -- g:cancel() from the body itself, then returning at once, leaves no
      -- cancellation behind for later awaits.
      local v = tide.group(function(g)
        g:spawn(sleeper(log, "second"))
        tide.yield() -- let it start (a child cancelled before it starts never runs)
        g:cancel()
        return "returned"
      end)
      assert.equal("returned", v)
      tide.sleep(0.001) -- not cancelled
      assert.equal("second cancelled", log[2])
    end)
  end)

  it("lets children add siblings, and refuses spawns once finished", function()
    H.run(function()
      local n = 0
      local saved
      tide.group(function(g)
        saved = g
        g:spawn(function()
          n = n + 1
          g:spawn(function() tide.sleep(0.001); n = n + 1 end)
        end)
      end)
      assert.equal(2, n)
      assert.has_error(function() saved:spawn(function() end) end,
        "tide: spawn in a task group that has finished")
      assert.equal(2, #saved:tasks())
      tide.group(function(g)
        local t = g:spawn({name = "named child"}, function() end)
        assert.equal("named child", t:name())
      end)
    end)
  end)

  it("cancels a child spawned while it is shutting down before it starts",
    function()
      H.run(function()
        local started = false
        local late
        pcall(tide.group, function(g)
          g:spawn(function() error("boom") end)
          local ok, err = pcall(tide.sleep, 1000)
          late = g:spawn(function() started = true end)
          error(err, 0)
        end)
        assert.is_false(started)
        assert.equal("cancelled", late:state())
      end)
    end)

  it("nests: an inner group's failure reaches the outer group", function()
    H.run(function()
      local log = {}
      local ok, err = pcall(tide.group, function(outer)
        outer:spawn(sleeper(log, "outer child"))
        outer:spawn(function()
          tide.group(function(inner)
            inner:spawn(sleeper(log, "inner child"))
            inner:spawn(function() tide.sleep(0.001); error("deep", 0) end)
          end)
        end)
      end)
      assert.is_false(ok)
      assert.equal("deep", err)
      table.sort(log)
      assert.same({"inner child cancelled", "outer child cancelled"}, log)
    end)
  end)

  it("is cancelled as a whole by a deadline around it", function()
    H.run(function()
      local log = {}
      local ok, err = pcall(tide.timeout, 0.01, function()
        tide.group(function(g)
          g:spawn(sleeper(log, "a"))
          g:spawn(sleeper(log, "b"))
        end)
      end)
      assert.is_false(ok)
      assert.is_true(tide.is_timeout(err))
      assert.same({"a cancelled", "b cancelled"}, log)
    end)
  end)

  it("fails a child while its siblings wait in reads (futures standing in)",
    function()
      H.run(function()
        -- Each "read" is a future nobody completes: a socket with no data.
        local reads, log = {}, {}
        local ok, err = pcall(tide.group, function(g)
          for i = 1, 5 do
            reads[i] = tide.future()
            g:spawn(function()
              local ok2, e = pcall(reads[i].await, reads[i])
              log[#log + 1] = tide.is_cancelled(e) and "cancelled" or "?"
              error(e, 0)
            end)
          end
          g:spawn(function() tide.sleep(0.001); error("protocol error", 0) end)
        end)
        assert.is_false(ok)
        assert.equal("protocol error", err)
        assert.same({"cancelled", "cancelled", "cancelled", "cancelled",
          "cancelled"}, log)
      end)
    end)

  it("fails a child while its siblings wait in socket reads (tide.tcp)",
    function()
      if not tide.tcp then return pending("tide.tcp is not there") end
      H.run(function()
        -- A server that accepts and never writes: every read waits.
        local quiet = tide.Event()
        local srv = assert(tide.tcp.listen("127.0.0.1", 0, function(s)
          quiet:wait()
        end))
        local _, port = srv:address()
        local log, conns = {}, {}
        local ok, err = pcall(tide.group, function(g)
          for i = 1, 5 do
            g:spawn(function()
              local c = assert(tide.tcp.connect("127.0.0.1", port))
              conns[i] = c
              local _ <close> = setmetatable({}, {__close = function()
                c:close()
              end})
              local ok2, e = pcall(c.read, c)
              log[#log + 1] = tide.is_cancelled(e) and "cancelled" or
                ("read returned " .. tostring(e))
              error(e, 0)
            end)
          end
          g:spawn(function() tide.sleep(0.01); error("protocol error", 0) end)
        end)
        assert.is_false(ok)
        assert.equal("protocol error", err)
        assert.same({"cancelled", "cancelled", "cancelled", "cancelled",
          "cancelled"}, log)
        for i = 1, 5 do assert.is_true(conns[i]:closed()) end
        quiet:set()
        srv:close({wait = true})
      end)
    end)

  describe("with <close>", function()
    it("waits for the children at the end of the block", function()
      H.run(function()
        local done = 0
        do
          local g <close> = tide.group()
          for _ = 1, 3 do
            g:spawn(function() tide.sleep(0.001); done = done + 1 end)
          end
        end
        assert.equal(3, done)
      end)
    end)

    it("raises a child's error from the block, cancelling the rest", function()
      H.run(function()
        local log = {}
        local ok, err = pcall(function()
          local g <close> = tide.group()
          g:spawn(sleeper(log, "sibling"))
          g:spawn(function() tide.sleep(0.001); error("child failed", 0) end)
          tide.sleep(1000) -- the body is cancelled too
          log[#log + 1] = "not reached"
        end)
        assert.is_false(ok)
        assert.equal("child failed", err)
        assert.same({"sibling cancelled"}, log)
      end)
    end)

    it("cancels the children when the block fails", function()
      H.run(function()
        local log = {}
        local ok, err = pcall(function()
          local g <close> = tide.group()
          g:spawn(sleeper(log, "child"))
          tide.yield()
          error("block failed", 0)
        end)
        assert.is_false(ok)
        assert.equal("block failed", err)
        assert.same({"child cancelled"}, log)
      end)
    end)

    it("cancels only the children on g:cancel()", function()
      H.run(function()
        local log = {}
        do
          local g <close> = tide.group()
          g:spawn(sleeper(log, "child"))
          tide.yield()
          g:cancel()
          tide.sleep(0.001) -- the body goes on
          log[#log + 1] = "body went on"
        end
        assert.same({"child cancelled", "body went on"}, log)
      end)
    end)
  end)

  it("refuses to start outside a task", function()
    assert.has_error(function() tide.group(function() end) end,
      "tide: tide.group outside a task")
  end)
end)
