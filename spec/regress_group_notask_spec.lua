-- Regression (issue 9): a tide.group inside a coroutine resumed where the
-- task cannot yield (across a C call) spun forever: the tunnel failed each
-- await at once and the group retried without end.
local tide = require "tide"
local H = require "helper"

describe("regression: a group where nothing can wait", function()
  it("cancels its children and raises instead of spinning", function()
    H.run(function()
      local child
      local ok, err
      -- string.gsub's callback is a C boundary: nothing can yield across it.
      string.gsub("x", "x", function()
        ok, err = pcall(coroutine.wrap(function()
          tide.group(function(g)
            child = g:spawn(tide.sleep, 10)
          end)
        end))
      end)
      assert.is_false(ok)
      assert.matches("await", tostring(err))
      tide.yield()
      assert.is_true(child:cancelled())
    end)
  end)
end)
