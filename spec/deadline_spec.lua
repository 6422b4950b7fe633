local tide = require "tide"
local H = require "helper"

-- Generous bounds only: specs never measure performance.
describe("tide.timeout", function()
  -- Sleeps and deadlines here take no real time: the virtual clock jumps
  -- whenever only timers are pending (sockets in flight keep real time).
  local was_virtual
  setup(function() was_virtual = tide.virtual_clock(true) end)
  teardown(function() tide.virtual_clock(was_virtual) end)

  it("returns fn's values when fn finishes in time", function()
    H.run(function()
      local a, b = tide.timeout(5, function(x)
        tide.sleep(0.001)
        return x, "two"
      end, "one")
      assert.equal("one", a)
      assert.equal("two", b)
      assert.equal(math.huge, tide.remaining()) -- no deadline left behind
    end)
  end)

  it("cancels fn at its await point and raises a timeout error", function()
    H.run(function()
      local closed = 0
      local t0 = tide.now()
      local ok, err = pcall(tide.timeout, 0.01, function()
        local _ <close> = setmetatable({}, {__close = function()
          closed = closed + 1
        end})
        tide.sleep(1000)
      end)
      assert.is_false(ok)
      assert.is_true(tide.is_timeout(err))
      assert.equal("tide: timeout after 0.01 s", tostring(err))
      assert.equal(1, closed)
      assert.is_true(tide.now() - t0 < 5)
      tide.sleep(0.001) -- the task goes on, not cancelled
    end)
  end)

  it("nests: an inner deadline raises from the inner call", function()
    H.run(function()
      local inner_err
      local r = tide.timeout(5, function()
        local ok, err = pcall(tide.timeout, 0.01, tide.sleep, 1000)
        inner_err = err
        assert.is_false(ok)
        return "outer went on"
      end)
      assert.equal("outer went on", r)
      assert.is_true(tide.is_timeout(inner_err))
    end)
  end)

  it("nests: an outer deadline fires through an inner one", function()
    H.run(function()
      local seen
      local ok, err = pcall(tide.timeout, 0.01, function()
        local ok2, e2 = pcall(tide.timeout, 1000, tide.sleep, 1000)
        seen = e2
        error(e2, 0)
      end)
      assert.is_false(ok)
      assert.is_true(tide.is_timeout(err))
      -- Inside, the inner timeout let the outer cancellation through as is.
      assert.is_true(tide.is_cancelled(seen))
    end)
  end)

  it("nests: when both pass at once, the outer one owns the timeout", function()
    H.run(function()
      local seen
      local ok, err = pcall(tide.timeout, 0.01, function()
        local ok2, e2 = pcall(tide.timeout, 0.01, tide.sleep, 1000)
        seen = e2
        error(e2, 0)
      end)
      assert.is_false(ok)
      assert.is_true(tide.is_timeout(err))
      assert.is_true(tide.is_cancelled(seen))
    end)
  end)

  it("lets a cancellation from outside through unchanged", function()
    H.run(function()
      local t = tide.spawn(function()
        tide.timeout(1000, tide.sleep, 1000)
      end)
      tide.sleep(0.001)
      t:cancel("stop")
      local ok, err = pcall(t.await, t)
      assert.is_false(ok)
      assert.is_true(tide.is_cancelled(err))
      assert.equal("cancelled", t:state())
    end)
  end)

  it("tells an outside cancel(msg) during its cleanup from its own", function()
    H.run(function()
      local t = tide.spawn(function()
        tide.timeout(0.001, function()
          local _ <close> = setmetatable({}, {__close = function()
            tide.sleep(1000) -- a slow cleanup, cancelled from outside
          end})
          tide.sleep(1000) -- the deadline cancels this
        end)
      end)
      tide.sleep(0.01)
      t:cancel("shutdown")
      local ok, err = pcall(t.await, t)
      assert.is_true(tide.is_cancelled(err))
      assert.matches("shutdown", tostring(err))
      assert.equal("cancelled", t:state())
    end)
  end)

  it("passes fn's own errors on", function()
    H.run(function()
      local ok, err = pcall(tide.timeout, 1000, error, "mine", 0)
      assert.is_false(ok)
      assert.equal("mine", err)
    end)
  end)

  it("checks its arguments", function()
    H.run(function()
      assert.has_error(function() tide.timeout(-1, function() end) end,
        "bad argument #1 to 'timeout' (number of seconds >= 0 expected, got -1)")
      assert.has_error(function() tide.timeout(1, 2) end,
        "bad argument #2 to 'timeout' (function expected, got number)")
    end)
    assert.has_error(function() tide.timeout(1, function() end) end,
      "tide: timeout outside a task")
  end)
end)

describe("tide.timeout_scope", function()
  it("raises a timeout error from the block once the deadline passes",
    function()
      H.run(function()
        local after = false
        local ok, err = pcall(function()
          local s <close> = tide.timeout_scope(0.01)
          tide.sleep(1000)
          after = true
        end)
        assert.is_false(ok)
        assert.is_true(tide.is_timeout(err))
        assert.is_false(after)
      end)
    end)

  it("tells how much time is left, innermost deadline first", function()
    H.run(function()
      local s <close> = tide.timeout_scope(100)
      local left = s:remaining()
      assert.is_true(left > 50 and left <= 100)
      do
        local inner <close> = tide.timeout_scope(10)
        assert.is_true(tide.remaining() <= 10)
        assert.is_true(inner:remaining() <= 10)
        do
          local longer <close> = tide.timeout_scope(1000)
          -- An inner, longer deadline does not extend the outer ones.
          assert.is_true(tide.remaining() <= 10)
        end
      end
      assert.is_true(tide.remaining() > 10)
      assert.is_false(s:expired())
    end)
  end)

  it("ends at once with s:cancel(), and goes on when nothing awaits", function()
    H.run(function()
      local ok, err = pcall(function()
        local s <close> = tide.timeout_scope(1000)
        tide.spawn(function() s:cancel() end)
        tide.sleep(1000)
      end)
      assert.is_true(tide.is_timeout(err))
      -- Cancelling from inside, then leaving the block without awaiting:
      -- the request is dropped, nothing hits the next await.
      do
        local s <close> = tide.timeout_scope(1000)
        assert.is_true(s:cancel())
        assert.is_false(s:cancel())
        assert.equal(0, s:remaining())
      end
      tide.sleep(0.001)
    end)
  end)

  it("can be rescheduled before it passes", function()
    H.run(function()
      local ok, err = pcall(function()
        local s <close> = tide.timeout_scope(1000)
        s:reschedule(0.01)
        tide.sleep(1000)
      end)
      assert.is_true(tide.is_timeout(err))
      local s <close> = tide.timeout_scope() -- no deadline
      assert.equal(math.huge, s:remaining())
      s:reschedule(1000)
      assert.is_true(s:remaining() <= 1000)
    end)
  end)

  it("does nothing to a block that ends in time", function()
    H.run(function()
      do
        local s <close> = tide.timeout_scope(1000)
        tide.sleep(0.001)
      end
      assert.equal(0, tide.stats().timers)
    end)
  end)
end)

describe("tide.move_on_after", function()
  it("returns true and the values, or false once the deadline passes",
    function()
      H.run(function()
        assert.same({true, 1, 2},
          {tide.move_on_after(1000, function() return 1, 2 end)})
        local closed = false
        assert.same({false}, {tide.move_on_after(0.01, function()
          local _ <close> = setmetatable({}, {__close = function()
            closed = true
          end})
          tide.sleep(1000)
        end)})
        assert.is_true(closed)
      end)
    end)
end)

describe("tide.wait_for", function()
  it("cancels the task it waits for on the deadline", function()
    H.run(function()
      local t = tide.spawn(tide.sleep, 1000)
      local ok, err = pcall(tide.wait_for, 0.01, t)
      assert.is_true(tide.is_timeout(err))
      assert.equal("cancelled", t:state())
    end)
  end)

  it("cancels the future it waits for on the deadline", function()
    H.run(function()
      local f = tide.future()
      local ok, err = pcall(tide.wait_for, 0.01, f)
      assert.is_true(tide.is_timeout(err))
      assert.is_true(f:cancelled())
    end)
  end)

  it("returns the values in time, or waits without a deadline", function()
    H.run(function()
      assert.equal(3, tide.wait_for(1000, function() return 3 end))
      assert.equal(4, tide.wait_for(nil, function() return 4 end))
    end)
  end)
end)

describe("tide.shield", function()
  it("lets its function finish when the task is cancelled meanwhile", function()
    H.run(function()
      local t = tide.spawn(function()
        local v = tide.shield(function() tide.sleep(0.01) return "done" end)
        local ok, err = pcall(tide.yield) -- the next await outside fails
        return v, tide.is_cancelled(err)
      end)
      tide.sleep(0.001)
      t:cancel()
      assert.same({"done", true}, {t:await()})
    end)
  end)

  it("waits for a task without cancelling it", function()
    H.run(function()
      local inner = tide.spawn(function() tide.sleep(0.02) return "late" end)
      local ok, v = tide.move_on_after(0.001, tide.shield, inner)
      assert.is_false(ok) -- the deadline passed, though nothing was cut
      assert.equal("late", v) -- short: the values are there
      assert.equal("done", inner:state())
    end)
  end)

  it("gives errors and values through", function()
    H.run(function()
      assert.equal(5, tide.shield(function() tide.sleep(0.001) return 5 end))
      assert.same({1, 2}, {tide.shield(function(a, b) return a, b end, 1, 2)})
      local ok, err = pcall(tide.shield, function() error("mine", 0) end)
      assert.equal("mine", err)
    end)
  end)
end)
