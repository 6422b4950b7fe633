-- Shared by the tide bench scripts (bench/*/tide.lua): makes `require "tide"`
-- find this checkout's lua/ and C module when run with plain lua5.4
-- (TIDE_ROOT, default the checkout holding bench/; TIDE_BUILD, default
-- $TIDE_ROOT/build), and gives a way to run a main function both under
-- lua5.4 (tide.run) and under build/bin/tide (already the root task).
--   local B = dofile((arg[0]:match("^(.*)/[^/]*/[^/]*$") or ".") .. "/lib/tide_env.lua")
local bench = arg[0]:match("^(.*)/[^/]*/[^/]*$") or "."
local root = os.getenv("TIDE_ROOT") or (bench .. "/..")
local build = os.getenv("TIDE_BUILD") or (root .. "/build")
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
package.cpath = build .. "/?.so;" .. package.cpath

local tide = require "tide"
local M = {tide = tide}

function M.main(fn)
  if tide.current_task() then return fn() end
  return tide.run(fn)
end

-- "VmHWM" (peak) or "VmRSS" (current), in kB.
function M.status_kb(key)
  local f = assert(io.open("/proc/self/status"))
  local s = f:read("a")
  f:close()
  return tonumber(s:match(key .. ":%s*(%d+)"))
end


return M
