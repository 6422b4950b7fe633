-- A call_soon handle is freed by the collector while handle_on_ready
-- still uses it: heap-use-after-free in handle_on_ready
-- (src/lua/ltimer.c:80 on main at 2d5f6b8, `if (h->cancelled ...)` right
-- after handle_run; on the old core at its first line). handle_call
-- (ltimer.c:26) releases the handle's pin before calling its function, so
-- while the function runs the handle lives only on the protected call's
-- stack; when the function fails, tide__runtime_pcall reports the error
-- after that stack is gone (src/runtime.c:68), the error handler runs Lua
-- (here: collectgarbage) and the handle is collected; handle_on_ready then
-- reads it. Found by the API fuzzer (seeds 20332 and 300637, minimized,
-- then reduced by hand). Today: ASan reports heap-use-after-free (run it
-- with the asan build; the plain build usually passes).
-- Expected: the handle stays alive until handle_on_ready is done with it
-- (release the pin after the call, or read what is needed before it).
local tide = require "tide"
tide.run(function()
  tide.call_soon(error, "boom")
  tide.set_error_handler(function()
    collectgarbage()
    tide.call_soon(print, "queued from the error handler")
  end)
end)
tide.set_error_handler(nil)
print("ok")
