-- tide.tcp and the stream methods, over loopback (127.0.0.1, port 0 only).
local tide = require "tide"
local H = require "helper"

local tcp = tide.tcp

-- Starts a server running handler; returns it and its port.
local function serve(handler, opts)
  local srv = assert(tcp.listen("127.0.0.1", 0, handler, opts))
  local _, port = srv:address()
  return srv, port
end

local function echo(s)
  while true do
    local data = s:read()
    if not data then return end
    s:write(data)
  end
end

-- A future and the function that resolves it: handlers hand results back.
local function box()
  local f = tide.future()
  return f, function(...) if not f:done() then f:set_result(...) end end
end

describe("tide.tcp", function()
  it("connects, echoes, and names both ends", function()
    H.run(function()
      local srv, port = serve(echo)
      local host, p = srv:address()
      assert.equal("127.0.0.1", host)
      assert.is_true(port > 0 and p == port)
      local c = assert(tcp.connect("127.0.0.1", port))
      assert.same({"127.0.0.1", port}, {c:peername()})
      local h2, lport = c:sockname()
      assert.equal("127.0.0.1", h2)
      assert.is_true(lport > 0)
      assert.is_true(c:write("hello"))
      assert.equal("hello", c:readexactly(5))
      c:close()
      assert.is_true(c:closed())
      srv:close()
    end)
  end)

  it("resolves host names (localhost)", function()
    H.run(function()
      local srv, port = serve(echo)
      local c, err = tcp.connect("localhost", port, {family = 4})
      assert(c, err)
      c:write("x")
      assert.equal("x", c:read())
      c:close()
      srv:close()
    end)
  end)

  it("fails to connect with nil, message, name", function()
    H.run(function()
      local srv, port = serve(echo)
      srv:close() -- the port is free again: nobody listens
      local c, err, name = tcp.connect("127.0.0.1", port)
      assert.is_nil(c)
      assert.equal("ECONNREFUSED: connection refused", err)
      assert.equal("ECONNREFUSED", name)
    end)
  end)

  it("reports unknown hosts and bad arguments", function()
    H.run(function()
      local c, err, name = tcp.connect("", 80)
      assert.is_nil(c)
      assert.is_string(err)
      assert.is_string(name)
      assert.has_error(function() tcp.connect("127.0.0.1", 70000) end)
      assert.has_error(function() tcp.connect(nil, 1) end)
      assert.has_error(function() tcp.listen("127.0.0.1", 0, "nope") end)
    end)
  end)

  it("refuses to listen on a port in use", function()
    H.run(function()
      local srv, port = serve(echo)
      local s2, err, name = tcp.listen("127.0.0.1", port, echo)
      assert.is_nil(s2)
      assert.equal("EADDRINUSE", name)
      assert.matches("^EADDRINUSE: ", err)
      srv:close()
    end)
  end)

  it("read(max) returns what is there, up to max; nil at EOF", function()
    H.run(function()
      local got, done = box()
      local srv, port = serve(function(s)
        s:write("abcdef")
        s:shutdown()
        done(s:read())
      end)
      local c = assert(tcp.connect("127.0.0.1", port))
      assert.equal("ab", c:readexactly(2))
      assert.equal("cd", c:read(2))
      assert.equal("ef", c:read(100))
      assert.is_nil(c:read()) -- EOF: just nil
      assert.is_nil(c:read()) -- and again
      c:close()
      assert.is_nil(got:await()) -- the server saw our EOF
      srv:close()
    end)
  end)

  it("readline strips \\n and \\r\\n unless asked to keep them", function()
    H.run(function()
      local srv, port = serve(function(s)
        s:write("one\ntwo\r\nthree\nfour\nlast")
      end)
      local c = assert(tcp.connect("127.0.0.1", port))
      assert.equal("one", c:readline())
      assert.equal("two", c:readline())
      assert.equal("three\n", c:readline(true))
      assert.equal("four", c:readline())
      assert.equal("last", c:readline()) -- the last line lacks its newline
      assert.is_nil(c:readline())
      c:close()
      srv:close()
    end)
  end)

  it("readuntil consumes the separator; EOF first gives the partial", function()
    H.run(function()
      local srv, port = serve(function(s)
        s:write("a--b--c")
      end)
      local c = assert(tcp.connect("127.0.0.1", port))
      assert.equal("a", c:readuntil("--"))
      assert.equal("b--", c:readuntil("--", true))
      local data, err, name, partial = c:readuntil("--")
      assert.is_nil(data)
      assert.equal("EOF: end of file", err)
      assert.equal("EOF", name)
      assert.equal("c", partial)
      c:close()
      srv:close()
    end)
  end)

  it("EOF in the middle of readexactly gives nil, err and the partial", function()
    H.run(function()
      local srv, port = serve(function(s)
        s:write("abc")
      end)
      local c = assert(tcp.connect("127.0.0.1", port))
      local data, err, name, partial = c:readexactly(10)
      assert.is_nil(data)
      assert.equal("EOF: end of file", err)
      assert.equal("EOF", name)
      assert.equal("abc", partial)
      assert.is_nil(c:read())
      assert.equal("", c:readexactly(0))
      c:close()
      srv:close()
    end)
  end)

  it("readexactly of a large count waits for all of it", function()
    H.run(function()
      local n = 3 * 1024 * 1024
      local srv, port = serve(function(s)
        local chunk = ("0123456789abcdef"):rep(4096)
        for _ = 1, n // #chunk do assert(s:write(chunk)) end
        s:drain()
      end)
      local c = assert(tcp.connect("127.0.0.1", port))
      local data = assert(c:readexactly(n))
      assert.equal(n, #data)
      assert.equal("0123456789abcdef", data:sub(-16))
      c:close()
      srv:close()
    end)
  end)

  it("an over-long line fails with EMSGSIZE and leaves the data", function()
    H.run(function()
      local srv, port = serve(function(s)
        s:write(("x"):rep(20) .. "\nshort\n")
        s:read() -- wait for the client to go
      end)
      local c = assert(tcp.connect("127.0.0.1", port, {max_line = 10}))
      local line, err, name = c:readline()
      assert.is_nil(line)
      assert.equal("EMSGSIZE", name)
      assert.matches("line longer than 10 bytes", err)
      -- nothing was consumed: the caller can take the bytes another way
      assert.equal(("x"):rep(20) .. "\n", c:readuntil("\n", true) or
        c:readexactly(21))
      assert.equal("short", c:readline())
      c:close()
      srv:close()
    end)
  end)

  it("the default line limit is 64 KiB, without growing memory", function()
    H.run(function()
      local srv, port = serve(function(s)
        local chunk = ("y"):rep(16384)
        -- far more than the limit, without a newline
        for _ = 1, 64 do
          if not s:write(chunk) then return end
        end
      end)
      local c = assert(tcp.connect("127.0.0.1", port))
      local line, err, name = c:readline()
      assert.is_nil(line)
      assert.equal("EMSGSIZE", name)
      assert.matches("65536", err)
      local buffered = c:buffered()
      assert.is_true(buffered <= 2 * 65536 + 65536,
        "read buffer grew to " .. buffered)
      c:close()
      srv:close()
    end)
  end)

  it("supports half-close: shutdown sends EOF, reading goes on", function()
    H.run(function()
      local srv, port = serve(function(s)
        local all = {}
        while true do
          local d = s:read()
          if not d then break end
          all[#all + 1] = d
        end
        s:write("got " .. table.concat(all))
      end)
      local c = assert(tcp.connect("127.0.0.1", port))
      c:write("request")
      assert.is_true(c:shutdown())
      local w, werr, wname = c:write("more")
      assert.is_nil(w)
      assert.equal("EPIPE", wname)
      assert.is_string(werr)
      assert.equal("got request", c:readexactly(11))
      assert.is_nil(c:read())
      c:close()
      srv:close()
    end)
  end)

  it("cancelling a reader consumes nothing", function()
    H.run(function()
      local srv, port = serve(function(s)
        s:read()
        s:write("late data")
        s:read()
      end)
      local c = assert(tcp.connect("127.0.0.1", port))
      local reader = tide.spawn(function() return c:readexactly(9) end)
      tide.sleep(0.01)
      reader:cancel()
      local ok, err = pcall(reader.await, reader)
      assert.is_false(ok)
      assert.is_true(tide.is_cancelled(err))
      c:write("go")
      assert.equal("late data", c:readexactly(9))
      c:close()
      srv:close()
    end)
  end)

  it("refuses two readers at once", function()
    H.run(function()
      local srv, port = serve(function(s) s:read() end)
      local c = assert(tcp.connect("127.0.0.1", port))
      local reader = tide.spawn(function() return c:read() end)
      tide.sleep(0.01)
      assert.has_error(function() c:read() end,
        "tide: another task is already reading from this stream")
      c:close()
      assert.same({nil, "ECLOSED: stream is closed", "ECLOSED"},
        {reader:await()})
      srv:close()
    end)
  end)

  it("closing a stream wakes every task waiting on it", function()
    H.run(function()
      local hold = tide.future()
      local srv, port = serve(function(s) hold:await() end)
      local c = assert(tcp.connect("127.0.0.1", port,
        {high_water = 1024, low_water = 0}))
      local reader = tide.spawn(function() return c:read() end)
      local big = ("z"):rep(1024 * 1024)
      local writers = {}
      for i = 1, 3 do
        writers[i] = tide.spawn(function()
          while true do
            local ok, err, name = c:write(big)
            if not ok then return err, name end
          end
        end)
      end
      local drainer = tide.spawn(function() return c:drain() end)
      tide.sleep(0.05)
      c:close()
      assert.same({nil, "ECLOSED: stream is closed", "ECLOSED"},
        {reader:await()})
      for i = 1, 3 do
        assert.same({"ECLOSED: stream is closed", "ECLOSED"},
          {writers[i]:await()})
      end
      assert.same({nil, "ECLOSED: stream is closed", "ECLOSED"},
        {drainer:await()})
      assert.same({nil, "ECLOSED: stream is closed", "ECLOSED"},
        {c:read()})
      hold:set_result()
      srv:close{wait = true}
    end)
  end)

  it("keeps a slow reader's writer bounded (backpressure)", function()
    H.run(function()
      local total = 8 * 1024 * 1024
      local go = tide.future()
      local got, done = box()
      local srv, port = serve(function(s)
        go:await() -- not reading yet: the writer must block
        local n = 0
        while true do
          local d = s:read()
          if not d then break end
          n = n + #d
          local buffered = s:buffered()
          assert(buffered <= 2 * 65536, "reader buffered " .. buffered)
        end
        done(n)
      end)
      local c = assert(tcp.connect("127.0.0.1", port))
      local chunk = ("w"):rep(32 * 1024)
      local maxq = 0
      local writer = tide.spawn(function()
        for _ = 1, total // #chunk do
          assert(c:write(chunk))
          local _, q = c:buffered()
          if q > maxq then maxq = q end
        end
        assert(c:drain())
        c:shutdown()
      end)
      tide.sleep(0.05)
      assert.is_false(writer:done()) -- blocked on the high-water mark
      go:set_result()
      writer:await()
      assert.equal(total, got:await())
      -- queue at most the high-water mark (64 KiB) plus one write
      assert.is_true(maxq <= 65536 + #chunk, "queued " .. maxq)
      c:close()
      srv:close()
    end)
  end)

  it("close() still delivers the bytes already written", function()
    H.run(function()
      local size = 4 * 1024 * 1024
      local srv = assert(tide.tcp.listen("127.0.0.1", 0, function(s)
        -- Far more than the socket buffers hold: most of it is queued
        -- when close() is called.
        s:setoptions{high_water = 2 * size}
        assert(s:write(("z"):rep(size)))
        s:close()
      end))
      local c = assert(tide.tcp.connect(srv:address()))
      tide.sleep(0.05) -- let the writer queue it all and close
      local got = 0
      while true do
        local data = c:read()
        if not data then break end
        got = got + #data
      end
      assert.equal(size, got)
      c:close()
      srv:close()
    end)
  end)

  it("reports a peer that resets mid-write", function()
    H.run(function()
      local srv, port = serve(function(s)
        s:readexactly(1)
        -- closing with unread data makes the kernel send a reset
      end)
      local c = assert(tcp.connect("127.0.0.1", port))
      local chunk = ("r"):rep(64 * 1024)
      local ok, err, name
      for _ = 1, 10000 do
        ok, err, name = c:write(chunk)
        if not ok then break end
      end
      assert.is_nil(ok)
      assert.is_truthy(name == "ECONNRESET" or name == "EPIPE", name)
      assert.matches("^" .. name .. ": ", err)
      -- the error sticks; reading reports the reset or EOF
      assert.is_nil((c:write("x")))
      c:close()
      srv:close()
    end)
  end)

  it("reads partial data before a reset", function()
    H.run(function()
      local srv, port = serve(function(s)
        s:write("partial")
        s:drain()
        s:readexactly(1)
        -- unread bytes left behind: the close is a reset
      end)
      local c = assert(tcp.connect("127.0.0.1", port))
      c:write("12345")
      local data, err, name, partial = c:readexactly(100)
      assert.is_nil(data)
      assert.is_truthy(name == "ECONNRESET" or name == "EOF", name)
      assert.equal("partial", partial)
      c:close()
      srv:close()
    end)
  end)

  it("times reads and writes out when asked", function()
    H.run(function()
      local hold = tide.future()
      local srv, port = serve(function(s) hold:await() end)
      local c = assert(tcp.connect("127.0.0.1", port,
        {read_timeout = 0.05, write_timeout = 0.05,
         high_water = 1024, low_water = 0}))
      assert.same({nil, "ETIMEDOUT: connection timed out", "ETIMEDOUT"},
        {c:read()})
      local big = ("t"):rep(1024 * 1024)
      local ok, err, name
      for _ = 1, 100 do
        ok, err, name = c:write(big)
        if not ok then break end
      end
      assert.equal("ETIMEDOUT", name)
      -- timeouts can be changed or lifted
      c:setoptions{read_timeout = 0, write_timeout = 0}
      c:close()
      hold:set_result()
      srv:close{wait = true}
    end)
  end)

  it("reports a handler's error and closes only that connection", function()
    local errors = H.capture_errors(function()
      H.run(function()
        local srv, port = serve(function(s)
          local line = s:readline()
          if line == "boom" then error("handler exploded") end
          s:write("ok " .. line .. "\n")
        end)
        local bad = assert(tcp.connect("127.0.0.1", port))
        local good = assert(tcp.connect("127.0.0.1", port))
        bad:write("boom\n")
        assert.is_nil(bad:read()) -- closed by the server
        good:write("fine\n")
        assert.equal("ok fine", good:readline())
        bad:close()
        good:close()
        srv:close{wait = true}
      end)
    end)
    assert.equal(1, #errors)
    assert.matches("connection handler failed: .*handler exploded", errors[1])
  end)

  it("server:close stops accepting; cancel and wait end the handlers", function()
    H.run(function()
      local started, cancelled = 0, 0
      local srv, port = serve(function(s)
        started = started + 1
        local ok, err = pcall(s.read, s)
        if not ok and tide.is_cancelled(err) then cancelled = cancelled + 1 end
        error(err, 0)
      end)
      local conns = {}
      for i = 1, 3 do conns[i] = assert(tcp.connect("127.0.0.1", port)) end
      while srv:connections() < 3 do tide.sleep(0.001) end
      srv:close{cancel = true}
      assert.equal(3, started)
      assert.equal(3, cancelled)
      assert.equal(0, srv:connections())
      assert.is_true(srv:closed())
      assert.equal("ECONNREFUSED", select(3, tcp.connect("127.0.0.1", port)))
      for i = 1, 3 do
        assert.is_nil(conns[i]:read())
        conns[i]:close()
      end
    end)
  end)

  it("closes streams on <close> and on garbage collection", function()
    H.run(function()
      local eofs = 0
      local srv, port = serve(function(s)
        if s:read() == nil then eofs = eofs + 1 end
      end)
      do
        local c <close> = assert(tcp.connect("127.0.0.1", port))
      end
      tcp.connect("127.0.0.1", port) -- dropped at once
      collectgarbage()
      collectgarbage()
      while eofs < 2 do tide.sleep(0.001) end
      srv:close{wait = true}
    end)
  end)

  it("cancelling a connect leaves no handle behind", function()
    H.run(function()
      local srv, port = serve(echo)
      local t = tide.spawn(function() return tcp.connect("127.0.0.1", port) end)
      tide.yield() -- the task now waits in connect
      t:cancel()
      local ok, err = pcall(t.await, t)
      assert.is_false(ok)
      assert.is_true(tide.is_cancelled(err))
      srv:close{cancel = true}
    end)
  end)

  it("sets socket options", function()
    H.run(function()
      local srv, port = serve(echo)
      local c = assert(tcp.connect("127.0.0.1", port, {nodelay = false}))
      assert.is_true(c:setnodelay(true))
      assert.is_true(c:setkeepalive(true, 30))
      assert.is_true(c:setkeepalive(false))
      assert.has_error(function() c:setoptions{max_line = -1} end)
      assert.has_error(function()
        c:setoptions{high_water = 10, low_water = 20}
      end)
      c:close()
      assert.same({nil, "ECLOSED: stream is closed", "ECLOSED"},
        {c:write("x")})
      assert.is_true(c:close()) -- idempotent
      srv:close()
    end)
  end)

  it("handles 1,000 concurrent connections", function()
    H.run(function()
      local srv, port = serve(echo, {backlog = 1024})
      local n = 1000
      local clients = {}
      for i = 1, n do
        clients[i] = tide.spawn(function()
          local c = assert(tcp.connect("127.0.0.1", port))
          local msg = ("client %d\n"):format(i)
          assert(c:write(msg))
          local line = assert(c:readline())
          c:close()
          return line
        end)
      end
      local results = tide.gather(table.unpack(clients))
      for i = 1, n do assert.equal(("client %d"):format(i), results[i]) end
      srv:close{wait = true}
    end)
  end)

  it("survives running out of file descriptors (EMFILE)", function()
    -- In a child with 64 descriptors: clients connect (on loopback the
    -- handshake completes at once, into the accept queue) and, in the same
    -- turn, a task uses up every descriptor before the server can accept.
    -- libuv then drops the queued connections with its reserve descriptor
    -- instead of spinning on accept; the server must go on serving.
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write([[
      local tide = require "tide"
      local srv = assert(tide.tcp.listen("127.0.0.1", 0, function(s)
        s:write("hi\n")
        s:read()
      end))
      local _, port = srv:address()
      local clients = {}
      for i = 1, 5 do
        clients[i] = tide.spawn(function()
          return tide.tcp.connect("127.0.0.1", port)
        end)
      end
      local files = {}
      tide.spawn(function()
        while true do
          local f = io.open("/dev/null")
          if not f then break end
          files[#files + 1] = f
        end
      end)
      tide.sleep(0.2)
      print("exhausted", #files > 0)
      for _, f in ipairs(files) do f:close() end
      local dropped = 0
      for i = 1, 5 do
        local c = clients[i]:await()
        if c then
          if c:readline() == nil then dropped = dropped + 1 end
          c:close()
        end
      end
      print("dropped", dropped)
      print("accept_errors", tide.stats().accept_errors)
      local c = assert(tide.tcp.connect("127.0.0.1", port))
      assert(c:readline() == "hi")
      c:close()
      srv:close{cancel = true}
      print("ok")
    ]])
    f:close()
    local out, err, code = H.sh("ulimit -n 64; " .. H.tide_bin() .. " " .. script)
    os.remove(script)
    assert.equal(0, code, err)
    assert.matches("exhausted\ttrue", out)
    assert.matches("dropped\t5", out)
    assert.matches("accept_errors\t5", out)
    assert.matches("ok\n$", out)
    -- Reported once for the burst, on stderr (the default error handler).
    local _, reports = err:gsub("connection%(s%) refused: too many open files", "")
    assert.equal(1, reports, err)
  end)
end)

describe("tide.tcp.listen {reuseport}", function()
  it("lets two servers share a port, both served", function()
    H.run(function()
      local served = {a = 0, b = 0}
      local function handler(name)
        return function(s)
          served[name] = served[name] + 1
          s:write(name .. "\n")
        end
      end
      local a = assert(tide.tcp.listen("127.0.0.1", 0, handler("a"),
        {reuseport = true}))
      local _, port = a:address()
      local b = assert(tide.tcp.listen("127.0.0.1", port, handler("b"),
        {reuseport = true}))
      -- Without the option, the port is taken.
      local none, err, name = tide.tcp.listen("127.0.0.1", port, handler("c"))
      assert.is_nil(none)
      assert.equal("EADDRINUSE", name)
      -- The kernel spreads connections by their source port: some reach
      -- each server.
      for _ = 1, 64 do
        local c = assert(tide.tcp.connect("127.0.0.1", port))
        c:readline()
        c:close()
        if served.a > 0 and served.b > 0 then break end
      end
      assert.is_true(served.a > 0 and served.b > 0)
      a:close{wait = true}
      b:close{wait = true}
    end)
  end)
end)

describe("tide.tcp.connect's happy eyeballs", function()
  it("finds the one family that listens", function()
    H.run(function()
      local srv = assert(tide.tcp.listen("127.0.0.1", 0, function(s)
        s:write("v4\n")
      end))
      local _, port = srv:address()
      -- ::1 refuses at once; 127.0.0.1 answers.
      local c = assert(tide.tcp._race({"::1", "127.0.0.1"}, port, nil, nil))
      assert.equal("v4", c:readline())
      c:close()
      srv:close{wait = true}
    end)
  end)

  it("starts the next address after 250 ms when the first hangs", function()
    -- A listener that never accepts, its backlog filled: a connect to it
    -- hangs, as to an address that drops packets.
    local out = os.tmpname()
    local py = io.popen(([[python3 -c '
import socket, time, sys
s = socket.socket()
s.bind(("127.0.0.1", 0)); s.listen(0)
print(s.getsockname()[1], flush=True)
fill = []
for i in range(8):
    c = socket.socket(); c.setblocking(False)
    try: c.connect(("127.0.0.1", s.getsockname()[1]))
    except BlockingIOError: pass
    fill.append(c)
time.sleep(20)
' > %s & echo $!]]):format(out))
    local pid = py:read("l")
    py:close()
    local port
    for _ = 1, 100 do
      local f = io.open(out)
      port = f and tonumber(f:read("l"))
      if f then f:close() end
      if port then break end
      os.execute("sleep 0.05")
    end
    H.run(function()
      local srv = assert(tide.tcp.listen("127.0.0.2", port, function(s)
        s:write("second\n")
      end))
      local t0 = tide.now()
      local c = assert(tide.tcp._race({"127.0.0.1", "127.0.0.2"}, port,
        tide.now() + 10, nil))
      local took = tide.now() - t0
      assert.equal("second", c:readline())
      assert.is_true(took >= 0.2 and took < 5, took)
      c:close()
      srv:close{wait = true}
    end)
    os.execute("kill " .. pid)
    os.remove(out)
  end)
end)
