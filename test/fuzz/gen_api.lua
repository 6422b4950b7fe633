-- The API fuzzer's program generator: from a seed, a random program over
-- tide's whole public Lua API, as a tree of statements (lib.print turns it
-- into the source that test/fuzz/harness.lua runs).
--
-- Statements are drawn per context: in a task (the root, a spawned task, a
-- connection handler, a coroutine driven by a task) anything goes; in a
-- loop callback (done callbacks, call_soon, the error handler, __close of a
-- callback) nothing may wait, which the generator still tries now and
-- then. Values live in V slots typed by name (V.t1..V.t3 tasks, V.f1..
-- futures, ...), so statements meet each other's objects: a task awaits
-- the one another task cancels, a coroutine created in one task is resumed
-- from another, a stream is closed while a reader waits on it.
--
-- `avoid` (a set of feature names, FUZZ_AVOID in run.sh) leaves out the
-- statements that reach bugs already known, so a campaign finds the next
-- ones; see FEATURES below.
local G = {}

local NSLOT = 3

-- Features that `avoid` can leave out (each names the statements that
-- reach one known bug; see docs/fuzzing.md).
G.FEATURES = {
  await_cycle = "two tasks awaiting each other (explicit template)",
  huge_read = "readexactly(n) with n far beyond any data",
  cross_resume = "resuming by hand a coroutine another task drives",
  coro_close = "coroutine.close of a coroutine suspended in an await",
  dump = "tide.tasks() / tide.dump()",
  gc_future = "dropping futures and collecting while tasks wait",
  group_in_coro = "tide.group inside a coroutine resumed from a callback",
  failed_tasks = "many failed tasks nobody awaits",
  error_handler = "programs that install their own error handler",
}

local Gen = {}
Gen.__index = Gen

function G.new(rng, avoid)
  return setmetatable({r = rng, avoid = avoid or {}, budget = 0, made = {}},
    Gen)
end

-- A slot of kind to use: mostly one the program has assigned already.
function Gen:slot(kind)
  local made = self.made[kind]
  if made and #made > 0 and self.r:chance(0.85) then
    return self.r:pick(made)
  end
  return ("V.%s%d"):format(kind, self.r:int(1, NSLOT))
end

-- A slot of kind to assign (remembered for later uses).
function Gen:new_slot(kind)
  local name = ("V.%s%d"):format(kind, self.r:int(1, NSLOT))
  local made = self.made[kind] or {}
  self.made[kind] = made
  for _, m in ipairs(made) do if m == name then return name end end
  made[#made + 1] = name
  return name
end

function Gen:ok(feature) return not self.avoid[feature] end

-- ------------------------------------------------------------ values

local DURATIONS = {"0", "0", "0.0005", "0.001", "0.001", "0.002", "0.005",
  "0.01", "0.03"}

function Gen:dur()
  return self.r:pick(DURATIONS)
end

-- Data to write: short text, lines, or a burst above the high-water mark.
function Gen:data()
  local r = self.r
  local k = r:int(1, 10)
  if k <= 4 then return r:pick({'"hello\\n"', '"a\\r\\nb\\n"', '"x"',
    '"ping\\nping\\n"', '"\\0\\1\\2"', '""', '"abc"'}) end
  if k <= 8 then return ('("%s"):rep(%d)'):format(r:pick({"x", "ab\\n",
    "line\\n", "\\n"}), r:int(1, 3000)) end
  return ('("z"):rep(%d)'):format(r:int(60000, 300000))
end

function Gen:sep()
  return self.r:pick({'"\\n"', '"\\r\\n"', '"a"', '"ab"', '"xyz"', '"\\n\\n"',
    '"line"'})
end

-- A value of the wrong kind for almost any argument.
local BAD = {"nil", "42", "-1", "0/0", '""', "{}", "true", "print",
  "coroutine.create(print)", "math.huge", "2^53", "-0.5", '"x"',
  "setmetatable({}, {__index = function() error('trap') end})"}

function Gen:bad()
  local r = self.r
  if r:chance(0.25) then
    return self:slot(r:pick({"t", "f", "s", "srv", "u", "lk", "q", "h",
      "co", "g", "sc"}))
  end
  return r:pick(BAD)
end

-- An awaitable expression; may be an inline function (its body returned
-- as the second value: the caller makes it a block).
function Gen:awaitable(ctx, allow_fn)
  local r = self.r
  local k = r:int(1, 10)
  if k <= 4 then return self:slot("t") end
  if k <= 7 then return self:slot("f") end
  if k <= 9 and allow_fn then return "function()", true end
  return self:bad()
end

-- ------------------------------------------------------------ shapes

-- Wraps a one-line statement for ctx: A (most), P (swallows cancellation).
function Gen:wrap(code)
  local w = self.r:chance(0.25) and "P" or "A"
  return ("%s(function() %s end)"):format(w, code)
end

-- A block statement: `head` opens a function whose body is generated,
-- `tail` closes it; wrapped like wrap().
function Gen:block(ctx, head, body_kind, tail, n)
  local w = self.r:chance(0.25) and "P" or "A"
  return {open = ("%s(function() %s"):format(w, head),
    body = self:body(self:sub(ctx, body_kind), n),
    close = ("%s end)"):format(tail)}
end

function Gen:sub(ctx, kind, extra)
  local c = {kind = kind, depth = ctx.depth + 1, stream = ctx.stream}
  if extra then for k, v in pairs(extra) do c[k] = v end end
  return c
end

-- A body of n statements (random if nil) for context ctx.
function Gen:body(ctx, n)
  local r = self.r
  n = n or (ctx.depth >= 3 and r:int(0, 2) or r:int(1, 6))
  local out = {}
  for _ = 1, n do
    if self.budget <= 0 then break end
    self.budget = self.budget - 1
    local st = self:statement(ctx)
    if st then out[#out + 1] = st end
  end
  return out
end

-- ------------------------------------------------------------ statements

-- Weights per context; the generator draws a family, then a statement.
local WEIGHTS = {
  task = {task = 14, future = 12, time = 8, combinator = 8, group = 6,
    deadline = 8, sync = 8, queue = 6, coro = 8, callback = 6,
    introspect = 3, errors = 4, close = 3, net = 14, misuse = 8, gc = 2,
    context = 3},
  callback = {task = 6, future = 8, time = 2, callback = 3, introspect = 2,
    errors = 2, net = 3, misuse = 4, coro = 3, gc = 1, sync = 2, queue = 2,
    context = 2},
}

function Gen:statement(ctx)
  local weights = ctx.kind == "callback" and WEIGHTS.callback or WEIGHTS.task
  local family = self.r:weighted(weights)
  return self["st_" .. family](self, ctx)
end

-- Tasks: spawn, await, cancel, inspect, the current task.
function Gen:st_task(ctx)
  local r = self.r
  local k = r:int(1, 16)
  local t = (k <= 4 or k == 16) and self:new_slot("t") or self:slot("t")
  if k <= 4 then
    local head = r:pick({"tide.spawn(function()", "tide.spawn({name = 'n'}, " ..
      "function()", "tide.spawn(function(...)", "tide.spawn({eager = true}, " ..
      "function()"})
    local tail = head:find("%.%.%.") and "end, 1, nil, 'x')" or "end)"
    return self:block(ctx, t .. " = " .. head, "task", tail)
  elseif k <= 6 then
    return self:wrap(r:pick({t .. ":await()", "tide.await(" .. t .. ")",
      "local a, b = " .. t .. ":await()"}))
  elseif k <= 9 then
    return self:wrap(r:pick({t .. ":cancel()", t .. ':cancel("stop")',
      t .. ":cancel(" .. self:bad() .. ")"}))
  elseif k <= 12 then
    return self:wrap(("%s:%s()"):format(t, r:pick({"done", "state", "result",
      "error", "traceback", "name", "id", "cancelling", "uncancel",
      "cancelled"})))
  elseif k == 13 then
    return self:wrap(r:pick({t .. " = tide.current_task()",
      "tide.current_task():cancel()", "tide.current_task():cancel('self')",
      "tide.current_task():await()", t .. ":set_name('renamed')"}))
  elseif k == 14 and self:ok("await_cycle") and ctx.kind ~= "callback" then
    -- Two tasks awaiting each other; then one of them is cancelled.
    local a, b = self:slot("t"), self:slot("t")
    return {open = "do", body = {
      self:wrap(a .. " = tide.spawn(function() tide.yield() " .. b ..
        ":await() end)"),
      self:wrap(b .. " = tide.spawn(function() tide.yield() " .. a ..
        ":await() end)"),
      self:wrap("tide.sleep(0)"),
      self:wrap(r:pick({a, b}) .. ":cancel(" .. r:pick({"", '"x"'}) .. ")"),
    }, close = "end"}
  elseif k == 15 and self:ok("failed_tasks") and ctx.kind ~= "callback" then
    -- (Not from a callback: an error handler spawning failing tasks for
    -- each report it gets grows without end.)
    return self:wrap(("for i = 1, %d do tide.spawn(error, 'fail ' .. i) end")
      :format(r:pick({1, 3, 50, 400})))
  else
    return self:block(ctx, t .. " = tide.spawn(function()", "task", "end)",
      r:int(0, 3))
  end
end

-- Futures: make, complete, await, inspect, done-callbacks.
function Gen:st_future(ctx)
  local r = self.r
  local k = r:int(1, 14)
  local f = k <= 3 and self:new_slot("f") or self:slot("f")
  if k <= 3 then return self:wrap(f .. " = tide.future()") end
  if k <= 6 then
    return self:wrap(r:pick({f .. ":set_result(1)", f .. ":set_result()",
      f .. ":set_result(1, nil, 'three')", f .. ":set_error('err')",
      f .. ":set_error(tide.error('custom', 'boom'))", f .. ":cancel()",
      f .. ':cancel("why")', f .. ":set_result(" .. self:slot("t") .. ")"}))
  end
  if k <= 8 then
    return self:wrap(r:pick({f .. ":await()", "tide.await(" .. f .. ")"}))
  end
  if k <= 10 then
    return self:wrap(("%s:%s()"):format(f, r:pick({"done", "cancelled",
      "state", "result", "error"})))
  end
  if k <= 13 then
    local target = r:chance(0.5) and f or self:slot("t")
    if r:chance(0.3) then
      local cb = r:int(1, 2)
      return self:block(ctx, ("V.cb%d = function(x)"):format(cb),
        "callback", ("end; %s:add_done_callback(V.cb%d)"):format(target, cb))
    end
    return self:block(ctx, target .. ":add_done_callback(function(x)",
      "callback", "end)")
  end
  return self:wrap(("%s:remove_done_callback(V.cb%d)"):format(
    r:chance(0.5) and f or self:slot("t"), r:int(1, 2)))
end

-- Time: sleep, yield, call_soon, call_later.
function Gen:st_time(ctx)
  local r = self.r
  local k = r:int(1, 10)
  if k <= 4 then return self:wrap("tide.sleep(" .. self:dur() .. ")") end
  if k <= 6 then return self:wrap("tide.yield()") end
  if k == 7 then return self:wrap("tide.now()") end
  if k == 8 and r:chance(0.3) then
    return self:wrap("tide.sleep(math.huge)")
  end
  return self:wrap(self:slot("h") .. ":cancel()")
end

-- Loop callbacks: call_soon, call_later, the error handler.
function Gen:st_callback(ctx)
  local r = self.r
  local k = r:int(1, 8)
  local h = k <= 6 and self:new_slot("h") or self:slot("h")
  if k <= 3 then
    return self:block(ctx, h .. " = tide.call_soon(function(...)", "callback",
      "end, 1, 2)")
  elseif k <= 6 then
    return self:block(ctx, ("%s = tide.call_later(%s, function()"):format(h,
      self:dur()), "callback", "end)")
  elseif k == 7 and self:ok("error_handler") then
    return self:block(ctx, "tide.set_error_handler(function(err, task)",
      "callback", "end)")
  end
  return self:wrap(r:pick({h .. ":cancel()", "tide.set_error_handler(nil)"}))
end

-- Combinators over up to four awaitables, one of them maybe a function.
function Gen:st_combinator(ctx)
  local r = self.r
  local fname = r:pick({"tide.gather", "tide.gather", "tide.first",
    "tide.race", "tide.wait", "tide.as_completed", "tide.wait_for",
    "tide.shield"})
  local n = r:int(1, 4)
  local args, fn_at = {}, nil
  for i = 1, n do
    local a, is_fn = self:awaitable(ctx, fn_at == nil)
    if is_fn then fn_at = i end
    args[i] = a
  end
  local before, after = {}, {}
  for i = 1, n do
    if fn_at and i > fn_at then after[#after + 1] = args[i]
    elseif i ~= fn_at then before[#before + 1] = args[i] end
  end
  local function list(t) return table.concat(t, ", ") end
  local open, close
  if fname == "tide.wait" or fname == "tide.as_completed" then
    local opts = r:pick({"", ", {timeout = " .. self:dur() .. "}",
      ", {return_when = 'first'}", ", {return_when = 'first_error'}"})
    if fname == "tide.as_completed" then opts = opts:gsub("return_when.*}",
      "timeout = 0.01}") end
    local pre = fname == "tide.as_completed"
      and "for x, i in tide.as_completed({" or "local d, p = tide.wait({"
    local post = fname == "tide.as_completed"
      and ("}%s) do if %s then break end x:result() end"):format(opts,
        r:pick({"i == 1", "false", "x:done()"}))
      or ("}%s)"):format(opts)
    if not fn_at then return self:wrap(pre .. list(before) .. post) end
    open = pre .. list(before) .. (#before > 0 and ", " or "") .. "function()"
    close = "end" .. (#after > 0 and ", " or "") .. list(after) .. post
  elseif fname == "tide.wait_for" or fname == "tide.shield" then
    local pre = fname == "tide.wait_for"
      and "tide.wait_for(" .. r:pick({"nil", self:dur(), self:dur()}) .. ", "
      or "tide.shield("
    if fname == "tide.shield" then
      -- A shielded wait must end by itself: for a task of its own that
      -- sleeps (a future may never be set; a task of the program may wait
      -- for the shielding task, a cycle no cancellation breaks), and a
      -- shielded function gets a deadline.
      if not fn_at then
        return self:wrap(pre .. "tide.spawn(tide.sleep, " .. self:dur() .. "))")
      end
      pre = "tide.shield(tide.move_on_after, 0.05, "
    end
    if not fn_at then return self:wrap(pre .. args[1] .. ")") end
    open, close = pre .. "function()", "end)"
  else
    local opts = fname == "tide.gather" and r:chance(0.3)
      and ", {return_errors = true}" or ""
    if not fn_at then
      return self:wrap(("%s(%s%s)"):format(fname, list(before), opts))
    end
    open = fname .. "(" .. list(before) .. (#before > 0 and ", " or "") ..
      "function()"
    close = "end" .. (#after > 0 and ", " or "") .. list(after) .. opts .. ")"
  end
  return self:block(ctx, open, "task", close, r:int(0, 3))
end

-- Task groups, both forms.
function Gen:st_group(ctx)
  local r = self.r
  local k = r:int(1, 6)
  local g = k <= 4 and self:new_slot("g") or self:slot("g")
  local kids = {}
  local body_ctx = self:sub(ctx, "task", {group = "g"})
  if k <= 2 then
    return {open = ("%s(function() tide.group(function(g) %s = g")
      :format(r:chance(0.25) and "P" or "A", g), body = self:group_body(body_ctx),
      close = "end) end)"}
  elseif k <= 4 then
    return {open = ("%s(function() local g <close> = tide.group() %s = g")
      :format(r:chance(0.25) and "P" or "A", g), body = self:group_body(body_ctx),
      close = "end)"}
  elseif k == 5 then
    return self:block(ctx, g .. ":spawn(function()", "task", "end)")
  end
  return self:wrap(r:pick({g .. ":cancel()", g .. ":tasks()"}))
end

function Gen:group_body(ctx)
  local out = {}
  for _ = 1, self.r:int(1, 3) do
    out[#out + 1] = self:block(ctx, "g:spawn(function()", "task", "end)",
      self.r:int(0, 3))
  end
  for _, st in ipairs(self:body(ctx, self.r:int(0, 3))) do out[#out + 1] = st end
  if self.r:chance(0.2) then out[#out + 1] = self:wrap("g:cancel()") end
  return out
end

-- Deadlines and scopes.
function Gen:st_deadline(ctx)
  local r = self.r
  local k = r:int(1, 11)
  local d = self:dur()
  if k == 9 then
    -- No cancellation from outside reaches a shielded body, so it gets a
    -- deadline of its own: a shield that waits for ever is the program's
    -- hang, not tide's.
    return self:block(ctx, "tide.shield(tide.move_on_after, 0.05, function()",
      "task", "end)")
  elseif k == 10 then
    return self:block(ctx, "tide.cleanup(function()", "task", "end)")
  elseif k == 11 then
    return self:wrap(r:pick({"tide.cleanup_grace()", "tide.cleanup_grace(0.05)",
      "tide.cleanup_grace(0)"}))
  end
  if k <= 2 then
    return self:block(ctx, "tide.timeout(" .. d .. ", function()", "task", "end)")
  elseif k <= 4 then
    return self:block(ctx, "tide.move_on_after(" .. d .. ", function()", "task",
      "end)")
  elseif k <= 6 then
    local sc = self:new_slot("sc")
    return {open = ("%s(function() local sc <close> = tide.timeout_scope(%s) %s = sc")
      :format(r:chance(0.25) and "P" or "A", r:pick({d, d, "nil"}), sc),
      body = self:body(self:sub(ctx, "task")), close = "end)"}
  elseif k == 7 then
    return self:wrap(r:pick({self:slot("sc") .. ":reschedule(" .. d .. ")",
      self:slot("sc") .. ":cancel()", self:slot("sc") .. ":remaining()",
      self:slot("sc") .. ":expired()", "tide.remaining()"}))
  end
  return self:wrap("tide.wait_for(" .. d .. ", " .. self:awaitable(ctx) .. ")")
end

-- Lock, Event, Semaphore, Condition.
function Gen:st_sync(ctx)
  local r = self.r
  local k = r:int(1, 14)
  if k <= 3 then return self:st_sync_make() end
  local lk, ev, sem, cond = self:slot("lk"), self:slot("ev"), self:slot("sem"),
    self:slot("cond")
  if k <= 4 then
    return self:wrap(r:pick({lk .. ":acquire()", lk .. ":release()",
      lk .. ":try_acquire()", lk .. ":locked()"}))
  elseif k == 5 then
    return {open = ("A(function() local _ <close> = %s:acquire()"):format(lk),
      body = self:body(self:sub(ctx, "task"), r:int(0, 3)), close = "end)"}
  elseif k == 6 then
    return self:block(ctx, lk .. ":with(function()", "task", "end)", r:int(0, 2))
  elseif k <= 8 then
    return self:wrap(r:pick({ev .. ":set()", ev .. ":clear()", ev .. ":wait()",
      ev .. ":is_set()", ev .. ":wait()"}))
  elseif k <= 10 then
    return self:wrap(r:pick({sem .. ":acquire()", sem .. ":release()",
      sem .. ":try_acquire()", sem .. ":available()", sem .. ":locked()",
      sem .. ":with(tide.yield)"}))
  end
  if k == 13 then
    local bar = self:slot("bar")
    return self:wrap(r:pick({bar .. ":wait()", bar .. ":wait()",
      bar .. ":statistics()", lk .. ":statistics()", sem .. ":statistics()",
      ev .. ":statistics()", cond .. ":statistics()"}))
  end
  return self:wrap(r:pick({cond .. ":acquire()", cond .. ":release()",
    cond .. ":wait()", cond .. ":notify()", cond .. ":notify(2)",
    cond .. ":notify_all()", cond .. ":wait_for(function() return " ..
      r:pick({"true", "false", ev .. ":is_set()"}) .. " end)",
    cond .. ":with(function() " .. cond .. ":wait() end)"}))
end

function Gen:st_queue(ctx)
  local r = self.r
  if r:chance(0.15) then
    return self:wrap(self:new_slot("q") .. " = tide." .. r:pick({"Queue",
      "Queue", "LifoQueue", "PriorityQueue"}) .. "(" ..
      r:pick({"", "0", "1", "2"}) .. ")")
  end
  local q = self:slot("q")
  return self:wrap(r:pick({
    q .. ":put(" .. r:pick({"1", "'x'", "false", "{}"}) .. ")",
    q .. ":get()", q .. ":put_nowait(2)", q .. ":get_nowait()",
    q .. ":task_done()", q .. ":join()", q .. ":close()", q .. ":close(true)",
    "for item in " .. q .. ":items() do if item then break end end",
    q .. ":qsize()", q .. ":empty()", q .. ":full()", q .. ":is_closed()",
    q .. ":get()", q .. ":put(3)", q .. ":statistics()", q .. ":maxsize()",
    q .. ":put(" .. r:pick({"0/0", "'b'", "-1"}) .. ")"}))
end

-- Coroutines by hand around awaits: create, wrap, resume, close, yield.
function Gen:st_coro(ctx)
  local r = self.r
  local k = r:int(1, 14)
  local co = (k <= 3 or k == 12) and self:new_slot("co") or self:slot("co")
  local w = (k == 4 or k == 5) and self:new_slot("w") or self:slot("w")
  local cctx = self:sub(ctx, "coroutine")
  if k <= 3 then
    return {open = ("A(function() %s = coroutine.create(function(...)"):format(co),
      body = self:coro_body(cctx), close = "end) end)"}
  elseif k <= 5 then
    return {open = ("A(function() %s = coroutine.wrap(function(...)"):format(w),
      body = self:coro_body(cctx), close = "end) end)"}
  elseif k <= 8 then
    return self:wrap(r:pick({"coroutine.resume(" .. co .. ", 1)",
      "coroutine.resume(" .. co .. ")", w .. "(1)", w .. "()",
      "for _ = 1, 3 do coroutine.resume(" .. co .. ") end"}))
  elseif k == 9 and self:ok("coro_close") then
    return self:wrap("coroutine.close(" .. co .. ")")
  elseif k == 10 then
    return self:wrap(r:pick({"coroutine.status(" .. co .. ")",
      "coroutine.isyieldable()", "coroutine.running()"}))
  elseif k == 11 and ctx.kind == "coroutine" then
    return self:wrap(r:pick({"coroutine.yield()", "coroutine.yield(1, 2)"}))
  elseif k == 12 and self:ok("cross_resume") then
    -- A task drives a coroutine that awaits; another task resumes it too.
    return {open = "do", body = {
      self:wrap(co .. " = coroutine.create(function() tide.sleep(" ..
        self:dur() .. ") coroutine.yield(1) end)"),
      self:wrap("tide.spawn(function() coroutine.resume(" .. co .. ") end)"),
      self:wrap("tide.spawn(function() tide.yield() coroutine.resume(" .. co ..
        r:pick({"", ", 1"}) .. ") end)"),
    }, close = "end"}
  elseif k == 13 and self:ok("group_in_coro") then
    return self:wrap(("tide.call_soon(function() coroutine.wrap(function() " ..
      "tide.group(function(g) g:spawn(tide.sleep, 0) end) end)() end)"))
  end
  return {open = "A(function() local w = coroutine.wrap(function()",
    body = self:coro_body(cctx), close = "end) w() w() end)"}
end

function Gen:coro_body(ctx)
  local out = self:body(ctx, self.r:int(0, 4))
  if self.r:chance(0.6) then
    table.insert(out, self.r:int(1, #out + 1), "coroutine.yield(1)")
  end
  return out
end

-- Task-local context variables: get, set (keeping the token), reset.
function Gen:st_context(ctx)
  local r = self.r
  if r:chance(0.2) then
    return self:wrap(self:new_slot("cv") .. " = tide.context_var('v', " ..
      r:pick({"nil", "0", "'d'"}) .. ")")
  end
  local cv, tok = self:slot("cv"), self:slot("tok")
  return self:wrap(r:pick({cv .. ":get()", tok .. " = " .. cv .. ":set(" ..
    r:pick({"1", "'x'", "nil", "{}"}) .. ")", cv .. ":reset(" .. tok .. ")",
    cv .. ":reset(" .. tok .. ")", cv .. ":reset({})"}))
end

function Gen:st_introspect(ctx)
  local r = self.r
  local list = {"tide.stats()", "tide.now()", "tide.current_task()"}
  if self:ok("dump") then
    list[#list + 1] = "tide.tasks()"
    list[#list + 1] = "tide.dump()"
    list[#list + 1] = "for _, t in ipairs(tide.tasks()) do local _ = t.label end"
  end
  return self:wrap(r:pick(list))
end

-- Raised errors, __close that fails or waits, tide.run inside a task.
function Gen:st_errors(ctx)
  local r = self.r
  local k = r:int(1, 6)
  if k == 1 and ctx.kind ~= "callback" and ctx.depth > 0 then
    return r:pick({'error("boom")', "error(tide.error('custom', 'm'))",
      "error(setmetatable({}, {__tostring = function() error('tostring') end}))"})
  elseif k <= 3 then
    return self:wrap(r:pick({'error("boom")', "error()", "error(nil)",
      "error(tide.error('cancelled', 'fake'))", "error({})"}))
  elseif k == 4 then
    return self:block(ctx, "tide.run(function()", "task", "end)", r:int(0, 3))
  end
  return self:st_close(ctx)
end

function Gen:st_close(ctx)
  local r = self.r
  local closer = r:pick({"error('close boom')", "tide.sleep(0)",
    "tide.current_task():cancel()", "tide.yield() error('late')", "",
    self:slot("f") .. ":set_result(1)"})
  return {open = ("%s(function() local c <close> = setmetatable({}, " ..
    "{__close = function(self, e) %s end})"):format(r:chance(0.3) and "P" or
      "A", closer),
    body = self:body(self:sub(ctx, ctx.kind), r:int(0, 3)), close = "end)"}
end

-- Calls with wrong arguments: every function and method of the API.
-- (Not tide.shield: given a future that is never set, as a wrong argument
-- may be, a shield waits for ever by design.)
local FUNCS = {"tide.spawn", "tide.await", "tide.sleep", "tide.yield",
  "tide.future", "tide.gather", "tide.first", "tide.wait", "tide.as_completed",
  "tide.timeout", "tide.timeout_scope", "tide.move_on_after", "tide.wait_for",
  "tide.group", "tide.Lock", "tide.Event", "tide.Semaphore",
  "tide.BoundedSemaphore", "tide.Condition", "tide.Queue", "tide.call_soon",
  "tide.call_later", "tide.is_cancelled", "tide.is_timeout", "tide.is_error",
  "tide.error", "tide.run", "tide.set_error_handler", "tide.on_signal",
  "tide.tcp.connect", "tide.tcp.listen", "tide.unix.connect",
  "tide.unix.listen", "tide.udp.bind", "tide.udp.connect", "tide.udp.open",
  "tide.dns.resolve", "tide.dns.reverse", "tide.pipe.kind", "tide.virtual_clock",
  "coroutine.resume", "coroutine.wrap", "coroutine.close", "coroutine.status",
  "tide.context_var", "tide.cleanup", "tide.cleanup_grace", "tide.Barrier",
  "tide.LifoQueue", "tide.PriorityQueue"}

local METHODS = {
  t = {"await", "cancel", "done", "result", "error", "add_done_callback",
    "remove_done_callback", "set_name", "cancelling", "uncancel"},
  f = {"await", "set_result", "set_error", "cancel", "add_done_callback",
    "remove_done_callback", "result"},
  s = {"read", "readline", "readuntil", "readexactly", "write", "setoptions",
    "setnodelay", "setkeepalive", "shutdown", "drain", "close", "buffered"},
  srv = {"close", "address", "connections"},
  u = {"sendto", "send", "recv", "recvfrom", "settimeout", "setttl",
    "setbroadcast", "close"},
  lk = {"acquire", "release", "with"},
  q = {"put", "get", "put_nowait", "close", "task_done"},
  g = {"spawn", "cancel"},
  sc = {"reschedule", "cancel"},
  h = {"cancel"},
  cv = {"get", "set", "reset"},
  bar = {"wait", "statistics"},
}

function Gen:st_misuse(ctx)
  local r = self.r
  if r:chance(0.5) then
    local fn = r:pick(FUNCS)
    if fn == "tide.virtual_clock" and r:chance(0.8) then fn = "tide.yield" end
    local args = {}
    for i = 1, r:int(0, 3) do args[i] = self:bad() end
    return ("M(function() R(%s(%s)) end)"):format(fn, table.concat(args, ", "))
  end
  local kinds = {"t", "f", "s", "srv", "u", "lk", "q", "g", "sc", "h", "cv",
    "bar"}
  local kind = r:pick(kinds)
  local m = r:pick(METHODS[kind])
  local obj = self:slot(kind)
  local args = {}
  for i = 1, r:int(0, 2) do args[i] = self:bad() end
  if r:chance(0.3) then
    -- The method taken from one kind, called on another object.
    local other = self:slot(r:pick(kinds))
    return ("M(function() R(%s.%s(%s%s)) end)"):format(obj, m, other,
      #args > 0 and ", " .. table.concat(args, ", ") or "")
  end
  return ("M(function() R(%s:%s(%s)) end)"):format(obj, m,
    table.concat(args, ", "))
end

function Gen:st_gc(ctx)
  local r = self.r
  if self:ok("gc_future") and r:chance(0.6) then
    return self:wrap(r:pick({self:slot("f") .. " = nil collectgarbage()",
      self:slot("co") .. " = nil collectgarbage()", "collectgarbage()",
      self:slot("w") .. " = nil collectgarbage()"}))
  end
  return self:wrap(r:pick({"collectgarbage()", "collectgarbage('step')"}))
end

-- ------------------------------------------------------------ network

function Gen:handler_body(ctx)
  local r = self.r
  local hctx = self:sub(ctx, "task", {stream = "s"})
  local out = {}
  local k = r:int(1, 5)
  if k == 1 then
    out[1] = "A(function() for _ = 1, 4 do local d = s:read() if not d then " ..
      "break end s:write(d) end end)"
  elseif k == 2 then
    out[1] = self:wrap(self:new_slot("s") .. " = s")
  end
  for _, st in ipairs(self:body(hctx, r:int(0, 4))) do out[#out + 1] = st end
  return out
end

function Gen:stream_expr(ctx)
  if ctx.stream and self.r:chance(0.5) then return ctx.stream end
  return self:slot("s")
end

function Gen:st_net(ctx)
  local r = self.r
  local k = r:int(1, 40)
  local srv = k <= 4 and self:new_slot("srv") or self:slot("srv")
  if k <= 3 then
    local opts = r:pick({"", ", {backlog = 2}", ", {read_timeout = 0.01}",
      ", {max_line = 8}", ", {reuseport = true}"})
    return {open = ("A(function() %s = R(tide.tcp.listen('127.0.0.1', 0, " ..
      "function(s)"):format(srv), body = self:handler_body(ctx),
      close = "end" .. opts .. ")) end)"}
  elseif k == 4 then
    local n = r:int(1, NSLOT)
    return {open = ("A(function() %s = R(tide.unix.listen(X.dir .. '/u%d', " ..
      "function(s)"):format(srv, n), body = self:handler_body(ctx),
      close = "end)) end)"}
  elseif k <= 9 and ctx.stream then
    -- Inside a connection handler no connect: a handler that connects to
    -- its own server makes connections without end (the program's doing).
    return self:stream_op(ctx)
  elseif k <= 8 then
    local s = self:new_slot("s")
    return self:wrap(r:pick({
      s .. " = R(tide.tcp.connect(" .. srv .. ":address()))",
      s .. " = R(tide.tcp.connect(" .. srv .. ":address()))",
      ("%s = R(tide.tcp.connect('127.0.0.1', select(2, %s:address()), " ..
        "{timeout = %s}))"):format(s, srv, self:dur()),
      ("%s = R(tide.tcp.connect('localhost', select(2, %s:address())))")
        :format(s, srv),
      s .. " = R(tide.tcp.connect('127.0.0.1', X.closed_port))",
      ("%s = R(tide.unix.connect(X.dir .. '/u%d'))"):format(s, r:int(1, NSLOT)),
      ("%s = R(tide.tcp.connect('127.0.0.1', select(2, %s:address()), " ..
        "{read_timeout = %s, max_line = %d}))"):format(s, srv, self:dur(),
        r:int(1, 64)),
    }))
  elseif k == 9 then
    -- Cancel mid-connect.
    local t, s = self:new_slot("t"), self:new_slot("s")
    return {open = "do", body = {
      self:wrap(("%s = tide.spawn(function() %s = R(tide.tcp.connect(" ..
        "%s:address())) end)"):format(t, s, srv)),
      self:wrap(r:pick({"tide.yield()", "tide.sleep(0)", ""})),
      self:wrap(t .. ":cancel()"),
    }, close = "end"}
  elseif k <= 22 then
    return self:stream_op(ctx)
  elseif k <= 25 then
    return self:wrap(r:pick({srv .. ":close()", srv .. ":close()",
      srv .. ":close({cancel = true})", srv .. ":close({wait = true})",
      srv .. ":close(true)", srv .. ":address()", srv .. ":connections()",
      srv .. ":accept_errors()", srv .. ":closed()"}))
  elseif k <= 27 then
    -- A reader or writer in a task of its own, cancelled mid-operation.
    local t = self:slot("t")
    local s = self:stream_expr(ctx)
    local op = r:pick({s .. ":read()", s .. ":readline()", s .. ":readuntil(" ..
      self:sep() .. ")", s .. ":readexactly(" .. r:int(1, 5000) .. ")",
      s .. ":write(" .. self:data() .. ")", s .. ":drain()"})
    return {open = "do", body = {
      self:wrap(("%s = tide.spawn(function() %s end)"):format(t, op)),
      self:wrap(r:pick({"tide.yield()", "tide.sleep(" .. self:dur() .. ")"})),
      self:wrap(r:pick({t .. ":cancel()", s .. ":close()",
        t .. ":cancel() " .. s .. ":close()"})),
    }, close = "end"}
  elseif k <= 33 then
    return self:st_udp(ctx)
  elseif k <= 35 then
    return self:wrap(r:pick({"tide.dns.resolve('localhost')",
      "tide.dns.resolve('localhost', {family = 4, timeout = " .. self:dur() ..
        "})", "tide.dns.reverse('127.0.0.1')", "tide.dns.resolve('')"}))
  elseif k == 36 then
    return self:wrap(self:slot("sig") .. " = R(tide.on_signal('SIGUSR2', " ..
      "function() end))")
  end
  return self:stream_op(ctx)
end

function Gen:stream_op(ctx)
  local r = self.r
  local s = self:stream_expr(ctx)
  local k = r:int(1, 12)
  if k <= 3 then
    return self:wrap(r:pick({s .. ":write(" .. self:data() .. ")",
      s .. ":write(" .. self:data() .. ")", s .. ":drain()",
      s .. ":shutdown()"}))
  elseif k <= 7 then
    local huge = self:ok("huge_read") and r:chance(0.1)
    return self:wrap(r:pick({s .. ":read()", s .. ":read(" .. r:int(1, 100) ..
      ")", s .. ":readline()", s .. ":readline(true)", s .. ":readuntil(" ..
      self:sep() .. ")", s .. ":readuntil(" .. self:sep() .. ", true)",
      s .. ":readexactly(" .. (huge and "2^40" or r:int(0, 70000)) .. ")"}))
  elseif k <= 9 then
    return self:wrap(r:pick({s .. ":close()", s .. ":close() " .. s ..
      ":close()", s .. ":closed()"}))
  elseif k == 10 then
    return self:wrap(s .. ":setoptions({" .. r:pick({"read_timeout = " ..
      self:dur(), "write_timeout = " .. self:dur(), "max_line = " ..
      r:int(1, 100), "high_water = 10, low_water = 2", "read_timeout = 0"}) ..
      "})")
  end
  return self:wrap(r:pick({s .. ":peername()", s .. ":sockname()",
    s .. ":setnodelay(false)", s .. ":setkeepalive(true, 5)",
    s .. ":buffered()"}))
end

function Gen:st_udp(ctx)
  local r = self.r
  local u, u2 = self:slot("u"), self:slot("u")
  if r:chance(0.25) then
    local nu = self:new_slot("u")
    return self:wrap(r:pick({
      nu .. " = R(tide.udp.bind('127.0.0.1', 0))",
      nu .. " = R(tide.udp.bind('127.0.0.1', 0, {timeout = " .. self:dur() ..
        "}))",
      nu .. " = R(tide.udp.connect('127.0.0.1', select(2, " .. u2 ..
        ":sockname())))"}))
  end
  return self:wrap(r:pick({
    u .. ":sendto(" .. self:data():sub(1, 40) .. ", " .. u2 .. ":sockname())",
    u .. ":sendto('x', 'localhost', select(2, " .. u2 .. ":sockname()))",
    u .. ":recvfrom()", u .. ":recv()", u .. ":send('y')",
    u .. ":settimeout(" .. self:dur() .. ")", u .. ":close()",
    u .. ":connect(" .. u2 .. ":sockname())", u .. ":connect(nil)",
    u .. ":sockname()", u .. ":peername()", u .. ":setbroadcast(true)",
  }))
end

-- ------------------------------------------------------------ programs

-- A few objects made up front, so that the statements after meet live
-- ones: futures, primitives, a server with a client, a UDP pair.
function Gen:prelude(ctx)
  local r, out = self.r, {}
  local function add(st) out[#out + 1] = st end
  for _ = 1, r:int(0, 2) do
    add(self:wrap(self:new_slot("f") .. " = tide.future()"))
  end
  if r:chance(0.5) then add(self:st_sync_make()) end
  if r:chance(0.3) then
    add(self:wrap(self:new_slot("q") .. " = tide.Queue(" .. r:int(0, 2) .. ")"))
  end
  if r:chance(0.6) then
    local srv = self:new_slot("srv")
    add({open = ("A(function() %s = R(tide.tcp.listen('127.0.0.1', 0, " ..
      "function(s)"):format(srv), body = self:handler_body(ctx),
      close = "end)) end)"})
    for _ = 1, r:int(1, 2) do
      add(self:wrap(("%s = R(tide.tcp.connect(%s:address()))")
        :format(self:new_slot("s"), srv)))
    end
  end
  if r:chance(0.3) then
    local a, b = self:new_slot("u"), self:new_slot("u")
    add(self:wrap(a .. " = R(tide.udp.bind('127.0.0.1', 0))"))
    if a ~= b then add(self:wrap(b .. " = R(tide.udp.bind('127.0.0.1', 0))")) end
  end
  return out
end

function Gen:st_sync_make()
  local r = self.r
  local k = r:int(1, 7)
  if k == 7 then
    return self:wrap(self:new_slot("bar") .. " = tide.Barrier(" .. r:int(1, 3) ..
      ")")
  end
  if k == 1 then return self:wrap(self:new_slot("lk") .. " = tide.Lock()") end
  if k == 2 then return self:wrap(self:new_slot("ev") .. " = tide.Event()") end
  if k == 3 then
    return self:wrap(self:new_slot("sem") .. " = tide.Semaphore(" ..
      r:int(0, 2) .. ")")
  end
  if k == 4 then
    return self:wrap(self:new_slot("sem") .. " = tide.BoundedSemaphore(" ..
      r:int(1, 2) .. ")")
  end
  return self:wrap(self:new_slot("cond") .. " = tide.Condition(" ..
    r:pick({"", self:slot("lk")}) .. ")")
end

-- The root body of the program for seed (a list of nodes), and a header.
function G.program(lib, seed, avoid)
  local r = lib.rng(seed)
  local g = G.new(r, avoid)
  g.budget = r:int(20, 120)
  local body = {}
  if r:chance(0.1) then body[1] = "tide.virtual_clock(true)" end
  local root = {kind = "task", depth = 0}
  for _, st in ipairs(g:prelude(root)) do body[#body + 1] = st end
  while g.budget > 0 do
    local st = g:statement(root)
    g.budget = g.budget - 1
    if st then body[#body + 1] = st end
  end
  if body[1] == "tide.virtual_clock(true)" then
    body[#body + 1] = "tide.virtual_clock(false)"
  end
  return body
end

-- The program's source: a chunk that runs it with the harness (given as
-- the chunk's argument, or loaded from test/fuzz/harness.lua).
function G.source(lib, seed, body, note)
  local lines = {
    "-- tide API fuzz program, seed " .. tostring(seed) .. (note or ""),
    "-- Run from the checkout: LUA_PATH='lua/?.lua;lua/?/init.lua;;' " ..
      "LUA_CPATH='build/?.so;;' lua5.4 this.lua",
    "local F = ... or dofile((os.getenv('TIDE_FUZZ_DIR') or 'test/fuzz') .. " ..
      "'/harness.lua')",
    "return F.program(" .. ("%q"):format(tostring(seed)) ..
      ", function(tide, V, A, P, M, R, X)",
  }
  lib.print(body, "  ", lines)
  lines[#lines + 1] = "end)"
  return table.concat(lines, "\n") .. "\n"
end

return G
