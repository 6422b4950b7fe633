-- The fuzz campaign driver: runs a fuzzer (api or reader) in many short
-- child processes for a budget of seconds, so that one crash does not stop
-- the campaign and every child starts from a fresh state.
--
--   lua5.4 test/fuzz/run.lua api|reader [--seconds S] [--seed N]
--     [--per-child K] [--jobs J] [--out DIR] [--avoid f1,f2] [--minimize]
--
-- Run from the checkout. TIDE_BUILD names the build directory (build; for
-- build-asan, preload the sanitizer runtimes as `make fuzz-asan` does: the
-- children inherit the environment). Each child runs K programs (or
-- reader iterations) from its first seed under `timeout`; a child that
-- fails is classified (lib.classify: a crash, a sanitizer report, a hang,
-- a leak, an internal error, a wrong result), its log saved under DIR
-- (build/fuzz-out/<fuzzer>), the failing seed re-run alone to check it
-- reproduces, and, for the API fuzzer, its program printed (and shrunk
-- with --minimize) next to the log. A crash of a build without sanitizers
-- is re-run under gdb for the faulting frame. The campaign goes on with
-- the next seed. Exit status 1 if anything failed; the totals go to
-- stdout and DIR/summary.txt.
local DIR = os.getenv("TIDE_FUZZ_DIR") or "test/fuzz"
local lib = dofile(DIR .. "/lib.lua")

local function usage(msg)
  io.stderr:write("run.lua: " .. msg .. "\n")
  os.exit(2)
end

local fuzzer = arg[1]
if fuzzer ~= "api" and fuzzer ~= "reader" then
  usage("first argument: api or reader")
end
local opts = lib.options(arg, 2, {
  ["--seconds"] = {"seconds", "number"}, ["--seed"] = {"seed", "int"},
  ["--per-child"] = {"per_child", "int"}, ["--jobs"] = {"jobs", "int"},
  ["--out"] = {"out", "string"}, ["--avoid"] = {"avoid", "string"},
  ["--minimize"] = {"minimize", "flag"},
}, {seconds = 30, per_child = fuzzer == "api" and 25 or 10, jobs = 1,
  seed = os.time() % 100000000 * 1000}, usage)

local build = os.getenv("TIDE_BUILD") or "build"
local lua = os.getenv("LUA") or "lua5.4"
local out = opts.out or ("build/fuzz-out/" .. fuzzer)
os.execute("mkdir -p " .. out)
local sanitized = (os.getenv("LD_PRELOAD") or ""):find("asan") ~= nil
local min = dofile(DIR .. "/minimize.lua")
-- The children's environment: the checkout's Lua files and the build.
local env = ("LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='%s/?.so;;' " ..
  "TIDE_FUZZ_DIR='%s'"):format(build, DIR)
-- A child that grows without end is stopped at 3 GB (see minimize.lua).
if sanitized then
  env = env .. (" ASAN_OPTIONS='%s:hard_rss_limit_mb=3072'"):format(
    os.getenv("ASAN_OPTIONS") or "")
end
local avoid = opts.avoid and opts.avoid ~= "" and (" --avoid " .. opts.avoid)
  or ""
-- A child may run past its budget by the time one program can take.
local child_timeout = 20 + opts.per_child * 2

local function slurp(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

-- The command of one child running count programs from seed.
local function child_cmd(seed, count, seconds, log)
  return ("%stimeout -k 5 %d env %s %s %s/%s.lua --seed %d --count %d " ..
    "--seconds %d%s >%s 2>&1"):format(min.limits(), child_timeout, env, lua,
    DIR, fuzzer, seed, count, seconds, avoid, log)
end

-- Runs a shell command; returns its exit code (128 + n for a signal).
local function sh(cmd)
  local ok, how, code = os.execute(cmd)
  if ok then return 0 end
  return how == "exit" and code or 128 + code
end

-- children, failures, and the sums of the counters the children print
-- (api: programs, actions, errors, watchdog; reader: iterations, ops,
-- interrupted, bytes); crashed children count the programs they started
-- and the actions before the last one.
local totals = {children = 0, failures = 0}
local counters = {}
local function add(k, v)
  if not totals[k] then counters[#counters + 1] = k end
  totals[k] = (totals[k] or 0) + v
end
local found = {} -- signature -> {count =, seeds = {...}, files = ...}
local order = {}

-- What a child's log says: the seeds it started (in order) with the
-- actions counted before each, and its final totals if it finished.
local function parse(log)
  local runs = {}
  for seed, actions in log:gmatch("\nrun (%-?%d+) (%d+)") do
    runs[#runs + 1] = {seed = math.tointeger(tonumber(seed)),
      actions = math.tointeger(tonumber(actions))}
  end
  local first_seed, first_actions = log:match("^run (%-?%d+) (%d+)")
  if first_seed then
    table.insert(runs, 1, {seed = math.tointeger(tonumber(first_seed)),
      actions = math.tointeger(tonumber(first_actions))})
  end
  local final = {}
  local line = log:match("\n" .. fuzzer .. ": ([^\n]*)") or
    log:match("^" .. fuzzer .. ": ([^\n]*)")
  if line then
    for k, v in line:gmatch("(%w+)=(%d+)") do
      final[#final + 1] = {k, math.tointeger(tonumber(v))}
    end
  end
  return runs, line and final or nil
end

-- A gdb backtrace of the seed's crash (builds without sanitizers).
local function gdb_frame(seed, path)
  local cmd = ("timeout -k 5 120 env %s gdb -q -batch -ex run -ex bt " ..
    "--args %s %s/%s.lua --seed %d --count 1%s >%s 2>&1"):format(env, lua, DIR,
    fuzzer, seed, avoid, path)
  sh(cmd)
  local log = slurp(path)
  if not log:find("signal SIG", 1, true) then return nil end
  return lib.tide_frame(log)
end

-- Records a failure of the child that started seed; returns its signature.
local function record(seed, log, code)
  local sig = lib.classify(log, code) or ("exit " .. code)
  totals.failures = totals.failures + 1
  local f = found[sig]
  if not f then
    f = {count = 0, seeds = {}}
    found[sig] = f
    order[#order + 1] = sig
  end
  f.count = f.count + 1
  f.seeds[#f.seeds + 1] = seed
  print(("FAIL %s at seed %d"):format(sig, seed))
  if f.count > 2 then return sig end -- enough examples of this one
  local base = ("%s/%d"):format(out, seed)
  write(base .. ".log", log)
  -- Does the seed fail alone, the same way?
  local alone = base .. ".alone.log"
  local code2 = sh(child_cmd(seed, 1, 3600, alone))
  local sig2 = lib.classify(slurp(alone), code2)
  f.alone = f.alone or (sig2 == sig and seed)
  print(("  alone: %s"):format(sig2 == sig and "same failure" or
    ("%s"):format(sig2 or "passes")))
  if fuzzer == "api" then
    sh(("env %s %s %s/api.lua --seed %d --print%s >%s.lua"):format(env, lua,
      DIR, seed, avoid, base))
    if opts.minimize and sig2 == sig then
      sh(("env %s %s %s/api.lua --seed %d --minimize%s >%s.min.lua 2>%s.min.log")
        :format(env, lua, DIR, seed, avoid, base, base))
      print("  minimized: " .. base .. ".min.lua")
    end
  end
  if code >= 128 and code ~= 137 and not sanitized then
    local frame = gdb_frame(seed, base .. ".gdb.log")
    if frame then
      f.frame = frame
      print("  gdb: " .. frame)
    end
  end
  return sig
end

local start = os.time()
local seed = opts.seed
print(("fuzz %s: %d s from seed %d, %d per child, %d job(s), build %s%s")
  :format(fuzzer, opts.seconds, seed, opts.per_child, opts.jobs, build,
    sanitized and " (sanitizers)" or ""))
while os.time() - start < opts.seconds do
  local left = opts.seconds - (os.time() - start)
  local cmds, batch = {}, {}
  for j = 1, opts.jobs do
    local first = seed + (j - 1) * opts.per_child
    local log = ("%s/child%d.log"):format(out, j)
    batch[j] = {seed = first, log = log, status = log .. ".status"}
    cmds[j] = ("(%s; echo $? >%s)"):format(child_cmd(first, opts.per_child,
      math.max(left, 1), log), batch[j].status)
  end
  sh(table.concat(cmds, " & ") .. " & wait")
  local next_seed = seed + opts.jobs * opts.per_child
  for _, c in ipairs(batch) do
    local log = slurp(c.log)
    local code = math.tointeger(tonumber(slurp(c.status):match("%d+"))) or 1
    local runs, final = parse(log)
    totals.children = totals.children + 1
    if code == 0 and final then
      for _, kv in ipairs(final) do add(kv[1], kv[2]) end
    else
      local last = runs[#runs] or {seed = c.seed, actions = 0}
      add(fuzzer == "api" and "programs" or "iterations", #runs)
      add(fuzzer == "api" and "actions" or "ops", last.actions)
      record(last.seed, log, code)
    end
    os.remove(c.log)
    os.remove(c.status)
  end
  seed = next_seed
end

local sums = {}
for _, k in ipairs(counters) do sums[#sums + 1] = k .. "=" .. totals[k] end
local lines = {
  ("fuzz %s: %d s, %d child(ren), %s, %d failure(s)"):format(fuzzer,
    os.time() - start, totals.children, table.concat(sums, " "),
    totals.failures),
  ("  seeds %d to %d"):format(opts.seed, seed - 1),
}
for _, sig in ipairs(order) do
  local f = found[sig]
  lines[#lines + 1] = ("  %dx %s (seeds %s%s%s)"):format(f.count, sig,
    table.concat(f.seeds, " ", 1, math.min(#f.seeds, 5)),
    f.alone and (", alone: " .. f.alone) or ", not alone",
    f.frame and (", gdb: " .. f.frame) or "")
end
local text = table.concat(lines, "\n") .. "\n"
io.write(text)
local fh = io.open(out .. "/summary.txt", "a")
if fh then
  fh:write(os.date("%Y-%m-%d %H:%M:%S "), build, "\n", text)
  fh:close()
end
os.exit(totals.failures == 0 and 0 or 1)
