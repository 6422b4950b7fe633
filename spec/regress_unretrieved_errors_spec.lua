-- Regression (issue 9): a few hundred failed tasks whose errors nobody
-- retrieved, reported when tide.run ends, each left a value on the Lua
-- stack (the task label): SIGSEGV, abort or hang; the same stray value made
-- tide.tasks()/tide.dump() raise once a task had been cancelled with a
-- message or had been through a timeout.
local tide = require "tide"
local H = require "helper"

describe("regression: unretrieved errors", function()
  it("thousands of them are each reported once, nothing left behind",
    function()
      local got = H.capture_errors(function()
        H.run(function()
          for i = 1, 3000 do
            local t = tide.spawn(function()
              pcall(tide.timeout, 0, tide.sleep, 1) -- an info table
              error("failure " .. i, 0)
            end)
            if i % 2 == 0 then t:set_name("n" .. i) end
          end
          tide.sleep(0.01)
        end)
      end)
      assert.equal(3000, #got)
      assert.matches("error was never retrieved: failure", got[1])
    end)

  it("tide.tasks() and tide.dump() after cancels with messages and timeouts",
    function()
      H.run(function()
        local list = {}
        for i = 1, 300 do
          list[i] = tide.spawn(function()
            pcall(tide.timeout, 0, tide.sleep, 1)
            tide.cleanup(tide.sleep, 1)
          end)
        end
        tide.sleep(0.001)
        for i = 1, 300, 3 do list[i]:cancel("because " .. i) end
        local tasks = tide.tasks()
        assert.is_true(#tasks >= 300)
        for _, r in ipairs(tasks) do
          assert.equal("userdata", type(r.task))
          assert.matches("^task #%d+", r.label)
        end
        assert.matches("pending task", tide.dump())
        for i = 1, 300 do list[i]:cancel() end
        for i = 1, 300 do pcall(list[i].await, list[i]) end
      end)
    end)
end)
