-- Option tables (src/lua/lopts.c): every function that takes one raises on
-- a key it does not know, so nothing insecure or ineffective passes
-- silently ({tsl = true} for {tls = true}, {reuse_port = true}, ...).
local tide = require "tide"
local H = require "helper"

local function raises_unknown(key, fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "no error for option " .. key)
  assert.matches("unknown option '" .. key .. "'", tostring(err), 1, true)
end

describe("option tables", function()
  it("raise on unknown keys everywhere", function()
    H.run(function()
      local srv = assert(tide.tcp.listen("127.0.0.1", 0, function() end))
      local host, port = srv:address()
      raises_unknown("tsl", tide.tcp.connect, host, port, {tsl = true})
      raises_unknown("reuse_port", tide.tcp.listen, "127.0.0.1", 0,
        function() end, {reuse_port = true})
      raises_unknown("daemon", tide.spawn, {daemon = true}, function() end)
      raises_unknown("signals_", tide.run, {signals_ = true}, function() end)
      raises_unknown("tiemout", tide.unix.connect, "/nonexistent",
        {tiemout = 1})
      raises_unknown("mode", tide.unix.listen, "/tmp/x", function() end,
        {mode = 1})
      raises_unknown("x", tide.pipe.open, 0, {x = 1})
      raises_unknown("reuseport", tide.udp.bind, "127.0.0.1", 0,
        {reuseport = true})
      raises_unknown("reuseaddr", tide.udp.connect, "127.0.0.1", 9,
        {reuseaddr = true})
      raises_unknown("ttl", tide.dns.resolve, "localhost", {ttl = 1})
      raises_unknown("family", tide.dns.reverse, "127.0.0.1", {family = 4})
      raises_unknown("return_error", tide.gather, function() end,
        {return_error = true})
      raises_unknown("until", tide.wait, {}, {["until"] = "all"})
      raises_unknown("deadline", tide.as_completed, {}, {deadline = 1})
      local c = assert(tide.tcp.connect(host, port))
      raises_unknown("readtimeout", c.setoptions, c, {readtimeout = 1})
      local ok, err = pcall(c.setoptions, c, {1})
      assert.matches("unknown option key of type number", err)
      c:close()
      raises_unknown("force", srv.close, srv, {force = true})
      srv:close()
    end)
  end)

  it("name the known ones, and accept them", function()
    H.run(function()
      local ok, err = pcall(tide.spawn, {nme = "x"}, function() end)
      assert.matches("tide.spawn: unknown option .nme. %(known: name, eager%)", err)
      local t = tide.spawn({name = "x"}, function() end)
      t:await()
      local srv = assert(tide.tcp.listen("127.0.0.1", 0, function() end,
        {backlog = 16, max_line = 100, read_timeout = 1}))
      local c = assert(tide.tcp.connect("127.0.0.1", select(2, srv:address()),
        {timeout = 1, nodelay = true, high_water = 100, low_water = 10}))
      c:close()
      srv:close()
    end)
  end)
end)
