-- Regression (found by the API fuzzer): a cycle of awaits through a group.
-- Task t runs a group whose child awaits t; cancelling both (the end of
-- tide.run) left them waiting for each other until the cleanup grace
-- period ran out: the child passed its cancellation on to t and waited for
-- t to end, t waited in the group for the child. Now a task already
-- cancelled is not waited for by its awaiter, and a second cancellation
-- stops a wait for a task the first one was passed on to.
local tide = require "tide"
local H = require "helper"

describe("a cycle of awaits through a group", function()
  it("ends when the run ends, without waiting for the grace period", function()
    local t
    local wall = os.time()
    tide.run(function()
      t = tide.spawn(function()
        tide.group(function(g)
          g:spawn(function() t:await() end)
        end)
      end)
      tide.sleep(0.01)
    end)
    assert.equal(0, tide.stats().tasks)
    assert.is_true(t:cancelled())
    assert.is_true(os.time() - wall <= 2, "it waited for the grace period")
  end)

  it("ends when the group's task is cancelled by hand", function()
    H.run(function()
      local t
      t = tide.spawn(function()
        tide.group(function(g)
          g:spawn(function() t:await() end)
        end)
      end)
      tide.sleep(0.01)
      t:cancel()
      assert.is_false(pcall(t.await, t))
      assert.is_true(t:cancelled())
    end)
  end)

  it("still waits for an awaited task it cancels itself", function()
    H.run(function()
      local cleaned = false
      local inner = tide.spawn(function()
        local _ <close> = setmetatable({}, {__close = function()
          tide.cleanup(function() tide.sleep(0.05); cleaned = true end)
        end})
        tide.sleep(10)
      end)
      local outer = tide.spawn(function() inner:await() end)
      tide.sleep(0.01)
      outer:cancel()
      pcall(outer.await, outer)
      -- outer's cancellation went on to inner, and outer ended only after
      -- inner's cleanup (asyncio's rule).
      assert.is_true(cleaned)
    end)
  end)
end)
