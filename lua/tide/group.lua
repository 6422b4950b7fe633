-- Task groups (structured concurrency): tide.group, Trio's nursery and
-- asyncio's TaskGroup in Lua's idiom.
--
--   tide.group(function(g) g:spawn(fetch, a); g:spawn(fetch, b) end)
--   do local g <close> = tide.group(); g:spawn(...) end
--
-- The group waits for all its children before it returns; no child
-- outlives it. When a child fails, its siblings are cancelled, and so is
-- the body if it is still running; once everything has stopped, the
-- error is raised from the group (one error as it is, several as one error
-- of kind "group" with the list in .errors). If the task running the group
-- is cancelled, the children are cancelled, waited for, and the
-- cancellation goes on.
--
-- The body runs in the calling task inside a cancel scope of its own
-- (src/scope.c): a cancellation the group sends it (child failure,
-- g:cancel()) is level-triggered (every await in the body fails until the
-- body ends) and is absorbed at the group's exit; any other goes on.
--
-- Waiting for the children is itself an await: if the task running the
-- group is cancelled, the children are cancelled, and then waited for in a
-- shielded scope (they end at their next await, their own cleanup bounded
-- by the grace period), so no child outlives its group.
local core = require "tide.core"

local spawn, future, is_error = core.spawn, core.future, core.is_error
local open_scope = core.open_scope
local pcall, error, type, select = pcall, error, type, select
local pack, unpack = table.pack, table.unpack

local M = {}

local Group = {}
Group.__index = Group
Group.__name = "tide.group"

-- Cancels every child still running (once the group is aborting, new
-- children are cancelled as they come).
local function cancel_children(g)
  if g.aborting then return end -- one request per child is enough
  g.aborting = true
  local children = g.children
  for i = 1, #children do
    local t = children[i]
    if not t:done() then t:cancel() end
  end
end

-- A child failed, or g:cancel(): stop everything. The body is cancelled
-- only while it runs (in the object form, only on a child's failure: its
-- __close cannot swallow a cancellation, see Group:cancel).
local function abort(g, cancel_body)
  cancel_children(g)
  if cancel_body and not g.body_done then g.scope:cancel() end
end

local function new_group()
  local g = setmetatable({children = {}, errors = {}, npending = 0}, Group)
  -- One done-callback for every child of this group.
  g.on_child_done = function(t)
    g.npending = g.npending - 1
    local state = t:state()
    if state == "failed" then
      g.errors[#g.errors + 1] = t:error() -- marks it seen
      abort(g, true)
    end
    if g.npending == 0 and g.waiter then g.waiter:set_result() end
  end
  return g
end

-- g:spawn([opts,] fn, ...) -> task: starts fn(...) as a child of the group
-- (opts as for tide.spawn: {name = ...}). Any
-- task may add children while the group is open (the body, a child, a
-- callback). In a group that is being cancelled the child is cancelled
-- before it starts. Raises once the group has finished.
function Group:spawn(fn, ...)
  if self.closed then
    error("tide: spawn in a task group that has finished", 2)
  end
  local f = fn
  if type(fn) == "table" then f = ... end -- g:spawn({name = ...}, fn, ...)
  if type(f) ~= "function" then
    error(("bad argument #1 to 'spawn' (function expected, got %s)")
      :format(type(f)), 2)
  end
  local t = spawn(fn, ...)
  self.children[#self.children + 1] = t
  self.npending = self.npending + 1
  t:add_done_callback(self.on_child_done)
  if self.aborting then t:cancel() end
  return t
end

-- g:cancel(): cancels every child. In the function form the body is
-- cancelled too and the group then returns normally (Trio's
-- nursery.cancel_scope.cancel()); in the <close> form the body runs on to
-- the end of its block (Lua's __close cannot swallow the cancellation an
-- interrupted block would raise).
function Group:cancel()
  if self.closed then return end
  abort(self, not self.object)
end

-- g:tasks() -> list of the group's tasks, in spawn order.
function Group:tasks()
  local list = {}
  for i = 1, #self.children do list[i] = self.children[i] end
  return list
end

-- The error a group raises: one as it is, several in a "group" error.
local function group_error(errors)
  if #errors == 1 then return errors[1] end
  local parts = {}
  for i = 1, #errors do parts[i] = tostring(errors[i]) end
  local e = core.error("group", ("tide: %d errors in task group: %s")
    :format(#errors, table.concat(parts, "; ")))
  e.errors = errors
  return e
end

-- Waits until every child has finished, in a shielded scope: the children
-- have been cancelled, so they end at their next await.
local function wait_shielded(g)
  local s = open_scope("shield", nil, "tide.group")
  while g.npending > 0 do
    local w = future()
    g.waiter = w
    local ok, e = pcall(w.await, w)
    g.waiter = nil
    if not ok then
      s:close()
      error(e, 0)
    end
  end
  s:close()
end

-- Ends the group: err is how the body ended (nil: normally). Waits for
-- every child, cancelling them first if the body failed or was cancelled;
-- a cancellation that arrives meanwhile cancels the children and is kept
-- for later, the wait goes on (shielded). Returns the error to raise (nil:
-- none) and whether err was the group's own cancellation (absorbed).
local function finish(g, err)
  g.body_done = true
  local absorbed = g.scope:close(err)
  local cancel_err
  local errors = g.errors
  if err ~= nil and not absorbed then
    if is_error(err, "cancelled") then
      cancel_err = err
    else
      table.insert(errors, 1, err) -- the body's error comes first
    end
    cancel_children(g)
  end
  while g.npending > 0 do
    if not coroutine.isyieldable() then
      -- Closed where nothing can wait (coroutine.close, a closing Lua
      -- state): cancel the children, and let the error go on.
      cancel_children(g)
      break
    end
    local w = future()
    g.waiter = w
    local ok, e = pcall(w.await, w)
    g.waiter = nil
    if not ok then
      cancel_children(g)
      if not is_error(e, "cancelled") then
        -- This code cannot wait at all (an await across a C boundary, or
        -- through a coroutine nobody can suspend): the children are
        -- cancelled and the error goes on; waiting again would spin.
        if cancel_err == nil and #errors == 0 then cancel_err = e end
        break
      end
      cancel_err = cancel_err or e
      local okw, ew = pcall(wait_shielded, g)
      if not okw and cancel_err == nil then cancel_err = ew end
      break
    end
  end
  g.closed = true
  if #errors > 0 then return group_error(errors), absorbed end
  return cancel_err, absorbed
end

local function finish_call(g, ok, ...)
  local err
  if not ok then
    err = ...
    if err == nil then err = false end -- error(nil) is still an error
  end
  local raise, absorbed = finish(g, err)
  if raise ~= nil then error(raise, 0) end
  if ok then return ... end
  if not absorbed then error(err, 0) end
end

-- <close> form: waits for the children at the end of the block and raises
-- their error (replacing the block's own). A block that failed by itself
-- ends with that error.
function Group:__close(err)
  if self.closed then return end
  local raise = finish(self, err)
  if raise ~= nil and raise ~= err then error(raise, 0) end
end

function Group:__tostring()
  return ("tide.group (%d children, %d running%s)"):format(#self.children,
    self.npending, self.closed and ", closed" or "")
end

-- tide.group(fn, ...) -> fn's values: runs fn(g, ...) in the calling task
-- with a new group g, then waits for all of g's children (see the top of
-- this file). If the group's own cancellation (g:cancel()) stopped fn, it
-- returns nothing.
-- tide.group() -> g, for `local g <close> = tide.group()`.
function M.group(fn, ...)
  if fn == nil and select("#", ...) == 0 then
    local g = new_group()
    g.object = true
    g.scope = open_scope("group", nil, "tide.group")
    return g
  end
  if type(fn) ~= "function" then
    error(("bad argument #1 to 'group' (function expected, got %s)")
      :format(type(fn)), 2)
  end
  local g = new_group()
  g.scope = open_scope("group", nil, "tide.group")
  return finish_call(g, pcall(fn, g, ...))
end

return M
