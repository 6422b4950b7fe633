-- A call_soon handle is freed by the collector while its ready-queue entry
-- is still pending; the entry then runs on freed memory:
-- heap-use-after-free in handle_on_ready (src/lua/ltimer.c:80, its first
-- write to the handle), called from tide__loop_drain. Here: a call_soon
-- callback fails at the end of the run, and the error handler collects
-- garbage and queues another call_soon. Found by the API fuzzer (seeds
-- 20332 and 300637, minimized, and reduced by hand). Today: ASan reports
-- heap-use-after-free (run it with the asan build; the plain build may
-- pass or crash).
-- Expected: a queued handle stays alive until its entry has run.
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
