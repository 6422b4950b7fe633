-- Shared spec helpers: run a test body as a tide task and check that it
-- left nothing behind (tasks, timers, libuv handles, file descriptors,
-- child processes).
local tide = require "tide"

local H = {}

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

-- Asserts the runtime is idle: no task, timer or tide handle is left.
function H.assert_clean()
  collectgarbage()
  collectgarbage()
  local s = tide.stats()
  assert(s.tasks == 0, ("%d task(s) left pending"):format(s.tasks))
  assert(s.timers == 0, ("%d timer(s) left armed"):format(s.timers))
  assert(s.handles == 0, ("%d libuv handle(s) left open"):format(s.handles))
end

-- tide.run(fn, ...) followed by the cleanliness checks; returns fn's values.
function H.run(fn, ...)
  -- Collect first: an earlier spec's garbage (an unclosed file) must not
  -- close a descriptor in the middle of this count.
  collectgarbage()
  collectgarbage()
  local fds, before = H.fds()
  local kids = H.children()
  local r = table.pack(tide.run(fn, ...))
  H.assert_clean()
  local now, after = H.fds()
  assert(now == fds, ("file descriptors: %d before (%s), %d after (%s)")
    :format(fds, before, now, after))
  local kids_after = H.children()
  assert(kids_after == kids, ("child processes: [%s] before, [%s] after")
    :format(kids, kids_after))
  return table.unpack(r, 1, r.n)
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
