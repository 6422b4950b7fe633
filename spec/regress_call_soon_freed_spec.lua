-- Regression (found by the API fuzzer): a call_soon handle whose function
-- failed was read after the error report, which runs the error handler;
-- a handler that collected garbage freed the handle first
-- (heap-use-after-free in handle_on_ready, seen under make asan).
local tide = require "tide"

describe("a failing call_soon whose error handler collects", function()
  it("leaves nothing to read after the report", function()
    local reports, later = 0, false
    local old = tide.set_error_handler(function()
      reports = reports + 1
      collectgarbage()
      collectgarbage()
      tide.call_soon(function() later = true end)
    end)
    tide.run(function()
      for _ = 1, 20 do tide.call_soon(error, "boom") end
      tide.sleep(0.01)
    end)
    tide.set_error_handler(old)
    assert.equal(20, reports)
    assert.is_true(later)
  end)
end)
