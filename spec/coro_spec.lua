-- Awaits through a script's own coroutines: inside a task, coroutine.wrap
-- and coroutine.resume pass tide's awaits up to the task and the wake-up
-- back down, while every other yield behaves as in plain Lua.
local tide = require "tide"
local H = require "helper"

-- A generator that sleeps between values.
local function ticker(n)
  return coroutine.wrap(function()
    for i = 1, n do
      tide.sleep(0.001)
      coroutine.yield(i)
    end
  end)
end

describe("nested coroutines", function()
  it("await inside a coroutine.wrap iterator of a generic for", function()
    H.run(function()
      local got = {}
      local t0 = tide.now()
      for i in ticker(5) do got[#got + 1] = i end
      assert.same({1, 2, 3, 4, 5}, got)
      assert.is_true(tide.now() - t0 >= 0.004)
    end)
  end)

  it("returns each await's result to the coroutine that awaited", function()
    H.run(function()
      local f = tide.future()
      local co = coroutine.create(function(x)
        local v = f:await() -- resolved by another task meanwhile
        local y = coroutine.yield(x + v)
        return y * 2
      end)
      tide.spawn(function() tide.sleep(0.001); f:set_result(10) end)
      local ok, r = coroutine.resume(co, 1)
      assert.is_true(ok)
      assert.equal(11, r) -- the yield came back to us, the resumer
      assert.equal("suspended", coroutine.status(co))
      assert.same({true, 42}, {coroutine.resume(co, 21)})
      assert.equal("dead", coroutine.status(co))
    end)
  end)

  it("keeps ordinary coroutine behaviour around the awaits", function()
    H.run(function()
      local co = coroutine.wrap(function(a, b)
        assert.is_true(coroutine.isyieldable())
        local c = coroutine.yield(a + b)
        tide.yield()
        local d, e = coroutine.yield(c, "two values")
        return d + e
      end)
      assert.equal(3, co(1, 2))
      assert.same({5, "two values"}, {co(5)})
      assert.equal(7, co(3, 4))
      assert.is_false(pcall(co)) -- dead: the standard error
    end)
  end)

  it("works several levels deep", function()
    H.run(function()
      local function level(n)
        if n == 0 then
          tide.sleep(0.001)
          return "bottom"
        end
        local co = coroutine.wrap(function()
          local r = level(n - 1)
          coroutine.yield(n .. ">" .. r)
          tide.yield()
          return "done " .. n
        end)
        local first = co()
        local second = co()
        return first .. "|" .. second
      end
      assert.equal("3>2>1>bottom|done 1|done 2|done 3", level(3))
    end)
  end)

  it("runs several tasks each inside its own coroutines", function()
    H.run(function()
      local results = tide.gather(function()
        local s = 0
        for i in ticker(3) do s = s + i end
        return s
      end, function()
        local s = 0
        for i in ticker(4) do s = s + i * 10 end
        return s
      end)
      assert.same({6, 100, n = 2}, results)
    end)
  end)

  it("propagates errors inside like plain Lua", function()
    H.run(function()
      local co = coroutine.create(function()
        tide.sleep(0.001)
        error("inner failure")
      end)
      local ok, err = coroutine.resume(co)
      assert.is_false(ok)
      assert.matches("inner failure", err)
      assert.equal("dead", coroutine.status(co))
      local gen = coroutine.wrap(function()
        tide.yield()
        error({code = 1})
      end)
      local ok2, err2 = pcall(gen)
      assert.is_false(ok2)
      assert.same({code = 1}, err2) -- the same value, not a string
      -- An error in a generic for's wrapped iterator reaches the loop,
      -- with the position wrap adds, exactly as without the await.
      local function run(await)
        return pcall(function()
          for _ in coroutine.wrap(function()
            coroutine.yield(1)
            if await then tide.sleep(0.001) end
            error("in iterator", 0)
          end) do end
        end)
      end
      local ok3, err3 = run(true)
      local ok4, err4 = run(false)
      assert.is_false(ok3)
      assert.equal(err4, err3)
      assert.matches("in iterator$", err3)
    end)
  end)

  it("delivers a cancellation to the await inside the coroutine", function()
    H.run(function()
      local caught
      local t = tide.spawn(function()
        for _ in coroutine.wrap(function()
          local ok, err = pcall(tide.sleep, 1000)
          caught = err
          error(err, 0)
        end) do end
      end)
      tide.yield()
      t:cancel()
      local ok, err = pcall(t.await, t)
      assert.is_true(tide.is_cancelled(caught))
      assert.is_true(tide.is_cancelled(err))
      assert.equal("cancelled", t:state())
    end)
  end)

  it("fails an await in a coroutine resumed outside any task", function()
    local co = coroutine.create(function() tide.sleep(0.001) end)
    local ok, err = coroutine.resume(co)
    assert.is_false(ok)
    assert.matches("await outside a task", err)
  end)
end)
