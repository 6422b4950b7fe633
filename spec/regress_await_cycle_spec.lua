-- Regression (issue 9): two tasks awaiting each other, then one is
-- cancelled: tide__task_cancel and the task's cancel hook called each
-- other without end (SIGSEGV).
local tide = require "tide"
local H = require "helper"

describe("regression: a cycle of awaits", function()
  it("cancelled from either end, ends both tasks", function()
    for _, which in ipairs({"a", "b"}) do
      H.run(function()
        local t = {}
        t.a = tide.spawn(function() tide.yield() return t.b:await() end)
        t.b = tide.spawn(function() tide.yield() return t.a:await() end)
        tide.sleep(0.001)
        t[which]:cancel()
        for _, x in pairs(t) do
          local ok, err = pcall(x.await, x)
          assert.is_false(ok)
          assert.is_true(tide.is_cancelled(err))
        end
      end)
    end
  end)

  it("of three tasks, with a deadline, ends them all", function()
    H.run(function()
      local t = {}
      for i = 1, 3 do
        t[i] = tide.spawn(function()
          tide.yield()
          return t[i % 3 + 1]:await()
        end)
      end
      tide.sleep(0.001)
      local ok, err = pcall(tide.wait_for, 0.01, t[1])
      assert.is_true(tide.is_timeout(err))
      for i = 1, 3 do assert.is_true(t[i]:done()) end
    end)
  end)
end)
