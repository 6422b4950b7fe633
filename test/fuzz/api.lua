-- tide's API fuzzer: runs random programs over the whole public Lua API
-- (test/fuzz/gen_api.lua makes them, test/fuzz/harness.lua runs them).
--
--   lua5.4 test/fuzz/api.lua --seed N [--count K] [--seconds S]
--   lua5.4 test/fuzz/api.lua --seed N --print          the program's source
--   lua5.4 test/fuzz/api.lua --file prog.lua           run a printed program
--   lua5.4 test/fuzz/api.lua --seed N --minimize       shrink a failing one
--   --avoid f1,f2   leave out features that reach known bugs (gen_api.lua)
--
-- Run from the checkout with LUA_PATH/LUA_CPATH reaching lua/ and the
-- build (test/fuzz/run.lua sets them). Prints "run <seed> <actions>" before
-- each program, so a crash or a hang names its program, and at the end
-- "api: programs=P actions=A errors=E watchdog=W". A finding of the
-- harness (a leak, an internal error) prints "FAIL <kind> seed=<seed>:
-- <what>" and exits 3; a crash kills the process (seen by run.lua).
local DIR = os.getenv("TIDE_FUZZ_DIR") or "test/fuzz"
local lib = dofile(DIR .. "/lib.lua")
local gen = dofile(DIR .. "/gen_api.lua")

local function usage(msg)
  io.stderr:write("api.lua: " .. msg .. "\n")
  os.exit(2)
end

local opts = lib.options(arg, 1, {
  ["--seed"] = {"seed", "int"}, ["--count"] = {"count", "int"},
  ["--seconds"] = {"seconds", "number"}, ["--print"] = {"print", "flag"},
  ["--file"] = {"file", "string"}, ["--minimize"] = {"minimize", "flag"},
  ["--avoid"] = {"avoid", "list"},
}, {avoid = {}}, usage)
for f in pairs(opts.avoid) do
  if not gen.FEATURES[f] then usage("unknown feature " .. f) end
end
opts.seed = opts.seed or os.time()
opts.count = opts.count or (opts.seconds and math.maxinteger or 1)

local function source(seed)
  return gen.source(lib, seed, gen.program(lib, seed, opts.avoid))
end

if opts.print then
  io.write(source(opts.seed))
  os.exit(0)
end

if opts.minimize then
  local min = dofile(DIR .. "/minimize.lua")
  local body = gen.program(lib, opts.seed, opts.avoid)
  local best, sig = min.minimize(body, function(nodes)
    return gen.source(lib, opts.seed, nodes, " (minimized)")
  end)
  if not best then
    io.stderr:write("api.lua: seed " .. opts.seed .. " does not fail\n")
    os.exit(1)
  end
  io.stderr:write(("api.lua: minimized to %d statement(s); failure: %s\n")
    :format(lib.count(best), sig))
  io.write(gen.source(lib, opts.seed, best, " (minimized; " .. sig .. ")"))
  os.exit(0)
end

io.stdout:setvbuf("line")
local harness = dofile(DIR .. "/harness.lua")
harness.embedded = true

local function finish(code)
  local s = harness.stats
  io.write(("api: programs=%d actions=%d errors=%d watchdog=%d\n"):format(
    s.programs, s.actions, s.errors, s.watchdog))
  harness.cleanup()
  os.exit(code)
end

local function run_one(seed, text)
  io.write(("run %s %d\n"):format(seed, harness.stats.actions))
  local chunk = assert(load(text, "=fuzz-" .. tostring(seed), "t"))
  harness.seed = seed
  local f = harness.run(chunk(harness))
  if f then
    io.write(("FAIL %s seed=%s: %s\n"):format(f.kind, seed, f.msg))
    finish(3)
  end
end

if opts.file then
  local fh = assert(io.open(opts.file, "rb"))
  local text = fh:read("a")
  fh:close()
  run_one(opts.file, text)
  finish(0)
end

local start = os.time()
local seed = opts.seed
local n = 0
while n < opts.count do
  if opts.seconds and os.time() - start >= opts.seconds then break end
  run_one(seed, source(seed))
  seed = seed + 1
  n = n + 1
end
finish(0)
