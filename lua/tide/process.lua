-- tide.process: child processes whose pipes are tide streams.
--
--   local p = tide.process.spawn{"grep", "x", stdin = "pipe", stdout = "pipe"}
--   p.stdin:write("a\nx\n"); p.stdin:close()
--   print(p.stdout:read())          -- every stream method works
--   print(p:wait())                 -- 0, nil (or 137, "SIGKILL", ...)
--
--   local r = tide.process.run{"ls", "-l", cwd = "/tmp"}
--   print(r.code, r.stdout, r.stderr)
--
--   tide.process.kill(pid, "SIGHUP"); tide.process.pid (ours)
--
-- spawn{prog, args... [, options]} -> process | nil, err, name. Options:
--   stdin, stdout, stderr: "inherit" (default), "null", "pipe" (p.stdin,
--     p.stdout, p.stderr are then streams), a stream, a tide.fs file, or a
--     descriptor number;
--   cwd; env: variables to add or replace (false removes one); clear_env:
--     start from an empty environment instead of ours;
--   detached: its own session, and left running by the runtime's close;
--   kill_on_cancel: true (SIGKILL) or a signal: sent if a task waiting in
--     p:wait() is cancelled (by default the child runs on);
--   grace: seconds between SIGTERM and SIGKILL when the runtime closes
--     with the child still running (default 5).
--
-- run{prog, args... [, options]} -> {code=, signal=, stdout=, stderr=,
-- pid=} | nil, err, name [, partial result]: spawns, writes input (then
-- closes stdin), reads stdout and stderr at the same time (reading them one
-- after the other, or waiting before reading, can deadlock on a full pipe)
-- and waits. Options as spawn's (stdout and stderr default to "pipe",
-- stdin to "null"), plus input (a string for stdin), timeout (seconds: the
-- child is killed and run returns nil, "ETIMEDOUT: ...", "ETIMEDOUT",
-- partial) and max_output (bytes per stream, default 64 MiB: past it the
-- child is killed, ENOBUFS). Cancelling run kills the child.
local core = require "tide.core"
local P = core._proc

local spawn_task, call_later = core.spawn, core.call_later
local check_options = core.check_options
local type, error, pairs, pcall, tostring = type, error, pairs, pcall, tostring
local concat = table.concat
local mtype = math.type

local M = {}

local SPAWN = {
  cwd = true, env = true, clear_env = true, stdin = true, stdout = true,
  stderr = true, detached = true, kill_on_cancel = true, grace = true,
}
local RUN = {input = true, timeout = true, max_output = true}
for k in pairs(SPAWN) do RUN[k] = true end

local MAX_OUTPUT = 64 * 1024 * 1024

-- Splits {"prog", "arg", ..., key = value} into the argument list and the
-- options (checked against known); errors point at the caller's caller.
local function split(spec, fname, known)
  if type(spec) ~= "table" then
    error(("bad argument #1 to '%s' (table expected, got %s)")
      :format(fname, type(spec)), 3)
  end
  local args, opts, n = {}, {}, #spec
  for k, v in pairs(spec) do
    if mtype(k) == "integer" and k >= 1 and k <= n then
      args[k] = v
    else
      opts[k] = v
    end
  end
  check_options(opts, fname, known, 3)
  if n == 0 then error(fname .. ": no program given", 3) end
  return args, opts
end

function M.spawn(spec)
  local args, opts = split(spec, "tide.process.spawn", SPAWN)
  return P.spawn(args, opts)
end

-- Reads stream to its end into result[key]; past max bytes, kills the
-- child and marks the overflow.
local function collect(p, stream, key, max, result, state)
  local parts, size = {}, 0
  while true do
    local data = stream:read()
    if not data then break end
    size = size + #data
    if size > max then
      -- Kill it, and stop reading: the pipe may hold more than the
      -- stream reads ahead, and a grandchild may hold it open.
      state.overflow = state.overflow or key
      p:kill("SIGKILL")
      stream:close()
      break
    end
    parts[#parts + 1] = data
  end
  result[key] = concat(parts)
end

local function feed(stream, input)
  if #input > 0 then stream:write(input) end -- EPIPE if it stopped reading
  stream:close()
end

function M.run(spec)
  local args, opts = split(spec, "tide.process.run", RUN)
  local input, timeout, max = opts.input, opts.timeout, opts.max_output
  opts.input, opts.timeout, opts.max_output = nil, nil, nil
  if input ~= nil and type(input) ~= "string" then
    error("tide.process.run: option 'input': string expected", 2)
  end
  if timeout ~= nil and (type(timeout) ~= "number" or not (timeout >= 0)) then
    error("tide.process.run: option 'timeout': seconds >= 0 expected", 2)
  end
  if max == nil then
    max = MAX_OUTPUT
  elseif mtype(max) ~= "integer" or max < 0 then
    error("tide.process.run: option 'max_output': bytes expected", 2)
  end
  if input ~= nil then
    if opts.stdin ~= nil and opts.stdin ~= "pipe" then
      error("tide.process.run: 'input' goes through stdin = \"pipe\"", 2)
    end
    opts.stdin = "pipe"
  elseif opts.stdin == nil then
    opts.stdin = "null"
  end
  if opts.stdout == nil then opts.stdout = "pipe" end
  if opts.stderr == nil then opts.stderr = "pipe" end
  if opts.kill_on_cancel == nil then opts.kill_on_cancel = true end

  local p, err, name = P.spawn(args, opts)
  if not p then return nil, err, name end
  local result, state, tasks = {pid = p.pid}, {}, {}
  if p.stdout then
    tasks[#tasks + 1] = spawn_task(collect, p, p.stdout, "stdout", max,
      result, state)
  end
  if p.stderr then
    tasks[#tasks + 1] = spawn_task(collect, p, p.stderr, "stderr", max,
      result, state)
  end
  if input ~= nil then tasks[#tasks + 1] = spawn_task(feed, p.stdin, input) end
  local timer
  if timeout ~= nil then
    timer = call_later(timeout, function()
      -- Kill it and stop reading (a grandchild may hold the pipes open):
      -- the output read so far is the partial result.
      state.timed_out = true
      p:kill("SIGKILL")
      if p.stdout then p.stdout:close() end
      if p.stderr then p.stderr:close() end
    end)
  end
  local ok, e = pcall(function()
    for i = 1, #tasks do tasks[i]:await() end
    result.code, result.signal = p:wait()
  end)
  if timer then timer:cancel() end
  if not ok then
    -- Cancelled (or failed): the child goes with us. It is reaped when it
    -- exits, a moment after the signal.
    for i = 1, #tasks do tasks[i]:cancel() end
    if not p:poll() then p:kill("SIGKILL") end
    p:close()
    error(e, 0)
  end
  p:close()
  if state.timed_out then
    return nil, ("ETIMEDOUT: the process ran longer than %s s")
      :format(tostring(timeout)), "ETIMEDOUT", result
  end
  if state.overflow then
    return nil, ("ENOBUFS: the process wrote more than %d bytes to %s")
      :format(max, state.overflow), "ENOBUFS", result
  end
  return result
end

-- tide.process.signals: {SIGTERM = 15, ...}, every signal name tide knows;
-- tide.process.watchable: {SIGTERM = true, ...}, those tide.signal and
-- tide.on_signal accept.
M.signals, M.watchable = P.signals()

-- tide.process.kill(pid [, sig]) -> true | nil, err, name: a signal
-- (default "SIGTERM") to any process. tide.process.pid: ours.
M.kill = P.kill
M.pid = P.pid

return M
