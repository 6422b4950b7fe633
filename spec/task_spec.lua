local tide = require "tide"
local H = require "helper"

describe("tasks", function()
  it("run a function with arguments and return its values", function()
    H.run(function()
      local t = tide.spawn(function(a, b) return a + b, "x" end, 1, 2)
      assert.is_false(t:done())
      local s, x = t:await()
      assert.equal(3, s); assert.equal("x", x)
      assert.equal("done", t:state())
      assert.same({3, "x"}, {t:result()})
    end)
  end)

  it("start on the loop's next turn, in spawn order", function()
    H.run(function()
      local log = {}
      for i = 1, 5 do tide.spawn(function() log[#log + 1] = i end) end
      assert.same({}, log)
      tide.yield()
      assert.same({1, 2, 3, 4, 5}, log)
    end)
  end)

  it("await from any depth of ordinary calls", function()
    H.run(function()
      local function depth(n)
        if n == 0 then
          tide.sleep(0)
          return "bottom"
        end
        local v = depth(n - 1)
        return v
      end
      assert.equal("bottom", depth(200))
      -- through pcall, a metamethod-free table method, and string.gsub-free code
      local obj = {}
      function obj:get() return tide.spawn(function() return 7 end):await() end
      local ok, v = pcall(obj.get, obj)
      assert.is_true(ok); assert.equal(7, v)
    end)
  end)

  it("raise a task's error at the await point, with the same value", function()
    H.run(function()
      local e = setmetatable({}, {__tostring = function() return "custom" end})
      local t = tide.spawn(function() tide.yield(); error(e) end)
      local ok, got = pcall(t.await, t)
      assert.is_false(ok)
      assert.equal(e, got)
      assert.equal("failed", t:state())
      assert.matches("custom", t:traceback())
    end)
  end)

  it("keep a traceback of where the task failed", function()
    H.run(function()
      local function inner() error("deep failure") end
      local t = tide.spawn(function() tide.yield(); inner() end)
      pcall(t.await, t)
      local tb = t:traceback()
      assert.matches("deep failure", tb)
      assert.matches("stack traceback", tb)
      assert.matches("'inner'", tb) -- names the failing frame
    end)
  end)

  it("one task's error never takes down the others", function()
    local errors = H.capture_errors(function()
      H.run(function()
        local ok_task = tide.spawn(function() tide.sleep(0.01); return "fine" end)
        tide.spawn(function() error("lonely failure") end)
        assert.equal("fine", ok_task:await())
      end)
    end)
    assert.equal(1, #errors)
    assert.matches("never retrieved", errors[1])
    assert.matches("lonely failure", errors[1])
  end)

  it("report an unobserved error exactly once, and not when it was seen", function()
    local errors = H.capture_errors(function()
      H.run(function()
        local seen = tide.spawn(function() error("seen") end)
        pcall(seen.await, seen)
        local unseen = tide.spawn(function() error("unseen") end)
        tide.sleep(0.001)
        assert.equal("failed", unseen:state())
      end)
    end)
    assert.equal(1, #errors)
    assert.matches("unseen", errors[1])
  end)

  describe("cancellation", function()
    it("is delivered at the await point and can be caught", function()
      H.run(function()
        local caught
        local t = tide.spawn(function()
          local ok, err = pcall(tide.sleep, 10)
          caught = err
          return "recovered"
        end)
        tide.yield()
        assert.is_true(t:cancel("stop"))
        assert.equal("recovered", t:await())
        assert.is_true(tide.is_cancelled(caught))
        assert.matches("stop", tostring(caught))
      end)
    end)

    it("ends the task as cancelled when not caught; awaiting raises", function()
      H.run(function()
        local t = tide.spawn(function() tide.sleep(10) end)
        tide.yield()
        t:cancel()
        local ok, err = pcall(t.await, t)
        assert.is_false(ok)
        assert.is_true(tide.is_cancelled(err))
        assert.is_true(t:cancelled())
        assert.is_false(t:cancel()) -- already done: a no-op
      end)
    end)

    it("runs <close> variables and pcall cleanups", function()
      H.run(function()
        local log = {}
        local t = tide.spawn(function()
          local guard <close> = setmetatable({}, {__close = function(_, e)
            log[#log + 1] = "closed:" .. tostring(tide.is_cancelled(e))
          end})
          local ok, err = pcall(function()
            local inner <close> = setmetatable({}, {__close = function()
              log[#log + 1] = "inner closed"
            end})
            tide.sleep(10)
          end)
          log[#log + 1] = "pcall cleanup"
          error(err, 0) -- re-raise the cancellation
        end)
        tide.yield()
        t:cancel()
        pcall(t.await, t)
        assert.same({"inner closed", "pcall cleanup", "closed:true"}, log)
        assert.is_true(t:cancelled())
      end)
    end)

    it("of a task that never started means its body never runs", function()
      H.run(function()
        local ran = false
        local t = tide.spawn(function() ran = true end)
        t:cancel()
        assert.is_false(pcall(t.await, t))
        assert.is_false(ran)
        assert.is_true(t:cancelled())
      end)
    end)

    -- That it propagates to the task being awaited, which finishes its
    -- cleanup first, is specced in cancel_spec.lua.

    it("of the running task itself is delivered at its next await", function()
      H.run(function()
        local t
        t = tide.spawn(function()
          t:cancel()
          local x = 1 + 1 -- still running: no await yet
          local ok, err = pcall(tide.yield)
          return x, tide.is_cancelled(err)
        end)
        local x, was = t:await()
        assert.equal(2, x); assert.is_true(was)
      end)
    end)
  end)

  it("lets <close> cleanup await when an error leaves the task", function()
    H.run(function()
      local log = {}
      local t = tide.spawn(function()
        local c <close> = setmetatable({}, {__close = function(_, e)
          tide.sleep(0.001) -- cleanup that waits
          log[#log + 1] = "closed after " .. tostring(e)
        end})
        tide.yield()
        error("x", 0)
      end)
      local ok, err = pcall(t.await, t)
      assert.is_false(ok)
      assert.equal("x", err)
      assert.same({"closed after x"}, log)
      assert.matches("stack traceback", t:traceback())
    end)
  end)

  it("names the user's call as the spawn site, not tide's own files", function()
    H.run(function()
      local list
      tide.group(function(g)
        g:spawn(function() tide.yield() end)
        list = tide.tasks()
      end)
      local label = list[#list].label
      assert.matches("spawned at .*task_spec.lua:%d+", label)
    end)
  end)

  describe("misuse", function()
    it("await outside a task is a clear error", function()
      assert.has_error(function() tide.sleep(0.1) end,
        "tide: await outside a task (use tide.run or tide.spawn)")
      assert.has_error(function() tide.yield() end,
        "tide: await outside a task (use tide.run or tide.spawn)")
    end)

    it("a task cannot await itself", function()
      H.run(function()
        local t
        t = tide.spawn(function()
          tide.yield()
          return pcall(t.await, t)
        end)
        local ok, err = t:await()
        assert.is_false(ok)
        assert.matches("cannot await itself", err)
      end)
    end)

    it("resuming a task's coroutine by hand is refused", function()
      H.run(function()
        local co
        local t = tide.spawn(function()
          co = coroutine.running()
          tide.sleep(0.01)
          return "intact"
        end)
        tide.yield()
        local ok, err = coroutine.resume(co)
        assert.is_false(ok)
        assert.equal("tide: cannot resume a task's coroutine", err)
        assert.has_error(function() coroutine.close(co) end)
        assert.equal("intact", t:await())
      end)
    end)

    it("a bare coroutine.yield in a task fails the task clearly", function()
      H.run(function()
        local t = tide.spawn(function() coroutine.yield(1) end)
        local ok, err = pcall(t.await, t)
        assert.is_false(ok)
        assert.matches("coroutine.yield%(%) called in a task", err)
      end)
    end)

    it("spawn and methods check their arguments", function()
      assert.has_error(function() tide.spawn(42) end)
      assert.has_error(function() tide.spawn() end)
      H.run(function()
        local t = tide.spawn(function() end)
        assert.has_error(function() t.cancel(tide.future()) end)
        assert.has_error(function() t:cancel({}) end)
        t:await()
      end)
    end)
  end)

  it("current_task names the running task", function()
    assert.is_nil(tide.current_task())
    H.run(function()
      local me = tide.current_task()
      assert.is_not_nil(me)
      local t = tide.spawn(function() return tide.current_task() end)
      assert.equal(t, t:await())
      assert.equal(me, tide.current_task())
    end)
  end)

  it("10,000 tasks finish and are collected", function()
    H.run(function()
      local n = 0
      local list = {}
      for i = 1, 10000 do
        list[i] = tide.spawn(function() tide.yield(); n = n + 1 end)
      end
      for i = 1, #list do list[i]:await() end
      assert.equal(10000, n)
    end)
  end)
end)

describe("eager tasks", function()
  it("run at once up to their first await", function()
    H.run(function()
      local log = {}
      local t = tide.spawn({eager = true, name = "e"}, function(x)
        log[#log + 1] = "started " .. x
        tide.yield()
        log[#log + 1] = "resumed"
        return "done"
      end, 1)
      log[#log + 1] = "spawn returned"
      assert.equal("e", t:name())
      assert.equal("done", t:await())
      assert.same({"started 1", "spawn returned", "resumed"}, log)
    end)
  end)

  it("that never await are done when spawn returns", function()
    H.run(function()
      local t = tide.spawn({eager = true}, function(a, b) return a + b end, 2, 3)
      assert.is_true(t:done())
      assert.equal(5, t:result())
      local f = tide.spawn({eager = true}, error, "boom", 0)
      assert.equal("failed", f:state())
      assert.equal("boom", f:error())
    end)
  end)

  it("nest without bound on the C stack", function()
    H.run(function()
      local depth = 0
      local function nest(n)
        depth = math.max(depth, n)
        if n < 200 then
          return tide.spawn({eager = true}, nest, n + 1):await()
        end
        return n
      end
      assert.equal(200, nest(1))
    end)
  end)
end)
