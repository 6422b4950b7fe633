-- tide.offload and tide.worker_pool: Lua functions run in threads of
-- tide's own, with copies of their arguments and results.
local tide = require "tide"
local H = require "helper"

-- Waits (in a task) until no job is left in flight: a cancelled running
-- job ends at its next instruction count check, a little after its task.
local function settle()
  for _ = 1, 2000 do
    if tide.stats().handles == 0 then return end
    tide.sleep(0.001)
  end
  error("jobs still in flight")
end

describe("tide.offload", function()
  it("runs a function in a worker and returns its values", function()
    H.run(function()
      local a, b, c, d = tide.offload(function(x, y)
        return x + y, nil, math.type(x), "s\0t"
      end, 2, 3)
      assert.equal(5, a)
      assert.is_nil(b)
      assert.equal("integer", c)
      assert.equal("s\0t", d)
      assert.equal(4, select("#", tide.offload(function() return 1, nil, nil, nil end)))
      assert.equal(0, select("#", tide.offload(function() end)))
      assert.equal(0.5, tide.offload(function(x) return x end, 0.5))
      assert.equal(math.maxinteger, tide.offload(function(x) return x end,
        math.maxinteger))
      assert.is_false(tide.offload(function(x) return not x end, true))
    end)
  end)

  it("copies tables deeply, keeping cycles and shared tables", function()
    H.run(function()
      local shared = {"s"}
      local t = {1, 2, {x = "y"}, a = shared, b = shared}
      t.self = t
      t[t] = "key"
      local ok, back = tide.offload(function(x)
        return x.self == x and x[x] == "key" and x.a == x.b and x[3].x == "y",
          x
      end, t)
      assert.is_true(ok)
      assert.are_not.equal(t, back) -- a copy
      assert.equal(back, back.self)
      assert.equal("key", back[back])
      assert.equal(back.a, back.b)
      assert.same({"s"}, back.a)
      -- A cycle made in the worker comes back as a cycle.
      local r = tide.offload(function()
        local a, b = {}, {}
        a.b, b.a = b, a
        return a
      end)
      assert.equal(r, r.b.a)
    end)
  end)

  it("copies plain functions, recursive ones and functions in tables", function()
    H.run(function()
      local function fib(n)
        if n < 2 then return n end
        return fib(n - 1) + fib(n - 2)
      end
      assert.equal(6765, tide.offload(fib, 20))
      local ops = {
        double = function(x) return 2 * x end,
        up = function(s) return string.upper(s) end,
      }
      assert.same({8, "AB"}, {tide.offload(function(o)
        return o.double(4), o.up("ab")
      end, ops)})
      -- A function can come back too.
      local f = tide.offload(function()
        return function(x) return x * 10 end
      end)
      assert.equal(30, f(3))
    end)
  end)

  it("refuses what cannot be copied, saying what and where", function()
    H.run(function()
      local up = 1
      local ok, err = pcall(tide.offload, function() return up end)
      assert.is_false(ok)
      assert.matches("cannot copy argument 1: a function with the upvalue 'up'",
        err)
      ok, err = pcall(tide.offload, function(x) return x end,
        {list = {io.stdout}})
      assert.is_false(ok)
      assert.matches("cannot copy argument 2 %(at %.list%[1%]%): a userdata",
        err)
      ok, err = pcall(tide.offload, function(x) return x end,
        coroutine.create(print))
      assert.matches("a thread", err)
      ok, err = pcall(tide.offload, print)
      assert.matches("a C function", err)
      ok, err = pcall(tide.offload, function(x) return x end,
        setmetatable({}, {}))
      assert.matches("a table with a metatable", err)
      local deep = {}
      local cur = deep
      for _ = 1, 250 do cur.next = {}; cur = cur.next end
      ok, err = pcall(tide.offload, function(x) return x end, deep)
      assert.matches("nested more than 200 levels", err)
      -- A result that does not copy fails the job, naming it.
      ok, err = pcall(tide.offload, function() return 1, io.stdout end)
      assert.is_false(ok)
      assert.matches("cannot copy result 2: a userdata", err)
      -- A function's _ENV there is the worker's globals, whatever it was
      -- here.
      local g = load("return type(string), x", "chunk", "t", {x = 1})
      assert.same({"table", nil}, {tide.offload(g)})
      assert.has_error(function() tide.offload("print") end)
    end)
  end)

  it("re-raises the worker's error with its traceback", function()
    H.run(function()
      local ok, err = pcall(tide.offload, function()
        local function inner() error("boom") end
        inner()
      end)
      assert.is_false(ok)
      assert.matches("^.-offload_spec.lua:%d+: boom\n%(in the worker%)\n" ..
        "stack traceback:\n", err)
      assert.matches("in local 'inner'", err)
      -- Error values that are tables come back as copies.
      ok, err = pcall(tide.offload, function() error({code = 42}) end)
      assert.is_false(ok)
      assert.same({code = 42}, err)
      -- Those that cannot be copied come back as their string.
      ok, err = pcall(tide.offload, function() error(io.stdout) end)
      assert.matches("^file %(0x%x+%)", err)
      ok, err = pcall(tide.offload, function()
        error(setmetatable({}, {__tostring = function() return "obj" end}))
      end)
      assert.matches("^obj", err)
    end)
  end)

  it("runs require in the worker, and reuses worker states", function()
    H.run(function() H.with_tmpdir(function(dir)
        assert(tide.fs.writefile(dir .. "/tide_spec_mod.lua",
          "return {answer = function() return 42 end}"))
        local old = package.path
        package.path = dir .. "/?.lua;" .. old
        local pool <close> = tide.worker_pool{size = 1} -- copies the path
        package.path = old
        assert.equal(42, pool:offload(function()
          return require("tide_spec_mod").answer()
        end))
        -- One thread, one state: a global set by one job is there for the
        -- next.
        pool:offload(function() counter = (counter or 0) + 1 end) -- luacheck: ignore
        assert.equal(2, pool:offload(function()
          counter = counter + 1 -- luacheck: ignore
          return counter -- luacheck: ignore
        end))
      end, "tide-offload-")
    end)
  end)

  it("cancelling takes a queued job back and interrupts a running one", function()
    H.run(function()
      local pool <close> = tide.worker_pool{size = 1}
      local started = tide.Event()
      local long = tide.spawn(function()
        return pool:offload(function()
          -- pcall cannot swallow the interruption: it is raised again at
          -- the next check.
          while true do pcall(function() while true do end end) end
        end)
      end)
      tide.sleep(0.02)
      local queued = tide.spawn(function()
        started:set()
        return pool:offload(function() ran_queued = true end) -- luacheck: ignore
      end)
      started:wait()
      tide.yield()
      queued:cancel()
      local qok, qerr = pcall(queued.await, queued)
      assert.is_false(qok)
      assert.is_true(tide.is_cancelled(qerr), tostring(qerr))
      local t0 = tide.now()
      long:cancel()
      assert.is_true(tide.is_cancelled(select(2, pcall(long.await, long))))
      settle()
      assert.is_true(tide.now() - t0 < 5)
      -- The worker is free again, and the queued job never ran.
      assert.is_nil(pool:offload(function() return ran_queued end)) -- luacheck: ignore
    end)
  end)

  it("closing a pool fails its jobs, queued and running", function()
    H.run(function()
      local pool = tide.worker_pool{size = 1}
      local running = tide.spawn(pool.offload, pool, function()
        while true do end
      end)
      local queued = tide.spawn(pool.offload, pool, function() return 1 end)
      tide.sleep(0.02)
      assert.is_true(pool:close())
      local ok, err = pcall(running.await, running)
      assert.is_false(ok)
      assert.matches("interrupted: the worker pool is closing", err)
      ok, err = pcall(queued.await, queued)
      assert.is_false(ok)
      assert.matches("closed before the job ran", err)
      assert.matches("closed", tostring(pool))
      assert.has_error(function() pool:offload(print) end)
      assert.is_true(pool:close())
    end)
  end)

  it("10,000 jobs in flight", function()
    H.run(function()
      local tasks = {}
      for i = 1, 10000 do
        tasks[i] = tide.spawn(tide.offload, function(x) return x * 2 end, i)
      end
      local sum = 0
      for i = 1, 10000 do sum = sum + tasks[i]:await() end
      assert.equal(10000 * 10001, sum)
    end)
  end)

  it("worker_pool checks its options; offload needs a task", function()
    H.run(function()
      assert.has_error(function() tide.worker_pool{sise = 2} end,
        "tide.worker_pool: unknown option 'sise' (known: size)")
      assert.has_error(function() tide.worker_pool{size = 0} end)
      assert.has_error(function() tide.worker_pool{size = 1.5} end)
      local p = tide.worker_pool()
      local most = p:size()
      assert.is_true(most >= 1)
      p:close()
    end)
    local ok, err = pcall(tide.offload, function() end)
    assert.is_false(ok)
    assert.matches("await outside a task", err)
  end)

  it("a pool left open ends with its tide.run", function()
    local p
    H.run(function()
      p = tide.worker_pool{size = 2}
      assert.equal(1, p:offload(function() return 1 end))
    end)
    assert.matches("closed", tostring(p))
  end)
end)
