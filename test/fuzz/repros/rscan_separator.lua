-- tide__stream_find keeps s->rscan (how far the last search got) across
-- different separators (src/stream.c): after a readuntil that ends
-- without consuming (timed out, cancelled, or EMSGSIZE), a readline skips
-- the bytes the longer separator's search had already passed.
-- Expected: readline returns "a" (the first line).
local tide = require "tide"
tide.run(function()
  local srv = assert(tide.tcp.listen("127.0.0.1", 0, function(s)
    s:write("a\nbcd")
    tide.sleep(0.05)
    s:write("\n")
  end))
  local c = assert(tide.tcp.connect(srv:address()))
  c:setoptions({read_timeout = 0.02})
  local v, err = c:readuntil("xyz")
  assert(v == nil and err:match("ETIMEDOUT"), tostring(err))
  c:setoptions({read_timeout = 0})
  local line = c:readline()
  assert(line == "a", "readline returned " .. ("%q"):format(tostring(line)))
  c:close()
  srv:close()
end)
print("ok")
