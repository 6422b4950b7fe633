local tide = require "tide"
local H = require "helper"

local function after(s, v)
  return function()
    tide.sleep(s)
    return v
  end
end

local function fail_after(s, e)
  return function()
    tide.sleep(s)
    error(e, 0)
  end
end

-- A task that sleeps until cancelled and records its cleanup.
local function sleeper(log, name)
  return function()
    local _ <close> = setmetatable({}, {__close = function()
      log[#log + 1] = name .. " cleaned up"
    end})
    tide.sleep(1000)
  end
end

describe("tide.gather", function()
  -- Sleeps and deadlines here take no real time: the virtual clock jumps
  -- whenever only timers are pending (sockets in flight keep real time).
  local was_virtual
  setup(function() was_virtual = tide.virtual_clock(true) end)
  teardown(function() tide.virtual_clock(was_virtual) end)

  it("returns the first value of each, in argument order", function()
    H.run(function()
      local f = tide.future()
      f:set_result("f", "ignored")
      local r = tide.gather(after(0.002, "slow"), after(0.001, "fast"), f)
      assert.same({"slow", "fast", "f", n = 3}, r)
      assert.same({n = 0}, tide.gather())
    end)
  end)

  it("fails fast: cancels the others and raises the first error", function()
    H.run(function()
      local log = {}
      local ok, err = pcall(tide.gather, sleeper(log, "a"),
        fail_after(0.001, "boom"), sleeper(log, "b"))
      assert.is_false(ok)
      assert.equal("boom", err)
      tide.sleep(0.001)
      assert.same({"a cleaned up", "b cleaned up"}, log)
    end)
  end)

  it("collects errors instead with {return_errors = true}", function()
    H.run(function()
      local results, errors = tide.gather(after(0.002, "ok"),
        fail_after(0.001, "bad"), after(0.001, "fine"),
        {return_errors = true})
      assert.same({"ok", nil, "fine", n = 3}, results)
      assert.equal("bad", errors[2])
      assert.is_nil(errors[1])
      assert.equal(1, errors.count)
    end)
  end)

  it("cancels every child when the caller is cancelled", function()
    H.run(function()
      local log = {}
      local t = tide.spawn(tide.gather, sleeper(log, "a"), sleeper(log, "b"))
      tide.sleep(0.001)
      t:cancel()
      assert.is_false(pcall(t.await, t))
      tide.sleep(0.001)
      assert.same({"a cleaned up", "b cleaned up"}, log)
    end)
  end)
end)

describe("tide.first", function()
  it("returns the first to finish and cancels the rest, waiting for them",
    function()
      H.run(function()
        local log = {}
        local a, b = tide.first(sleeper(log, "loser"), function()
          tide.sleep(0.001)
          return "won", 2
        end)
        assert.equal("won", a)
        assert.equal(2, b)
        -- The loser's cleanup has already run.
        assert.same({"loser cleaned up"}, log)
        assert.equal(tide.race, tide.first)
      end)
    end)

  it("raises the winner's error", function()
    H.run(function()
      local ok, err = pcall(tide.first, fail_after(0.001, "lost"),
        after(1000, "never"))
      assert.is_false(ok)
      assert.equal("lost", err)
    end)
  end)

  it("takes a done future at once, and cancels pending futures", function()
    H.run(function()
      local done, pending = tide.future(), tide.future()
      done:set_result("ready")
      assert.equal("ready", tide.first(pending, done))
      assert.is_true(pending:cancelled())
    end)
  end)

  it("cancels them all when the caller is cancelled", function()
    H.run(function()
      local log = {}
      local t = tide.spawn(tide.first, sleeper(log, "a"), sleeper(log, "b"))
      tide.sleep(0.001)
      t:cancel()
      assert.is_false(pcall(t.await, t))
      tide.sleep(0.001)
      assert.same({"a cleaned up", "b cleaned up"}, log)
    end)
  end)
end)

describe("tide.wait", function()
  it("waits for all by default and cancels nothing", function()
    H.run(function()
      local a, b = tide.spawn(after(0.001, 1)), tide.spawn(after(0.002, 2))
      local done, pending = tide.wait({a, b})
      assert.same({a, b}, done)
      assert.same({}, pending)
    end)
  end)

  it("returns at the first with return_when = 'first'", function()
    H.run(function()
      local a, b = tide.spawn(after(1000, 1)), tide.spawn(after(0.001, 2))
      local done, pending = tide.wait({a, b}, {return_when = "first"})
      assert.same({b}, done)
      assert.same({a}, pending)
      assert.is_false(a:done())
      a:cancel()
    end)
  end)

  it("returns at the first error with return_when = 'first_error'", function()
    H.run(function()
      local a = tide.spawn(after(0.001, 1))
      local b = tide.spawn(fail_after(0.002, "x"))
      local c = tide.spawn(after(1000, 3))
      local done, pending = tide.wait({a, b, c}, {return_when = "first_error"})
      assert.same({a, b}, done)
      assert.same({c}, pending)
      assert.equal("x", b:error())
      c:cancel()
    end)
  end)

  it("returns what is done when the timeout passes", function()
    H.run(function()
      local a, b = tide.spawn(after(0.001, 1)), tide.spawn(after(1000, 2))
      local done, pending = tide.wait({a, b}, {timeout = 0.01})
      assert.same({a}, done)
      assert.same({b}, pending)
      b:cancel()
      assert.has_error(function() tide.wait({}, {return_when = "any"}) end)
    end)
  end)
end)

describe("tide.as_completed", function()
  it("gives each awaitable as it finishes, with its index", function()
    H.run(function()
      local order = {}
      for aw, i in tide.as_completed({after(0.003, "c"), after(0.001, "a"),
          after(0.002, "b")}) do
        order[#order + 1] = i .. aw:result()
      end
      assert.same({"2a", "3b", "1c"}, order)
    end)
  end)

  it("raises a timeout error past its timeout", function()
    H.run(function()
      local got = {}
      local ok, err = pcall(function()
        for aw in tide.as_completed({after(0.001, 1), after(1000, 2)},
            {timeout = 0.01}) do
          got[#got + 1] = aw:result()
        end
      end)
      assert.is_true(tide.is_timeout(err))
      assert.same({1}, got)
    end)
  end)

  it("cancels the tasks it started when the loop is left early", function()
    H.run(function()
      local log = {}
      local mine = tide.spawn(after(0.05, "kept"))
      for aw in tide.as_completed({after(0.001, "first"),
          sleeper(log, "started by as_completed"), mine}) do
        assert.equal("first", aw:result())
        break
      end
      tide.sleep(0.001)
      assert.same({"started by as_completed cleaned up"}, log)
      assert.equal("kept", mine:await()) -- passed in: left alone
    end)
  end)
end)
