-- Shrinks a failing fuzz program: deletes statements (and whole blocks)
-- one at a time, keeping each deletion after which the program still fails
-- the same way (the same signature: lib.classify), until no single
-- deletion keeps the failure. Each attempt runs in a child process under
-- `timeout`, so crashes and hangs shrink too.
local DIR = os.getenv("TIDE_FUZZ_DIR") or "test/fuzz"
local lib = dofile(DIR .. "/lib.lua")

local M = {}

-- Seconds before an attempt counts as a hang: a program takes well under
-- a second unless it hangs (FUZZ_MIN_TIMEOUT).
M.TIMEOUT = tonumber(os.getenv("FUZZ_MIN_TIMEOUT") or "8")

-- Shell prefix bounding a child's memory: a program that grows without end
-- must not take the machine down. ASan reserves a huge address space, so
-- under the sanitizers its own RSS limit does it (run.lua sets
-- ASAN_OPTIONS=hard_rss_limit_mb); otherwise ulimit -v.
function M.limits()
  if (os.getenv("LD_PRELOAD") or ""):find("asan") then return "" end
  return "ulimit -v 4194304; "
end

-- The interpreter running us (lua5.4), for the children.
local function interpreter()
  local i = -1
  while arg[i - 1] do i = i - 1 end
  return arg[i] or "lua5.4"
end

-- Runs the program text in a child; returns its failure signature or nil.
function M.signature(text, timeout)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  local out = path .. ".out"
  local ok, how, code = os.execute(("%stimeout -k 2 %d %s %s/api.lua --file %s" ..
    " >%s 2>&1"):format(M.limits(), timeout or M.TIMEOUT, interpreter(), DIR,
    path, out))
  local fh = io.open(out, "rb")
  local log = fh and fh:read("a") or ""
  if fh then fh:close() end
  os.remove(path)
  os.remove(out)
  if ok then return nil end
  return lib.classify(log, how == "exit" and code or 128 + code)
end

-- Every way to delete one node: {list, index} pairs, outer nodes first
-- (deleting a block removes its whole body at once).
local function deletions(nodes, out)
  out = out or {}
  for i = 1, #nodes do out[#out + 1] = {nodes, i} end
  for _, n in ipairs(nodes) do
    if type(n) == "table" then deletions(n.body, out) end
  end
  return out
end

-- minimize(body, to_source) -> the smallest body found, its signature; or
-- nil if the original does not fail.
function M.minimize(body, to_source)
  local sig = M.signature(to_source(body))
  if not sig then return nil end
  io.stderr:write("minimize: failure: " .. sig .. "\n")
  local changed = true
  while changed do
    changed = false
    local list = deletions(body)
    -- From the end: deleting later nodes first keeps earlier indexes valid.
    for j = #list, 1, -1 do
      local nodes, i = list[j][1], list[j][2]
      local node = nodes[i]
      if node ~= nil then
        table.remove(nodes, i)
        if M.signature(to_source(body)) == sig then
          changed = true
          io.stderr:write(("minimize: %d statement(s) left\n")
            :format(lib.count(body)))
        else
          table.insert(nodes, i, node)
        end
      end
    end
  end
  return body, sig
end

return M
