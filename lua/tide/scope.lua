-- Cancel scopes: the bookkeeping that lets a timeout or a task group cancel
-- the code running inside it, and tell that cancellation apart from one
-- aimed at the whole task.
--
-- The core has one cancellation primitive, task:cancel(): a single request
-- delivered at the task's next await point as an error of kind "cancelled".
-- A scope (a deadline, a group body) cancels its task that way and records
-- that it did. When a cancellation error reaches the scope's exit, the scope
-- decides whose it is: the outermost scope of the task that has requested a
-- cancellation owns it (an outer deadline passes through inner ones, as in
-- Trio); if no scope of the task has asked, the cancellation came from
-- outside (task:cancel()) and goes on unchanged.
--
-- Each task has a stack of the scopes it is inside, innermost last, in a
-- weak table keyed by the task.
--
-- Whose cancellation is it? The core counts cancellation requests per task
-- (task:cancelling(); task:uncancel() takes one back, asyncio's rule): a
-- scope that asked takes its own request back when the error reaches it,
-- and owns the error only if no request is left; otherwise an outer scope
-- or an outside task:cancel() wants the task cancelled too, and the error
-- goes on.
local core = require "tide.core"

local current_task, call_soon = core.current_task, core.call_soon
local type = type
local is_error = core.is_error

local M = {}

local stacks = setmetatable({}, {__mode = "k"}) -- task -> {scope, ...}

-- M.enter(scope): pushes scope on the running task's stack and sets
-- scope.task. Raises outside a task (level: the caller's caller).
function M.enter(scope, what)
  local task = current_task()
  if not task then error(("tide: %s outside a task"):format(what), 3) end
  scope.task = task
  local stack = stacks[task]
  if not stack then
    stack = {}
    stacks[task] = stack
  end
  stack[#stack + 1] = scope
  return scope
end

-- M.leave(scope): takes scope off its task's stack (normally the top; a
-- scope closed out of order is found by search) and drops a cancellation it
-- requested but could not deliver yet.
function M.leave(scope)
  if scope.pending then
    scope.pending:cancel()
    scope.pending = nil
  end
  local stack = stacks[scope.task]
  if not stack then return end
  for i = #stack, 1, -1 do
    if stack[i] == scope then
      table.remove(stack, i)
      break
    end
  end
  if #stack == 0 then stacks[scope.task] = nil end
end

local function deliver(scope)
  scope.pending = nil
  scope.task:cancel(scope.reason)
end

-- M.cancel(scope, reason): requests the cancellation of the code inside
-- scope (once; later calls do nothing). From another task or a loop
-- callback the task is cancelled at once (it is waiting: the request lands
-- at that await). From inside the task itself the request is sent from the
-- loop's next turn, so a scope that ends before awaiting again leaves no
-- cancellation behind to hit unrelated code. Returns true if this call
-- made the request.
function M.cancel(scope, reason)
  if scope.cancel_called or scope.closed then return false end
  scope.cancel_called = true
  scope.reason = reason
  if scope.task == current_task() then
    scope.pending = call_soon(deliver, scope)
  else
    scope.task:cancel(reason)
  end
  return true
end

-- M.owns(scope, err) -> true if err is the cancellation scope requested
-- and nobody else's: scope asked for one (and it was sent), err is a
-- cancellation error, and once scope's request is taken back no other is
-- pending on the task. Call it once, before M.leave(scope).
function M.owns(scope, err)
  if not scope.cancel_called or scope.pending or scope.uncancelled then
    return false
  end
  if not is_error(err, "cancelled") then return false end
  scope.uncancelled = true
  return scope.task:uncancel() == 0
end

-- M.each(task) -> iterator over the task's scopes, innermost first.
function M.each(task)
  local stack = task and stacks[task]
  local i = stack and #stack + 1 or 1
  return function()
    i = i - 1
    if i >= 1 then return stack[i] end
  end
end

return M
