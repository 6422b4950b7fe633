-- tide --workers N and tide.workers{}: worker processes sharing a port
-- under a supervisor (src/supervise.c, src/worker.c), restarted when they
-- die, stopped gracefully on SIGTERM, replaced one by one on SIGHUP.
local tide = require "tide"
local H = require "helper"

local build = os.getenv("TIDE_BUILD") or "build"

-- The worker: answers "<id> <pid> <line>" per line; "slow" takes 0.5 s; a
-- keep-alive loop that ends once the graceful stop has begun. It runs
-- under the tide command (already in a task) and under lua5.4 (tide.run).
local WORKER = [[
local tide = require "tide"
io.stdout:setvbuf("line")
local function main()
local srv = assert(tide.tcp.listen("127.0.0.1", tonumber(arg[1]), function(c)
  while true do
    local line = c:readline()
    if not line then break end
    if line == "slow" then tide.sleep(0.5) end
    if line == "env" then
      line = tostring(os.getenv("TIDE_WORKER_ID")) .. "," ..
        tostring(os.getenv("TIDE_SUPERVISOR_FD"))
    end
    c:write(("%d %d %s\n"):format(tide.worker_id(), tide.process.pid, line))
    if tide.stopping() then break end
  end
end))
local _, port = srv:address()
print(("ready %d %d %d %d"):format(tide.worker_id(), tide.worker_count(),
  tide.process.pid, port))
tide.sleep(math.huge)
end
tide.run(main)
]]

-- Starts a supervisor (argv) in a task; returns an object with the port,
-- the workers' pids by id, and the lines seen on stderr. Its stdout and
-- stderr are read by tasks of their own until it exits.
local live = {} -- supervisors started and not yet stopped
local function start(argv, env)
  local p = assert(tide.process.spawn{stdout = "pipe", stderr = "pipe",
    env = env, table.unpack(argv)})
  live[p] = true
  local sup = {p = p, pids = {}, err = {}, ready = tide.Event(),
    changed = tide.Event(), nready = 0}
  sup.out_task = tide.spawn(function()
    for line in function() return p.stdout:readline() end do
      local id, n, pid, port = line:match("^ready (%d+) (%d+) (%d+) (%d+)$")
      if id then
        sup.port, sup.n = tonumber(port), tonumber(n)
        sup.pids[tonumber(id)] = tonumber(pid)
        sup.nready = sup.nready + 1
        sup.changed:set()
      end
    end
  end)
  sup.err_task = tide.spawn(function()
    for line in function() return p.stderr:readline() end do
      sup.err[#sup.err + 1] = line
      sup.changed:set()
    end
  end)
  -- Waits (in a task) until pred() holds, 10 s at most.
  function sup.wait_for(pred, what)
    tide.timeout(10, function()
      while not pred() do
        sup.changed:clear()
        sup.changed:wait()
      end
    end)
    assert(pred(), what)
  end
  function sup.stderr() return table.concat(sup.err, "\n") end
  -- Waits for the supervisor to exit (15 s at most); its exit code.
  function sup.finish()
    local code = tide.timeout(15, function() return p:wait() end)
    sup.out_task:await()
    sup.err_task:await()
    p:close()
    live[p] = nil
    return code
  end
  -- Stops the supervisor (SIGTERM) and returns its exit code.
  function sup.stop()
    p:kill("SIGTERM")
    return sup.finish()
  end
  return sup
end

-- One request on a connection of its own: "<id> <pid> <line>" or nil, err.
local function ask(port, line)
  local c, err = tide.tcp.connect("127.0.0.1", port, {timeout = 5, read_timeout = 5})
  if not c then return nil, err end
  local ok, werr = c:write(line .. "\n")
  if not ok then
    c:close()
    return nil, werr
  end
  local reply, rerr = c:readline()
  c:close()
  return reply, rerr
end

-- fn(script) in a task; a supervisor a failed test left running is
-- killed (its workers follow: they get SIGTERM when it dies).
local function with_worker(fn)
  H.run(function()
    H.with_tmpdir(function(dir)
      local script = dir .. "/worker.lua"
      assert(tide.fs.writefile(script, WORKER))
      local ok, err = pcall(fn, script)
      for p in pairs(live) do
        p:kill("SIGKILL")
        p:wait()
        p:close()
        live[p] = nil
      end
      if not ok then error(err, 0) end
    end)
  end)
end

describe("tide --workers", function()
  it("runs N workers that share the port, each with its id", function()
    with_worker(function(script)
      local sup = start{H.tide_bin(), "--workers", "2", "--grace", "2", script, "0"}
      sup.wait_for(function() return sup.nready == 2 end, "two workers ready")
      assert.equal(2, sup.n)
      assert.are_not.equal(sup.pids[1], sup.pids[2])
      local seen = {}
      for i = 1, 200 do
        local reply = assert(ask(sup.port, "hi" .. i))
        local id, pid, echo = reply:match("^(%d+) (%d+) (.*)$")
        assert.equal("hi" .. i, echo)
        assert.equal(sup.pids[tonumber(id)], tonumber(pid))
        seen[tonumber(id)] = (seen[tonumber(id)] or 0) + 1
      end
      assert.is_truthy(seen[1] and seen[2], "both workers served")
      -- The supervisor's variables are the worker's own: not passed on.
      assert.matches("^%d+ %d+ nil,nil$", assert(ask(sup.port, "env")))
      assert.equal(143, sup.stop())
    end)
  end)

  it("restarts a worker killed with SIGKILL; no request fails meanwhile", function()
    with_worker(function(script)
      local sup = start{H.tide_bin(), "--workers", "2", "--grace", "2", script, "0"}
      sup.wait_for(function() return sup.nready == 2 end, "two workers ready")
      local old = sup.pids[1]
      tide.process.kill(old, "SIGKILL")
      -- Connections meant for the dead worker's socket wait in its queue
      -- for the new worker: none is reset.
      for i = 1, 50 do assert(ask(sup.port, "during" .. i)) end
      sup.wait_for(function() return sup.nready == 3 end, "worker 1 restarted")
      assert.are_not.equal(old, sup.pids[1])
      assert.matches("worker 1 %(pid " .. old .. "%) died of signal 9; restarting in %d+ ms",
        sup.stderr())
      for i = 1, 50 do assert(ask(sup.port, "after" .. i)) end
      assert.equal(143, sup.stop())
    end)
  end)

  it("drains on SIGTERM: the request in flight is answered, then all stop", function()
    with_worker(function(script)
      local sup = start{H.tide_bin(), "--workers", "2", "--grace", "3", script, "0"}
      sup.wait_for(function() return sup.nready == 2 end, "two workers ready")
      local c = assert(tide.tcp.connect("127.0.0.1", sup.port))
      assert(c:write("slow\n"))
      tide.sleep(0.1) -- the handler is in its 0.5 s
      sup.p:kill("SIGTERM")
      local reply = assert(c:readline())
      assert.matches("^%d+ %d+ slow$", reply)
      -- tide.stopping() was true: the handler ended the connection.
      assert.is_nil(c:readline())
      c:close()
      assert.equal(143, sup.finish())
      assert.is_nil((tide.tcp.connect("127.0.0.1", sup.port)))
    end)
  end)

  it("reloads on SIGHUP with zero failed requests", function()
    with_worker(function(script)
      local sup = start{H.tide_bin(), "--workers", "2", "--grace", "2", script, "0"}
      sup.wait_for(function() return sup.nready == 2 end, "two workers ready")
      local before = {sup.pids[1], sup.pids[2]}
      local done, ok, failed = false, 0, {}
      local clients = {}
      for k = 1, 4 do
        clients[k] = tide.spawn(function()
          while not done do
            local reply, err = ask(sup.port, "loop")
            if reply then ok = ok + 1 else failed[#failed + 1] = tostring(err) end
          end
        end)
      end
      tide.sleep(0.2)
      sup.p:kill("SIGHUP")
      sup.wait_for(function() return sup.stderr():find("reload done", 1, true) end,
        "reload done")
      tide.sleep(0.2)
      done = true
      for _, t in ipairs(clients) do t:await() end
      assert.same({}, failed)
      assert.is_true(ok > 20, "requests went through: " .. ok)
      assert.are_not.equal(before[1], sup.pids[1])
      assert.are_not.equal(before[2], sup.pids[2])
      assert.equal(4, sup.nready)
      assert.equal(143, sup.stop())
    end)
  end)

  it("refuses bad command lines", function()
    local _, err, code = H.sh(H.tide_bin() .. " --workers 0 x.lua")
    assert.equal(1, code)
    assert.matches("%-%-workers: 1..1024 or auto expected, got '0'", err)
    _, err, code = H.sh(H.tide_bin() .. " --workers 2")
    assert.equal(1, code)
    assert.matches("takes a script file", err)
    _, err, code = H.sh(H.tide_bin() .. " --workers 2 --grace soon x.lua")
    assert.equal(1, code)
    assert.matches("%-%-grace: seconds", err)
  end)
end)

describe("the tide command on SIGTERM", function()
  it("closes its servers and lets the connection in flight finish", function()
    with_worker(function(script)
      local sup = start{H.tide_bin(), script, "0"}
      sup.wait_for(function() return sup.nready == 1 end, "ready")
      assert.equal(0, sup.n) -- not a worker
      local c = assert(tide.tcp.connect("127.0.0.1", sup.port))
      assert(c:write("slow\n"))
      tide.sleep(0.1)
      sup.p:kill("SIGTERM")
      tide.sleep(0.1)
      -- No new connection: the server closed at once.
      assert.is_nil((tide.tcp.connect("127.0.0.1", sup.port)))
      assert.matches("^0 %d+ slow$", assert(c:readline()))
      assert.is_nil(c:readline())
      c:close()
      assert.equal(143, sup.finish())
      assert.matches("interrupted by SIGTERM", sup.stderr())
    end)
  end)

  it("closes an HTTP server's idle keep-alive connections at once", function()
    H.run(function()
      H.with_tmpdir(function(dir)
        local script = dir .. "/http.lua"
        assert(tide.fs.writefile(script, [[
          local tide = require "tide"
          io.stdout:setvbuf("line")
          local srv = assert(tide.http.listen("127.0.0.1", 0, function(req)
            if req.path == "/slow" then tide.sleep(0.5) end
            return 200, {}, "done " .. req.path
          end, {idle_timeout = 60}))
          local _, port = srv:address()
          print(("ready 0 0 %d %d"):format(tide.process.pid, port))
          tide.sleep(math.huge)
        ]]))
        local sup = start{H.tide_bin(), script}
        sup.wait_for(function() return sup.nready == 1 end, "ready")
        local idle = assert(tide.tcp.connect("127.0.0.1", sup.port, {read_timeout = 10}))
        assert(idle:write("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"))
        assert(idle:readuntil("done /a"))
        local busy = assert(tide.tcp.connect("127.0.0.1", sup.port, {read_timeout = 10}))
        assert(busy:write("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"))
        tide.sleep(0.1)
        local t0 = tide.now()
        sup.p:kill("SIGTERM")
        -- The idle connection is closed at once (not after its 60 s) ...
        assert.is_nil(idle:read())
        assert.is_true(tide.now() - t0 < 5)
        -- ... the request in flight is answered, its connection closed.
        local head = assert(busy:readuntil("\r\n\r\n"))
        assert.matches("^HTTP/1.1 200", head)
        assert.matches("[Cc]onnection: close", head)
        assert.equal("done /slow", busy:read())
        assert.is_nil(busy:read())
        idle:close()
        busy:close()
        assert.equal(143, sup.finish())
      end)
    end)
  end)

  it("cancels at once on SIGINT", function()
    with_worker(function(script)
      local sup = start{H.tide_bin(), script, "0"}
      sup.wait_for(function() return sup.nready == 1 end, "ready")
      local c = assert(tide.tcp.connect("127.0.0.1", sup.port))
      assert(c:write("slow\n"))
      tide.sleep(0.1)
      sup.p:kill("SIGINT")
      assert.is_nil(c:readline()) -- the handler was cancelled mid-request
      c:close()
      assert.equal(130, sup.finish())
    end)
  end)
end)

describe("tide.workers", function()
  it("supervises workers from plain lua5.4", function()
    with_worker(function(script)
      local sup_script = script:gsub("worker%.lua$", "sup.lua")
      assert(tide.fs.writefile(sup_script, ([[
        local tide = require "tide"
        os.exit(tide.workers{n = 2, grace = 1, main = %q, args = {"0"}})
      ]]):format(script)))
      local sup = start({"lua5.4", sup_script}, {
        LUA_PATH = "lua/?.lua;lua/?/init.lua;;",
        LUA_CPATH = build .. "/?.so;;"})
      sup.wait_for(function() return sup.nready == 2 end, "two workers ready")
      assert.matches("^[12] %d+ x$", assert(ask(sup.port, "x")))
      assert.equal(143, sup.stop())
    end)
  end)

  it("raises inside tide.run, on unknown options and bad values", function()
    H.run(function()
      assert.error_matches(function() tide.workers{n = 2, main = "x.lua"} end,
        "call it outside tide.run")
    end)
    assert.error_matches(function() tide.workers{n = 2, mian = "x.lua"} end,
      "unknown option 'mian'")
    assert.error_matches(function() tide.workers{n = 0, main = "x.lua"} end,
      "option 'n': 1..1024 expected")
    assert.error_matches(function() tide.workers{main = "x.lua", args = {{}}} end,
      "option 'args': item 1 is a table")
  end)

  it("worker_id, worker_count and stopping outside workers", function()
    assert.equal(0, tide.worker_id())
    assert.equal(0, tide.worker_count())
    assert.is_false(tide.stopping())
  end)
end)
