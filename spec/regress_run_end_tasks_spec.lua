-- Regressions (found by the API fuzzer): tide.run returned with a task
-- still pending when the end of the run started one: an error handler
-- spawning a task while the run reported unretrieved errors, or the last
-- loop turn (closing a run's resources) accepting a connection whose
-- handler then waited; timers an error handler made while the run
-- reported; a task waiting in tide.cleanup() when the grace period was
-- shortened. Whatever the run's end starts ends with it.
local tide = require "tide"

describe("the end of tide.run", function()
  it("ends the tasks an error handler spawns while reporting", function()
    local spawned = 0
    local old = tide.set_error_handler(function()
      spawned = spawned + 1
      tide.spawn(function() tide.sleep(10) end)
    end)
    tide.run(function() tide.spawn(error, "unobserved") end)
    local left = tide.stats().tasks
    tide.set_error_handler(old)
    assert.equal(1, spawned)
    assert.equal(0, left)
  end)

  it("ends a handler started by a connection accepted in the last turns", function()
    local srv
    tide.run(function()
      tide.call_later(10, function() end) -- not due when the run ends
      srv = assert(tide.tcp.listen("127.0.0.1", 0, function(s) s:read() end))
      local t = tide.spawn(function() tide.tcp.connect(srv:address()) end)
      tide.yield()
      tide.yield()
      t:cancel()
    end)
    local left = tide.stats().tasks
    srv:close()
    tide.run(function() end)
    assert.equal(0, left)
  end)

  it("closes the callbacks an error handler makes while reporting", function()
    local old = tide.set_error_handler(function()
      tide.call_later(0, function() end)
    end)
    tide.run(function()
      for i = 1, 3 do tide.spawn(error, "fail " .. i) end
    end)
    local timers = tide.stats().timers
    tide.set_error_handler(old)
    assert.equal(0, timers)
  end)

  it("ends tide.cleanup() awaits with the second cancellation", function()
    local saved = tide.cleanup_grace()
    local srv, c, got
    tide.run(function()
      srv = assert(tide.tcp.listen("127.0.0.1", 0, function(s)
        got = {tide.cleanup(function() s:readline() end)}
      end))
      c = assert(tide.tcp.connect(srv:address()))
      tide.yield()
      tide.yield() -- the handler waits in its cleanup, bounded by 5 s
      tide.cleanup_grace(0.05)
    end)
    local left = tide.stats().tasks
    tide.cleanup_grace(saved)
    srv:close()
    c:close()
    tide.run(function() end)
    assert.equal(0, left)
    assert.same({false}, got) -- moved on, as at the end of its own period
  end)

  it("lets task:cancel() twice end a task's tide.cleanup()", function()
    tide.run(function()
      local ev = tide.Event()
      local res
      local t = tide.spawn(function()
        local ok, err = pcall(tide.sleep, 10)
        assert(not ok and tide.is_cancelled(err))
        res = {tide.cleanup(function() ev:wait() end)}
      end)
      tide.yield()
      t:cancel()
      tide.yield()
      tide.yield() -- t waits in its cleanup (5 s of grace)
      assert.is_nil(res)
      t:cancel()
      tide.yield()
      tide.yield() -- the second cancellation has ended the cleanup
      assert.same({false}, res)
      pcall(t.await, t)
    end)
  end)

  it("refuses a tide.run started by the error handler while reporting", function()
    local reported, refused = 0, 0
    local old = tide.set_error_handler(function()
      reported = reported + 1
      local ok, err = pcall(tide.run, function() end)
      if not ok and tostring(err):find("a run is ending", 1, true) then
        refused = refused + 1
      end
    end)
    tide.run(function()
      for i = 1, 300 do tide.spawn(error, "fail " .. i) end
    end)
    tide.set_error_handler(old)
    assert.equal(300, reported) -- each once, no C stack overflow
    assert.equal(300, refused)
    assert.equal(7, tide.run(function() return 7 end)) -- and runs work again
  end)
end)
