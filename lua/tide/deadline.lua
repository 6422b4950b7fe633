-- Deadlines: tide.timeout, tide.move_on_after, the scope form
-- tide.timeout_scope (for <close>), tide.remaining, tide.wait_for, and
-- tide.shield.
--
-- A deadline is a cancel scope (tide.scope) with a call_later timer: when
-- the timer fires, the task is cancelled at its await point and the scope,
-- on the way out, turns the cancellation into a timeout error (or, for
-- move_on_after, into a plain return). Nested deadlines work through the
-- scope stack: the innermost one that fires raises from itself, an outer
-- one passes through the inner ones.
local core = require "tide.core"
local scope = require "tide.scope"
local combinators = require "tide.combinators"

local call_later, now, future = core.call_later, core.now, core.future
local pcall, error, type, select = pcall, error, type, select
local awaitable = combinators.awaitable

local M = {}

local function check_seconds(seconds, fname, level)
  if type(seconds) ~= "number" or seconds ~= seconds or seconds < 0 then
    error(("bad argument #1 to '%s' (seconds must be a number >= 0, got %s)")
      :format(fname, tostring(seconds)), level + 1)
  end
end

local function timeout_error(seconds)
  return core.error("timeout", ("tide: timeout after %g s"):format(seconds))
end

-- A deadline scope: the cancel-scope fields (task, cancel_called, pending,
-- closed) plus seconds, deadline (absolute, tide.now() clock) and the
-- timer's handle.
local Deadline = {}
Deadline.__index = Deadline

local function expire(s)
  s.handle = nil
  s.fired = true
  scope.cancel(s, "timeout")
end

local function arm(s, seconds)
  s.seconds = seconds
  if seconds == math.huge then
    s.deadline = math.huge
  else
    s.deadline = now() + seconds
    s.handle = call_later(seconds, expire, s)
  end
end

local function new_deadline(seconds, what)
  local s = setmetatable({}, Deadline)
  scope.enter(s, what)
  arm(s, seconds)
  return s
end

-- Ends the scope s. Returns true if err is the cancellation s caused (the
-- deadline passed, or s:cancel()), which the caller turns into its own
-- outcome; false otherwise (err, if any, goes on).
local function close(s, err)
  if s.closed then return false end
  if s.handle then
    s.handle:cancel()
    s.handle = nil
  end
  local owned = err ~= nil and scope.owns(s, err)
  scope.leave(s)
  s.closed = true
  return owned
end

-- scope:remaining() -> seconds left before the deadline (0 once passed,
-- math.huge for none).
function Deadline:remaining()
  if self.fired then return 0 end
  local left = self.deadline - now()
  return left > 0 and left or 0
end

-- scope:expired() -> true once the deadline has passed (or cancel()).
function Deadline:expired() return self.fired == true end

-- scope:cancel() -> true if this call cancelled the scope: the deadline is
-- now, as if it had passed.
function Deadline:cancel()
  if self.closed or self.cancel_called then return false end
  if self.handle then
    self.handle:cancel()
    self.handle = nil
  end
  self.fired = true
  return scope.cancel(self, "timeout")
end

-- scope:reschedule(seconds): moves the deadline to seconds from now, if it
-- has not passed yet (asyncio's Timeout.reschedule). Raises otherwise.
function Deadline:reschedule(seconds)
  check_seconds(seconds, "reschedule", 2)
  if self.closed or self.cancel_called then
    error("tide: reschedule of a deadline that has passed or is closed", 2)
  end
  if self.handle then self.handle:cancel() end
  self.handle = nil
  arm(self, seconds)
end

-- <close>: at the end of the block, a cancellation the deadline caused is
-- replaced by a timeout error; anything else goes on unchanged.
function Deadline:__close(err)
  if close(self, err) then error(timeout_error(self.seconds), 0) end
end

Deadline.__name = "tide.deadline"
function Deadline:__tostring()
  return ("tide.deadline (%g s, %s)"):format(self.seconds,
    self.closed and "closed" or self.fired and "expired" or "active")
end

-- tide.timeout_scope(seconds) -> scope, for `local s <close> = ...`: the
-- code after it in the block is cancelled when the deadline passes, and the
-- block raises a timeout error (tide.is_timeout). seconds = nil or
-- math.huge: no deadline (s:cancel() and s:reschedule() still work).
function M.timeout_scope(seconds)
  if seconds == nil then seconds = math.huge end
  check_seconds(seconds, "timeout_scope", 2)
  return new_deadline(seconds, "timeout_scope")
end

local function finish_timeout(s, ok, ...)
  if ok then
    close(s, nil)
    return ...
  end
  local err = ...
  if close(s, err) then error(timeout_error(s.seconds), 0) end
  error(err, 0)
end

-- tide.timeout(seconds, fn, ...) -> fn's values: calls fn(...) in the
-- running task; if it has not returned when the deadline passes, it is
-- cancelled at its await point and a timeout error (tide.is_timeout(err))
-- is raised here instead of the cancellation. The innermost deadline
-- raises from the innermost call; an outer deadline passes through inner
-- ones.
function M.timeout(seconds, fn, ...)
  check_seconds(seconds, "timeout", 2)
  if type(fn) ~= "function" then
    error("bad argument #2 to 'timeout' (function expected)", 2)
  end
  local s = new_deadline(seconds, "timeout")
  return finish_timeout(s, pcall(fn, ...))
end

local function finish_move_on(s, ok, ...)
  if ok then
    close(s, nil)
    return true, ...
  end
  local err = ...
  if close(s, err) then return false end
  error(err, 0)
end

-- tide.move_on_after(seconds, fn, ...) -> true, fn's values; or false if
-- the deadline passed first (Trio's move_on_after: fn is cancelled and the
-- caller goes on, no error).
function M.move_on_after(seconds, fn, ...)
  check_seconds(seconds, "move_on_after", 2)
  if type(fn) ~= "function" then
    error("bad argument #2 to 'move_on_after' (function expected)", 2)
  end
  local s = new_deadline(seconds, "move_on_after")
  return finish_move_on(s, pcall(fn, ...))
end

-- tide.remaining() -> seconds left before the nearest deadline around the
-- running code (math.huge if there is none, 0 once one has passed).
function M.remaining()
  local left = math.huge
  for s in scope.each(core.current_task()) do
    if s.remaining then
      local r = s:remaining()
      if r < left then left = r end
    end
  end
  return left
end

-- tide.wait_for(seconds, awaitable) -> its values: awaits a future, task or
-- function (run as a task); on the deadline the awaited thing is cancelled
-- (asyncio's rule for awaited tasks) and a timeout error is raised.
-- seconds = nil waits without a deadline.
function M.wait_for(seconds, x)
  local aw = awaitable(x, 2)
  if seconds == nil then return aw:await() end
  check_seconds(seconds, "wait_for", 2)
  local s = new_deadline(seconds, "wait_for")
  local function run()
    local ok, err = pcall(aw.await, aw)
    if ok then return aw:result() end
    -- A future has no cancel hook: cancel it ourselves, so the deadline
    -- stops what wait_for waited for, as it does for a task.
    if not aw:done() then aw:cancel() end
    error(err, 0)
  end
  return finish_timeout(s, pcall(run))
end

-- tide.shield(awaitable) -> its values: awaits x (a future, task, or
-- function run as a task) without passing a cancellation on: if the
-- waiting task is cancelled, the cancellation is raised in it at once but x
-- keeps running.
function M.shield(x)
  local aw = awaitable(x, 1)
  if not aw:done() then
    local f = future()
    local function on_done() f:set_result() end
    aw:add_done_callback(on_done)
    local ok, err = pcall(f.await, f)
    if not ok then
      aw:remove_done_callback(on_done)
      error(err, 0)
    end
  end
  return aw:result()
end

return M
