-- The executor of the API fuzzer's programs (test/fuzz/api.lua generates
-- them; a printed program runs on its own with this file).
--
-- A program is a function(tide, V, A, P, M, R, X) whose statements are
-- wrapped so that Lua errors are expected and never stop it:
--   A(fn)  runs fn; swallows its error, but re-raises a cancellation (the
--          task then ends cancelled, as a script that does not catch it)
--   P(fn)  runs fn; swallows everything, cancellations included (pcall)
--   M(fn)  like A, for calls made with wrong arguments on purpose
--   R(...) registers the sockets, servers and watchers among its arguments
--          (closed after the run) and returns them all
--   V      the program's variables (V.t1 a task, V.f2 a future, ...)
--   X      constants: X.dir (a private directory for Unix sockets),
--          X.closed_port (a TCP port nobody listens on)
-- An error from A or P that is a tide internal error (lib.internal_error:
-- "attempt to index" inside lua/tide/*.lua, a stack overflow) is a
-- finding. So is anything left behind once the run has ended and the
-- registered objects are closed: a task, a timer, a libuv handle, a file
-- descriptor. Crashes, sanitizer reports and hangs are seen from outside
-- (test/fuzz/run.sh).
--
-- The root task gets a watchdog: past X.limit seconds (0.25, or
-- FUZZ_PROGRAM_LIMIT) it is cancelled, then again every 20 ms (and after
-- 5 s more the program is a hang: "FAIL hang", with tide.dump()), so a program that waits for something that never
-- comes (a read nobody answers, while a server keeps the loop alive) ends
-- instead of hanging: only tide itself can hang a run.
local lib = dofile((os.getenv("TIDE_FUZZ_DIR") or "test/fuzz") .. "/lib.lua")
local tide = require "tide"

local H = {}

-- Counters over the whole process, for the final report.
H.stats = {programs = 0, actions = 0, errors = 0, watchdog = 0}

local CLOSEABLE = {["tide.stream"] = true, ["tide.server"] = true,
  ["tide.udp"] = true, ["tide.signal"] = true}

local finding -- the first finding of the running program: {kind=, msg=}

local function found(kind, msg)
  if not finding then finding = {kind = kind, msg = msg} end
end

local verbose = os.getenv("FUZZ_VERBOSE")

local function check(err)
  H.stats.errors = H.stats.errors + 1
  if verbose then io.stderr:write("error: ", tostring(err), "\n") end
  local bad = lib.internal_error(err)
  if bad then found("internal-error", bad) end
end

local registered

local function A(fn)
  H.stats.actions = H.stats.actions + 1
  local ok, err = pcall(fn)
  if not ok then
    check(err)
    if tide.is_cancelled(err) then error(err, 0) end
  end
end

local function P(fn)
  H.stats.actions = H.stats.actions + 1
  local ok, err = pcall(fn)
  if not ok then check(err) end
end

local function M(fn)
  H.stats.actions = H.stats.actions + 1
  local ok, err = pcall(fn)
  if not ok then
    H.stats.errors = H.stats.errors + 1
    if tide.is_cancelled(err) then error(err, 0) end
  end
end

local function R(...)
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    local mt = type(v) == "userdata" and getmetatable(v)
    if type(mt) == "table" and CLOSEABLE[rawget(mt, "__name")] then
      registered[#registered + 1] = v
    end
  end
  return ...
end

-- The error handler during a program: counts, and checks what it is given
-- (a report that fails inside tide shows up here).
local function on_error(err)
  H.stats.errors = H.stats.errors + 1
  local bad = lib.internal_error(tostring(err))
  if bad then found("internal-error", "in a report: " .. bad) end
end

-- The process-wide constants every program sees.
local X
function H.constants()
  if X then return X end
  X = {dir = lib.tmpdir("tide-fuzz"), limit = tonumber(os.getenv(
    "FUZZ_PROGRAM_LIMIT") or "0.25")}
  -- A cleanup that outlives the grace period ends the run with what is
  -- left: half a second instead of five keeps such programs short
  -- (FUZZ_GRACE).
  if tide.cleanup_grace then
    tide.cleanup_grace(tonumber(os.getenv("FUZZ_GRACE") or "0.5"))
  end
  tide.run(function()
    local srv = assert(tide.tcp.listen("127.0.0.1", 0, function() end))
    X.closed_port = select(2, srv:address())
    srv:close()
    -- Warm up what opens descriptors once per process (libuv's reserve
    -- descriptor, the resolver), so that they are in the baseline.
    local c = tide.tcp.connect("127.0.0.1", X.closed_port)
    if c then c:close() end
    tide.dns.resolve("localhost")
  end)
  return X
end

-- What the run left behind, compared with the baseline (nil if nothing).
local function leftovers(base)
  local s, out = tide.stats(), {}
  if s.tasks > 0 then out[#out + 1] = s.tasks .. " task(s) left pending" end
  if s.timers > 0 then out[#out + 1] = s.timers .. " timer(s) left armed" end
  if s.handles > 0 then
    out[#out + 1] = s.handles .. " libuv handle(s) left open"
  end
  local n, list = lib.fds()
  if n ~= base.n then
    out[#out + 1] = ("descriptors: %d before (%s), %d after (%s)")
      :format(base.n, base.list, n, list)
  end
  return #out > 0 and table.concat(out, ", ") or nil
end

local base -- the descriptors open between programs

-- Runs one program (fn as above). Returns nil, or a finding {kind=, msg=}.
function H.run(fn)
  local X = H.constants()
  if not base then
    local n, list = lib.fds()
    base = {n = n, list = list}
  end
  H.stats.programs = H.stats.programs + 1
  finding = nil
  registered = {}
  local V = {}
  local root, dog
  local barks = 0
  local function watchdog()
    dog = nil
    if root:done() then return end
    H.stats.watchdog = H.stats.watchdog + 1
    barks = barks + 1
    if barks == 250 then
      -- Five seconds of cancellations have not ended it: a hang (while the
      -- loop still turns; one that spins is left to the driver's timeout).
      -- Say where the tasks wait, and stop here.
      local ok, dump = pcall(tide.dump)
      io.write(("FAIL hang seed=%s: [the root task ignores its cancellation]" ..
        " after %g s:\n%s\n"):format(H.seed, X.limit + 5,
        ok and dump or tostring(dump)))
      io.stdout:flush()
      os.exit(3)
    end
    root:cancel("fuzz watchdog")
    dog = tide.call_later(0.02, watchdog)
  end
  local old = tide.set_error_handler(on_error)
  -- The grace period is the runtime's: a program that sets it gets it
  -- back afterwards.
  local grace = tide.cleanup_grace and tide.cleanup_grace()
  local ok, err = pcall(tide.run, function()
    root = tide.current_task()
    dog = tide.call_later(X.limit, watchdog)
    fn(tide, V, A, P, M, R, X)
  end)
  if not ok then check(err) end
  -- tide.run cancels the tasks left and waits for them: none may remain
  -- (the program's tasks give up after a bounded number of
  -- cancellations).
  local pending = tide.stats().tasks
  if pending > 0 then
    local ok2, dump = pcall(tide.dump)
    found("tasks-left", ("%d task(s) still pending after tide.run returned%s")
      :format(pending, ok2 and (":\n" .. dump) or ""))
  end
  -- Close what the program opened and kept, then let the closes finish
  -- (tasks still pending run on in these runs: close again after each).
  V, root, dog = nil, nil, nil
  for _ = 1, 3 do
    for _, v in ipairs(registered) do pcall(v.close, v) end
    local ok2, err2 = pcall(tide.run, function() tide.sleep(0.002) end)
    if not ok2 then check(err2) end
  end
  for _, v in ipairs(registered) do pcall(v.close, v) end
  registered = nil
  tide.set_error_handler(on_error)
  -- Everything the program could reach is closed by now: a handle still
  -- open is one tide left behind, which only the garbage collector (or
  -- nothing) will close.
  local s = tide.stats()
  if s.handles > 0 then
    collectgarbage()
    collectgarbage()
    pcall(tide.run, function() tide.sleep(0.002) end)
    local after = tide.stats().handles
    if after < s.handles then
      found("leak-until-gc", ("%d libuv handle(s) left open after the run " ..
        "that only the garbage collector closed"):format(s.handles - after))
    end
  end
  collectgarbage()
  collectgarbage()
  if not finding then
    local what = leftovers(base)
    if what then found("leak", what) end
  end
  if finding then
    -- Count from here on, so one leak is reported once.
    local n, list = lib.fds()
    base = {n = n, list = list}
  end
  tide.set_error_handler(old ~= on_error and old or nil)
  if grace then tide.cleanup_grace(grace) end
  return finding
end

-- Runs a program file made by `api.lua --print` on its own: prints the
-- finding and exits 1 if there is one.
function H.program(seed, fn)
  if H.embedded then return fn end
  H.seed = seed
  local f = H.run(fn)
  lib.rmdir_all(X and X.dir)
  if f then
    io.stderr:write(("FAIL %s (seed %s): %s\n"):format(f.kind, seed, f.msg))
    os.exit(1)
  end
  io.stderr:write(("ok (seed %s)\n"):format(seed))
end

function H.cleanup()
  lib.rmdir_all(X and X.dir)
end

return H
