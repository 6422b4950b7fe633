-- Shared pieces of tide's fuzzers (test/fuzz/*.lua): a seeded random
-- generator, the program tree and its printer, descriptor counts, and the
-- test that tells tide's own internal errors from expected ones.
--
-- Nothing here depends on tide, so the generator and the printer also run
-- in the minimizer's parent process without touching a loop.
local M = {}

-- A splitmix64 generator: the same seed gives the same numbers on every
-- machine and Lua 5.4 build (integer arithmetic wraps, >> is logical),
-- independent of math.random, which a program under test may reseed.
-- r(n) -> an integer in [1, n]; r:chance(p) -> true with probability p;
-- r:pick(list) -> one element.
local Rng = {}
Rng.__index = Rng

function M.rng(seed)
  return setmetatable({s = math.tointeger(seed) or 0}, Rng)
end

function Rng:next()
  self.s = self.s + 0x9E3779B97F4A7C15
  local z = self.s
  z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
  z = (z ~ (z >> 27)) * 0x94D049BB133111EB
  return z ~ (z >> 31)
end

function Rng:int(lo, hi)
  return lo + (self:next() >> 1) % (hi - lo + 1)
end

function Rng:chance(p)
  return (self:next() >> 11) * (1.0 / (1 << 53)) < p
end

function Rng:pick(list)
  return list[self:int(1, #list)]
end

-- Picks a key of weights ({name = weight, ...}) in proportion to its
-- weight; keys are visited in sorted order so the draw is reproducible.
function Rng:weighted(weights)
  local keys, total = {}, 0
  for k, w in pairs(weights) do
    keys[#keys + 1] = k
    total = total + w
  end
  table.sort(keys)
  local x = self:int(1, total)
  for _, k in ipairs(keys) do
    x = x - weights[k]
    if x <= 0 then return k end
  end
  return keys[#keys]
end

-- Programs are trees of nodes: a node is a string (one statement) or a
-- block {open = "line", body = {nodes}, close = "line"}. The minimizer
-- deletes nodes; the printer indents.
function M.print(nodes, indent, out)
  out = out or {}
  indent = indent or ""
  for _, n in ipairs(nodes) do
    if type(n) == "string" then
      out[#out + 1] = indent .. n
    else
      out[#out + 1] = indent .. n.open
      M.print(n.body, indent .. "  ", out)
      out[#out + 1] = indent .. n.close
    end
  end
  return out
end

-- How many statements a tree holds (for reports and the minimizer).
function M.count(nodes)
  local n = 0
  for _, x in ipairs(nodes) do
    n = n + 1
    if type(x) == "table" then n = n + M.count(x.body) end
  end
  return n
end

-- Open descriptors of this process (their count and a sorted listing).
local lfs = require "lfs"
function M.fds()
  local names = {}
  for fd in lfs.dir("/proc/self/fd") do
    if fd ~= "." and fd ~= ".." then
      local target = lfs.symlinkattributes("/proc/self/fd/" .. fd, "target")
      -- The listing's own directory handle is not ours to count.
      if not (target and target:match("^/proc/%d+/fd$")) then
        names[#names + 1] = fd .. "=" .. tostring(target)
      end
    end
  end
  table.sort(names)
  return #names, table.concat(names, " ")
end

-- A fresh private directory for Unix sockets (removed by rmdir_all).
function M.tmpdir(tag)
  local path = os.tmpname()
  os.remove(path)
  path = path .. "-" .. tag
  assert(lfs.mkdir(path))
  return path
end

function M.rmdir_all(path)
  if not path or not lfs.attributes(path) then return end
  for name in lfs.dir(path) do
    if name ~= "." and name ~= ".." then os.remove(path .. "/" .. name) end
  end
  lfs.rmdir(path)
end

-- Is err an internal error of tide: a Lua runtime error raised inside
-- tide's own Lua files (lua/tide/*.lua) or its C functions ("attempt to
-- index a tide.task value" without a position), a stack overflow, or an
-- error in error handling? Misuse raises deliberate errors, which are
-- expected; these never are.
function M.internal_error(err)
  if type(err) ~= "string" then return nil end
  if err:find("stack overflow", 1, true) or
      err:find("error in error handling", 1, true) then
    return err
  end
  if err:match("^[^\n]-/tide/[%w_]+%.lua:%d+: attempt to ") then return err end
  -- Without a position it was raised by one of tide's C functions
  -- (lua_getfield on the wrong value): Lua code always has a position.
  -- (Not "attempt to compare": a PriorityQueue raises that on purpose for
  -- items `<` cannot order.)
  if err:match("^attempt to ") and not err:match("^attempt to compare") then
    return err
  end
  return nil
end

-- The first stack frame of a sanitizer or gdb report that is in tide's
-- own code ("func src/task.c:123"), else the first frame with a name.
-- Sanitizers print "#1 0x... in func /path/src/task.c:123:5", gdb prints
-- "#1  0x... in func (args) at src/task.c:123" (or "from lib.so").
local function tide_frame(log)
  local first
  for line in log:gmatch("[^\n]+") do
    local fn, rest = line:match("^%s*#%d+%s+0x%x+ in ([%w_]+) (.*)$")
    if not fn then fn, rest = line:match("^%s*#%d+%s+([%w_]+) (%b().*)$") end
    if fn then
      local file = rest:match("at ([^%s]+)$") or rest:match("^([^%s%(]+)")
      if file and file:find("src/", 1, true) then
        return fn .. " " .. (file:gsub("^.*/src/", "src/"))
      end
      if fn ~= "??" then first = first or fn end
    end
  end
  return first or "?"
end
M.tide_frame = tide_frame

-- A failure's signature from a child's output and exit code: the same bug
-- gives the same signature, so a campaign counts it once and the
-- minimizer knows what to keep. nil if the run did not fail.
function M.classify(log, code)
  local kind, what = log:match("\nFAIL ([%w%-]+) [^\n]-: ([^\n]*)")
  if not kind then kind, what = log:match("^FAIL ([%w%-]+) [^\n]-: ([^\n]*)") end
  if kind then
    local category = what:match("^%[([^%]]+)%]")
    if category then return kind .. ": " .. category end
    what = what:gsub("%d+", "N"):gsub("%b()", ""):sub(1, 80)
    return kind .. ": " .. what
  end
  if log:find("hard rss limit exhausted", 1, true) or
      log:find("not enough memory", 1, true) then
    return "memory blow-up (rss limit)"
  end
  local asan = log:match("ERROR: AddressSanitizer: ([%w%-]+)")
  if asan == "stack-overflow" then
    -- A recursion: its frames alternate, so name the smallest of them.
    local names = {}
    for fn in log:gmatch("#%d+ 0x%x+ in ([%w_]+) [^\n]*src/") do
      names[#names + 1] = fn
      if #names == 12 then break end
    end
    table.sort(names)
    return "asan stack-overflow in a recursion through " .. (names[1] or "?")
  end
  if asan then return "asan " .. asan .. " in " .. tide_frame(log) end
  if log:find("ERROR: LeakSanitizer", 1, true) then
    return "lsan leak in " .. tide_frame(log:match("Direct leak.*") or log)
  end
  local ub = log:match("([%w_/%.]+:%d+):%d+: runtime error: ")
  if ub then return "ubsan at " .. ub:gsub("^.*/src/", "src/") end
  if code == 124 or code == 137 then return "hang (timeout)" end
  if code and code > 128 then
    return ("signal %d%s"):format(code - 128,
      log:find("#0 ", 1, true) and " in " .. tide_frame(log) or "")
  end
  if code and code ~= 0 then
    local msg = log:match("lua5%.4: ([^\n]*)") or log:match("([^\n]+)\n?$")
      or ""
    return ("exit %d: %s"):format(code, msg:gsub("%d+", "N"):sub(1, 80))
  end
  return nil
end

-- Reads the command-line options of argv from index first on into opts
-- (which holds the defaults) and returns it. spec maps "--name" to {key,
-- kind}: kind "int", "number", "string", "flag" (true when present) or
-- "list" (comma-separated words, into the set opts[key]). usage(msg) is
-- called on an unknown option or a missing value, and must not return.
function M.options(argv, first, spec, opts, usage)
  local i = first
  while i <= #argv do
    local a, s = argv[i], spec[argv[i]]
    if not s then usage("unknown option " .. a) end
    local key, kind = s[1], s[2]
    if kind == "flag" then
      opts[key] = true
    else
      i = i + 1
      local v = argv[i]
      if v == nil then usage("missing value for " .. a) end
      if kind == "int" then v = math.tointeger(tonumber(v))
      elseif kind == "number" then v = tonumber(v) end
      if v == nil then usage("bad value for " .. a) end
      if kind == "list" then
        opts[key] = opts[key] or {}
        for w in v:gmatch("[^,%s]+") do opts[key][w] = true end
      else
        opts[key] = v
      end
    end
    i = i + 1
  end
  return opts
end

-- A one-line, bounded rendering of any value for reports.
function M.show(v)
  local s
  if type(v) == "string" then
    s = ("%q"):format(#v > 120 and v:sub(1, 120) .. "..." or v)
    s = s:gsub("\\\n", "\\n")
  else
    s = tostring(v)
  end
  return s
end

return M
