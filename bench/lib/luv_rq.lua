-- Shared by the luv bench programs: a ready queue of callbacks drained from
-- one idle handle (each drain runs what was queued before it began), the
-- callback-style "run this soon"; and /proc/self/status in kB.
local uv = require "luv"
local M = {}
local q, head, tail = {}, 1, 0
local idle = uv.new_idle()
local running = false

local function drain()
  local last = tail
  while head <= last do
    local fn, a = q[head], q[head + 1]
    q[head], q[head + 1] = nil, nil
    head = head + 2
    fn(a)
  end
  if head > tail then
    head, tail = 1, 0
    idle:stop()
    running = false
  end
end

function M.soon(fn, a)
  q[tail + 1], q[tail + 2] = fn, a
  tail = tail + 2
  if not running then running = true; idle:start(drain) end
end

function M.status_kb(key)
  local f = assert(io.open("/proc/self/status"))
  local s = f:read("a")
  f:close()
  return tonumber(s:match(key .. ":%s*(%d+)"))
end

M.close = function() idle:close() end
return M
