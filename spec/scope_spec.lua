-- Cancel scopes (src/scope.c, src/lua/lscope.c): the level-triggered rule
-- and the cases docs/concurrency.md lists, one spec each (numbered as in
-- the design note's table).
local tide = require "tide"
local H = require "helper"

-- Times are virtual: sleeps and deadlines take no real time, and "at about
-- 0.05 s" is exact up to the clock's millisecond steps.
local was_virtual
setup(function() was_virtual = tide.virtual_clock(true) end)
teardown(function() tide.virtual_clock(was_virtual) end)

-- Asserts that fn took about `secs` of loop time (well below 10 s, the
-- sleep each case would take if the rule failed).
local function timed(secs, fn, ...)
  local t0 = tide.now()
  local r = table.pack(pcall(fn, ...))
  local took = tide.now() - t0
  assert.is_true(took >= secs - 1e-6 and took < secs + 0.5,
    ("took %.3f s, expected about %.3f s"):format(took, secs))
  return table.unpack(r, 1, r.n)
end

describe("cancel scopes", function()
  it("1: every await fails again after a pcall swallowed the first",
    function()
      H.run(function()
        local ok, err = timed(0.05, tide.timeout, 0.05, function()
          pcall(tide.sleep, 10)
          tide.sleep(10) -- raises at once
        end)
        assert.is_false(ok)
        assert.is_true(tide.is_timeout(err))
      end)
    end)

  it("2: an outer deadline passes through an inner scope a pcall catches",
    function()
      H.run(function()
        local ok, err = timed(0.05, tide.timeout, 0.05, function()
          pcall(tide.timeout, 10, function() tide.sleep(10) end)
          tide.sleep(10)
        end)
        assert.is_false(ok)
        assert.is_true(tide.is_timeout(err))
        assert.equal("tide: timeout after 0.05 s", tostring(err))
      end)
    end)

  it("3: an inner scope owns its own deadline; the outer goes on", function()
    H.run(function()
      local ok, v = timed(0.05, tide.timeout, 10, function()
        local iok, ierr = pcall(tide.timeout, 0.05, function()
          tide.sleep(10)
        end)
        assert.is_false(iok)
        assert.is_true(tide.is_timeout(ierr))
        tide.sleep(0) -- the outer scope is not cancelled
        return "ok"
      end)
      assert.is_true(ok)
      assert.equal("ok", v)
    end)
  end)

  it("4: a retry loop inside move_on_after stops at the deadline", function()
    H.run(function()
      local attempts = 0
      local function fetch()
        attempts = attempts + 1
        tide.sleep(10)
      end
      local ok, moved = timed(0.05, tide.move_on_after, 0.05, function()
        for _ = 1, 3 do
          if pcall(fetch) then break end
        end
        return "finished"
      end)
      assert.is_true(ok)
      assert.is_false(moved) -- it moved on
      assert.equal(3, attempts) -- each remaining fetch failed at once
    end)
  end)

  it("5: a body that swallows its cancellation and returns keeps its values",
    function()
      H.run(function()
        local r = table.pack(tide.timeout(0.01, function()
          pcall(tide.sleep, 10)
          return "swallowed", 2
        end))
        assert.same({"swallowed", 2, n = 2}, r)
        -- No state leaks: an unrelated timeout works as usual.
        local ok, err = pcall(tide.timeout, 0.01, tide.sleep, 10)
        assert.is_true(tide.is_timeout(err))
        assert.equal(1, tide.timeout(1, function() tide.sleep(0) return 1 end))
        assert.equal(math.huge, tide.remaining())
      end)
    end)

  it("6: a cancelled task that swallows it once ends cancelled", function()
    H.run(function()
      local t = tide.spawn(function()
        pcall(tide.sleep, 1)
        tide.sleep(1)
        return 1
      end)
      tide.sleep(0.01)
      t:cancel()
      local ok, err = pcall(t.await, t)
      assert.is_false(ok)
      assert.is_true(tide.is_cancelled(err))
      assert.equal("cancelled", t:state())
    end)
  end)

  it("7: shield lets its function finish; the next await outside fails",
    function()
      H.run(function()
        local got
        local ok, err = pcall(tide.timeout, 0.01, function()
          got = tide.shield(function() tide.sleep(0.1) return "done" end)
          tide.sleep(0) -- outside the shield: the deadline has passed
        end)
        assert.equal("done", got)
        assert.is_true(tide.is_timeout(err))
      end)
    end)

  describe("8: <close> handlers after a cancellation", function()
    it("may await (shielded) within the grace period", function()
      H.run(function()
        local log = {}
        local t = tide.spawn(function()
          local _ <close> = setmetatable({}, {__close = function()
            tide.sleep(0.5)
            log[#log + 1] = "bye written"
          end})
          tide.sleep(10)
        end)
        tide.sleep(0.01)
        t:cancel()
        assert.is_false(pcall(t.await, t))
        assert.same({"bye written"}, log)
        assert.equal("cancelled", t:state())
      end)
    end)

    it("are stopped by a second cancellation", function()
      H.run(function()
        local log = {}
        local t = tide.spawn(function()
          local _ <close> = setmetatable({}, {__close = function()
            local ok, err = pcall(tide.sleep, 10)
            log[#log + 1] = tide.is_cancelled(err) and "interrupted"
          end})
          tide.sleep(10)
        end)
        tide.sleep(0.01)
        t:cancel()
        tide.sleep(0.01)
        t:cancel() -- the second one
        local t0 = tide.now()
        assert.is_false(pcall(t.await, t))
        assert.is_true(tide.now() - t0 < 1)
        assert.same({"interrupted"}, log)
      end)
    end)

    it("are stopped at the end of the grace period", function()
      H.run(function()
        local old = tide.cleanup_grace(2)
        local log = {}
        local t = tide.spawn(function()
          local _ <close> = setmetatable({}, {__close = function(_, e)
            local ok, err = pcall(tide.sleep, 10)
            log[#log + 1] = tide.is_cancelled(err) and "grace over"
          end})
          tide.sleep(10)
        end)
        tide.sleep(0.01)
        t:cancel()
        local t0 = tide.now()
        assert.is_false(pcall(t.await, t))
        local took = tide.now() - t0
        assert.is_true(took >= 2 - 0.01 and took < 3, took)
        assert.same({"grace over"}, log)
        tide.cleanup_grace(old)
      end)
    end)

    it("run under a deadline's cancellation too", function()
      H.run(function()
        local log = {}
        local ok, err = pcall(tide.timeout, 0.01, function()
          local _ <close> = setmetatable({}, {__close = function()
            tide.sleep(0.1)
            log[#log + 1] = "closed"
          end})
          tide.sleep(10)
        end)
        assert.is_true(tide.is_timeout(err))
        assert.same({"closed"}, log)
      end)
    end)
  end)

  it("9: cleanup in a pcall's error branch fails again unless in tide.cleanup",
    function()
      H.run(function()
        local log = {}
        local t = tide.spawn(function()
          local ok, err = pcall(tide.sleep, 10)
          local ok2, err2 = pcall(tide.sleep, 0.01) -- level-triggered
          log[#log + 1] = tide.is_cancelled(err2) and "raised again"
          local done = tide.cleanup(function()
            tide.sleep(0.01)
            log[#log + 1] = "cleaned up"
          end)
          log[#log + 1] = done and "in time" or "grace over"
          error(err, 0)
        end)
        tide.sleep(0.01)
        t:cancel()
        assert.is_false(pcall(t.await, t))
        assert.same({"raised again", "cleaned up", "in time"}, log)
      end)
    end)

  it("9b: tide.cleanup gives up at the end of the grace period", function()
    H.run(function()
      local old = tide.cleanup_grace(1)
      local ok, ok2 = pcall(tide.cleanup, tide.sleep, 10)
      assert.is_true(ok)
      assert.is_false(ok2)
      tide.cleanup_grace(old)
    end)
  end)

  it("10: a group's sibling fails at once after a pcall; the error comes fast",
    function()
      H.run(function()
        local ok, err = timed(0.01, tide.group, function(g)
          g:spawn(function()
            tide.sleep(0.01)
            error("child failed", 0)
          end)
          g:spawn(function()
            pcall(tide.sleep, 10)
            tide.sleep(10)
          end)
        end)
        assert.is_false(ok)
        assert.equal("child failed", err)
      end)
    end)

  it("11: a cycle of awaits cancelled ends both tasks", function()
    H.run(function()
      local a, b
      a = tide.spawn(function() tide.yield() return b:await() end)
      b = tide.spawn(function() tide.yield() return a:await() end)
      tide.sleep(0.01)
      a:cancel()
      local ok, err = pcall(a.await, a)
      assert.is_false(ok)
      assert.is_true(tide.is_cancelled(err))
      assert.is_false(pcall(b.await, b))
      assert.is_true(b:done())
    end)
  end)

  it("12: the end of tide.run waits for cleanup that awaits", function()
    local log = {}
    tide.run(function()
      tide.spawn(function()
        local _ <close> = setmetatable({}, {__close = function()
          tide.sleep(0.01)
          log[#log + 1] = "cleaned up"
        end})
        tide.sleep(10)
      end)
      tide.sleep(0)
    end)
    assert.same({"cleaned up"}, log)
    H.assert_clean()
  end)

  it("13: Ctrl-C in the tide command runs the cleanup and exits 130", function()
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write([[
      local tide = require "tide"
      tide.spawn(function()
        local _ <close> = setmetatable({}, {__close = function()
          tide.sleep(0.01)
          io.stdout:write("task cleaned up\n")
        end})
        tide.sleep(100)
      end)
      local _ <close> = setmetatable({}, {__close = function()
        tide.sleep(0.01)
        io.stdout:write("main cleaned up\n")
      end})
      io.stdout:write("ready\n") io.stdout:flush()
      tide.sleep(100)
    ]])
    f:close()
    -- The shell sends SIGINT once the script says it is ready.
    local out, err = H.sh(([[(
      out=$(mktemp); %s %s >$out & p=$!
      for i in $(seq 200); do grep -q ready $out && break; sleep 0.05; done
      kill -INT $p; wait $p; echo "status $?"; cat $out; rm -f $out)]])
      :format(H.tide_bin(), script))
    os.remove(script)
    assert.matches("status 130", out)
    assert.matches("ready\nmain cleaned up\ntask cleaned up\n", out)
    assert.equal("build/bin/tide: interrupted by SIGINT\n",
      err:gsub("^.-tide:", "build/bin/tide:"))
  end)
end)

describe("scope objects", function()
  it("report their state and can be cancelled and rescheduled", function()
    H.run(function()
      local s <close> = tide.timeout_scope(5)
      assert.is_true(s:remaining() > 4)
      assert.is_false(s:expired())
      s:reschedule(10)
      assert.is_true(s:remaining() > 9)
      assert.is_true(tide.remaining() > 9)
      assert.is_true(s:cancel())
      assert.is_false(s:cancel())
      assert.equal(0, s:remaining())
      assert.is_true(s:expired())
      local ok, err = pcall(tide.sleep, 1)
      assert.is_true(tide.is_cancelled(err))
      assert.has_error(function() s:reschedule(1) end)
      s:close()
    end)
  end)

  it("are not affected by a scope closed out of order", function()
    H.run(function()
      local outer = tide.timeout_scope(10)
      local inner = tide.timeout_scope(0.01)
      outer:close() -- out of order: fine
      local ok, err = pcall(tide.sleep, 1)
      assert.is_true(tide.is_cancelled(err))
      assert.is_true(inner:close(err)) -- inner owns it
      tide.sleep(0)
    end)
  end)

  it("left open in a finished task are harmless", function()
    local kept
    H.run(function()
      local t = tide.spawn(function() kept = tide.timeout_scope(0.01) end)
      t:await()
      tide.sleep(0.02)
    end)
    collectgarbage()
    assert.is_false(kept:close()) -- closed with its task
  end)
end)
