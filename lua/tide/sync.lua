-- Synchronization primitives that suspend a task, never the loop:
-- tide.Lock, tide.Event, tide.Semaphore, tide.BoundedSemaphore,
-- tide.Condition (src/lua/lsync.c, asyncio's with Trio's strict fairness)
-- and tide.Barrier (here, over a C wait queue).
--
-- Waiters queue in FIFO order and are woken in that order; a lock or
-- permit is handed over directly to the oldest waiter on release, so a task
-- arriving later cannot take it first. A waiter cancelled after it was
-- handed the lock (woken, but cancelled before it ran) hands it on to the
-- next: a cancelled acquire never holds anything.
--
-- Lock and Semaphore objects have a __close metamethod that releases them,
-- and acquire() returns the object, so this holds the lock to the end of
-- the block, errors and cancellation included:
--   local _ <close> = lock:acquire()
--
-- This file adds what is simpler in Lua to the C objects' methods: with(),
-- the Condition's lock methods and wait_for(), and the Barrier.
local core = require "tide.core"

local error, setmetatable, type = error, setmetatable, type
local registry = debug.getregistry()

local M = {}

M.Lock = core.Lock
M.Event = core.Event
M.Semaphore = core.Semaphore
M.BoundedSemaphore = core.BoundedSemaphore
M.Condition = core.Condition

local Lock = registry["tide.Lock"].__index
local Semaphore = registry["tide.Semaphore"].__index
local Condition = registry["tide.Condition"].__index

-- lock:with(fn, ...) -> fn's values: runs fn(...) holding the lock.
function Lock:with(fn, ...)
  local _ <close> = self:acquire()
  return fn(...)
end

-- sem:with(fn, ...) -> fn's values: runs fn(...) holding a permit.
function Semaphore:with(fn, ...)
  local _ <close> = self:acquire()
  return fn(...)
end

-- The condition's lock methods: acquire/release/locked/with and <close>.
function Condition:acquire()
  self:lock():acquire()
  return self
end
function Condition:release() self:lock():release() end
function Condition:locked() return self:lock():locked() end
function Condition:with(fn, ...)
  local _ <close> = self:acquire()
  return fn(...)
end
-- A wait ended by a second cancellation before it took the lock back
-- raises a cancellation marked lock_lost: the lock is not ours to release.
registry["tide.Condition"].__close = function(self, err)
  if type(err) == "table" and rawget(err, "lock_lost") then return end
  self:lock():release()
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

-- ------------------------------------------------------------ Barrier

local Barrier = {__name = "tide.Barrier"}
Barrier.__index = Barrier

local function broken_error()
  return core.error("broken", "tide: barrier is broken")
end

-- tide.Barrier(parties) -> a barrier for parties tasks (asyncio 3.11's,
-- Trio's): each b:wait() blocks until parties tasks are waiting, then all
-- go on together; the barrier is then ready for the next round. wait()
-- returns this task's arrival index (0 .. parties - 1). b:abort() breaks it:
-- waiters and later waits raise an error of kind "broken"; b:reset()
-- breaks the current round and makes the barrier usable again. A task
-- cancelled while waiting breaks the barrier, as in asyncio.
function M.Barrier(parties)
  if math.type(parties) ~= "integer" or parties < 1 then
    error(("bad argument #1 to 'Barrier' (integer >= 1 expected, got %s)")
      :format(tostring(parties)), 2)
  end
  return setmetatable({parties = parties, count = 0, round = 0,
    broken = false, waiters = core.waitq()}, Barrier)
end

function Barrier:wait()
  if self.broken then error(broken_error(), 2) end
  local index = self.count
  if index + 1 == self.parties then -- the last one: everyone goes
    self.count = 0
    self.round = self.round + 1
    self.waiters:wake_all()
    return index
  end
  self.count = index + 1
  local round = self.round
  local ok, woken = pcall(self.waiters.wait, self.waiters)
  if not ok then
    if round == self.round and not self.broken then
      -- Cancelled while the round was filling: nobody can complete it.
      self:abort()
    end
    error(woken, 0)
  end
  if not woken then error(broken_error(), 2) end -- aborted or reset
  return index
end

function Barrier:abort()
  if self.broken then return end
  self.broken = true
  self.count = 0
  self.waiters:fail(self.waiters:size())
end

function Barrier:reset()
  self.count = 0
  self.round = self.round + 1
  self.waiters:fail(self.waiters:size())
  self.broken = false
end

function Barrier:n_waiting() return self.count end
function Barrier:is_broken() return self.broken end

function Barrier:__tostring()
  return ("tide.Barrier (%d/%d waiting%s)"):format(self.count, self.parties,
    self.broken and ", broken" or "")
end

return M
