-- Shared spec helpers: run a test body as a tide task and check that it
-- left nothing behind (tasks, timers, libuv handles, file descriptors,
-- child processes).
--
-- A spec that leaks fails alone: the failure names the spec, and the
-- leftovers are closed (H.reset) before the next spec starts, so one leak
-- never shows up again as "handle(s) left open" in every later spec. H.run
-- checks at its end; a check at the end of every spec (busted's "test end"
-- event) catches the specs that run tide.run themselves.
local tide = require "tide"

local H = {}

-- What survives busted's reloading of this module for each spec file: the
-- name of the running spec and the counts at its start.
local REG = debug.getregistry()
local state = REG["tide.spec.helper"]
if state == nil then
  state = {spec = "(outside any spec)"}
  REG["tide.spec.helper"] = state
end

-- Open file descriptors of this process, read with lfs (busted depends
-- on it) so that no helper process or pipe muddles the count. The
-- directory handle of the listing itself counts in every call alike.
local lfs = require "lfs"
function H.fds()
  local names = {}
  for fd in lfs.dir("/proc/self/fd") do
    if fd ~= "." and fd ~= ".." then
      names[#names + 1] = fd .. "=" .. tostring(lfs.symlinkattributes(
        "/proc/self/fd/" .. fd, "target"))
    end
  end
  table.sort(names)
  return #names, table.concat(names, " ")
end

-- Child processes of this process (zombies included), from the children
-- list of each of its threads, sorted: "pid pid ...".
function H.children()
  local pids = {}
  for tid in lfs.dir("/proc/self/task") do
    local f = tid ~= "." and tid ~= ".." and
      io.open("/proc/self/task/" .. tid .. "/children")
    if f then
      for pid in f:read("a"):gmatch("%d+") do pids[#pids + 1] = pid end
      f:close()
    end
  end
  table.sort(pids)
  return table.concat(pids, " ")
end

-- The name of the running spec ("describe ... it"), as busted prints it.
function H.spec_name() return state.spec end

-- The runtime's counts and the descriptors, after a full collection (an
-- earlier spec's garbage, an unclosed file, must not close a descriptor
-- between two counts).
local function snapshot()
  collectgarbage()
  collectgarbage()
  local s = tide.stats()
  s.fds, s.fdlist = H.fds()
  s.kids = H.children()
  return s
end

-- The descriptors opened (+) and closed (-) between two listings.
local function fd_diff(before, after)
  local was, is, out = {}, {}, {}
  for fd in before:gmatch("%S+") do was[fd] = true end
  for fd in after:gmatch("%S+") do
    is[fd] = true
    -- The listing's own directory handle shows up under a new number.
    if not was[fd] and not fd:match("=/proc/%d+/fd$") then
      out[#out + 1] = "+" .. fd
    end
  end
  for fd in before:gmatch("%S+") do
    if not is[fd] and not fd:match("=/proc/%d+/fd$") then
      out[#out + 1] = "-" .. fd
    end
  end
  return table.concat(out, " ")
end

-- What is open now and was not at snapshot `since`, as a sentence ("1
-- libuv handle(s) left open, 1 task(s) left pending"), or nil. Descriptors
-- and child processes are compared too, unless since has no listing.
local function leftovers(since)
  local now, out = snapshot(), {}
  for _, k in ipairs({{"tasks", "task(s) left pending"},
      {"timers", "timer(s) left armed"},
      {"handles", "libuv handle(s) left open"}}) do
    local n = now[k[1]] - since[k[1]]
    if n > 0 then out[#out + 1] = ("%d %s"):format(n, k[2]) end
  end
  if since.fdlist and now.fds ~= since.fds then
    out[#out + 1] = ("file descriptors: %d before, %d after (%s)")
      :format(since.fds, now.fds, fd_diff(since.fdlist, now.fdlist))
  end
  if since.kids and now.kids ~= since.kids then
    out[#out + 1] = ("child processes: [%s] before, [%s] after")
      :format(since.kids, now.kids)
  end
  return #out > 0 and table.concat(out, ", ") or nil
end

local ZERO = {tasks = 0, timers = 0, handles = 0}

-- Closes what a failed or leaking spec left behind: its garbage is
-- collected (closing streams and sockets), listening servers and signal
-- watchers (pinned in the registry while open) are closed, and loop runs
-- cancel the tasks left and let the close callbacks run. Returns a note
-- for the failure message: whether that sufficed (what cannot be closed
-- stays in the counts the next spec starts from, so it is not blamed
-- again).
function H.reset()
  collectgarbage()
  collectgarbage()
  for _, v in pairs(REG) do
    local mt = type(v) == "userdata" and getmetatable(v)
    local name = type(mt) == "table" and rawget(mt, "__name")
    if name == "tide.server" or name == "tide.signal" then pcall(v.close, v) end
  end
  for _ = 1, 5 do
    pcall(tide.run, function() tide.sleep(0.001) end)
    local s = tide.stats()
    if s.tasks == 0 and s.timers == 0 and s.handles == 0 then
      return "closed before the next spec"
    end
  end
  return "could not all be closed"
end

-- Raises the failure of the running spec: what it left, once reset.
local function fail_leak(what, level)
  local note = H.reset()
  error(("spec '%s': %s (%s)"):format(state.spec, what, note),
    level > 0 and level + 1 or 0)
end

-- Asserts the runtime is idle: no task, timer or tide handle is left that
-- was not there when the spec started.
function H.assert_clean()
  local since = state.start or ZERO
  local what = leftovers({tasks = since.tasks, timers = since.timers,
    handles = since.handles})
  if what then fail_leak(what, 2) end
end

-- tide.run(fn, ...) followed by the cleanliness checks; returns fn's values.
-- If fn fails, its error is raised after the leftovers are closed.
function H.run(fn, ...)
  local before = snapshot()
  local r = table.pack(pcall(tide.run, fn, ...))
  if not r[1] then
    if leftovers(before) then H.reset() end
    error(r[2], 0)
  end
  local what = leftovers(before)
  if what then fail_leak(what, 2) end
  return table.unpack(r, 2, r.n)
end

-- Every spec's end (also those that run tide.run themselves): a leak fails
-- that spec (busted reports it as an error on it) and is closed for the
-- next one. Subscribed once for the whole busted run.
if not state.subscribed then
  local ok, busted = pcall(require, "busted")
  if ok and type(busted) == "table" and busted.subscribe then
    state.subscribed = true
    local function full_name(element)
      local names = {element.name or element.descriptor}
      local parent = busted.parent(element)
      while parent and (parent.name or parent.descriptor) and
          parent.descriptor ~= "file" do
        table.insert(names, 1, parent.name or parent.descriptor)
        parent = busted.parent(parent)
      end
      return table.concat(names, " ")
    end
    busted.subscribe({"test", "start"}, function(element)
      state.spec = full_name(element)
      state.start = snapshot()
      return nil, true
    end)
    busted.subscribe({"test", "end"}, function()
      local what = state.start and leftovers(state.start)
      state.start = nil
      if what then fail_leak(what, 0) end
      return nil, true
    end)
  end
end

-- In a task: fn(dir) with a fresh temporary directory, removed afterwards
-- whatever fn did; fn's error is raised again after the removal.
function H.with_tmpdir(fn, prefix)
  local dir = assert(tide.fs.mkdtemp("/tmp/" .. (prefix or "tide-spec-")))
  local r = table.pack(pcall(fn, dir))
  assert(tide.fs.rmdir(dir, {recursive = true}))
  if not r[1] then error(r[2], 0) end
  return table.unpack(r, 2, r.n)
end

-- Collects what the error handler receives while fn runs.
function H.capture_errors(fn)
  local got = {}
  local old = tide.set_error_handler(function(err, task)
    got[#got + 1] = tostring(err)
  end)
  local ok, e = pcall(fn)
  collectgarbage()
  collectgarbage()
  tide.set_error_handler(old)
  if not ok then error(e, 0) end
  return got
end

-- Path of the built tide command.
function H.tide_bin()
  return (os.getenv("TIDE_BUILD") or "build") .. "/bin/tide"
end

-- Runs a shell command; returns its stdout, stderr and exit code.
function H.sh(cmd)
  local out = os.tmpname()
  local err = os.tmpname()
  local ok, how, code = os.execute(cmd .. " >" .. out .. " 2>" .. err)
  local function slurp(p)
    local f = io.open(p, "rb")
    local s = f:read("a")
    f:close()
    os.remove(p)
    return s
  end
  return slurp(out), slurp(err), (how == "exit" and code) or 128 + code
end

return H
