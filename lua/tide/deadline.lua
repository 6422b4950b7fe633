-- Deadlines and shields: tide.timeout, tide.move_on_after, the scope form
-- tide.timeout_scope (for <close>), tide.remaining, tide.wait_for,
-- tide.shield and tide.cleanup.
--
-- Each is a cancel scope of the core (src/scope.c, src/lua/lscope.c):
-- when its deadline passes the scope is cancelled, and stays cancelled
-- until the code leaves it: every await inside it fails at once, again and
-- again, however often a pcall swallows the error (Trio's rule; asyncio's
-- one-shot cancellation would be lost to the first pcall). On the way out
-- the scope owns the cancellation it caused and turns it into its outcome:
-- a timeout error, or a plain return for move_on_after. Nested scopes
-- work through ownership: the outermost cancelled scope owns the error, so
-- an inner deadline passes an outer one's cancellation on.
local core = require "tide.core"
local combinators = require "tide.combinators"

local open_scope = core.open_scope
local pcall, error, type = pcall, error, type
local awaitable, check_awaitable = combinators.awaitable, combinators.check

local M = {}

local function check_seconds(seconds, fname, level)
  if type(seconds) ~= "number" or seconds ~= seconds or seconds < 0 then
    error(("bad argument #1 to '%s' (number of seconds >= 0 expected, got %s)")
      :format(fname, type(seconds) == "number" and tostring(seconds) or type(seconds)), level + 1)
  end
end

local function check_fn(fn, fname, level)
  if type(fn) ~= "function" then
    error(("bad argument #2 to '%s' (function expected, got %s)")
      :format(fname, type(fn)), level + 1)
  end
end

-- tide.timeout_scope(seconds) -> scope, for `local s <close> = ...`: the
-- code after it in the block is cancelled when the deadline passes, and the
-- block raises a timeout error (tide.is_timeout) at its end. seconds = nil
-- or math.huge: no deadline (s:cancel() and s:reschedule() still work).
-- Methods: remaining(), expired(), cancel(), reschedule(seconds).
function M.timeout_scope(seconds)
  if seconds ~= nil then check_seconds(seconds, "timeout_scope", 2) end
  return open_scope("timeout", seconds, "timeout_scope")
end

local function finish_timeout(s, ok, ...)
  if ok then
    s:close()
    return ...
  end
  local err = ...
  if s:close(err) then error(s:timeout_error(), 0) end
  error(err, 0)
end

-- tide.timeout(seconds, fn, ...) -> fn's values: calls fn(...) in the
-- running task; when the deadline passes, fn's code is cancelled (its
-- awaits fail until it returns) and a timeout error (tide.is_timeout(err))
-- is raised here instead of the cancellation.
function M.timeout(seconds, fn, ...)
  check_seconds(seconds, "timeout", 2)
  check_fn(fn, "timeout", 2)
  local s = open_scope("deadline", seconds, "timeout")
  return finish_timeout(s, pcall(fn, ...))
end

local function finish_move_on(s, ok, ...)
  if ok then
    -- fn returned, but if the deadline passed it was cut short (its
    -- awaits failed, and it swallowed the errors): report that too.
    local expired = s:expired()
    s:close()
    return not expired, ...
  end
  local err = ...
  if s:close(err) then return false end
  error(err, 0)
end

-- tide.move_on_after(seconds, fn, ...) -> true, fn's values; or false if
-- the deadline passed first (Trio's move_on_after: fn is cancelled and the
-- caller goes on, no error). If fn swallowed the cancellation and returned
-- anyway, its values follow the false.
function M.move_on_after(seconds, fn, ...)
  check_seconds(seconds, "move_on_after", 2)
  check_fn(fn, "move_on_after", 2)
  local s = open_scope("deadline", seconds, "move_on_after")
  return finish_move_on(s, pcall(fn, ...))
end

-- tide.remaining() -> seconds left before the nearest deadline around the
-- running code (math.huge if there is none, 0 once one has passed).
M.remaining = core.remaining

-- tide.wait_for(seconds, awaitable) -> its values: awaits a future, task or
-- function (run as a task); on the deadline the awaited thing is cancelled
-- (a task through the await, asyncio's rule; a future here) and a timeout
-- error is raised. seconds = nil waits without a deadline.
function M.wait_for(seconds, x)
  if seconds ~= nil then check_seconds(seconds, "wait_for", 2) end
  check_awaitable(x, 2, "wait_for", 2)
  local aw = awaitable(x)
  if seconds == nil then return aw:await() end
  local s = open_scope("deadline", seconds, "wait_for")
  local ok, err = pcall(aw.await, aw)
  if ok then
    s:close()
    return aw:result()
  end
  if not aw:done() then aw:cancel() end
  if s:close(err) then error(s:timeout_error(), 0) end
  error(err, 0)
end

local function finish_shield(s, ok, ...)
  s:close()
  if not ok then error((...), 0) end
  return ...
end

-- tide.shield(fn, ...) -> fn's values: runs fn(...) in the running task,
-- where no cancellation from outside reaches it: its awaits complete even
-- if the task or a deadline around it is cancelled meanwhile (Trio's
-- shielded scope); the next await after it then fails. tide.shield(x) for
-- a task or future awaits it the same way.
function M.shield(x, ...)
  if type(x) == "function" then
    return finish_shield(open_scope("shield", nil, "shield"),
      pcall(x, ...))
  end
  check_awaitable(x, 1, "shield", 2)
  local aw = awaitable(x)
  local s = open_scope("shield", nil, "shield")
  local ok, err = pcall(aw.await, aw)
  s:close()
  if not ok then error(err, 0) end
  return aw:result()
end

-- tide.cleanup(fn, ...) -> true, fn's values; or false if the cleanup grace
-- period (tide.cleanup_grace()) ended first (as move_on_after). For cleanup that must await
-- after a cancellation outside a <close> handler (in a pcall's error
-- branch, say), where every await would fail: fn runs shielded, bounded by
-- the grace period.
function M.cleanup(fn, ...)
  if type(fn) ~= "function" then
    error(("bad argument #1 to 'cleanup' (function expected, got %s)")
      :format(type(fn)), 2)
  end
  local s = open_scope("cleanup", nil, "cleanup")
  return finish_move_on(s, pcall(fn, ...))
end

return M
