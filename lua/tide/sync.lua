-- Synchronization primitives that suspend a task, never the loop:
-- tide.Lock, tide.Event, tide.Semaphore, tide.BoundedSemaphore and
-- tide.Condition (asyncio's, with Trio's strict fairness).
--
-- Waiters queue in FIFO order (tide.waitq) and are woken in that order.
-- A lock or permit is handed over directly to the first waiter on release,
-- so a task arriving later cannot take it first. A waiter cancelled after
-- it was handed the lock (woken, but cancelled before it ran) hands it on
-- to the next: a cancelled acquire never holds anything.
--
-- Lock and Semaphore objects have a __close metamethod that releases them,
-- and acquire() returns the object, so this holds the lock to the end of
-- the block, errors and cancellation included:
--   local _ <close> = lock:acquire()
local waitq = require "tide.waitq"
local open_scope = require("tide.core").open_scope

local wait, pop, wake_all = waitq.wait, waitq.pop, waitq.wake_all
local error, setmetatable, type = error, setmetatable, type

local M = {}

-- ------------------------------------------------------------ Lock

local Lock = {__name = "tide.Lock"}
Lock.__index = Lock

-- tide.Lock() -> a new, unlocked lock.
function M.Lock()
  return setmetatable({held = false, waiters = waitq.new()}, Lock)
end

-- lock:acquire() -> lock: waits until the lock is free and takes it.
-- Returns the lock (for `local _ <close> = lock:acquire()`). Cancelled
-- while waiting: raises the cancellation without holding the lock.
function Lock:acquire()
  if not self.held and self.waiters.n == 0 then
    self.held = true
    return self
  end
  local ok, err, woken = wait(self.waiters)
  if ok then return self end -- handed over by release
  if woken then self:release() end
  error(err, 0)
end

-- lock:try_acquire() -> true if it took the lock now, false if it is held
-- (or others are waiting for it). Never waits.
function Lock:try_acquire()
  if self.held or self.waiters.n > 0 then return false end
  self.held = true
  return true
end

-- lock:release(): frees the lock, handing it to the oldest waiter if there
-- is one. Raises if the lock is not held.
function Lock:release()
  if not self.held then error("tide: release of an unlocked Lock", 2) end
  local f = pop(self.waiters)
  if f then f:set_result() else self.held = false end
end

-- lock:locked() -> true while some task holds it.
function Lock:locked() return self.held end

-- lock:with(fn, ...) -> fn's values: runs fn(...) holding the lock.
function Lock:with(fn, ...)
  local _ <close> = self:acquire()
  return fn(...)
end

Lock.__close = Lock.release

-- ------------------------------------------------------------ Event

local Event = {__name = "tide.Event"}
Event.__index = Event

-- tide.Event() -> a new event, not set.
function M.Event()
  return setmetatable({flag = false, waiters = waitq.new()}, Event)
end

-- event:set(): sets the flag and wakes every waiting task.
function Event:set()
  if self.flag then return end
  self.flag = true
  wake_all(self.waiters)
end

-- event:clear(): unsets the flag; later waits wait again.
function Event:clear() self.flag = false end

-- event:is_set() -> the flag.
function Event:is_set() return self.flag end

-- event:wait() -> true once the flag is set (at once if it is).
function Event:wait()
  if self.flag then return true end
  local ok, err = wait(self.waiters)
  if ok then return true end
  error(err, 0) -- woken or not, a cancelled wait raises
end

-- ------------------------------------------------------------ Semaphore

local Semaphore = {__name = "tide.Semaphore"}
Semaphore.__index = Semaphore

local function new_semaphore(value, bound, fname)
  if value == nil then value = 1 end
  if math.type(value) ~= "integer" or value < 0 then
    error(("bad argument #1 to '%s' (integer >= 0 expected, got %s)")
      :format(fname, tostring(value)), 3)
  end
  return setmetatable({value = value, bound = bound and value or nil,
    waiters = waitq.new()}, Semaphore)
end

-- tide.Semaphore(value = 1) -> a counter of permits: acquire takes one,
-- waiting while there is none; release gives one back.
function M.Semaphore(value) return new_semaphore(value, false, "Semaphore") end

-- tide.BoundedSemaphore(value = 1) -> the same, where releasing more
-- permits than were acquired raises.
function M.BoundedSemaphore(value)
  return new_semaphore(value, true, "BoundedSemaphore")
end

-- sem:acquire() -> sem: takes a permit, waiting for one (FIFO).
function Semaphore:acquire()
  if self.value > 0 and self.waiters.n == 0 then
    self.value = self.value - 1
    return self
  end
  local ok, err, woken = wait(self.waiters)
  if ok then return self end
  if woken then self:release() end
  error(err, 0)
end

-- sem:try_acquire() -> true if it took a permit now. Never waits.
function Semaphore:try_acquire()
  if self.value == 0 or self.waiters.n > 0 then return false end
  self.value = self.value - 1
  return true
end

-- sem:release(): gives a permit back, to the oldest waiter if there is
-- one. A bounded semaphore raises if that makes more than it started with.
function Semaphore:release()
  local f = pop(self.waiters)
  if f then
    f:set_result()
    return
  end
  if self.bound and self.value >= self.bound then
    error("tide: BoundedSemaphore released too many times", 2)
  end
  self.value = self.value + 1
end

-- sem:available() -> permits available now.
function Semaphore:available() return self.value end

-- sem:locked() -> true if acquire would wait.
function Semaphore:locked()
  return self.value == 0 or self.waiters.n > 0
end

-- sem:with(fn, ...) -> fn's values: runs fn(...) holding a permit.
function Semaphore:with(fn, ...)
  local _ <close> = self:acquire()
  return fn(...)
end

Semaphore.__close = Semaphore.release

-- ------------------------------------------------------------ Condition

local Condition = {__name = "tide.Condition"}
Condition.__index = Condition

-- tide.Condition([lock]) -> a condition variable over lock (a new Lock by
-- default). Its acquire/release/locked/with are the lock's.
function M.Condition(lock)
  if lock == nil then
    lock = M.Lock()
  elseif getmetatable(lock) ~= Lock then
    error("bad argument #1 to 'Condition' (tide.Lock expected)", 2)
  end
  return setmetatable({lock = lock, waiters = waitq.new()}, Condition)
end

function Condition:acquire()
  self.lock:acquire()
  return self
end
function Condition:release() self.lock:release() end
function Condition:locked() return self.lock.held end
function Condition:with(fn, ...)
  local _ <close> = self:acquire()
  return fn(...)
end
Condition.__close = Condition.release

local function check_held(self, name)
  if not self.lock.held then
    error(("tide: Condition:%s() without holding its lock"):format(name), 3)
  end
end

-- cond:wait() -> true: releases the lock, waits for a notify, and takes
-- the lock again before returning, also when cancelled (the cancellation
-- is raised once the lock is held again, as asyncio does). A notification
-- that reached a cancelled waiter passes to the next one.
function Condition:wait()
  check_held(self, "wait")
  local lock = self.lock
  lock:release()
  local ok, err, woken = wait(self.waiters)
  if not ok and woken then self:notify(1, true) end
  -- Take the lock back, whatever happens meanwhile: in a shielded scope,
  -- since a cancelled task's every await would fail (Trio does the same).
  local shield = open_scope("shield", nil, "Condition:wait")
  local got, e = pcall(lock.acquire, lock)
  shield:close()
  if not got then error(e, 0) end
  if not ok then error(err, 0) end
  return true
end

-- cond:wait_for(predicate) -> predicate's first true value: waits until
-- predicate() (called holding the lock) returns a true value.
function Condition:wait_for(predicate)
  local v = predicate()
  while not v do
    self:wait()
    v = predicate()
  end
  return v
end

-- cond:notify(n = 1): wakes up to n waiting tasks, oldest first. The lock
-- must be held.
function Condition:notify(n, unchecked)
  if not unchecked then check_held(self, "notify") end
  n = n or 1
  while n > 0 do
    local f = pop(self.waiters)
    if not f then break end
    f:set_result()
    n = n - 1
  end
end

-- cond:notify_all(): wakes every waiting task. The lock must be held.
function Condition:notify_all()
  check_held(self, "notify_all")
  wake_all(self.waiters)
end

M._Lock, M._Event, M._Semaphore, M._Condition = Lock, Event, Semaphore,
  Condition

return M
