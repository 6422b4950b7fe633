-- Regressions (found by the API fuzzer, seed 96119405379): a task whose
-- Condition wait was cancelled takes the lock back before it raises, and
-- that park ignores cancellation (asyncio's and Trio's rule). When the
-- lock never comes back (its holder ended holding it), nothing could end
-- the park: the end of tide.run returned with the task still pending. A
-- second cancellation (task:cancel() again, the end of the grace period)
-- now ends it; the cancellation it raises is marked lock_lost, and the
-- Condition's <close> leaves the lock (someone else's) alone.
local tide = require "tide"
local H = require "helper"

describe("Condition wait taking its lock back", function()
  it("gives up on a second cancellation, without the lock", function()
    H.run(function()
      local cond = tide.Condition()
      local err
      local t = tide.spawn(function()
        local ok, e = pcall(cond.with, cond, function() cond:wait() end)
        assert(not ok)
        err = e
      end)
      tide.yield() -- t waits for a notify, the lock released
      cond:acquire() -- and we keep it
      t:cancel() -- t must take the lock back first: it waits
      tide.yield()
      tide.yield()
      assert.is_nil(err)
      t:cancel() -- the second cancellation ends that wait
      t:await()
      assert.is_true(tide.is_cancelled(err))
      assert.is_true(err.lock_lost)
      assert.is_true(cond:locked()) -- still ours: not released by t
      cond:release()
      assert.is_false(cond:locked())
    end)
  end)

  it("does not claim a lock it did not get when cancelled twice after a notify", function()
    H.run(function()
      local cond = tide.Condition()
      local got
      local t = tide.spawn(function()
        local ok, e = pcall(cond.with, cond, function()
          cond:wait()
          got = "returned"
        end)
        if not ok then got = e end
      end)
      tide.yield()
      cond:acquire()
      cond:notify() -- t wakes and waits for the lock we hold
      tide.yield()
      t:cancel()
      tide.yield()
      t:cancel()
      t:await()
      assert.is_table(got)
      assert.is_true(got.lock_lost)
      assert.is_true(cond:locked())
      cond:release()
    end)
  end)

  it("still takes the lock back on one cancellation", function()
    H.run(function()
      local cond = tide.Condition()
      local held
      local t = tide.spawn(function()
        cond:acquire()
        local ok, e = pcall(cond.wait, cond)
        assert(not ok and tide.is_cancelled(e) and not e.lock_lost)
        held = cond:locked()
        cond:release()
      end)
      tide.yield()
      cond:acquire()
      t:cancel()
      tide.yield()
      cond:release() -- handed to t
      t:await()
      assert.is_true(held)
    end)
  end)

  it("ends at the end of tide.run when the lock never comes back", function()
    local saved = tide.cleanup_grace()
    tide.cleanup_grace(0.05)
    local cond = tide.Condition()
    tide.run(function()
      tide.spawn(function() cond:with(function() cond:wait() end) end)
      tide.yield()
      cond:acquire() -- the main task ends holding it
    end)
    local left = tide.stats().tasks
    tide.cleanup_grace(saved)
    assert.equal(0, left)
  end)
end)
