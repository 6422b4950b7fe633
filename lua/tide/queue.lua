-- tide.Queue, tide.LifoQueue, tide.PriorityQueue (src/lua/lqueue.c):
-- asyncio's queues with Python 3.13's shutdown as close, and strict FIFO
-- fairness among waiters. This file adds the iterator.
local core = require "tide.core"

local M = {}

M.Queue = core.Queue
M.LifoQueue = core.LifoQueue
M.PriorityQueue = core.PriorityQueue

local Queue = debug.getregistry()["tide.Queue"].__index
local is_error, pcall, error = core.is_error, pcall, error

-- q:items() -> iterator: `for item in q:items() do ... end` gets items
-- until the queue is closed and empty.
function Queue:items()
  return function()
    local ok, item = pcall(self.get, self)
    if ok then return item end
    if is_error(item, "closed") then return nil end
    error(item, 0)
  end
end

return M
