-- tide's reader fuzzer: one side of a connection sends known bytes in
-- random chunks with random pauses; the other reads them with a random mix
-- of read(n) / readline / readuntil(sep) / readexactly(n), random
-- separators, read timeouts, line limits, and cancellations in the middle
-- of a read (task:cancel, tide.timeout, move_on_after, wait_for, timeout
-- scopes). Every result is compared with a model: the data not yet
-- consumed and what each operation must return from it. An interrupted
-- read (timed out, cancelled) must consume nothing.
--
--   lua5.4 test/fuzz/reader.lua --seed N [--count K] [--seconds S] [--verbose]
--   --avoid rscan   after a separator read that consumed nothing, use the
--                   same separator until something is consumed (steps
--                   around the known rscan bug of tide__stream_find)
--   --avoid wait_for  no reads through tide.wait_for (which drops a result
--                   that completes with its deadline: repros/
--                   wait_for_drops_result.lua)
--
-- Prints "run <seed> <ops>" before each iteration and at the end
-- "reader: iterations=I ops=O interrupted=N bytes=B"; a wrong result or a
-- leak prints "FAIL <kind> seed=<seed>: <what>" with the last operations
-- and exits 3.
local DIR = os.getenv("TIDE_FUZZ_DIR") or "test/fuzz"
local lib = dofile(DIR .. "/lib.lua")
local tide = require "tide"

local opts = lib.options(arg, 1, {
  ["--seed"] = {"seed", "int"}, ["--count"] = {"count", "int"},
  ["--seconds"] = {"seconds", "number"}, ["--verbose"] = {"verbose", "flag"},
  ["--avoid"] = {"avoid", "list"},
}, {avoid = {}}, function(msg)
  io.stderr:write("reader.lua: " .. msg .. "\n")
  os.exit(2)
end)
opts.seed = opts.seed or os.time()
opts.count = opts.count or (opts.seconds and math.maxinteger or 1)
io.stdout:setvbuf("line")

local stats = {iterations = 0, ops = 0, interrupted = 0, bytes = 0}

-- ------------------------------------------------------------ data

-- Bytes rich in separators: the alphabet is small, so lines, "\r\n" and
-- multi-byte separators occur often.
local function make_data(r)
  local k = r:int(1, 10)
  local n = k <= 4 and r:int(0, 200) or k <= 8 and r:int(200, 6000)
    or r:int(6000, 200000)
  local alphabet = r:pick({"ab\n", "abxyz\n\r", "aab\r\nline", "\n\n\na",
    "abcdefghij\n"})
  local out = {}
  for i = 1, n do
    local j = r:int(1, #alphabet)
    out[i] = alphabet:sub(j, j)
  end
  if r:chance(0.1) and n > 0 then
    -- A long line, to meet max_line.
    local at = r:int(1, n)
    out[at] = ("q"):rep(r:int(100, 70000))
  end
  return table.concat(out)
end

local SEPS = {"\n", "\r\n", "a", "ab", "aba", "xyz", "line", "\n\n", "b\n",
  "zz", "abcdefghij", "q"}

-- A separator: a common one, or a piece of the data ahead of the reader.
local function make_sep(r, rest)
  if #rest > 0 and r:chance(0.3) then
    local at = r:int(1, #rest)
    return rest:sub(at, at + r:int(0, 5))
  end
  return r:pick(SEPS)
end

-- ------------------------------------------------------------ the model

-- What op must produce on `rest` (the bytes not yet consumed, all of them,
-- arrived or not) with the stream's max_line: a table
--   {value = v, consume = n}             the result, whenever it comes
--   {value = v, consume = n, eof = true} only once the sender has closed
--   {emsgsize = true}                    EMSGSIZE, nothing consumed
--   {eof_nil = true}                     nil (EOF), once the sender closed
--   {eof_partial = rest}                 nil, "EOF...", "EOF", rest
-- read(max) has no single value: {prefix = max} (a non-empty prefix of
-- rest of at most max bytes) unless rest is empty.
local function expect(op, rest, max_line)
  if op.name == "read" then
    if #rest == 0 then return {eof_nil = true} end
    return {prefix = (op.n and op.n > 0) and op.n or math.huge}
  elseif op.name == "readexactly" then
    if op.n <= #rest then
      return {value = rest:sub(1, op.n), consume = op.n}
    end
    return {eof_partial = rest}
  end
  local sep = op.name == "readline" and "\n" or op.sep
  local q = rest:find(sep, 1, true)
  if q then
    if q - 1 > max_line then return {emsgsize = true} end
    local v
    if op.keep then
      v = rest:sub(1, q - 1 + #sep)
    else
      v = rest:sub(1, q - 1)
      if op.name == "readline" and v:sub(-1) == "\r" then v = v:sub(1, -2) end
    end
    return {value = v, consume = q - 1 + #sep}
  end
  if #rest >= max_line + #sep then return {emsgsize = true} end
  if op.name == "readline" then
    if #rest == 0 then return {eof_nil = true} end
    return {value = rest, consume = #rest, eof = true}
  end
  return {eof_partial = rest}
end

-- Where a wrong value came from: the offset in data of its first bytes
-- (relative to the reader's position), or that they are nowhere.
-- (short: a word for the failure's category).
local function provenance(data, pos, v, short)
  if type(v) ~= "string" or #v == 0 then return "" end
  local probe = v:sub(1, 64)
  local at = data:find(probe, pos + 1, true)
  local before = data:find(probe, 1, true)
  if at and at == pos + 1 then return "" end
  if at then
    return short and ", bytes skipped" or
      (" (its first bytes are the data %d bytes further on)"):format(at - pos - 1)
  end
  if before then
    return short and ", bytes repeated" or
      (" (its first bytes are the data %d bytes back)"):format(pos + 1 - before)
  end
  return short and ", bytes made up" or
    " (its first bytes are nowhere in the data)"
end

local function describe(op)
  local args = {}
  if op.n then args[#args + 1] = tostring(op.n) end
  if op.sep then args[#args + 1] = lib.show(op.sep) end
  if op.keep then args[#args + 1] = "true" end
  return ("%s(%s) via %s%s"):format(op.name, table.concat(args, ", "), op.mode,
    op.d and (" " .. op.d) or "")
end

-- ------------------------------------------------------------ one iteration

local function fail_msg(seed, what, history)
  local lines = {("seed=%d: %s"):format(seed, what), "  last operations:"}
  for i = math.max(1, #history - 12), #history do
    lines[#lines + 1] = "    " .. history[i]
  end
  return table.concat(lines, "\n")
end

-- Runs op on stream s in the chosen way; returns ok, results (packed) or
-- false, error, how ("raised" or "task").
local function perform(r, s, op)
  local function call()
    if op.name == "read" then return s:read(op.n) end
    if op.name == "readexactly" then return s:readexactly(op.n) end
    if op.name == "readline" then return s:readline(op.keep) end
    return s:readuntil(op.sep, op.keep)
  end
  if op.mode == "direct" then
    return pcall(function() return table.pack(call()) end)
  elseif op.mode == "timeout" then
    return pcall(tide.timeout, op.d, function() return table.pack(call()) end)
  elseif op.mode == "move_on_after" then
    local ok, moved, res = pcall(tide.move_on_after, op.d, function()
      return table.pack(call())
    end)
    if ok and not moved then
      return false, tide.error("timeout", "moved on")
    end
    return ok, ok and res or moved
  elseif op.mode == "wait_for" then
    -- The read runs in a task of wait_for's: if it returned, wait_for must
    -- not drop its result.
    local returned
    local ok, res = pcall(tide.wait_for, op.d, function()
      returned = table.pack(call())
      return returned
    end)
    if not ok and returned then
      op.lost = ("wait_for raised %s after the read had returned %s"):format(
        tostring(res), lib.show(returned[1]))
    end
    return ok, res
  elseif op.mode == "scope" then
    return pcall(function()
      local sc <close> = tide.timeout_scope(op.d)
      return table.pack(call())
    end)
  end
  -- "cancel": the read runs in a task of its own, cancelled after a while.
  local t = tide.spawn(function() return table.pack(call()) end)
  local k = r:int(1, 4)
  if k == 1 then tide.yield()
  elseif k == 2 then tide.sleep(0)
  elseif k == 3 then tide.sleep(op.d)
  end
  t:cancel(r:chance(0.5) and "mid-read" or nil)
  local ok, res = pcall(t.await, t)
  return ok, res
end

local MODES = {direct = 10, cancel = 4, timeout = 2, move_on_after = 1,
  wait_for = 1, scope = 1}
local DELAYS = {0, 0.0005, 0.001, 0.002, 0.005}

-- Is err an interruption that op's mode (or the stream's read timeout)
-- allows? Such a read must consume nothing.
local function interruption(op, ok, err, res, read_timeout)
  if not ok then
    if tide.is_cancelled(err) then return op.mode == "cancel" end
    if tide.is_timeout(err) then return op.mode ~= "direct" and
      op.mode ~= "cancel" end
    return false
  end
  return res[1] == nil and res[3] == "ETIMEDOUT" and read_timeout > 0
end

local function iteration(seed)
  local r = lib.rng(seed)
  local data = make_data(r)
  local unix = r:chance(0.3)
  local reader_serves = r:chance(0.5)
  local sender_done = false
  local max_line = 65536
  local read_timeout = 0
  local pos = 0 -- bytes consumed
  local history = {}
  local failure
  -- what starts with a category in brackets, which run.lua's signature
  -- keeps (the rest names data that differs from run to run).
  local function fail(category, what)
    failure = failure or fail_msg(seed, ("[%s] %s"):format(category, what),
      history)
  end

  local function sender(s)
    local at = 1
    local chunk_max = r:pick({1, 7, 100, 4096, 65536})
    if #data / chunk_max > 3000 then chunk_max = #data // 3000 + 1 end
    while at <= #data do
      local n = r:int(1, chunk_max)
      local ok, err = s:write(data:sub(at, at + n - 1))
      if not ok then fail("sender failed", "write: " .. tostring(err)) return end
      at = at + n
      local k = r:int(1, 20)
      if k == 1 then tide.yield()
      elseif k == 2 then tide.sleep(0)
      elseif k == 3 then tide.sleep(r:int(1, 30) / 10000)
      elseif k == 4 then s:drain() end
    end
    s:drain()
    sender_done = true
  end

  local function reader(s)
    local ops = 0
    local stuck_sep -- avoid rscan: the separator of a read that consumed nothing
    while not failure do
      local rest = data:sub(pos + 1)
      if pos == #data and sender_done and ops > 0 and r:chance(0.3) then break end
      ops = ops + 1
      if ops > 2000 then break end
      -- Now and then change the stream's options.
      if r:chance(0.05) then
        read_timeout = r:chance(0.5) and 0 or r:pick(DELAYS)
        s:setoptions({read_timeout = read_timeout})
      end
      if r:chance(0.03) then
        max_line = r:chance(0.3) and 65536 or r:int(1, 64)
        s:setoptions({max_line = max_line})
      end
      local op = {name = r:pick({"read", "readline", "readuntil",
        "readexactly", "readline", "readuntil"}), mode = r:weighted(MODES)}
      if op.mode == "wait_for" and opts.avoid.wait_for then op.mode = "timeout" end
      op.d = r:pick(DELAYS)
      if op.name == "read" then
        op.n = r:chance(0.5) and r:int(1, 3000) or nil
      elseif op.name == "readexactly" then
        local k = r:int(1, 5)
        op.n = k == 1 and 0 or k <= 3 and r:int(1, 300) or
          k == 4 and r:int(1, #rest + 10) or r:int(1, 100000)
      else
        op.keep = r:chance(0.3)
        if op.name == "readuntil" then
          op.sep = (opts.avoid.rscan and stuck_sep) or make_sep(r, rest)
        end
      end
      if opts.avoid.rscan and stuck_sep and op.name == "readline" and
          stuck_sep ~= "\n" then
        op.name, op.sep = "readuntil", stuck_sep
      end
      local exp = expect(op, rest, max_line)
      local ok, res, how = perform(r, s, op)
      stats.ops = stats.ops + 1
      local got
      if ok then
        got = {}
        for i = 1, res.n do got[i] = lib.show(res[i]) end
        got = table.concat(got, ", ")
      else
        got = "raised " .. lib.show(tostring(res))
      end
      history[#history + 1] = ("#%d at %d/%d: %s -> %s"):format(ops, pos, #data,
        describe(op), got)
      if opts.verbose then print(history[#history]) end
      local consumed = 0
      if op.lost then
        fail("wait_for dropped a result " .. op.name, ("%s: %s (the data is " ..
          "lost)"):format(describe(op), op.lost))
      elseif interruption(op, ok, res, ok and res, read_timeout) then
        stats.interrupted = stats.interrupted + 1
      elseif not ok then
        fail("raised in " .. op.name, ("%s raised %s"):format(describe(op),
          tostring(res)))
      elseif exp.prefix then
        local v = res[1]
        if type(v) ~= "string" or #v == 0 or #v > exp.prefix or
            rest:sub(1, #v) ~= v then
          fail("not a prefix " .. op.name .. provenance(data, pos, v, true),
            ("%s returned %s, not a prefix of %s%s"):format(describe(op),
            got, lib.show(rest), provenance(data, pos, v)))
        end
        consumed = type(v) == "string" and #v or 0
      elseif exp.value then
        if res[1] ~= exp.value then
          fail("wrong value " .. op.name .. provenance(data, pos, res[1], true),
            ("%s returned %s, expected %s%s"):format(describe(op), got,
            lib.show(exp.value), provenance(data, pos, res[1])))
        elseif exp.eof and not sender_done then
          fail("early EOF " .. op.name, ("%s returned the rest before the " ..
            "sender closed"):format(describe(op)))
        end
        consumed = exp.consume
      elseif exp.emsgsize then
        if not (res[1] == nil and res[3] == "EMSGSIZE") then
          fail("missed EMSGSIZE " .. op.name, ("%s returned %s, expected " ..
            "EMSGSIZE"):format(describe(op), got))
        end
      elseif exp.eof_nil then
        if not (res.n >= 1 and res[1] == nil and res[2] == nil) then
          fail("missed EOF " .. op.name, ("%s returned %s, expected nil " ..
            "(EOF)"):format(describe(op), got))
        elseif not sender_done then
          fail("early EOF " .. op.name, ("%s saw EOF before the sender " ..
            "closed"):format(describe(op)))
        end
      elseif exp.eof_partial then
        if not (res[1] == nil and res[3] == "EOF" and res[4] == exp.eof_partial)
            then
          fail("missed EOF " .. op.name, ("%s returned %s, expected nil, " ..
            "EOF, %s"):format(describe(op),
            got, lib.show(exp.eof_partial)))
        elseif not sender_done then
          fail("early EOF " .. op.name, ("%s saw EOF before the sender " ..
            "closed"):format(describe(op)))
        end
        consumed = #exp.eof_partial
      end
      pos = pos + consumed
      if op.sep or op.name == "readline" then
        stuck_sep = consumed == 0 and (op.sep or "\n") or nil
      elseif consumed > 0 then
        stuck_sep = nil
      end
    end
    -- Whatever is left must come out of plain reads, then EOF.
    s:setoptions({read_timeout = 0})
    while not failure do
      local ok, v = pcall(s.read, s)
      if not ok then fail("raised in the final reads", tostring(v)) break end
      if v == nil then
        if pos ~= #data then
          fail("early EOF in the final reads", ("EOF at %d of %d bytes")
            :format(pos, #data))
        end
        break
      end
      if data:sub(pos + 1, pos + #v) ~= v then
        fail("wrong value in the final reads", ("read(): %s is not the data " ..
          "at %d"):format(lib.show(v), pos))
      end
      pos = pos + #v
    end
    stats.bytes = stats.bytes + #data
  end

  local path = unix and (lib.tmpdir("tide-reader") .. "/s") or nil
  local ok, err = pcall(tide.run, function()
    local other = tide.future()
    local handler = function(s)
      local ok2, err2 = pcall(reader_serves and reader or sender, s)
      if not ok2 then fail("serving side raised", tostring(err2)) end
      other:set_result()
    end
    local srv = assert(unix and tide.unix.listen(path, handler) or
      tide.tcp.listen("127.0.0.1", 0, handler))
    local c = assert(unix and tide.unix.connect(path) or
      tide.tcp.connect(srv:address()))
    local ok2, err2 = pcall(reader_serves and sender or reader, c)
    if not ok2 then fail("connecting side raised", tostring(err2)) end
    c:close()
    other:await()
    srv:close()
  end)
  if path then lib.rmdir_all(path:match("^(.*)/s$")) end
  if not ok then fail("tide.run raised", tostring(err)) end
  return failure
end

-- ------------------------------------------------------------ main

local function leftovers(base)
  collectgarbage()
  collectgarbage()
  local s = tide.stats()
  local n, list = lib.fds()
  if s.tasks > 0 or s.timers > 0 or s.handles > 0 or n ~= base.n then
    return ("%d task(s), %d timer(s), %d handle(s) left; descriptors: %d " ..
      "before (%s), %d after (%s)"):format(s.tasks, s.timers, s.handles,
      base.n, base.list, n, list)
  end
end

local function finish(code)
  io.write(("reader: iterations=%d ops=%d interrupted=%d bytes=%d\n"):format(
    stats.iterations, stats.ops, stats.interrupted, stats.bytes))
  os.exit(code, true)
end

-- Warm up what opens descriptors once per process.
tide.run(function()
  local srv = assert(tide.tcp.listen("127.0.0.1", 0, function() end))
  local c = assert(tide.tcp.connect(srv:address()))
  c:close()
  srv:close()
end)
local base
do
  local n, list = lib.fds()
  base = {n = n, list = list}
end

local start = os.time()
local seed = opts.seed
for _ = 1, opts.count do
  if opts.seconds and os.time() - start >= opts.seconds then break end
  io.write(("run %d %d\n"):format(seed, stats.ops))
  stats.iterations = stats.iterations + 1
  local failure = iteration(seed)
  if failure then
    io.write("FAIL wrong-result " .. failure .. "\n")
    finish(3)
  end
  local what = leftovers(base)
  if what then
    io.write(("FAIL leak seed=%d: %s\n"):format(seed, what))
    finish(3)
  end
  seed = seed + 1
end
finish(0)
