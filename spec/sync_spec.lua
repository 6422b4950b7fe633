local tide = require "tide"
local H = require "helper"

-- Starts fn(i) for i = 1..n as tasks, in order, and lets each run up to its
-- first await.
local function start(n, fn)
  local tasks = {}
  for i = 1, n do tasks[i] = tide.spawn(fn, i) end
  tide.yield()
  return tasks
end

describe("tide.Lock", function()
  -- Sleeps and deadlines here take no real time: the virtual clock jumps
  -- whenever only timers are pending (sockets in flight keep real time).
  local was_virtual
  setup(function() was_virtual = tide.virtual_clock(true) end)
  teardown(function() tide.virtual_clock(was_virtual) end)

  it("lets one task at a time in, waking waiters in FIFO order", function()
    H.run(function()
      local lock = tide.Lock()
      local inside, order = 0, {}
      local tasks = start(5, function(i)
        local _ <close> = lock:acquire()
        inside = inside + 1
        assert.equal(1, inside)
        order[#order + 1] = i
        tide.sleep(0.001)
        inside = inside - 1
      end)
      for _, t in ipairs(tasks) do t:await() end
      assert.same({1, 2, 3, 4, 5}, order)
      assert.is_false(lock:locked())
    end)
  end)

  it("hands the lock to the oldest waiter: a later task cannot barge in",
    function()
      H.run(function()
        local lock = tide.Lock()
        lock:acquire()
        local order = {}
        local waiter = tide.spawn(function()
          lock:acquire()
          order[#order + 1] = "waiter"
          lock:release()
        end)
        tide.yield()
        lock:release() -- handed to waiter, still locked
        assert.is_true(lock:locked())
        assert.is_false(lock:try_acquire())
        lock:acquire() -- queues behind
        order[#order + 1] = "late"
        lock:release()
        waiter:await()
        assert.same({"waiter", "late"}, order)
      end)
    end)

  it("is released by <close> on errors and by with()", function()
    H.run(function()
      local lock = tide.Lock()
      assert.is_false(pcall(function()
        local _ <close> = lock:acquire()
        error("inside")
      end))
      assert.is_false(lock:locked())
      assert.equal(3, lock:with(function(a, b) return a + b end, 1, 2))
      assert.is_false(lock:locked())
      assert.is_true(lock:try_acquire())
      lock:release()
      assert.has_error(function() lock:release() end,
        "tide: release of an unlocked Lock")
    end)
  end)

  it("leaves no trace of a waiter cancelled before it got the lock", function()
    H.run(function()
      local lock = tide.Lock()
      lock:acquire()
      local got = {}
      local tasks = start(3, function(i)
        local _ <close> = lock:acquire()
        got[#got + 1] = i
      end)
      tasks[2]:cancel()
      tide.yield()
      lock:release()
      tasks[1]:await(); tasks[3]:await()
      assert.same({1, 3}, got)
      assert.is_false(lock:locked())
    end)
  end)

  it("passes the lock on when a waiter is cancelled after it was handed it",
    function()
      H.run(function()
        local lock = tide.Lock()
        lock:acquire()
        local got = {}
        local tasks = start(2, function(i)
          local _ <close> = lock:acquire()
          got[#got + 1] = i
        end)
        lock:release() -- handed to task 1 ...
        tasks[1]:cancel() -- ... cancelled before it runs
        tasks[2]:await()
        assert.equal("cancelled", tasks[1]:state())
        assert.same({2}, got)
        assert.is_false(lock:locked())
      end)
    end)
end)

describe("tide.Event", function()
  it("wakes every waiter when set, and stays set until cleared", function()
    H.run(function()
      local ev = tide.Event()
      local woke = 0
      local tasks = start(3, function()
        assert.is_true(ev:wait())
        woke = woke + 1
      end)
      assert.equal(0, woke)
      ev:set()
      for _, t in ipairs(tasks) do t:await() end
      assert.equal(3, woke)
      assert.is_true(ev:wait()) -- set: no wait
      ev:clear()
      assert.is_false(ev:is_set())
      local ok, err = pcall(tide.timeout, 0.001, ev.wait, ev)
      assert.is_true(tide.is_timeout(err))
      ev:set() -- the timed-out waiter left nothing behind
      assert.equal(0, ev:statistics().waiting)
    end)
  end)
end)

describe("tide.Semaphore", function()
  it("lets at most value tasks in, FIFO", function()
    H.run(function()
      local sem = tide.Semaphore(2)
      local inside, most, order = 0, 0, {}
      local tasks = start(6, function(i)
        local _ <close> = sem:acquire()
        order[#order + 1] = i
        inside = inside + 1
        if inside > most then most = inside end
        tide.sleep(0.001)
        inside = inside - 1
      end)
      for _, t in ipairs(tasks) do t:await() end
      assert.equal(2, most)
      assert.same({1, 2, 3, 4, 5, 6}, order)
      assert.equal(2, sem:available())
    end)
  end)

  it("fans 10,000 tasks out through Semaphore(100)", function()
    H.run(function()
      local sem = tide.Semaphore(100)
      local inside, most, done = 0, 0, 0
      tide.group(function(g)
        for _ = 1, 10000 do
          g:spawn(function()
            local _ <close> = sem:acquire()
            inside = inside + 1
            if inside > most then most = inside end
            tide.yield()
            inside = inside - 1
            done = done + 1
          end)
        end
      end)
      assert.equal(10000, done)
      assert.equal(100, most)
      assert.equal(100, sem:available())
      assert.equal(0, sem:statistics().waiting)
    end)
  end)

  it("passes a permit on when a waiter is cancelled after it was handed one",
    function()
      H.run(function()
        local sem = tide.Semaphore(1)
        sem:acquire()
        local got = {}
        local tasks = start(3, function(i)
          sem:acquire()
          got[#got + 1] = i
          sem:release()
        end)
        tasks[2]:cancel() -- still queued: leaves a hole
        sem:release() -- handed to task 1 ...
        tasks[1]:cancel() -- ... cancelled before it runs
        tasks[3]:await()
        assert.same({3}, got)
        assert.equal(1, sem:available())
      end)
    end)

  it("bounded: raises when released more than acquired", function()
    H.run(function()
      local sem = tide.BoundedSemaphore(1)
      sem:acquire()
      sem:release()
      assert.has_error(function() sem:release() end,
        "tide: BoundedSemaphore released too many times")
      local plain = tide.Semaphore(0)
      assert.is_true(plain:locked())
      plain:release()
      assert.is_true(plain:try_acquire())
      assert.has_error(function() tide.Semaphore(-1) end)
    end)
  end)
end)

describe("tide.Condition", function()
  it("wakes waiters in order on notify, holding the lock again", function()
    H.run(function()
      local cond = tide.Condition()
      local items, got = {}, {}
      local tasks = start(3, function(i)
        local _ <close> = cond:acquire()
        cond:wait_for(function() return #items > 0 end)
        assert.is_true(cond:locked())
        got[#got + 1] = i .. ":" .. table.remove(items, 1)
      end)
      for _, v in ipairs({"a", "b", "c"}) do
        local _ <close> = cond:acquire()
        items[#items + 1] = v
        cond:notify()
      end
      for _, t in ipairs(tasks) do t:await() end
      assert.same({"1:a", "2:b", "3:c"}, got)
    end)
  end)

  it("notify_all wakes everyone; notify needs the lock", function()
    H.run(function()
      local cond = tide.Condition(tide.Lock())
      local woke = 0
      local tasks = start(4, function()
        cond:with(function()
          cond:wait()
          woke = woke + 1
        end)
      end)
      assert.has_error(function() cond:notify() end,
        "tide: Condition:notify() without holding its lock")
      cond:with(cond.notify_all, cond)
      for _, t in ipairs(tasks) do t:await() end
      assert.equal(4, woke)
    end)
  end)

  it("takes the lock back before a cancelled wait raises", function()
    H.run(function()
      local cond = tide.Condition()
      local held_at_cancel
      local t = tide.spawn(function()
        local _ <close> = cond:acquire()
        local ok, err = pcall(cond.wait, cond)
        held_at_cancel = cond:locked()
        error(err, 0)
      end)
      tide.yield()
      cond:acquire() -- the waiter must wait for us to get the lock back
      t:cancel()
      tide.sleep(0.001)
      assert.is_false(t:done())
      cond:release()
      assert.is_false(pcall(t.await, t))
      assert.is_true(held_at_cancel)
      assert.is_false(cond:locked())
    end)
  end)

  it("passes a notification on when the notified waiter is cancelled",
    function()
      H.run(function()
        local cond = tide.Condition()
        local woke = {}
        local tasks = start(2, function(i)
          local _ <close> = cond:acquire()
          cond:wait()
          woke[#woke + 1] = i
        end)
        cond:with(function() cond:notify(1) end)
        tasks[1]:cancel()
        tasks[2]:await()
        assert.same({2}, woke)
      end)
    end)
end)

describe("tide.Barrier", function()
  it("lets parties tasks through together, round after round", function()
    H.run(function()
      local b = tide.Barrier(3)
      local log = {}
      local tasks = start(3, function(i)
        for round = 1, 2 do
          log[#log + 1] = ("%d arrives %d"):format(i, round)
          local index = b:wait()
          assert.is_true(index >= 0 and index < 3)
          log[#log + 1] = ("%d leaves %d"):format(i, round)
        end
      end)
      for _, t in ipairs(tasks) do t:await() end
      -- Nobody leaves a round before all have arrived.
      for round = 1, 2 do
        local last_arrival, first_leave = 0, math.huge
        for k, line in ipairs(log) do
          if line:match("arrives " .. round) then last_arrival = k end
          if line:match("leaves " .. round) and k < first_leave then
            first_leave = k
          end
        end
        assert.is_true(last_arrival < first_leave)
      end
      assert.equal(0, b:n_waiting())
    end)
  end)

  it("breaks on abort and on a cancelled waiter; reset mends it", function()
    H.run(function()
      local b = tide.Barrier(3)
      local t1 = tide.spawn(b.wait, b)
      local t2 = tide.spawn(b.wait, b)
      tide.yield()
      t1:cancel()
      assert.is_true(tide.is_cancelled(select(2, pcall(t1.await, t1))))
      assert.is_true(tide.is_error(select(2, pcall(t2.await, t2)), "broken"))
      assert.is_true(b:is_broken())
      assert.is_true(tide.is_error(select(2, pcall(b.wait, b)), "broken"))
      b:reset()
      assert.is_false(b:is_broken())
      local ts = start(3, function() return b:wait() end)
      for _, t in ipairs(ts) do t:await() end
      assert.has_error(function() tide.Barrier(0) end)
    end)
  end)
end)

describe("primitives and level-triggered cancellation", function()
  it("a cancelled task's acquire fails at once, holding nothing", function()
    H.run(function()
      local lock, sem, ev = tide.Lock(), tide.Semaphore(0), tide.Event()
      lock:acquire()
      local t = tide.spawn(function()
        pcall(tide.sleep, 10) -- the cancellation, swallowed
        local r = {}
        for _, f in ipairs({function() lock:acquire() end,
            function() sem:acquire() end, function() ev:wait() end}) do
          local ok, err = pcall(f)
          r[#r + 1] = tide.is_cancelled(err)
        end
        return table.unpack(r)
      end)
      tide.yield()
      t:cancel()
      assert.same({true, true, true}, {t:await()})
      assert.equal(0, lock:statistics().waiting)
      lock:release()
      assert.is_false(lock:locked())
    end)
  end)

  it("Condition:wait takes the lock back even in a cancelled scope",
    function()
      H.run(function()
        local cond = tide.Condition()
        local t = tide.spawn(function()
          local _ <close> = cond:acquire()
          local ok, err = pcall(tide.timeout, 0.01, cond.wait, cond)
          assert.is_true(tide.is_timeout(err))
          assert.is_true(cond:locked()) -- held again
          return "done"
        end)
        tide.yield()
        cond:acquire() -- the lock is busy when the deadline passes
        tide.sleep(0.05)
        cond:release()
        assert.equal("done", t:await())
        assert.is_false(cond:locked())
      end)
    end)
end)
