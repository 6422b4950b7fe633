-- Regression (issue 9): coroutines suspended in an await that the
-- coroutine.resume tunnel passes up to a task.
--  * resumed by hand by another task with no arguments: the tunnel's
--    continuation took the frame's anchor as the wake token, and the next
--    wait ended in lua_xmove(L, NULL, 1) (SIGSEGV);
--  * closed with coroutine.close while awaiting tide.tcp.connect: the
--    connect attempt was never freed and its socket stayed open;
--  * a future collected while a task was still registered on it (its only
--    reference on such a coroutine's stack): use after free on cancel.
local tide = require "tide"
local H = require "helper"

describe("regression: a coroutine waiting in a tunnelled await", function()
  it("cannot be resumed by hand; its task goes on unharmed", function()
    H.run(function()
      local inner = coroutine.create(function()
        tide.sleep(0.01)
        return "inner done"
      end)
      local outer = coroutine.create(function()
        return coroutine.resume(inner)
      end)
      local t = tide.spawn(function() return coroutine.resume(outer) end)
      tide.yield()
      for _, co in ipairs({outer, inner}) do
        local ok, err = coroutine.resume(co) -- by hand, no arguments
        assert.is_false(ok)
        assert.matches("waits in a tide await", err)
        ok, err = coroutine.resume(co, "x", "y") -- or with some
        assert.matches("waits in a tide await", err)
        assert.equal("suspended", coroutine.status(co))
      end
      assert.same({true, true, "inner done"}, {t:await()})
    end)
  end)

  it("cannot be closed; the connect it waits in is released", function()
    H.run(function()
      local srv = assert(tide.tcp.listen("127.0.0.1", 0, function(c) end))
      local host, port = srv:address()
      local co = coroutine.create(function()
        local c = tide.tcp.connect(host, port)
        if c then c:close() end
        tide.sleep(10)
      end)
      local t = tide.spawn(function() return coroutine.resume(co) end)
      tide.yield()
      local ok, err = pcall(coroutine.close, co)
      assert.is_false(ok)
      assert.matches("waits in a tide await", err)
      t:cancel()
      assert.is_false(pcall(t.await, t) and false)
      srv:close()
    end)
  end)

  it("keeps what it awaits alive; a lost future never breaks a cancel",
    function()
      H.run(function()
        local t = tide.spawn(function()
          local co = coroutine.wrap(function()
            local f = tide.future()
            f:await()
          end)
          co()
        end)
        tide.yield()
        for _ = 1, 3 do collectgarbage() end
        t:cancel()
        local ok, err = pcall(t.await, t)
        assert.is_true(tide.is_cancelled(err))
      end)
    end)
end)
