-- tide: an async runtime for Lua 5.4 on libuv.
--
-- This file is the facade over the C module tide.core: it re-exports the
-- core (run, spawn, await, sleep, now, yield, future, ...) and adds what is
-- best written in Lua on top of it (gather, timeouts). Other modules add
-- themselves through tide._extend.
local core = require "tide.core"

local tide = {}
for k, v in pairs(core) do tide[k] = v end

local spawn, future, is_error = core.spawn, core.future, core.is_error
local select, type, error, pcall = select, type, error, pcall

-- Errors: tide's own errors are tables {kind = ..., message = ...} whose
-- tostring is the message. Kinds: "cancelled", "timeout".
function tide.is_cancelled(err) return is_error(err, "cancelled") end
function tide.is_timeout(err) return is_error(err, "timeout") end

-- Anything tide.gather and friends accept: a future, a task, or a function
-- (spawned as a task).
local function awaitable(x, i)
  if type(x) == "function" then return spawn(x) end
  local mt = getmetatable(x)
  if type(x) == "userdata" and mt and (mt.__name == "tide.task" or
      mt.__name == "tide.future") then
    return x
  end
  error(("bad argument #%d (future, task or function expected, got %s)")
    :format(i, type(x)), 3)
end
tide._awaitable = awaitable

local function cancel_pending(list, n)
  for i = 1, n do
    if not list[i]:done() then list[i]:cancel() end
  end
end

-- tide.gather(a, b, ...) -> {r1, r2, ..., n = count}: awaits every
-- argument (futures, tasks, or functions run as tasks) and returns the first
-- value of each, in argument order. If one fails, the others still pending
-- are cancelled and its error is raised (the first failure in argument
-- order, if several have failed by then). Cancelling the caller cancels
-- them all.
function tide.gather(...)
  local n = select("#", ...)
  local list = {}
  for i = 1, n do list[i] = awaitable((select(i, ...)), i) end
  if n == 0 then return {n = 0} end
  local all = future()
  local remaining = n
  local function on_done(child)
    if all:done() then return end
    if child:state() == "done" then
      remaining = remaining - 1
      if remaining == 0 then all:set_result() end
    else
      all:set_result() -- a failure: wake the gatherer now
    end
  end
  for i = 1, n do list[i]:add_done_callback(on_done) end
  local ok, err = pcall(all.await, all)
  if not ok then
    cancel_pending(list, n)
    error(err, 0)
  end
  local results = {n = n}
  for i = 1, n do
    local child = list[i]
    if child:state() ~= "done" and child:done() then
      cancel_pending(list, n)
      for j = i + 1, n do list[j]:error() end -- seen: not reported again
      child:result() -- raises its error
    end
    results[i] = (child:result())
  end
  return results
end

local function check_seconds(seconds, fname)
  if type(seconds) ~= "number" or seconds ~= seconds or seconds < 0 then
    error(("bad argument #1 to '%s' (seconds must be a number >= 0, got %s)")
      :format(fname, tostring(seconds)), 3)
  end
end

local function timeout_error(seconds)
  return core.error("timeout", ("tide: timeout after %g s"):format(seconds))
end

local function finish_timeout(handle, state, seconds, ok, ...)
  handle:cancel()
  if ok then return ... end
  local err = ...
  if state.expired and is_error(err, "cancelled") then
    error(timeout_error(seconds), 0)
  end
  error(err, 0)
end

-- tide.timeout(seconds, fn, ...): calls fn(...) in the running task; if it
-- has not returned after seconds, the task is cancelled at its await point
-- and a timeout error (tide.is_timeout(err)) is raised here instead of the
-- cancellation. Nested timeouts work: the innermost deadline raises from
-- the innermost call, an outer deadline passes through inner ones.
function tide.timeout(seconds, fn, ...)
  check_seconds(seconds, "timeout")
  if type(fn) ~= "function" then
    error("bad argument #2 to 'timeout' (function expected)", 2)
  end
  local task = core.current_task()
  if not task then error("tide: timeout outside a task", 2) end
  local state = {expired = false}
  local handle = core.call_later(seconds, function()
    state.expired = true
    task:cancel("timeout")
  end)
  return finish_timeout(handle, state, seconds, pcall(fn, ...))
end

-- tide.wait_for(seconds, awaitable): awaits a future, task or function (run
-- as a task); on the deadline the awaited thing is cancelled and a timeout
-- error is raised. seconds = nil waits without a deadline.
function tide.wait_for(seconds, x)
  local aw = awaitable(x, 2)
  if seconds == nil then return aw:await() end
  check_seconds(seconds, "wait_for")
  return tide.timeout(seconds, aw.await, aw)
end

-- tide.dump() -> text: the pending tasks as a tree (a task under the task
-- that spawned it), each with its state and where it waits. The tide
-- command prints it on a signal with --dump-on SIGUSR1.
function tide.dump()
  local list = core.tasks()
  local byid, children, roots = {}, {}, {}
  for _, r in ipairs(list) do byid[r.id] = r end
  for _, r in ipairs(list) do
    if byid[r.parent] then
      local c = children[r.parent] or {}
      children[r.parent] = c
      c[#c + 1] = r
    else
      roots[#roots + 1] = r
    end
  end
  local out = {("tide: %d pending task(s) at %.3f s"):format(#list, core.now())}
  local function walk(r, depth)
    out[#out + 1] = ("%s%s: %s%s"):format(("  "):rep(depth + 1), r.label,
      r.state, r.where and (" at " .. r.where) or "")
    for _, c in ipairs(children[r.id] or {}) do walk(c, depth + 1) end
  end
  for _, r in ipairs(roots) do walk(r, 0) end
  return table.concat(out, "\n") .. "\n"
end

-- Lets other modules (tide.tcp, tide.sync, ...) hang off the same table.
function tide._extend(name, mod)
  tide[name] = mod
  return mod
end

return tide
