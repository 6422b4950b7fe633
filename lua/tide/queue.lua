-- tide.Queue: a FIFO queue between tasks (asyncio.Queue, with Python
-- 3.13's shutdown as close, and strict FIFO fairness).
--
-- Items sit in a window buf[head .. tail - 1] of a plain table. A put or
-- get that can complete at once touches only that table and two counters:
-- no future, no allocation (the window restarts at 1 whenever the queue
-- empties). Only a task that must wait makes a waiter future (tide.waitq).
--
-- Hand-offs keep the order strict. A put while getters wait hands the item
-- straight to the oldest getter (so getters wait only on an empty buffer);
-- a get that frees a slot while putters wait reserves that slot for the
-- oldest putter (reserved counts them), so a put arriving later cannot take
-- it. Cancellation undoes a hand-off: a getter cancelled after it was
-- handed an item gives it back (to the next getter, or the front of the
-- buffer); a putter cancelled after its slot was reserved passes the slot
-- on. A cancelled put has not put, a cancelled get has not taken.
local core = require "tide.core"
local waitq = require "tide.waitq"

local wait, pop, wake_all = waitq.wait, waitq.pop, waitq.wake_all
local error, setmetatable, type = error, setmetatable, type

local M = {}

local Queue = {__name = "tide.Queue"}
Queue.__index = Queue

local function closed_error()
  return core.error("closed", "tide: queue is closed")
end

-- tide.Queue([maxsize]) -> an empty queue holding at most maxsize items
-- (nil or 0: no limit). Items may be any value but nil.
function M.Queue(maxsize)
  if maxsize == nil then maxsize = 0 end
  if math.type(maxsize) ~= "integer" or maxsize < 0 then
    error(("bad argument #1 to 'Queue' (integer >= 0 expected, got %s)")
      :format(tostring(maxsize)), 2)
  end
  return setmetatable({
    buf = {}, head = 1, tail = 1, -- items: buf[head .. tail - 1]
    maxsize = maxsize,
    reserved = 0,            -- slots promised to woken putters
    getters = waitq.new(),   -- wait on an empty buffer
    putters = waitq.new(),   -- wait for a slot
    joiners = waitq.new(),   -- wait for unfinished == 0
    unfinished = 0,          -- items put and not yet task_done()
    closed = false,
  }, Queue)
end

-- A slot was freed: reserve it for the oldest waiting putter.
local function free_slot(self)
  if self.putters.n > 0 and self.tail - self.head + self.reserved <
      self.maxsize then
    self.reserved = self.reserved + 1
    pop(self.putters):set_result()
  end
end

-- Adds item (the queue has room for it, or a slot was reserved).
local function push(self, item)
  self.unfinished = self.unfinished + 1
  if self.getters.n > 0 then
    pop(self.getters):set_result(item)
    -- The item did not take a slot: a woken putter's slot is free again.
    if self.putters.n > 0 then free_slot(self) end
  else
    local t = self.tail
    self.buf[t] = item
    self.tail = t + 1
  end
end

-- Takes the oldest item (the buffer is not empty).
local function take(self)
  local h = self.head
  local buf = self.buf
  local item = buf[h]
  buf[h] = nil
  h = h + 1
  if h == self.tail then
    self.head, self.tail = 1, 1
  else
    self.head = h
  end
  if self.putters.n > 0 then free_slot(self) end
  return item
end

-- Gives back an item a cancelled getter had been handed: to the next
-- getter, or to the front of the buffer (it was put before those there).
local function give_back(self, item)
  if self.getters.n > 0 then
    pop(self.getters):set_result(item)
    return
  end
  local h = self.head - 1
  if h < 1 then -- shift the window up by one to make room at the front
    local buf = self.buf
    for i = self.tail - 1, self.head, -1 do buf[i + 1] = buf[i] end
    self.tail = self.tail + 1
    h = self.head
  end
  self.buf[h] = item
  self.head = h
end

-- q:put(item): adds item at the end, waiting for room if the queue is
-- full. Raises a "closed" error (tide.is_error(e, "closed")) once the
-- queue is closed, also to a put that was waiting.
function Queue:put(item)
  -- The fast path, inline: room, nobody waiting, not closed.
  local t = self.tail
  if item ~= nil and not self.closed and self.getters.n == 0 and
      (self.maxsize == 0 or (t - self.head + self.reserved < self.maxsize
        and self.putters.n == 0)) then
    self.buf[t] = item
    self.tail = t + 1
    self.unfinished = self.unfinished + 1
    return
  end
  if item == nil then error("bad argument #1 to 'put' (value expected)", 2) end
  if self.closed then error(closed_error(), 2) end
  local max = self.maxsize
  if max == 0 or (self.tail - self.head + self.reserved < max and
      self.putters.n == 0) then
    return push(self, item)
  end
  local ok, err, woken = wait(self.putters)
  if ok then
    self.reserved = self.reserved - 1
    if self.closed then
      free_slot(self)
      error(closed_error(), 2)
    end
    return push(self, item)
  end
  if woken then -- a slot was reserved for us: pass it on
    self.reserved = self.reserved - 1
    free_slot(self)
  end
  error(err, 0)
end

-- q:put_nowait(item) -> true if item was added, false if the queue is
-- full. Raises once the queue is closed.
function Queue:put_nowait(item)
  if item == nil then
    error("bad argument #1 to 'put_nowait' (value expected)", 2)
  end
  if self.closed then error(closed_error(), 2) end
  local max = self.maxsize
  if max == 0 or (self.tail - self.head + self.reserved < max and
      self.putters.n == 0) then
    push(self, item)
    return true
  end
  return false
end

-- q:get() -> the oldest item, waiting for one if the queue is empty. Once
-- the queue is closed, items left are still given out; then it raises a
-- "closed" error (also to a get that was waiting).
function Queue:get()
  local h = self.head
  if h ~= self.tail then -- the fast path, inline (take)
    local buf = self.buf
    local item = buf[h]
    buf[h] = nil
    h = h + 1
    if h == self.tail then
      self.head, self.tail = 1, 1
    else
      self.head = h
    end
    if self.putters.n > 0 then free_slot(self) end
    return item
  end
  if self.closed then error(closed_error(), 2) end
  local ok, item, woken, handed = wait(self.getters)
  if ok then return item end
  if woken then give_back(self, handed) end
  error(item, 0)
end

-- q:get_nowait() -> the oldest item, or nil if the queue is empty. Raises
-- once the queue is closed and empty.
function Queue:get_nowait()
  if self.head ~= self.tail then return take(self) end
  if self.closed then error(closed_error(), 2) end
  return nil
end

-- q:task_done(): a consumer has finished with an item it got; q:join()
-- returns once every item put has been marked so. Raises if called more
-- times than items were put.
function Queue:task_done()
  if self.unfinished <= 0 then
    error("tide: Queue:task_done() called more times than items were put", 2)
  end
  self.unfinished = self.unfinished - 1
  if self.unfinished == 0 then wake_all(self.joiners) end
end

-- q:join(): waits until every item put has been marked task_done().
function Queue:join()
  if self.unfinished == 0 then return end
  local ok, err = wait(self.joiners)
  if not ok then error(err, 0) end
end

-- q:close([immediate]): no more puts. Waiting putters and getters are
-- woken with a "closed" error (getters wait only on an empty queue); items
-- already queued can still be got. With immediate = true those items are
-- dropped too (counted done for join). Closing twice does nothing more.
function Queue:close(immediate)
  if not self.closed then
    self.closed = true
    wake_all(self.putters, closed_error())
    wake_all(self.getters, closed_error())
  end
  if immediate and self.head ~= self.tail then
    self.unfinished = self.unfinished - (self.tail - self.head)
    self.buf, self.head, self.tail = {}, 1, 1
    if self.unfinished <= 0 then
      self.unfinished = 0
      wake_all(self.joiners)
    end
  end
end

-- q:items() -> iterator: `for item in q:items() do ... end` gets items
-- until the queue is closed and empty.
function Queue:items()
  return function()
    if self.head ~= self.tail then return take(self) end
    if self.closed then return nil end
    local ok, item = pcall(self.get, self)
    if ok then return item end
    if core.is_error(item, "closed") then return nil end
    error(item, 0)
  end
end

function Queue:qsize() return self.tail - self.head end
function Queue:empty() return self.head == self.tail end
function Queue:full()
  return self.maxsize > 0 and self.tail - self.head >= self.maxsize
end
function Queue:is_closed() return self.closed end

function Queue:__tostring()
  return ("tide.Queue (%d/%s items%s)"):format(self.tail - self.head,
    self.maxsize > 0 and tostring(self.maxsize) or "inf",
    self.closed and ", closed" or "")
end

M._Queue = Queue

return M
