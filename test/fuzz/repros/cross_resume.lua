-- A plain coroutine suspended inside the coroutine.resume tunnel (task A
-- awaits through it, here through a nested coroutine) is resumed by hand
-- with no arguments from task B. co's pending continuation is co_k
-- (src/lua/lcoro.c), which moves "the wake token" from the top of co's
-- stack down to the inner coroutine: with no arguments there is none, and
-- lua_xmove moves whatever lies there (the outside campaign saw
-- lua_xmove(L, NULL, 1) and a SIGSEGV; here the inner sleep is cut short
-- and B's resume reports success).
-- Expected: B's resume fails (false and an error: the coroutine waits in
-- an await of another task), and A's await completes normally.
local tide = require "tide"
local a_done, b_ok
tide.run(function()
  local co = coroutine.create(function()
    local inner = coroutine.create(function() tide.sleep(0.01) end)
    assert(coroutine.resume(inner))
    a_done = true
  end)
  tide.spawn(function() coroutine.resume(co) end)
  tide.spawn(function() tide.yield() b_ok = coroutine.resume(co) end)
  tide.sleep(0.03)
end)
assert(b_ok == false, "the hand resume of a coroutine waiting in an await succeeded")
assert(a_done, "task A's await through the coroutine did not complete")
print("ok")
