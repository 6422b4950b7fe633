-- Regression: a combinator given a bad argument after good ones spawned
-- tasks for the good ones (functions) before raising, and left them
-- running; wait_for spawned its function before checking the seconds. Now
-- every argument is checked first, and the error names the caller's line.
local tide = require "tide"
local H = require "helper"

describe("combinators with a bad argument", function()
  it("raise before spawning anything, at the caller's line", function()
    H.run(function()
      local ran = 0
      local function job() ran = ran + 1; tide.sleep(10) end
      local cases = {
        {"gather", function() tide.gather(job, job, 1) end, "#3 to 'gather'"},
        {"first", function() tide.first(job, "x") end, "#2 to 'first'"},
        {"race", function() tide.race(job, true) end, "#2 to 'first'"},
        {"wait", function() tide.wait{job, job, 42} end, "#1 to 'wait' %(item 3:"},
        {"as_completed", function() tide.as_completed{job, {}} end, "#1 to 'as_completed' %(item 2:"},
        {"wait_for", function() tide.wait_for(-1, job) end, "#1 to 'wait_for'"},
        {"wait_for x", function() tide.wait_for(1, 7) end, "#2 to 'wait_for'"},
        {"shield", function() tide.shield(7) end, "#1 to 'shield'"},
      }
      for _, c in ipairs(cases) do
        local ok, err = pcall(c[2])
        assert.is_false(ok, c[1])
        assert.matches("regress_combinator_badarg_spec.lua:%d+: bad argument " .. c[3], err)
      end
      tide.sleep(0)
      assert.equal(0, ran)
      assert.equal(1, tide.stats().tasks) -- this one
    end)
  end)
end)

describe("a combinator given the calling task", function()
  it("raises instead of waiting for itself", function()
    local err
    tide.run(function()
      local t
      t = tide.spawn(function()
        local ok, e = pcall(tide.race, function() end, t)
        err = e
      end)
      t:await()
    end)
    assert.equal(0, tide.stats().tasks)
    assert.matches("bad argument #2 to 'first' %(a task cannot await itself%)", err)
  end)
end)
