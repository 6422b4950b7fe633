-- The rules of cancellation (docs/concurrency.md), one spec per rule.
local tide = require "tide"
local H = require "helper"

-- A to-be-closed value that counts how often it was closed, and with what.
local function counter(log)
  return setmetatable({}, {__close = function(_, err)
    log.closed = (log.closed or 0) + 1
    log.err = err
  end})
end

describe("cancellation", function()
  it("is delivered at the next await point, not before", function()
    H.run(function()
      local steps = {}
      local t = tide.spawn(function()
        steps[#steps + 1] = "started"
        tide.current_task():cancel() -- a request to ourselves
        steps[#steps + 1] = "still running" -- no await yet: goes on
        local ok, err = pcall(tide.yield)
        steps[#steps + 1] = tide.is_cancelled(err) and "cancelled at await"
        error(err, 0)
      end)
      assert.is_false(pcall(t.await, t))
      assert.same({"started", "still running", "cancelled at await"}, steps)
    end)
  end)

  it("is an error of kind 'cancelled' that pcall catches", function()
    H.run(function()
      local t = tide.spawn(function()
        local ok, err = pcall(tide.sleep, 1000)
        assert.is_false(ok)
        assert.is_true(tide.is_cancelled(err))
        assert.is_true(tide.is_error(err, "cancelled"))
        assert.matches("tide: task cancelled: because", tostring(err))
        -- Caught: the task may go on, but the cancellation is
        -- level-triggered: its next await fails again.
        local ok2, err2 = pcall(tide.sleep, 0.001)
        assert.is_false(ok2)
        assert.is_true(tide.is_cancelled(err2))
        return "went on" -- returning without awaiting: done
      end)
      tide.yield()
      t:cancel("because")
      assert.equal("went on", t:await())
      assert.equal("done", t:state())
    end)
  end)

  it("ends the task 'cancelled' when re-raised after cleanup (the default)",
    function()
      H.run(function()
        local cleaned = false
        local t = tide.spawn(function()
          local ok, err = pcall(tide.sleep, 1000)
          cleaned = true
          error(err, 0)
        end)
        tide.yield()
        t:cancel()
        local ok, err = pcall(t.await, t)
        assert.is_false(ok)
        assert.is_true(tide.is_cancelled(err))
        assert.is_true(cleaned)
        assert.equal("cancelled", t:state())
        assert.is_true(t:cancelled())
      end)
    end)

  it("is a no-op returning false on a finished task", function()
    H.run(function()
      local t = tide.spawn(function() return 1 end)
      assert.equal(1, t:await())
      assert.is_false(t:cancel())
      assert.equal("done", t:state())
      local f = tide.spawn(function() error("x", 0) end)
      pcall(f.await, f)
      assert.is_false(f:cancel())
      assert.equal("failed", f:state())
    end)
  end)

  it("of a task that never started: its body never runs", function()
    H.run(function()
      local ran = false
      local t = tide.spawn(function() ran = true end)
      assert.is_true(t:cancel())
      assert.is_false(pcall(t.await, t))
      assert.is_false(ran)
      assert.equal("cancelled", t:state())
    end)
  end)

  it("runs <close> variables, once each, on cancellation and on errors",
    function()
      H.run(function()
        local a, b, c = {}, {}, {}
        local t = tide.spawn(function()
          local _ <close> = counter(a)
          local ok, err = pcall(function()
            local _ <close> = counter(b)
            tide.sleep(1000)
          end)
          error(err, 0)
        end)
        tide.yield()
        t:cancel()
        pcall(t.await, t)
        assert.equal(1, a.closed)
        assert.equal(1, b.closed)
        assert.is_true(tide.is_cancelled(b.err))
        -- Errors too.
        local ok = pcall(function()
          local _ <close> = counter(c)
          tide.sleep(0.001)
          error("plain error")
        end)
        assert.is_false(ok)
        assert.equal(1, c.closed)
        assert.matches("plain error", c.err)
      end)
    end)

  it("counts <close> cleanups across a cancelled group of 50 tasks", function()
    H.run(function()
      local log = {}
      local parent = tide.spawn(function()
        tide.group(function(g)
          for _ = 1, 50 do
            g:spawn(function()
              local _ <close> = counter(log)
              tide.sleep(1000)
            end)
          end
          local _ <close> = counter(log)
          tide.sleep(1000)
        end)
      end)
      tide.sleep(0.001)
      parent:cancel()
      pcall(parent.await, parent)
      assert.equal(51, log.closed)
    end)
  end)

  it("of a task waiting for another task cancels that one and waits for it",
    function()
      H.run(function()
        local log = {}
        local inner = tide.spawn(function()
          local _ <close> = setmetatable({}, {__close = function()
            tide.sleep(0.001) -- a cleanup that itself awaits
            log[#log + 1] = "inner cleaned up"
          end})
          tide.sleep(1000)
        end)
        local outer = tide.spawn(function()
          local ok, err = pcall(inner.await, inner)
          log[#log + 1] = "outer woke"
          error(err, 0)
        end)
        tide.yield()
        outer:cancel()
        pcall(outer.await, outer)
        assert.same({"inner cleaned up", "outer woke"}, log)
        assert.equal("cancelled", inner:state())
      end)
    end)

  it("during Queue:get leaves the queue as it was", function()
    H.run(function()
      local q = tide.Queue()
      local getter = tide.spawn(q.get, q)
      tide.yield()
      getter:cancel()
      assert.is_true(tide.is_cancelled(select(2, pcall(getter.await, getter))))
      q:put("kept")
      assert.equal(1, q:qsize())
      assert.equal("kept", q:get())
    end)
  end)

  it("of a task waiting on a future leaves the future pending", function()
    H.run(function()
      local f = tide.future()
      local t = tide.spawn(f.await, f)
      tide.yield()
      t:cancel()
      pcall(t.await, t)
      assert.equal("pending", f:state()) -- shared futures stay usable
      f:cancel()
    end)
  end)
end)
