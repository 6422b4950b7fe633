-- Regressions (found by the API fuzzer): tide.run returned with a task
-- still pending when the end of the run started one: an error handler
-- spawning a task while the run reported unretrieved errors, or the last
-- loop turn (closing a run's resources) accepting a connection whose
-- handler then waited. Whatever the run's end starts ends with it.
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
end)
