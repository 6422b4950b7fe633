-- readexactly(n) with a huge n grows the read buffer towards n bytes before
-- any of them arrived (stream_on_alloc, src/stream.c: the REXACT branch of
-- its growth loop). Today: realloc of ~1 TB (ENOBUFS, or an
-- allocation-size-too-big abort under ASan).
-- Expected: the buffer grows with the data; the read fails only at EOF.
local tide = require "tide"
tide.run(function()
  local srv = assert(tide.tcp.listen("127.0.0.1", 0, function(s)
    s:write(("x"):rep(100))
  end))
  local c = assert(tide.tcp.connect(srv:address()))
  local data, err, name, partial = c:readexactly(2^40)
  assert(data == nil and name == "EOF" and #partial == 100,
    "readexactly(2^40): " .. tostring(err))
  c:close()
  srv:close()
end)
print("ok")
