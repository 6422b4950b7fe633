-- A FIFO of waiting tasks, for the sync primitives and the queue.
--
-- Each waiter is a tide.future() the waiting task awaits; waking it is
-- set_result (or set_error). A waiter whose task is cancelled before it is
-- woken leaves a hole (false) that pops skip, so removal is O(1) and the
-- order of the others is kept. q.n counts the live waiters.
local future = require("tide.core").future

local pcall = pcall

local M = {}

-- M.new() -> an empty queue.
function M.new() return {first = 1, last = 0, n = 0} end

-- M.pop(q) -> the oldest live waiter, taken off the queue, or nil.
function M.pop(q)
  local i = q.first
  while i <= q.last do
    local f = q[i]
    q[i] = nil
    i = i + 1
    if f then
      if i > q.last then i, q.last = 1, 0 end -- empty: start again at 1
      q.first = i
      q.n = q.n - 1
      return f
    end
  end
  q.first, q.last = 1, 0
  return nil
end

-- M.wait(q) -> true, values... when the waiter was woken with set_result;
-- false, err, woken when the await raised: woken = true if the waiter had
-- been woken (set_result) before the cancellation reached the task, so the
-- caller must pass on what it was given; false if it was still queued (it
-- has been taken off) or was woken with set_error (err is that error).
function M.wait(q)
  local f = future()
  local i = q.last + 1
  q.last = i
  q[i] = f
  q.n = q.n + 1
  local ok, a, b = pcall(f.await, f)
  if ok then return true, a, b end
  if q[i] == f then -- still queued: leave a hole
    q[i] = false
    q.n = q.n - 1
    return false, a, false
  end
  if f:state() == "done" then return false, a, true, f:result() end
  return false, a, false
end

-- M.wake_all(q, err): wakes every waiter, with set_error(err) if err is
-- given, else set_result().
function M.wake_all(q, err)
  local f = M.pop(q)
  while f do
    if err ~= nil then f:set_error(err) else f:set_result() end
    f = M.pop(q)
  end
end

return M
