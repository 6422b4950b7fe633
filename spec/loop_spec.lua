local tide = require "tide"
local H = require "helper"

describe("the loop", function()
  it("keeps monotonic time in seconds", function()
    local a = tide.now()
    local b = tide.now()
    assert.is_number(a)
    assert.is_true(b >= a)
  end)

  it("sleeps at least as long as asked, and wakes sleepers in deadline order", function()
    H.run(function()
      local log = {}
      local t0 = tide.now()
      local ts = {}
      for _, d in ipairs({0.03, 0.01, 0.02, 0.01}) do
        ts[#ts + 1] = tide.spawn(function()
          tide.sleep(d)
          log[#log + 1] = d
          assert.is_true(tide.now() - t0 >= d)
        end)
      end
      for _, t in ipairs(ts) do t:await() end
      assert.same({0.01, 0.01, 0.02, 0.03}, log)
    end)
  end)

  it("rejects bad sleep durations", function()
    H.run(function()
      assert.has_error(function() tide.sleep(-1) end,
        "bad argument #1 to 'sleep' (negative duration)")
      assert.has_error(function() tide.sleep(0 / 0) end,
        "bad argument #1 to 'sleep' (duration is NaN)")
      assert.has_error(function() tide.sleep("soon") end)
      assert.has_error(function() tide.sleep() end)
    end)
  end)

  it("sleep(math.huge) waits until cancelled", function()
    H.run(function()
      local t = tide.spawn(function() tide.sleep(math.huge) end)
      tide.sleep(0.01)
      assert.is_false(t:done())
      t:cancel()
      assert.is_false(pcall(t.await, t))
      assert.equal(0, tide.stats().timers)
    end)
  end)

  it("drains the ready queue fairly: work queued during a turn waits for the next", function()
    H.run(function()
      local log = {}
      local function worker(name)
        for i = 1, 3 do
          log[#log + 1] = name .. i
          tide.yield()
        end
      end
      local a, b = tide.spawn(worker, "a"), tide.spawn(worker, "b")
      a:await(); b:await()
      assert.same({"a1", "b1", "a2", "b2", "a3", "b3"}, log)
    end)
  end)

  it("a yielding loop does not starve timers", function()
    H.run(function()
      local fired = false
      tide.spawn(function() tide.sleep(0.005); fired = true end)
      local spins = 0
      while not fired do
        tide.yield()
        spins = spins + 1
        assert.is_true(spins < 1e6)
      end
    end)
  end)

  it("call_soon and call_later run plain functions from the loop", function()
    H.run(function()
      local log = {}
      tide.call_later(0.02, function(x) log[#log + 1] = x end, "later")
      tide.call_soon(function(x, y) log[#log + 1] = x .. y end, "so", "on")
      local h = tide.call_later(0.01, function() log[#log + 1] = "never" end)
      assert.is_true(h:cancel())
      assert.is_false(h:cancel())
      local h2 = tide.call_soon(function() log[#log + 1] = "never2" end)
      h2:cancel()
      assert.same({}, log)
      tide.sleep(0.03)
      assert.same({"soon", "later"}, log)
    end)
  end)

  it("a failing callback is reported and the loop goes on", function()
    local errors = H.capture_errors(function()
      H.run(function()
        tide.call_soon(function() error("cb failed") end)
        tide.sleep(0.001)
      end)
    end)
    assert.equal(1, #errors)
    assert.matches("cb failed", errors[1])
  end)

  it("counts tasks, timers and handles for leak checks", function()
    local s = tide.stats()
    assert.same({tasks = 0, timers = 0, handles = 0, ready = 0}, {tasks =
      s.tasks, timers = s.timers, handles = s.handles, ready = s.ready})
    assert.equal("number", type(s.accept_errors))
  end)
end)

describe("tide.run", function()
  it("returns the values of the function", function()
    local a, b, c = tide.run(function(x) return x, nil, 3 end, 1)
    assert.equal(1, a); assert.is_nil(b); assert.equal(3, c)
  end)

  it("re-raises the function's error", function()
    local ok, err = pcall(tide.run, function() tide.yield(); error("root failed", 0) end)
    assert.is_false(ok)
    assert.equal("root failed", err)
  end)

  it("inside a task runs the function in that task", function()
    H.run(function()
      local me = tide.current_task()
      local a, b = tide.run(function(x)
        tide.sleep(0)
        return x, tide.current_task() == me
      end, 7)
      assert.equal(7, a); assert.is_true(b)
      assert.has_error(function() tide.run(42) end,
        "bad argument #1 to 'run' (function expected, got number)")
    end)
  end)

  it("cannot be nested inside a loop callback", function()
    H.run(function()
      local err
      tide.call_soon(function() _, err = pcall(tide.run, function() end) end)
      tide.sleep(0.001)
      assert.equal("tide.run: the loop is already running (inside a task, " ..
        "use tide.spawn or tide.await)", err)
    end)
  end)

  it("cancels the tasks the root left behind and lets them clean up", function()
    local cleaned = false
    tide.run(function()
      tide.spawn(function()
        local c <close> = setmetatable({}, {__close = function() cleaned = true end})
        tide.sleep(100)
      end)
      tide.yield()
    end)
    assert.is_true(cleaned)
    H.assert_clean()
  end)

  it("drops the callbacks of the run that are not due yet", function()
    local ran = false
    local h
    tide.run(function()
      h = tide.call_later(100, function() ran = true end)
    end)
    H.assert_clean()
    assert.is_false(h:cancel()) -- already cancelled by the end of the run
    tide.run(function() tide.sleep(0.001) end)
    assert.is_false(ran)
  end)

  it("detects a deadlock instead of hanging", function()
    local ok, err = pcall(tide.run, function() tide.future():await() end)
    assert.is_false(ok)
    assert.matches("deadlock", err)
    H.assert_clean()
  end)

  it("can run again after finishing", function()
    for i = 1, 3 do assert.equal(i, tide.run(function() tide.sleep(0) return i end)) end
  end)
end)

describe("the sanitizer build", function()
  it("is really loaded when TIDE_BUILD is build-asan", function()
    if os.getenv("TIDE_BUILD") ~= "build-asan" then return end
    local f = io.open("/proc/self/maps")
    local maps = f:read("a")
    f:close()
    assert.truthy(maps:find("libasan", 1, true))
    assert.truthy(maps:find("build-asan/tide/core.so", 1, true))
  end)
end)
