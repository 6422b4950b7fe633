-- Combinators over several awaitables: tide.gather, tide.first (alias
-- tide.race), tide.wait and tide.as_completed.
--
-- Each takes futures, tasks, or functions (spawned as tasks: the
-- combinator owns those and never leaves them running behind it when it is
-- cancelled). They wait through one future of their own, completed from
-- the children's done-callbacks, so a waiting combinator costs one future
-- and one callback per child.
local core = require "tide.core"

local spawn, future, is_error = core.spawn, core.future, core.is_error
local call_later, check_options = core.call_later, core.check_options
local current_task = core.current_task
local select, type, error, pcall, getmetatable = select, type, error, pcall,
  getmetatable

local M = {}

local function is_awaitable(x)
  if type(x) ~= "userdata" then return false end
  local mt = getmetatable(x)
  local name = mt and mt.__name
  return name == "tide.task" or name == "tide.future"
end
M.is_awaitable = is_awaitable

-- Can x be awaited by a combinator (a future, a task, a function, or an
-- object whose metatable has __await)?
local function can_await(x)
  if type(x) == "function" or is_awaitable(x) then return true end
  local mt = getmetatable(x)
  return type(mt) == "table" and mt.__await ~= nil
end

-- M.check(x, i, fname, level [, item]): raises "bad argument #i to 'fname'
-- (...)" at level (as error's: 1 is check's caller) unless x can be
-- awaited; item names the position inside a list argument.
local function check(x, i, fname, level, item)
  if x ~= nil and x == current_task() then
    -- first/race would cancel it as a loser and wait for it: for ever.
    error(("bad argument #%d to '%s' (%sa task cannot await itself)"):format(i,
      fname, item and ("item %d: "):format(item) or ""), level + 1)
  end
  if can_await(x) then return end
  error(("bad argument #%d to '%s' (%sfuture, task, function or awaitable " ..
    "object expected, got %s)"):format(i, fname,
    item and ("item %d: "):format(item) or "", type(x)), level + 1)
end
M.check = check

-- M.awaitable(x) -> x if it is a future or task; a new task running x if it
-- is a function, or awaiting x if x is an awaitable object (its metatable
-- has __await, a function that waits for it: a process). x must have
-- passed check: every argument is checked before any task is spawned, so
-- a bad one leaves nothing running.
function M.awaitable(x)
  if type(x) == "function" then return spawn(x) end
  if is_awaitable(x) then return x end
  return spawn(getmetatable(x).__await, x)
end
local awaitable = M.awaitable

-- Turns the arguments of the combinator fname into awaitables; returns the
-- list, its length, and owned[i] = true for the tasks spawned here (from
-- functions and awaitable objects). A plain table as the last argument is
-- returned as options.
local function collect(fname, ...)
  local n = select("#", ...)
  local opts
  if n > 0 and type((select(n, ...))) == "table" and not can_await((select(n, ...))) then
    opts = (select(n, ...))
    n = n - 1
  end
  for i = 1, n do check((select(i, ...)), i, fname, 3) end
  local list, owned = {}, {}
  for i = 1, n do
    local x = (select(i, ...))
    list[i] = awaitable(x)
    owned[i] = list[i] ~= x
  end
  return list, n, owned, opts
end

-- Same from one table {a, b, ...} (tide.wait, tide.as_completed).
local function collect_list(t, fname)
  if type(t) ~= "table" then
    error(("bad argument #1 to '%s' (table expected, got %s)")
      :format(fname, type(t)), 3)
  end
  for i = 1, #t do check(t[i], 1, fname, 3, i) end
  local list, owned = {}, {}
  for i = 1, #t do
    list[i] = awaitable(t[i])
    owned[i] = list[i] ~= t[i]
  end
  return list, #t, owned
end

local function cancel_pending(list, n)
  for i = 1, n do
    if not list[i]:done() then list[i]:cancel() end
  end
end

-- Cancels the tasks a combinator spawned itself, still running.
local function cancel_owned(list, n, owned)
  for i = 1, n do
    if owned[i] and not list[i]:done() then list[i]:cancel() end
  end
end

-- Waits until every awaitable of list is done, or (fail_fast) one fails.
-- Raises the waiter's cancellation after cancelling every pending child.
local function wait_children(list, n, fail_fast)
  local all = future()
  local remaining = n
  local function on_done(child)
    if all:done() then return end
    remaining = remaining - 1
    if remaining == 0 or (fail_fast and child:state() ~= "done") then
      all:set_result()
    end
  end
  local pending = 0
  for i = 1, n do
    if list[i]:done() then
      remaining = remaining - 1
      if fail_fast and list[i]:state() ~= "done" then pending = -1 end
    else
      pending = pending + 1
    end
  end
  if remaining == 0 or pending < 0 then return end
  for i = 1, n do
    if not list[i]:done() then list[i]:add_done_callback(on_done) end
  end
  local ok, err = pcall(all.await, all)
  if not ok then
    cancel_pending(list, n)
    error(err, 0)
  end
end

-- tide.gather(a, b, ... [, opts]) -> {r1, r2, ..., n = count}: awaits every
-- argument (futures, tasks, or functions run as tasks) and returns the
-- first value of each, in argument order. If one fails, the others still
-- pending are cancelled and its error is raised (the first failure in
-- argument order, if several have failed by then). Cancelling the caller
-- cancels them all.
-- With opts = {return_errors = true} (a table as the last argument) no
-- failure stops the others: it returns results, errors, where errors[i] is
-- the error of argument i (nil if it succeeded; errors.count how many
-- failed, cancellations included).
function M.gather(...)
  local list, n, _, opts = collect("gather", ...)
  check_options(opts, "tide.gather", {return_errors = true})
  local collect_errors = opts and opts.return_errors
  if n == 0 then
    if collect_errors then return {n = 0}, {n = 0, count = 0} end
    return {n = 0}
  end
  wait_children(list, n, not collect_errors)
  local results = {n = n}
  if collect_errors then
    local errors = {n = n, count = 0}
    for i = 1, n do
      local child = list[i]
      if child:state() == "done" then
        results[i] = (child:result())
      else
        errors[i] = child:error()
        errors.count = errors.count + 1
      end
    end
    return results, errors
  end
  for i = 1, n do
    local child = list[i]
    if child:state() ~= "done" and child:done() then -- failed or cancelled
      cancel_pending(list, n)
      for j = i + 1, n do list[j]:error() end -- seen: not reported again
      child:result() -- raises its error
    end
  end
  for i = 1, n do results[i] = (list[i]:result()) end
  return results
end

-- tide.first(a, b, ...) -> the values of the first argument to finish
-- (futures, tasks, or functions run as tasks). The others are cancelled
-- and waited for (their cleanup has run when first returns). If the first
-- to finish failed, its error is raised. Cancelling the caller cancels
-- them all. tide.race is the same function.
function M.first(...)
  local list, n = collect("first", ...)
  if n == 0 then error("bad argument #1 to 'first' (no awaitables)", 2) end
  local winner
  for i = 1, n do
    if list[i]:done() then winner = list[i]; break end
  end
  if not winner then
    local w = future()
    local function on_done(child)
      if not winner then
        winner = child
        w:set_result()
      end
    end
    for i = 1, n do list[i]:add_done_callback(on_done) end
    local ok, err = pcall(w.await, w)
    if not ok then
      for i = 1, n do list[i]:remove_done_callback(on_done) end
      cancel_pending(list, n)
      error(err, 0)
    end
    for i = 1, n do list[i]:remove_done_callback(on_done) end
  end
  -- Losers: cancel and wait for them, so none outlives this call (in a
  -- shielded scope: they have been cancelled, so they end at their next
  -- await, even if this task is being cancelled too).
  cancel_pending(list, n)
  local shield = core.open_scope("shield", nil, "tide.first")
  local ok, err = pcall(wait_children, list, n, false)
  shield:close()
  for i = 1, n do
    local x = list[i]
    if x ~= winner and is_error(x:error(), "cancelled") then x:error() end
  end
  if not ok then error(err, 0) end
  return winner:result()
end
M.race = M.first

local RETURN_WHEN = {all = true, first = true, first_error = true}

-- tide.wait(list [, {timeout =, return_when =}]) -> done, pending: waits
-- for the awaitables of list (a table; functions run as tasks) until
-- return_when is met: "all" (default) every one is done, "first" one is
-- done, "first_error" one has failed (or all are done). With timeout =
-- seconds it returns when that time has passed, whatever is done. Nothing
-- is cancelled (asyncio.wait); done and pending are lists in list's order.
-- If the caller is cancelled, tasks wait spawned from functions are
-- cancelled; other awaitables are left alone.
function M.wait(t, opts)
  local list, n, owned = collect_list(t, "wait")
  check_options(opts, "tide.wait", {timeout = true, return_when = true})
  opts = opts or {}
  local when = opts.return_when or "all"
  if not RETURN_WHEN[when] then
    error(("tide.wait: option 'return_when': \"all\", \"first\" or \"first_error\" expected, got %s")
      :format(tostring(when)), 2)
  end
  local timeout = opts.timeout
  if timeout ~= nil and (type(timeout) ~= "number" or timeout ~= timeout
      or timeout < 0) then
    error(("tide.wait: option 'timeout': number of seconds >= 0 expected, got %s")
      :format(tostring(timeout)), 2)
  end
  local remaining = 0
  local met = false
  for i = 1, n do
    local x = list[i]
    if not x:done() then
      remaining = remaining + 1
    elseif when == "first" or (when == "first_error" and
        x:state() ~= "done") then
      met = true
    end
  end
  if remaining == 0 then met = true end
  if not met and timeout ~= 0 then
    local w = future()
    local function on_done(child)
      if w:done() then return end
      remaining = remaining - 1
      if remaining == 0 or when == "first" or
          (when == "first_error" and child:state() ~= "done") then
        w:set_result()
      end
    end
    for i = 1, n do
      if not list[i]:done() then list[i]:add_done_callback(on_done) end
    end
    local handle = timeout and call_later(timeout, function()
      if not w:done() then w:set_result() end
    end)
    local ok, err = pcall(w.await, w)
    if handle then handle:cancel() end
    for i = 1, n do
      if not list[i]:done() then list[i]:remove_done_callback(on_done) end
    end
    if not ok then
      cancel_owned(list, n, owned)
      error(err, 0)
    end
  end
  local done, pending = {}, {}
  for i = 1, n do
    local x = list[i]
    if x:done() then done[#done + 1] = x else pending[#pending + 1] = x end
  end
  return done, pending
end

local AsCompleted = {}
AsCompleted.__index = AsCompleted

-- Ends an as_completed iteration early (break, error, cancellation):
-- unhooks the callbacks and cancels the tasks it spawned itself.
function AsCompleted:__close()
  if self.closed then return end
  self.closed = true
  if self.handle then self.handle:cancel() end
  for i = 1, self.n do
    local x = self.list[i]
    if not x:done() then x:remove_done_callback(self.on_done) end
  end
  cancel_owned(self.list, self.n, self.owned)
end

local function as_completed_next(self)
  local ready = self.ready
  while self.head > self.tail do
    if self.yielded == self.n then
      AsCompleted.__close(self)
      return nil
    end
    if self.expired then
      AsCompleted.__close(self)
      error(core.error("timeout", ("tide: timeout after %g s")
        :format(self.timeout)), 0)
    end
    local w = future()
    self.waiter = w
    local ok, err = pcall(w.await, w)
    self.waiter = nil
    if not ok then
      AsCompleted.__close(self)
      error(err, 0)
    end
  end
  local x = ready[self.head]
  ready[self.head] = nil
  self.head = self.head + 1
  self.yielded = self.yielded + 1
  return x, self.index[x]
end

-- tide.as_completed(list [, {timeout =}]) -> iterator for a generic for:
--   for aw, i in tide.as_completed({a, b, c}) do print(i, aw:result()) end
-- gives each awaitable of list (functions run as tasks) as it finishes,
-- in completion order, with its index in list. Past the timeout, the next
-- step raises a timeout error. Leaving the loop early (break, error)
-- cancels the tasks it spawned from functions; other awaitables are left
-- alone.
function M.as_completed(t, opts)
  local list, n, owned = collect_list(t, "as_completed")
  check_options(opts, "tide.as_completed", {timeout = true})
  opts = opts or {}
  local self = setmetatable({list = list, n = n, owned = owned, ready = {},
    head = 1, tail = 0, yielded = 0, index = {}, timeout = opts.timeout}, AsCompleted)
  function self.on_done(x)
    if self.closed then return end
    self.tail = self.tail + 1
    self.ready[self.tail] = x
    local w = self.waiter
    if w and not w:done() then w:set_result() end
  end
  for i = 1, n do
    local x = list[i]
    self.index[x] = i
    if x:done() then
      self.tail = self.tail + 1
      self.ready[self.tail] = x
    else
      x:add_done_callback(self.on_done)
    end
  end
  if opts.timeout then
    self.handle = call_later(opts.timeout, function()
      self.handle = nil
      self.expired = true
      local w = self.waiter
      if w and not w:done() then w:set_result() end
    end)
  end
  return as_completed_next, self, nil, self
end

return M
