-- The examples, run with the tide command: echo.lua and chat.lua as
-- servers in a child process (stopped with SIGTERM), demo.lua, grep.lua
-- and https_get.lua to the end.
local tide = require "tide"
local H = require "helper"

-- Starts `tide script 0` in the background; returns its pid, the output
-- file to read its log from, and the port it announced.
local function start(script)
  local out = os.tmpname()
  local p = io.popen(("%s %s 0 > %s 2>&1 & echo $!"):format(H.tide_bin(),
    script, out))
  local pid = tonumber(p:read("l"))
  p:close()
  local port
  for _ = 1, 500 do
    local f = io.open(out)
    local text = f and f:read("a") or ""
    if f then f:close() end
    port = tonumber(text:match("listening on 127%.0%.0%.1:(%d+)"))
    if port then break end
    tide.sleep(0.01)
  end
  assert(port, "the example did not start")
  return pid, out, port
end

-- Stops it with SIGTERM; returns its whole log.
local function stop(pid, out)
  os.execute("kill -TERM " .. pid)
  local text
  for _ = 1, 500 do
    local f = io.open(out)
    text = f:read("a")
    f:close()
    if text:match("stopped\n") then break end
    tide.sleep(0.01)
  end
  os.remove(out)
  return text
end

describe("examples", function()
  it("echo.lua echoes and logs its connections", function()
    H.run(function()
      local pid, out, port = start("examples/echo.lua")
      local c = assert(tide.tcp.connect("127.0.0.1", port))
      c:write("hello, echo\n")
      assert.equal("hello, echo", c:readline())
      c:write(("z"):rep(100000))
      assert.equal(100000, #c:readexactly(100000))
      c:close()
      local log = stop(pid, out)
      assert.matches("connection from 127%.0%.0%.1:%d+", log)
      assert.matches("echo server stopped\n", log)
    end)
  end)

  it("chat.lua relays lines between many clients", function()
    H.run(function()
      local pid, out, port = start("examples/chat.lua")
      local names = {"ann", "ben", "cat", "dan", "eve"}
      local conns = {}
      for i, name in ipairs(names) do
        local c = assert(tide.tcp.connect("127.0.0.1", port))
        assert.equal("welcome! your name?", c:readline())
        c:write(name .. "\n")
        conns[i] = c
        -- everyone already here hears about the newcomer
        for j = 1, i - 1 do
          assert.equal(("* %s joined"):format(name), conns[j]:readline())
        end
      end
      conns[1]:write("hello all\n")
      for j = 2, #names do
        assert.equal("ann: hello all", conns[j]:readline())
      end
      conns[3]:write("/who\n")
      assert.equal("* here: ann, ben, cat, dan, eve", conns[3]:readline())
      conns[2]:write("/quit\n")
      assert.is_nil(conns[2]:read())
      for _, j in ipairs{1, 3, 4, 5} do
        assert.equal("* ben left", conns[j]:readline())
      end
      for _, c in ipairs(conns) do c:close() end
      local log = stop(pid, out)
      assert.matches("ann joined", log)
      assert.matches("ben left", log)
      assert.matches("chat server stopped\n", log)
    end)
  end)

  it("grep.lua searches a tree: reads concurrently, matches offloaded", function()
    local dir
    H.run(function()
      local fs = tide.fs
      dir = assert(fs.mkdtemp("/tmp/tide-grep-"))
      assert(fs.mkdir(dir .. "/a/b/c", {parents = true}))
      assert(fs.mkdir(dir .. "/.git"))
      assert(fs.writefile(dir .. "/top.txt", "no\nneedle here\nno\n"))
      assert(fs.writefile(dir .. "/a/b/c/deep.lua", "x = 1\n-- needle\n"))
      assert(fs.writefile(dir .. "/.git/skipped", "needle\n"))
      assert(fs.writefile(dir .. "/bin", "\0\1needle\0"))
      assert(fs.symlink(dir .. "/top.txt", dir .. "/a/link"))
      for i = 1, 200 do
        assert(fs.writefile(("%s/a/b/f%03d"):format(dir, i),
          ("line\n"):rep(i % 5) .. (i % 50 == 0 and "needle\n" or "")))
      end
    end)
    local out, err, code = H.sh(H.tide_bin() .. " examples/grep.lua needle " ..
      dir)
    assert.equal(0, code, err)
    assert.equal("", err)
    local want = {
      dir .. "/a/b/c/deep.lua:2:-- needle",
      dir .. "/a/b/f050:1:needle",
      dir .. "/a/b/f100:1:needle",
      dir .. "/a/b/f150:1:needle",
      dir .. "/a/b/f200:1:needle",
      "Binary file " .. dir .. "/bin matches",
      dir .. "/top.txt:2:needle here",
    }
    local lines = {}
    for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.same(want, {table.unpack(lines, 1, #lines - 1)})
    assert.matches("^7 match%(es%) in 7 file%(s%); 203 file%(s%) searched",
      lines[#lines])
    os.execute("rm -rf " .. dir)
  end)

  it("https_get.lua fetches a page over verified TLS", function()
    local out, err, code = H.sh(H.tide_bin() .. " examples/https_get.lua")
    assert.equal(0, code, err)
    assert.equal("", err)
    assert.matches("^HTTP/1%.1 200 OK\r\n", out)
    assert.matches("<h1>hello over TLSv1%.3</h1>", out)
    assert.matches("connection: TLSv1%.3, [%w_]+, ALPN http/1%.1, verified: "
      .. "true", out)
    assert.matches("names DNS:localhost IP:127%.0%.0%.1", out)
    assert.matches("with the system's CA store: ETLSVERIFY: unable to get "
      .. "local issuer certificate %(depth 0%)\n$", out)
  end)

  it("demo.lua runs to the end and prints a readable log", function()
    local out, err, code = H.sh(H.tide_bin() .. " examples/demo.lua")
    assert.equal(0, code, err)
    assert.equal("", err)
    assert.matches("server%s+listening on 127%.0%.0%.1:%d+", out)
    assert.matches('alice%s+sent "hello", got "HELLO"', out)
    assert.matches("EMSGSIZE: line longer than 100 bytes", out)
    assert.matches('carol%s+still reads "LAST WORDS"', out)
    assert.matches("clients finished: alice, bob, carol", out)
    assert.matches("server closed with 0 connection%(s%) open\n$", out)
  end)

  it("http_server.lua and http_client.lua talk JSON, with a streamed response", function()
    local stdout, stderr, code, log
    H.run(function()
      local pid, out, port = start("examples/http_server.lua")
      -- The client is another process: the loop may block meanwhile.
      stdout, stderr, code = H.sh(("%s examples/http_client.lua http://127.0.0.1:%d"):format(
        H.tide_bin(), port))
      log = stop(pid, out)
    end)
    assert.equal(0, code, stderr)
    assert.matches("created:\t201\t201\t201", stdout)
    assert.matches('list:\t200\tapplication/json\t%[{"id":1,"name":"[a-z]+"},{"id":2', stdout)
    assert.matches("delete:\t204", stdout)
    assert.matches('get deleted:\t404\t{"error":"no such item"}', stdout)
    assert.matches("stream lines:\t5", stdout)
    assert.matches("GET /stream", log)
    assert.matches("http server stopped\n", log)
  end)
end)
