-- Issue 17: idle connections hold no read buffer. A stream takes a buffer
-- from the loop's pool when bytes arrive and gives it back once its reader
-- has consumed them all; tide.stats().read_buffers counts the buffers
-- streams hold. These specs check that counter, that bytes nobody has
-- asked for yet are kept exactly, and that the limits (max_line, the
-- read-ahead) behave as they did with a buffer per stream.
local tide = require "tide"
local H = require "helper"
local T = require "tls_helper"

local tcp = tide.tcp

local function serve(handler, opts)
  local srv = assert(tcp.listen("127.0.0.1", 0, handler, opts))
  local _, port = srv:address()
  return srv, port
end

local function line_echo(c)
  while true do
    local l = c:readline()
    if not l then break end
    c:write(l .. "\n")
  end
end

local function stats() return tide.stats() end

-- Yields to the loop until cond() holds (at most n turns of 1 ms): the
-- bytes a peer wrote reach our socket a few loop turns later. Returns
-- whether it held; what it waits for is asserted by the caller.
local function settle(cond, n)
  for _ = 1, n or 2000 do
    if cond() then return true end
    tide.sleep(0.001)
  end
  return cond()
end

describe("stream read buffers (issue 17)", function()
  it("an idle connection whose handler waits in readline holds none", function()
    H.run(function()
      local srv, port = serve(line_echo)
      local conns = {}
      for i = 1, 20 do
        local c = assert(tcp.connect("127.0.0.1", port))
        assert(c:write("hello " .. i .. "\n"))
        assert.equal("hello " .. i, c:readline())
        conns[i] = c
      end
      -- Every line was taken by its reader on both ends: 40 streams open,
      -- none holding a buffer, the handlers all waiting in readline.
      assert.equal(20, srv:connections())
      assert.equal(0, stats().read_buffers)
      assert.equal(0, stats().read_buffer_bytes)
      for _, c in ipairs(conns) do c:close() end
      srv:close{wait = true}
      assert.equal(0, stats().read_buffers)
    end)
  end)

  it("keeps bytes that arrive before a reader waits, exactly", function()
    H.run(function()
      local go = tide.Event()
      local got = tide.future()
      local srv, port = serve(function(s)
        go:wait() -- no read until the bytes are in our buffer
        local parts = {}
        parts[1] = assert(s:readline())
        parts[2] = assert(s:readexactly(5))
        parts[3] = assert(s:readuntil("END"))
        parts[4] = s:read()
        got:set_result(parts)
      end)
      local c = assert(tcp.connect("127.0.0.1", port))
      local base = stats().bytes_in -- counted since the runtime began
      -- In several writes, partial line included: the stream reads them
      -- ahead into one buffer that nobody consumes yet.
      assert(c:write("first li"))
      assert(c:write("ne\nABCDE"))
      assert(c:write("middle\0bytes\r\nEND"))
      assert(c:write("tail"))
      assert.is_true(settle(function()
        return stats().bytes_in - base >= 8 + 8 + 17 + 4
      end))
      assert.equal(1, stats().read_buffers)
      go:set()
      local parts = got:await()
      assert.same({"first line", "ABCDE", "middle\0bytes\r\n", "tail"},
        parts)
      -- All consumed: the buffer went back to the pool.
      assert.equal(0, stats().read_buffers)
      c:close()
      srv:close{wait = true}
    end)
  end)

  it("a reader that consumes part keeps the rest in its buffer", function()
    H.run(function()
      local srv, port = serve(function(s)
        s:write("one\ntwo\nthree")
        s:drain()
        s:read() -- until the client goes
      end)
      local base = stats().bytes_in
      local c = assert(tcp.connect("127.0.0.1", port))
      assert.is_true(settle(function()
        return stats().bytes_in - base >= 13
      end))
      assert.equal("one", c:readline())
      assert.equal("two", c:readline())
      assert.equal(1, stats().read_buffers)
      assert.equal("three", c:readexactly(5))
      assert.equal(0, stats().read_buffers)
      c:close()
      srv:close{wait = true}
    end)
  end)

  it("an over-long line fails as before and its bytes stay", function()
    H.run(function()
      local srv, port = serve(function(s)
        s:write(("x"):rep(20) .. "\nshort\n")
        s:read()
      end)
      local c = assert(tcp.connect("127.0.0.1", port, {max_line = 10}))
      local line, err, name = c:readline()
      assert.is_nil(line)
      assert.equal("EMSGSIZE", name)
      assert.matches("line longer than 10 bytes", err)
      assert.equal(1, stats().read_buffers)
      assert.equal(("x"):rep(20) .. "\n", c:readexactly(21))
      assert.equal("short", c:readline())
      assert.equal(0, stats().read_buffers)
      c:close()
      srv:close{wait = true}
    end)
  end)

  it("reads ahead at most the read-ahead limit while nobody reads", function()
    H.run(function()
      local total = 8 * 1024 * 1024
      local go = tide.Event()
      local received = tide.future()
      local srv, port = serve(function(s)
        go:wait()
        local n = 0
        while true do
          local data = s:read()
          if not data then break end
          n = n + #data
        end
        received:set_result(n)
      end)
      local c = assert(tcp.connect("127.0.0.1", port))
      local base = stats().bytes_in
      local writer = tide.spawn(function()
        local chunk = ("z"):rep(64 * 1024)
        for _ = 1, total // #chunk do assert(c:write(chunk)) end
        c:shutdown()
      end)
      -- The server stream stops reading at 64 KiB nobody asked for; the
      -- rest waits in the kernel and in the client's queue. Wait until
      -- bytes_in stops moving for a while, then look.
      local last, still = -1, 0
      settle(function()
        local now = stats().bytes_in
        if now == last then still = still + 1 else still = 0 end
        last = now
        return still >= 20
      end, 5000)
      assert.is_true(stats().bytes_in - base < total)
      assert.equal(1, stats().read_buffers)
      -- 64 KiB of read-ahead fits a buffer of at most twice that.
      assert.is_true(stats().read_buffer_bytes <= 128 * 1024,
        "read buffers: " .. stats().read_buffer_bytes .. " bytes")
      go:set()
      assert.equal(total, received:await())
      writer:await()
      assert.equal(0, stats().read_buffers)
      c:close()
      srv:close{wait = true}
    end)
  end)

  it("a buffer grown for a large readexactly is freed once read", function()
    H.run(function()
      local n = 1024 * 1024
      local srv, port = serve(function(s)
        local chunk = ("0123456789abcdef"):rep(4096)
        for _ = 1, n // #chunk do assert(s:write(chunk)) end
        s:drain()
        s:read()
      end)
      local c = assert(tcp.connect("127.0.0.1", port))
      local data = assert(c:readexactly(n))
      assert.equal(n, #data)
      assert.equal(0, stats().read_buffers)
      assert.equal(0, stats().read_buffer_bytes)
      c:close()
      srv:close{wait = true}
    end)
  end)

  it("server:close finds its connections' tasks without a set of them",
    function()
    H.run(function()
      local srv
      local said = tide.future()
      local started = tide.Event()
      srv = serve(function(s)
        if s:readline() == "self" then
          -- A handler waiting for its own server would wait forever.
          said:set_result(select(2, pcall(srv.close, srv, {wait = true})))
          return
        end
        started:set()
        s:read() -- waits until cancelled
      end)
      local _, port = srv:address()
      local a = assert(tcp.connect("127.0.0.1", port))
      local b = assert(tcp.connect("127.0.0.1", port))
      assert(a:write("other\n"))
      started:wait()
      assert(b:write("self\n"))
      assert.matches("cannot wait for its own server", said:await())
      -- The other handler is cancelled, and close returns once it ended.
      srv:close{cancel = true}
      assert.equal(0, srv:connections())
      a:close()
      b:close()
    end)
  end)

  it("TLS streams hold none while idle either", function()
    H.run(function()
      local srv, port = serve(T.upper, {tls = T.server_ctx()})
      local c = assert(tcp.connect("127.0.0.1", port,
        {tls = T.client_ctx(), servername = "localhost"}))
      for i = 1, 3 do
        assert(c:write("line " .. i .. "\n"))
        assert.equal("LINE " .. i, c:readline())
      end
      assert.equal(0, stats().read_buffers)
      c:close()
      srv:close{wait = true}
    end)
  end)
end)
