-- tide.signal (an awaitable watcher) and tide.on_signal: every standard
-- signal libuv can watch.
local tide = require "tide"
local H = require "helper"

local me = tide.process.pid

describe("signals", function()
  it("accept every watchable standard signal, refuse the others", function()
    H.run(function()
      local names = {}
      for name in pairs(tide.process.watchable) do names[#names + 1] = name end
      table.sort(names)
      for _, want in ipairs({"SIGALRM", "SIGPIPE", "SIGTSTP", "SIGCONT",
          "SIGHUP", "SIGINT", "SIGTERM", "SIGUSR1", "SIGUSR2", "SIGWINCH",
          "SIGCHLD", "SIGQUIT", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU",
          "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGIO", "SIGABRT"}) do
        assert.is_true(tide.process.watchable[want], want)
      end
      for _, name in ipairs(names) do
        local w = tide.signal(name)
        assert.equal(name, w:signal())
        w:close()
        tide.on_signal(name, function() end):close()
      end
      for _, name in ipairs({"SIGKILL", "SIGSTOP", "SIGSEGV", "SIGBUS",
          "SIGFPE", "SIGILL"}) do
        assert.has_error(function() tide.signal(name) end,
          "bad argument #1 to 'signal' (" .. name .. " cannot be watched)")
        assert.has_error(function() tide.on_signal(name, print) end)
      end
      assert.has_error(function() tide.signal("SIGNOPE") end,
        "bad argument #1 to 'signal' (unknown signal name 'SIGNOPE')")
      assert.has_error(function() tide.signal(15) end)
      tide.sleep(0) -- the closes' callbacks
    end)
  end)

  it("closing a SIGPIPE watcher keeps writes to closed pipes harmless", function()
    H.run(function()
      tide.signal("SIGPIPE"):close()
      local p = assert(tide.process.spawn{"true", stdin = "pipe"})
      p:wait()
      -- Without SIGPIPE ignored, this write would kill the process.
      local ok, _, name
      for _ = 1, 10 do
        ok, _, name = p.stdin:write(("x"):rep(65536))
        if not ok then break end
      end
      assert.is_nil(ok)
      assert.equal("EPIPE", name)
      p:close()
    end)
  end)

  it("await returns the deliveries since the last await", function()
    H.run(function()
      local w <close> = tide.signal("SIGUSR2")
      assert.matches("tide.signal %(SIGUSR2%)", tostring(w))
      local t = tide.spawn(w.await, w)
      tide.sleep(0.01)
      assert.is_true(tide.process.kill(me, "SIGUSR2"))
      assert.equal(1, t:await())
      -- Delivered while nobody waits: counted for the next await.
      assert.is_true(tide.process.kill(me, "SIGUSR2"))
      for _ = 1, 100 do tide.sleep(0.001) end
      assert.is_true(w:await() >= 1)
      -- tide.await works on a watcher too.
      tide.call_later(0.01, tide.process.kill, me, "SIGUSR2")
      assert.equal(1, tide.await(w))
      local cb = tide.on_signal("SIGUSR2", print)
      assert.has_error(function() cb:await() end)
      cb:close()
    end)
  end)

  it("a cancelled await leaves nothing; close wakes the awaiter", function()
    H.run(function()
      local w = tide.signal("SIGHUP")
      local t = tide.spawn(w.await, w)
      tide.sleep(0.01)
      t:cancel()
      assert.is_true(tide.is_cancelled(select(2, pcall(t.await, t))))
      t = tide.spawn(w.await, w)
      tide.sleep(0.01)
      assert.has_error(function() w:await() end,
        "tide: another task is already awaiting this signal watcher")
      w:close()
      local ok, err, name = t:await()
      assert.is_nil(ok)
      assert.equal("ECLOSED", name)
      assert.equal("ECLOSED: signal watcher is closed", err)
      w:close()
      assert.matches("closed", tostring(w))
    end)
  end)

  it("awaiting keeps the loop alive until the signal comes", function()
    H.run(function()
      -- Nothing of tide's sends it: only the awaited watcher keeps the
      -- loop running (tide.run would report a deadlock otherwise).
      local w = tide.signal("SIGUSR1")
      assert(os.execute(("(sleep 0.2; kill -USR1 %d) &"):format(me)))
      assert.equal(1, w:await())
    end)
  end)

  it("a watcher left open ends with its tide.run", function()
    local w
    H.run(function() w = tide.signal("SIGWINCH") end)
    assert.matches("closed", tostring(w))
  end)
end)
