-- tide.process: child processes with pipes that are tide streams.
local tide = require "tide"
local H = require "helper"

local process = tide.process

-- Waits (in a task) until every libuv handle is closed: a child killed or
-- let go is reaped a moment later.
local function settle()
  for _ = 1, 2000 do
    if tide.stats().handles == 0 then return end
    tide.sleep(0.002)
  end
  error("handles still open: " .. tide.stats().handles)
end

-- The state letter of a process in /proc ("S", "Z", ...), nil if gone.
local function proc_state(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s:match("^%d+ %b() (%a)")
end

describe("tide.process.run", function()
  it("captures stdout and stderr and the exit code", function()
    H.run(function()
      local r = assert(process.run{"sh", "-c", "echo out; echo err >&2; exit 3"})
      assert.equal(3, r.code)
      assert.is_nil(r.signal)
      assert.equal("out\n", r.stdout)
      assert.equal("err\n", r.stderr)
      assert.is_number(r.pid)
      r = assert(process.run{"true"})
      assert.same({code = 0, stdout = "", stderr = "", pid = r.pid}, r)
    end)
  end)

  it("reports a child that dies by a signal", function()
    H.run(function()
      local r = assert(process.run{"sh", "-c", "kill -KILL $$"})
      assert.equal(137, r.code)
      assert.equal("SIGKILL", r.signal)
      r = assert(process.run{"sh", "-c", "kill -TERM $$"})
      assert.equal(143, r.code)
      assert.equal("SIGTERM", r.signal)
    end)
  end)

  it("feeds input, sets cwd and the environment", function()
    H.run(function()
      local r = assert(process.run{"tr", "a-z", "A-Z", input = "shout\n"})
      assert.equal("SHOUT\n", r.stdout)
      r = assert(process.run{"pwd", cwd = "/tmp"})
      assert.equal("/tmp\n", r.stdout)
      r = assert(process.run{"sh", "-c", 'echo "$TIDE_A|$HOME|$TIDE_N"',
        env = {TIDE_A = "a", HOME = false, TIDE_N = 7}})
      assert.equal("a||7\n", r.stdout)
      r = assert(process.run{"/usr/bin/env", clear_env = true,
        env = {ONLY = "this"}})
      assert.equal("ONLY=this\n", r.stdout)
      r = assert(process.run{"/usr/bin/env", clear_env = true})
      assert.equal("", r.stdout)
      -- Numbers as arguments.
      r = assert(process.run{"echo", 1, 2.5})
      assert.equal("1 2.5\n", r.stdout)
    end)
  end)

  it("fails with ENOENT and EACCES, naming the program", function()
    H.run(function()
      local ok, err, name = process.run{"/no/such/program"}
      assert.is_nil(ok)
      assert.equal("ENOENT", name)
      assert.equal("ENOENT: no such file or directory: /no/such/program", err)
      ok, err, name = process.spawn{"no-such-program-anywhere"}
      assert.equal("ENOENT", name)
      H.with_tmpdir(function(dir)
        assert(tide.fs.writefile(dir .. "/script", "#!/bin/sh\necho hi\n"))
        ok, err, name = process.run{dir .. "/script"}
        assert.is_nil(ok)
        assert.equal("EACCES", name)
        assert.matches("^EACCES: permission denied: .*/script$", err)
        assert(tide.fs.chmod(dir .. "/script", "755"))
        assert.equal("hi\n", assert(process.run{dir .. "/script"}).stdout)
        ok, err, name = process.run{"true", cwd = dir .. "/missing"}
        assert.equal("ENOENT", name)
      end, "tide-proc-")
    end)
  end)

  it("stops at its timeout and at max_output, with the partial result", function()
    H.run(function()
      local t0 = tide.now()
      local ok, err, name, partial = process.run{"sh", "-c",
        "echo started; exec sleep 10", timeout = 0.2}
      assert.is_nil(ok)
      assert.equal("ETIMEDOUT", name)
      assert.matches("longer than 0.2 s", err)
      assert.equal("started\n", partial.stdout)
      assert.equal(137, partial.code)
      assert.is_true(tide.now() - t0 < 5)
      -- A grandchild holding the pipe open does not hold run up.
      ok, err, name = process.run{"sh", "-c", "sleep 10; echo", timeout = 0.1}
      assert.equal("ETIMEDOUT", name)
      ok, err, name, partial = process.run{"sh", "-c",
        "yes | head -c 1000000", max_output = 1000}
      assert.is_nil(ok)
      assert.equal("ENOBUFS", name)
      assert.matches("more than 1000 bytes to stdout", err)
      assert.is_true(#partial.stdout <= 1000)
      settle()
    end)
  end)

  it("checks its arguments and options", function()
    H.run(function()
      assert.has_error(function() process.run{} end,
        "tide.process.run: no program given")
      assert.has_error(function() process.run("ls") end)
      assert.has_error(function() process.run{"ls", stdot = "pipe"} end)
      assert.has_error(function() process.spawn{"ls", input = "x"} end)
      assert.has_error(function() process.run{"ls", input = 1} end)
      assert.has_error(function() process.run{"ls", timeout = -1} end)
      assert.has_error(function() process.run{"ls", stdout = "file"} end)
      assert.has_error(function()
        process.run{"cat", input = "x", stdin = "null"}
      end)
      assert.has_error(function() process.run{"ls", {}} end)
      assert.has_error(function() process.run{"ls", env = {X = {}}} end)
      assert.has_error(function() process.spawn{"ls", grace = -1} end)
      assert.has_error(function()
        process.spawn{"sleep", "10", kill_on_cancel = "SIGNOPE"}
      end)
    end)
  end)

  it("runs 100 children at once", function()
    H.run(function()
      local tasks = {}
      for i = 1, 100 do
        tasks[i] = tide.spawn(process.run, {"sh", "-c", "echo $0; exit $1",
          tostring(i), tostring(i % 7)})
      end
      for i = 1, 100 do
        local r = assert(tasks[i]:await())
        assert.equal(i .. "\n", r.stdout)
        assert.equal(i % 7, r.code)
      end
    end)
  end)

  it("cancelled, kills the child and leaves nothing behind", function()
    H.run(function()
      local t = tide.spawn(function()
        return process.run{"sh", "-c", "echo $$; exec sleep 10"}
      end)
      tide.sleep(0.1)
      t:cancel()
      assert.is_true(tide.is_cancelled(select(2, pcall(t.await, t))))
      settle()
      -- Every child we had is reaped: none is left, zombie or not.
      assert.equal("", H.children())
    end)
  end)
end)

describe("tide.process.spawn", function()
  it("talks to a child through pipes, with every stream method", function()
    H.run(function()
      local p <close> = assert(process.spawn{"cat", stdin = "pipe",
        stdout = "pipe"})
      assert.is_number(p.pid)
      assert.matches("^tide.process %(pid %d+, running%)", tostring(p))
      assert.is_nil(p.stderr)
      assert.is_true(p.stdin:write("one\ntwo\n"))
      assert.equal("one", p.stdout:readline())
      assert.equal("tw", p.stdout:readexactly(2))
      assert.is_true(p.stdin:write("x;y"))
      assert.equal("o\nx", p.stdout:readuntil(";", false):sub(1, 3))
      p.stdout:setoptions{read_timeout = 5}
      assert.is_true(p.stdin:shutdown())
      assert.equal("y", p.stdout:read())
      assert.is_nil(p.stdout:read())
      assert.same({0, nil}, {p:wait()})
      assert.same({0, nil}, {p:poll()})
      assert.matches("exited", tostring(p))
      local _, _, name = p:kill()
      assert.equal("ESRCH", name)
    end)
  end)

  it("10 MiB each way at once, no deadlock", function()
    H.run(function()
      local p <close> = assert(process.spawn{"cat", stdin = "pipe",
        stdout = "pipe"})
      local chunk = ("0123456789abcdef"):rep(4096) -- 64 KiB
      local writer = tide.spawn(function()
        for _ = 1, 160 do assert(p.stdin:write(chunk)) end
        assert(p.stdin:close())
      end)
      local got, n = {}, 0
      while true do
        local data = p.stdout:read()
        if not data then break end
        n = n + #data
        got[#got + 1] = data
      end
      writer:await()
      assert.equal(160 * #chunk, n)
      assert.equal(chunk:rep(160), table.concat(got))
      assert.same({0, nil}, {p:wait()})
    end)
  end)

  it("redirects to null, a file, a descriptor and a stream", function()
    H.run(function() H.with_tmpdir(function(dir)
        local f = assert(tide.fs.open(dir .. "/out", "w"))
        local p = assert(process.spawn{"echo", "to a file", stdout = f})
        assert.same({0, nil}, {p:wait()})
        assert(f:close())
        assert.equal("to a file\n", tide.fs.readfile(dir .. "/out"))
        p = assert(process.spawn{"cat", stdin = "null", stdout = "pipe"})
        assert.is_nil(p.stdout:read())
        assert.same({0, nil}, {p:wait()})
        p:close()
        -- A stream: the child writes straight into a socket.
        local got = tide.future()
        local srv = assert(tide.tcp.listen("127.0.0.1", 0, function(s)
          got:set_result(s:read())
        end))
        local c = assert(tide.tcp.connect(srv:address()))
        p = assert(process.spawn{"echo", "via a socket", stdout = c})
        assert.same({0, nil}, {p:wait()})
        c:close()
        assert.equal("via a socket\n", got:await())
        srv:close{wait = true}
        -- Inherited descriptor numbers.
        local g = assert(tide.fs.open(dir .. "/fd", "w"))
        p = assert(process.spawn{"sh", "-c", "echo fd", stdin = 0, stdout = g})
        assert.same({0, nil}, {p:wait()})
        assert(g:close())
        assert.equal("fd\n", tide.fs.readfile(dir .. "/fd"))
        assert.has_error(function() process.spawn{"true", stdout = g} end,
          "tide: file is closed")
    end, "tide-proc-") end)
  end)

  it("wait with a timeout, cancelled waits and kill_on_cancel", function()
    H.run(function()
      local p = assert(process.spawn{"sleep", "10"})
      local ok, err, name = p:wait(0.05)
      assert.is_nil(ok)
      assert.equal("ETIMEDOUT", name)
      assert.matches("still running", err)
      assert.is_nil(p:poll())
      -- Cancelling a waiter leaves the child running.
      local t = tide.spawn(p.wait, p)
      tide.sleep(0.02)
      t:cancel()
      pcall(t.await, t)
      assert.is_nil(p:poll())
      assert.is_not_nil(proc_state(p.pid))
      assert.is_true(p:kill("SIGUSR1"))
      assert.same({128 + process.signals.SIGUSR1, "SIGUSR1"}, {tide.await(p)})
      assert.has_error(function() p:kill("SIGNOPE") end)
      assert.has_error(function() p:kill(0) end)
      -- kill_on_cancel: the waiter's cancellation ends the child.
      local q = assert(process.spawn{"sleep", "10", kill_on_cancel = "SIGTERM"})
      t = tide.spawn(q.wait, q)
      tide.sleep(0.02)
      t:cancel()
      pcall(t.await, t)
      assert.same({143, "SIGTERM"}, {q:wait()})
      p:close()
      q:close()
    end)
  end)

  it("is awaitable: tide.await, gather, wait_for", function()
    H.run(function()
      local a = assert(process.spawn{"sh", "-c", "exit 1"})
      local b = assert(process.spawn{"sh", "-c", "exit 2"})
      local r = tide.gather(a, b)
      assert.same({1, 2, n = 2}, r)
      local c = assert(process.spawn{"sleep", "10"})
      local ok, err = pcall(tide.wait_for, 0.05, c)
      assert.is_false(ok)
      assert.is_true(tide.is_timeout(err))
      assert.is_nil(c:poll()) -- still running: waiting was cancelled, not it
      c:kill("SIGKILL")
      assert.same({137, "SIGKILL"}, {tide.await(c)})
    end)
  end)

  it("a process object collected while its child runs leaves no zombie", function()
    H.run(function()
      local p = assert(process.spawn{"sleep", "0.2", stdout = "pipe"})
      local pid = p.pid
      p = nil -- luacheck: ignore
      collectgarbage()
      collectgarbage()
      assert.is_not_nil(proc_state(pid))
      assert.are_not.equal("Z", proc_state(pid))
      settle()
      assert.is_nil(proc_state(pid))
      -- close() lets go too: the child runs on and is reaped.
      local q = assert(process.spawn{"sleep", "0.1"})
      pid = q.pid
      assert.is_true(q:close())
      assert.is_true(q:close())
      local _, _, name = q:wait()
      assert.equal("ECLOSED", name)
      settle()
      assert.is_nil(proc_state(pid))
    end)
  end)

  it("detached children lead their own session", function()
    H.run(function()
      local p = assert(process.spawn{"sleep", "10", detached = true})
      local f = assert(io.open("/proc/" .. p.pid .. "/stat"))
      local sid = f:read("a"):match("^%d+ %b() %a %d+ %d+ (%d+)")
      f:close()
      assert.equal(p.pid, tonumber(sid))
      p:kill("SIGKILL")
      p:wait()
    end)
  end)

  it("the runtime's close ends children: SIGTERM, then SIGKILL", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir " .. dir))
    local script = dir .. "/main.lua"
    local f = assert(io.open(script, "w"))
    f:write([[
      local tide = require "tide"
      local polite = assert(tide.process.spawn{"sleep", "30"})
      local stubborn = assert(tide.process.spawn{"sh", "-c",
        "trap '' TERM; echo ready; while :; do sleep 0.05; done", stdout = "pipe",
        grace = 0.3})
      assert(stubborn.stdout:readline() == "ready")
      print(polite.pid, stubborn.pid)
    ]])
    f:close()
    local t0 = os.time()
    local out, err, code = H.sh(H.tide_bin() .. " " .. script)
    assert.equal(0, code, err)
    assert.is_true(os.time() - t0 < 10)
    local a, b = out:match("(%d+)%s+(%d+)")
    assert.is_nil(proc_state(a))
    assert.is_nil(proc_state(b))
    os.remove(script)
    os.remove(dir)
  end)
end)
