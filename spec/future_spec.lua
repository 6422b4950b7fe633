local tide = require "tide"
local H = require "helper"

describe("tide.future", function()
  it("starts pending and completes once with values", function()
    H.run(function()
      local f = tide.future()
      assert.is_false(f:done())
      assert.equal("pending", f:state())
      tide.spawn(function() f:set_result(1, nil, "three") end)
      local a, b, c = f:await()
      assert.equal(1, a); assert.is_nil(b); assert.equal("three", c)
      assert.is_true(f:done())
      assert.equal("done", f:state())
      -- awaiting a done future again returns the same values at once
      assert.same({1, nil, "three"}, {tide.await(f)})
    end)
  end)

  it("refuses to be set twice", function()
    H.run(function()
      local f = tide.future()
      f:set_result(1)
      assert.has_error(function() f:set_result(2) end,
        "tide: set_result on a future that is already done")
      assert.has_error(function() f:set_error("x") end,
        "tide: set_error on a future that is already done")
      assert.equal(1, f:result())
    end)
  end)

  it("re-raises its error in the awaiting task, with the same value", function()
    H.run(function()
      local f = tide.future()
      local e = {code = 42}
      tide.spawn(function() f:set_error(e) end)
      local ok, got = pcall(f.await, f)
      assert.is_false(ok)
      assert.equal(e, got)
      assert.equal(e, f:error())
      assert.equal("failed", f:state())
    end)
  end)

  it("can be cancelled; awaiting it raises a cancellation error", function()
    H.run(function()
      local f = tide.future()
      assert.is_true(f:cancel("no longer needed"))
      assert.is_false(f:cancel())
      assert.is_true(f:cancelled())
      local ok, err = pcall(f.await, f)
      assert.is_false(ok)
      assert.is_true(tide.is_cancelled(err))
      assert.matches("no longer needed", tostring(err))
    end)
  end)

  it("runs done-callbacks from the loop, never inside set_result", function()
    H.run(function()
      local f = tide.future()
      local log = {}
      f:add_done_callback(function(x)
        assert.equal(f, x)
        log[#log + 1] = "cb1"
      end)
      f:add_done_callback(function() log[#log + 1] = "cb2" end)
      f:set_result("v")
      log[#log + 1] = "after set_result"
      tide.yield()
      assert.same({"after set_result", "cb1", "cb2"}, log)
      -- a callback added to a done future still runs from the loop
      f:add_done_callback(function() log[#log + 1] = "late" end)
      assert.equal(3, #log)
      tide.yield()
      assert.equal("late", log[4])
    end)
  end)

  it("reports a failing callback without stopping the others", function()
    local errors = H.capture_errors(function()
      H.run(function()
        local f = tide.future()
        local ran = false
        f:add_done_callback(function() error("callback boom") end)
        f:add_done_callback(function() ran = true end)
        f:set_result()
        tide.yield()
        assert.is_true(ran)
      end)
    end)
    assert.equal(1, #errors)
    assert.matches("callback boom", errors[1])
  end)

  it("removes callbacks", function()
    H.run(function()
      local f = tide.future()
      local n = 0
      local cb = function() n = n + 1 end
      f:add_done_callback(cb)
      f:add_done_callback(cb)
      assert.equal(2, f:remove_done_callback(cb))
      f:set_result()
      tide.yield()
      assert.equal(0, n)
    end)
  end)

  it("gives clear errors for misuse", function()
    H.run(function()
      local f = tide.future()
      assert.has_error(function() f.set_result({}) end)
      assert.has_error(function() tide.await(42) end,
        "bad argument #1 to 'await' (future or task expected, got number)")
      assert.has_error(function() f:result() end,
        "tide: result() of a pending tide.future")
      assert.has_error(function() f:add_done_callback(1) end)
      assert.has_error(function() f:set_error() end)
      f:cancel()
    end)
  end)

  it("cannot be awaited outside a task", function()
    local f = tide.future()
    assert.has_error(function() f:await() end,
      "tide: await outside a task (use tide.run or tide.spawn)")
    f:cancel()
  end)
end)
