-- Task names, tide.tasks(), tide.dump(), error reports that name the task,
-- the virtual clock and signal watchers.
local tide = require "tide"
local H = require "helper"

describe("introspection", function()
  it("names tasks and lists the pending ones with where they wait", function()
    H.run(function()
      local a = tide.spawn({name = "sleeper"}, function() tide.sleep(10) end)
      local b = tide.spawn(function() tide.future():await() end)
      b:set_name("blocked")
      tide.yield()
      assert.equal("sleeper", a:name())
      assert.equal("blocked", b:name())
      local list = tide.tasks()
      assert.equal(3, #list)
      local me = list[1]
      assert.equal(tide.current_task(), me.task)
      assert.equal("running", me.state)
      assert.equal("sleeper", list[2].name)
      assert.equal("sleeping", list[2].state)
      assert.matches("introspect_spec.lua:%d+$", list[2].where)
      assert.equal(me.id, list[2].parent)
      assert.equal("waiting", list[3].state)
      assert.matches("task #%d+ 'sleeper' %(spawned at .*introspect_spec.lua:%d+%)",
        list[2].label)
      a:cancel(); b:cancel()
      pcall(a.await, a); pcall(b.await, b)
    end)
  end)

  it("shows the user's line for tasks waiting in tide's own Lua code",
    function()
      H.run(function()
        local q, lock = tide.Queue(), tide.Lock()
        lock:acquire()
        local a = tide.spawn(function() q:get() end) -- line A
        local b = tide.spawn(function() lock:acquire() end)
        local c = tide.spawn(function()
          tide.group(function(g) g:spawn(tide.sleep, 10) end)
        end)
        tide.yield()
        for _, r in ipairs(tide.tasks()) do
          if r.task ~= tide.current_task() and r.where then
            assert.matches("introspect_spec.lua:%d+$", r.where)
          end
        end
        local tb = a:traceback()
        assert.matches("^waiting\nstack traceback:", tb)
        assert.matches("introspect_spec.lua", tb)
        a:cancel(); b:cancel(); c:cancel()
        for _, t in ipairs({a, b, c}) do pcall(t.await, t) end
        lock:release()
        assert.is_nil(tide.current_task():traceback()) -- running: nil
      end)
    end)

  it("dumps the task tree as text", function()
    H.run(function()
      local parent = tide.spawn({name = "parent"}, function()
        local c = tide.spawn({name = "child"}, function() tide.sleep(10) end)
        pcall(c.await, c)
      end)
      tide.sleep(0.001)
      local text = tide.dump()
      assert.matches("3 pending task%(s%)", text)
      -- the child is indented under its parent
      assert.matches("\n    task #%d+ 'parent'[^\n]*\n      task #%d+ 'child'", text)
      parent:cancel()
      pcall(parent.await, parent)
    end)
  end)

  it("checks spawn options", function()
    assert.has_error(function() tide.spawn({name = 3}, function() end) end)
    assert.has_error(function() tide.spawn({name = "x"}) end)
  end)

  it("reports an unobserved error with the task's name and spawn site", function()
    local errors = H.capture_errors(function()
      H.run(function()
        tide.spawn({name = "doomed"}, function() error("kaput") end)
        tide.sleep(0.001)
      end)
    end)
    assert.equal(1, #errors)
    assert.matches("task #%d+ 'doomed' %(spawned at .*introspect_spec.lua:%d+%): " ..
      "error was never retrieved: .*kaput", errors[1])
  end)

  it("carries the failing task's traceback through an await", function()
    local errors = H.capture_errors(function()
      H.run(function()
        local function origin() error("root cause") end
        local inner = tide.spawn({name = "inner"}, function() tide.yield(); origin() end)
        tide.spawn({name = "outer"}, function() inner:await() end)
        tide.sleep(0.001)
      end)
    end)
    assert.equal(1, #errors)
    assert.matches("'outer'.*root cause.*the error came from task #%d+ 'inner'.*origin",
      errors[1])
  end)
end)

describe("the virtual clock", function()
  it("jumps over sleeps and timeouts when only timers are pending", function()
    local was = tide.virtual_clock(true)
    local ok, err = pcall(H.run, function()
      local t0 = tide.now()
      tide.sleep(3600)
      local ok, e = pcall(tide.timeout, 60, function() tide.sleep(7200) end)
      assert.is_false(ok)
      assert.is_true(tide.is_timeout(e))
      local elapsed = tide.now() - t0
      assert.is_true(elapsed >= 3660 and elapsed < 3661, tostring(elapsed))
    end)
    tide.virtual_clock(was)
    assert(ok, err)
  end)

  it("keeps timer order across jumps", function()
    tide.virtual_clock(true)
    local log = {}
    local ok, err = pcall(H.run, function()
      local ts = {}
      for _, d in ipairs({300, 100, 200}) do
        ts[#ts + 1] = tide.spawn(function() tide.sleep(d); log[#log + 1] = d end)
      end
      for _, t in ipairs(ts) do t:await() end
    end)
    tide.virtual_clock(false)
    assert(ok, err)
    assert.same({100, 200, 300}, log)
  end)
end)

describe("tide.on_signal", function()
  it("runs a function from the loop when the signal arrives", function()
    H.run(function()
      local got
      local w = tide.on_signal("SIGUSR2", function(signum) got = signum end)
      os.execute("kill -USR2 $PPID")
      for _ = 1, 100 do
        if got then break end
        tide.sleep(0.01)
      end
      assert.is_number(got)
      w:close()
      w:close() -- twice is fine
    end)
  end)

  it("rejects unknown signal names", function()
    assert.has_error(function() tide.on_signal("SIGBOGUS", function() end) end)
  end)

  it("the tide command dumps its tasks on --dump-on SIGUSR1", function()
    local out, err, code = H.sh(H.tide_bin() .. [[ --dump-on SIGUSR1 -e '
      local t = require "tide"
      t.spawn({name = "bg"}, function() t.sleep(10) end)
      t.sleep(0.05)
      os.execute("kill -USR1 $PPID")
      t.sleep(0.05)']])
    assert.equal(0, code, err)
    assert.matches("task #%d+ 'bg'.*sleeping", err)
  end)
end)

describe("operator's counters", function()
  it("count connections, bytes, tasks and loop turns", function()
    H.run(function()
      local s0 = tide.stats()
      local srv = assert(tide.tcp.listen("127.0.0.1", 0, function(s)
        s:write(s:readline() .. "\n")
      end))
      local c = assert(tide.tcp.connect(srv:address()))
      c:write("hello\n")
      assert.equal("hello", c:readline())
      local mid = tide.stats()
      assert.equal(1, mid.conns_accepted - s0.conns_accepted)
      assert.is_true(mid.bytes_out - s0.bytes_out >= 12)
      assert.is_true(mid.bytes_in - s0.bytes_in >= 12)
      c:close()
      srv:close{wait = true}
      local f = tide.spawn(error, "x", 0)
      pcall(f.await, f)
      local s1 = tide.stats()
      assert.equal(s0.conns_active, s1.conns_active)
      assert.is_true(s1.tasks_spawned > s0.tasks_spawned)
      assert.equal(1, s1.tasks_failed - s0.tasks_failed)
      assert.is_true(s1.iterations > s0.iterations)
    end)
  end)

  it("tide.debug{slow_callback} reports a step that holds the loop", function()
    local got = H.capture_errors(function()
      H.run(function()
        assert.is_false(tide.debug{slow_callback = 0.01})
        local t = tide.spawn({name = "busy"}, function()
          local t0 = os.clock()
          while os.clock() - t0 < 0.03 do end -- no await: the loop waits
          tide.sleep(0)
        end)
        t:await()
        local s = tide.stats()
        assert.is_true(s.slow_steps >= 1)
        assert.is_true(s.slowest_step >= 0.01)
        assert.equal(0.01, tide.debug{slow_callback = false})
        assert.has_error(function() tide.debug{slowcallback = 1} end)
      end)
    end)
    assert.equal(1, #got, table.concat(got, "\n"))
    assert.matches("slow step: task #%d+ 'busy'.* ran 0%.0%d+ s without " ..
      "awaiting", got[1])
    assert.matches("introspect_spec.lua:%d+", got[1])
  end)
end)
