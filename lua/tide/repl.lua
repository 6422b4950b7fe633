-- tide.repl: the interactive prompt of the tide command (`tide` with no
-- script and a terminal on stdin), lua's REPL with an event loop under it,
-- as `python -m asyncio` is Python's.
--
--   require("tide.repl").run([opts]) -- in a task; returns at Ctrl-D (EOF)
--
-- Every line runs in a task of its own, so it may await (tide.sleep(1),
-- c = tide.tcp.connect(...), c:readline()), and tasks it spawns run on in
-- the background while the prompt waits for the next line: the prompt reads
-- the terminal through tide's own stream on descriptor 0 (tide.stdin()),
-- never by a blocking read that would freeze the loop.
--
-- As in lua: "=expr" and a line that is an expression print their values
-- (with the global print, so a script may replace it; through opts.stdout
-- when that option is given); an incomplete chunk (its error ends in
-- "<eof>") asks for more with the continuation prompt; the prompts are the
-- globals _PROMPT and _PROMPT2 ("> ", ">> ");
-- an error prints its message and a traceback on stderr, and the prompt
-- comes back. Globals carry from line to line; a line's locals end with it.
--
-- Ctrl-C (SIGINT, watched with tide.on_signal while the prompt runs, so
-- the command's own handler leaves it alone) cancels the task of the line
-- that runs, which unwinds as any cancellation does (<close> handlers, the
-- grace period) and prints "interrupted"; at the prompt it drops the line
-- typed so far. Background tasks are not touched. A line that computes
-- without awaiting (a busy loop) never lets the loop run that watcher: for
-- it a hook set from the signal handler raises "interrupted" in the line's
-- code, as in lua (src/lua/lrepl.c). Ctrl-D on an empty line ends the
-- prompt; the command then cancels the tasks left running and waits for
-- their cleanup, as it does when a script returns.
--
-- Options (checked): stdin (a stream to read lines from; default
-- tide.stdin()), stdout and stderr (objects with write and flush, default
-- io.stdout and io.stderr), banner (false: print none).
local tide = require "tide"
local core = require "tide.core"

local M = {}
local R = core._repl -- src/lua/lrepl.c: Ctrl-C in a line that never awaits

local spawn, yield, is_cancelled = tide.spawn, tide.yield, tide.is_cancelled
local pack, unpack = table.pack, table.unpack
local pcall, xpcall, load, tostring = pcall, xpcall, load, tostring

local CHUNKNAME = "=stdin"

-- Is the code running here cancelled (its task, or a scope around it)?
-- An await raises at once when it is, so a zero-length one tells.
local function cancelled_here()
  return not pcall(yield)
end

-- The message of an error value, as lua.c's msghandler words it.
local function message_of(err)
  if type(err) == "string" then return err end
  local mt = getmetatable(err)
  if type(mt) == "table" and mt.__tostring then
    local ok, s = pcall(tostring, err)
    if ok and type(s) == "string" then return s end
  end
  return ("(error object is a %s value)"):format(type(err))
end

-- The message handler of a line: a cancellation passes unchanged (it is
-- no failure to show); any other error becomes its message and the
-- traceback of the line's own frames, cut where the REPL's begin.
local function line_msgh(err)
  if is_cancelled(err) then return err end
  local tb = debug.traceback(message_of(err), 2)
  local cut = tb:find("\n[^\n]*%[C%]: in function 'xpcall'")
  return cut and tb:sub(1, cut - 1) or tb
end

-- The body of a line's task: runs the compiled chunk, prints its values,
-- reports its error. Only a cancellation of the task itself leaves it as
-- an error (so that the task ends cancelled); a cancelled error that
-- merely came out of the line's code (awaiting a task someone cancelled)
-- is reported like any other error.
local disarm = setmetatable({}, {__close = function() R.disarm() end})
local function run_line(io_, fn)
  R.arm() -- Ctrl-C reaches the line even if it never awaits
  local _ <close> = disarm
  local r = pack(xpcall(fn, line_msgh))
  if r[1] then
    if r.n > 1 then
      local ok, e = pcall(io_.print or print, unpack(r, 2, r.n))
      if not ok then
        io_.stderr:write("error calling 'print' (", message_of(e), ")\n")
        io_.stderr:flush()
      end
    end
    return
  end
  if is_cancelled(r[2]) and cancelled_here() then error(r[2], 0) end
  io_.stderr:write(message_of(r[2]), "\n")
  io_.stderr:flush()
end

-- Compiles a first line as lua.c does: "=expr" means "return expr"; a
-- line that compiles as "return " .. line is an expression whose values
-- print. Returns the function, or nil and the source to compile as
-- statements.
local function compile_expression(line)
  if line:sub(1, 1) == "=" then line = "return " .. line:sub(2) end
  local fn = load("return " .. line, CHUNKNAME, "t")
  if fn then return fn end
  return nil, line
end

-- Is err the message of a chunk that only lacks its end?
local function incomplete(err)
  return err:sub(-5) == "<eof>"
end

-- run([opts]): the prompt, until EOF (Ctrl-D) on its input. Must run in a
-- task (the tide command's root task runs it).
function M.run(opts)
  core.check_options(opts, "tide.repl.run",
    {stdin = true, stdout = true, stderr = true, banner = true})
  opts = opts or {}
  if not tide.current_task() then
    error("tide.repl.run: must run in a task (under the tide command or "
      .. "tide.run)", 2)
  end
  local io_ = {stdout = opts.stdout or io.stdout,
    stderr = opts.stderr or io.stderr}
  local out = io_.stdout
  if opts.stdout then
    -- Values go where the prompt goes, formatted as print does.
    io_.print = function(...)
      local n = select("#", ...)
      for i = 1, n do
        out:write(tostring((select(i, ...))), i < n and "\t" or "\n")
      end
      out:flush()
    end
  end
  -- asyncio's REPL has asyncio imported; this one has tide.
  if rawget(_G, "tide") == nil then _G.tide = tide end
  -- The task Ctrl-C cancels: the step that runs now (reading a line or
  -- running one); sigint says the cancellation came from Ctrl-C.
  local current, sigint, nlines = nil, false, 0
  local watcher <close> = tide.on_signal("SIGINT", function()
    if R.take() then return end -- a hook already interrupted the line
    if current and not current:done() then
      sigint = true
      current:cancel("interrupted")
    end
  end)

  -- Runs fn(...) in a task of its own (named name) and waits for it.
  -- Returns true and fn's values, or false and "interrupted" (Ctrl-C) or
  -- "cancelled" (something else cancelled that task). When the REPL's own
  -- task is cancelled (SIGTERM), the cancellation is raised on: the prompt
  -- ends.
  local function step(name, fn, ...)
    local t = spawn({name = name}, fn, ...)
    current, sigint = t, false
    local r = pack(pcall(t.await, t))
    current = nil
    if r[1] then return true, unpack(r, 2, r.n) end
    if t:cancelled() then
      if cancelled_here() then error(r[2], 0) end
      return false, sigint and "interrupted" or "cancelled"
    end
    -- The step's own code failed (a Ctrl-C hook that fired just outside
    -- the line's xpcall): say so and go on.
    return false, message_of(r[2])
  end

  local function prompt(first)
    local p = first and _PROMPT or _PROMPT2
    if p == nil then p = first and "> " or ">> " end
    out:write(tostring(p))
    out:flush()
  end

  -- The next line of input: the line, or nil at EOF or on a read error
  -- (reported), or false when Ctrl-C cancelled the read.
  local function read_line(first)
    prompt(first)
    local stdin = opts.stdin
    if not stdin then
      local err
      stdin, err = tide.stdin()
      if not stdin then
        io_.stderr:write("tide: cannot read the terminal: ", err, "\n")
        return nil
      end
    end
    local ok, line, err = step("repl: read", stdin.readline, stdin)
    if not ok then
      out:write("\n")
      out:flush()
      if line ~= "interrupted" then io_.stderr:write(line, "\n") end
      return false
    end
    if line == nil and err then
      io_.stderr:write("tide: reading the terminal: ", err, "\n")
    end
    return line
  end

  -- The next chunk: a function to run, or nil at EOF, or false when there
  -- is nothing to run (a syntax error, Ctrl-C).
  local function read_chunk()
    local line = read_line(true)
    if not line then return line end
    local fn, src = compile_expression(line)
    if fn then return fn end
    while true do
      local err
      fn, err = load(src, CHUNKNAME, "t")
      if fn then return fn end
      if not incomplete(err) then
        io_.stderr:write(err, "\n")
        io_.stderr:flush()
        return false
      end
      line = read_line(false)
      if line == nil then -- EOF in the middle: lua reports the chunk
        io_.stderr:write(err, "\n")
        io_.stderr:flush()
        return nil
      end
      if line == false then return false end
      src = src .. "\n" .. line
    end
  end

  if opts.banner ~= false then
    out:write(("tide %s (%s): each line runs in a task, tide is loaded; "
      .. "Ctrl-C cancels the line, Ctrl-D exits\n"):format(core.version,
      _VERSION))
    out:flush()
  end
  while true do
    local fn = read_chunk()
    if fn == nil then break end
    if fn then
      nlines = nlines + 1
      local ok, why = step("repl: line " .. nlines, run_line, io_, fn)
      if not ok then
        io_.stderr:write(why, "\n")
        io_.stderr:flush()
      end
      -- A background task that failed and is no longer referenced reports
      -- its error when it is collected: now rather than some lines later.
      collectgarbage()
    end
  end
  out:write("\n")
  out:flush()
end

return M
