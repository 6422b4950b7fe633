-- The public API of tide three ways, for spec/api_spec.lua: as the modules
-- export it (walked at run time, with real objects made for their
-- methods), as the LuaLS stubs declare it (types/), and as the reference
-- documents it (docs/reference.md). Each is a set of names:
--   "tide.tcp.connect"          a module's function or value
--   "tide.Stream:read"          a method of a class of objects
--   "tide.tcp.ConnectOptions.timeout"   a field of an options table
-- Names starting with "_" are private and never listed.
--
--   lua5.4 spec/api_helper.lua [actual|stubs|reference]   prints one set
local A = {}

-- The module tables: their keys are the API. Any other table a module
-- holds (tide.process.signals, tide.http.reasons) is a value.
A.MODULES = {
  "tide", "tide.tcp", "tide.unix", "tide.udp", "tide.dns", "tide.pipe",
  "tide.tls", "tide.fs", "tide.process", "tide.http", "tide.repl",
}

-- Exported without a leading "_" but not public: helpers the facades share
-- through the module tables. The spec checks each still exists, so this
-- list shrinks when they are renamed.
A.INTERNAL = {
  ["tide.check_options"] = "core.check_options, the facades' option check",
  ["tide.open_scope"] = "core.open_scope, under timeout/shield/group",
  ["tide.waitq"] = "core.waitq, the wait queue under Barrier",
  ["tide.tls.client"] = "tls.lua's connect-side check",
  ["tide.tls.server"] = "tls.lua's listen-side check",
  ["tide.tls.handshake"] = "tls.lua's client handshake after connect",
  ["tide.tls.CONNECT"] = "the option names tls.lua adds to connect",
  ["tide.tls.LISTEN"] = "the option names tls.lua adds to listen",
  ["tide.http.headers_mt"] = "the metatable of header tables",
}

local function sorted_keys(set)
  local list = {}
  for k in pairs(set) do list[#list + 1] = k end
  table.sort(list)
  return list
end
A.sorted_keys = sorted_keys

local function public(name)
  return type(name) == "string" and name:sub(1, 1) ~= "_"
end

-- The methods of an object: the public functions of its __index table
-- (for a process, __index is a function whose first upvalue holds them).
local function methods_of(obj)
  local mt = getmetatable(obj)
  assert(type(mt) == "table", "no metatable: " .. tostring(obj))
  local index = mt.__index
  if type(index) == "function" then
    local _, up = debug.getupvalue(index, 1)
    index = up
  end
  local names = {}
  if index == nil then return names end -- no methods (a TLS context)
  assert(type(index) == "table", "no method table: " .. tostring(obj))
  for k, v in pairs(index) do
    if public(k) and type(v) == "function" then names[k] = true end
  end
  return names
end
A.methods_of = methods_of

-- What the modules export: {name = true}, from require "tide" and
-- require "tide.repl", walked one level under each module.
function A.module_names()
  local tide = require "tide"
  local mods = {tide = tide, ["tide.repl"] = require "tide.repl"}
  for _, m in ipairs(A.MODULES) do
    if not mods[m] then
      mods[m] = assert(tide[m:match("^tide%.(.+)$")], m)
    end
  end
  local names = {}
  for _, m in ipairs(A.MODULES) do
    for k in pairs(mods[m]) do
      local full = m .. "." .. tostring(k)
      if public(k) and not mods[full] then names[full] = true end
    end
  end
  return names
end

-- Runs fn in a task of a tide.run that must leave nothing behind (the
-- helper's check): every object the spec inspects is made there and
-- closed again.
local function in_run(fn)
  local H = require "helper"
  local tide = require "tide"
  -- libuv opens one inotify descriptor per loop at the first watcher and
  -- keeps it: made before the helper counts descriptors (as fs_spec does).
  tide.run(function()
    tide.fs.watch("/tmp"):close()
    tide.sleep(0.001)
  end)
  return H.run(fn)
end

-- The known names an options check reports: calls fn (which passes opts
-- to the function under test) with an unknown key and reads the list the
-- error carries: "... unknown option 'zz_api' (known: a, b, c)".
local BOGUS = "zz_api"
local function known_options(fn)
  local ok, err = pcall(fn, {[BOGUS] = true})
  assert(not ok, "an unknown option passed")
  local list = tostring(err):match("unknown option '" .. BOGUS ..
    "' %(known: ([^)]*)%)")
  assert(list, "not an unknown-option error: " .. tostring(err))
  local set = {}
  for name in list:gmatch("[%w_]+") do set[name] = true end
  return set
end
A.known_options = known_options

-- What real objects and calls answer, from one tide.run:
--   methods[class] = {method = true}   (the classes the stubs declare)
--   options[class] = {option = true}   (the options classes of the stubs)
function A.collect()
  local tide = require "tide"
  local methods, options = {}, {}
  local function add(class, obj) methods[class] = methods_of(obj) end
  local function opts(class, fn) options[class] = known_options(fn) end
  local function noop() end
  in_run(function()
    local dir = assert(tide.fs.mkdtemp("/tmp/tide-api-"))
    -- Tasks, futures, callbacks, signals, context variables, scopes.
    local t = tide.spawn(noop)
    add("tide.Task", t)
    t:await()
    add("tide.Future", tide.future())
    local h = tide.call_soon(noop)
    add("tide.CallHandle", h)
    h:cancel()
    local w = tide.signal("SIGUSR2")
    add("tide.SignalWatcher", w)
    w:close()
    add("tide.ContextVar", tide.context_var("api"))
    do
      local s <close> = tide.timeout_scope(10)
      add("tide.Scope", s)
    end
    do
      local g <close> = tide.group()
      add("tide.Group", g)
    end
    opts("tide.RunOptions", function(o) tide.run(o, noop) end)
    opts("tide.SpawnOptions", function(o) tide.spawn(o, noop) end)
    opts("tide.DebugOptions", function(o) tide.debug(o) end)
    opts("tide.GatherOptions", function(o) tide.gather(o) end)
    opts("tide.WaitOptions", function(o) tide.wait({}, o) end)
    opts("tide.AsCompletedOptions", function(o) tide.as_completed({}, o) end)
    opts("tide.WorkersOptions", function(o) tide.workers(o) end)
    -- Synchronization primitives and queues.
    add("tide.Lock", tide.Lock())
    add("tide.Semaphore", tide.Semaphore())
    add("tide.Event", tide.Event())
    add("tide.Condition", tide.Condition())
    add("tide.Barrier", tide.Barrier(1))
    add("tide.Queue", tide.Queue())
    -- Sockets: a TCP server and a connection to it, a UDP socket, a TLS
    -- context (a client one needs no certificate).
    local srv = assert(tide.tcp.listen("127.0.0.1", 0, function(s)
      s:read()
    end))
    add("tide.Server", srv)
    local host, port = srv:address()
    local c = assert(tide.tcp.connect(host, port))
    add("tide.Stream", c)
    local ctx = assert(tide.tls.context{verify = false})
    add("tide.TLSContext", ctx)
    opts("tide.StreamOptions", function(o) c:setoptions(o) end)
    opts("tide.StartTLSOptions", function(o) c:starttls(ctx, o) end)
    c:close()
    opts("tide.ServerCloseOptions", function(o) srv:close(o) end)
    srv:close{wait = true}
    opts("tide.tcp.ConnectOptions", function(o)
      tide.tcp.connect("127.0.0.1", 1, o)
    end)
    opts("tide.tcp.ListenOptions", function(o)
      tide.tcp.listen("127.0.0.1", 0, noop, o)
    end)
    opts("tide.unix.ConnectOptions", function(o)
      tide.unix.connect(dir .. "/sock", o)
    end)
    opts("tide.unix.ListenOptions", function(o)
      tide.unix.listen(dir .. "/sock", noop, o)
    end)
    opts("tide.tls.ContextOptions", function(o) tide.tls.context(o) end)
    local u = assert(tide.udp.open())
    add("tide.UDPSocket", u)
    u:close()
    opts("tide.udp.BindOptions", function(o)
      tide.udp.bind("127.0.0.1", 0, o)
    end)
    opts("tide.udp.ConnectOptions", function(o)
      tide.udp.connect("127.0.0.1", 9, o)
    end)
    opts("tide.dns.ResolveOptions", function(o)
      tide.dns.resolve("localhost", o)
    end)
    opts("tide.dns.ReverseOptions", function(o)
      tide.dns.reverse("127.0.0.1", o)
    end)
    opts("tide.pipe.OpenOptions", function(o) tide.pipe.open(0, o) end)
    -- Files, directories, watchers, processes, worker pools.
    local f = assert(tide.fs.open(dir .. "/f", "w"))
    add("tide.File", f)
    opts("tide.fs.LinesOptions", function(o) f:lines(o) end)
    f:close()
    opts("tide.fs.WriteFileOptions", function(o)
      tide.fs.writefile(dir .. "/f", "", o)
    end)
    opts("tide.fs.MkdirOptions", function(o) tide.fs.mkdir(dir .. "/d", o) end)
    opts("tide.fs.RmdirOptions", function(o) tide.fs.rmdir(dir .. "/d", o) end)
    opts("tide.fs.CopyOptions", function(o)
      tide.fs.copyfile(dir .. "/f", dir .. "/g", o)
    end)
    local it, _, _, ds = tide.fs.dir(dir)
    add("tide.DirStream", ds)
    for _ in it, nil, nil, ds do end
    local wt = assert(tide.fs.watch(dir))
    add("tide.Watcher", wt)
    wt:close()
    local p = assert(tide.process.spawn{"true"})
    add("tide.Process", p)
    p:wait()
    p:close()
    opts("tide.process.SpawnOptions", function(o)
      o[1] = "true"
      tide.process.spawn(o)
    end)
    opts("tide.process.RunOptions", function(o)
      o[1] = "true"
      tide.process.run(o)
    end)
    local pool = tide.worker_pool{size = 1}
    add("tide.WorkerPool", pool)
    pool:close()
    opts("tide.WorkerPoolOptions", function(o) tide.worker_pool(o) end)
    -- HTTP: a server, its request and response objects, the client's
    -- response, and a WebSocket on both ends.
    local hs
    hs = assert(tide.http.listen("127.0.0.1", 0, function(req, res)
      if req.path == "/ws" then
        local ws = assert(res:upgrade_websocket())
        add("tide.WebSocket", ws)
        ws:receive()
        ws:close()
        return
      end
      add("tide.http.Request", req)
      add("tide.http.Response", res)
      opts("tide.http.UpgradeOptions", function(o)
        res:upgrade_websocket(o)
      end)
      return 200, {}, "ok"
    end))
    add("tide.http.Server", hs)
    host, port = hs:address()
    local url = ("http://%s:%d/"):format(host, port)
    local r = assert(tide.http.get(url, {pool = false}))
    add("tide.http.ClientResponse", r)
    opts("tide.http.RequestOptions", function(o)
      o.url = url
      tide.http.request(o)
    end)
    local ws = assert(tide.http.websocket(("ws://%s:%d/ws"):format(host,
      port)))
    ws:close()
    opts("tide.http.WebSocketOptions", function(o)
      tide.http.websocket("ws://127.0.0.1:1/", o)
    end)
    opts("tide.http.ListenOptions", function(o)
      tide.http.listen("127.0.0.1", 0, noop, o)
    end)
    opts("tide.http.ServerCloseOptions", function(o) hs:close(o) end)
    hs:close{wait = true}
    opts("tide.repl.Options", function(o) require("tide.repl").run(o) end)
    assert(tide.fs.rmdir(dir, {recursive = true}))
  end)
  return methods, options
end

-- Every method as "Class:method".
function A.actual()
  local names = A.module_names()
  for n in pairs(A.INTERNAL) do names[n] = nil end
  for class, ms in pairs((A.collect())) do
    for m in pairs(ms) do names[class .. ":" .. m] = true end
  end
  return names
end

-- ------------------------------------------------------------ the stubs

A.STUBS = {"types/tide.lua", "types/tide/repl.lua"}

local function read(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  return text
end
A.read = read

-- Parses LuaLS stub files line by line: a `---@class Name[: Parent, ...]`
-- block (its `---@field name` lines), the `local Var = {}` or
-- `tide.x = {}` that follows it, and `function path.name(` /
-- `function Var:name(` definitions. Returns
--   classes[name] = {parents = {...}, fields = {f = true},
--                    methods = {m = true}, order = n}
--   functions["tide.tcp.connect"] = true
function A.parse_stubs(paths)
  local classes, functions, async = {}, {}, {}
  local var_class = {}   -- local variable name -> class
  local current           -- the class whose block is open
  local is_async = false  -- the comment block has ---@async
  local n = 0
  for _, path in ipairs(paths or A.STUBS) do
    local lineno = 0
    for line in (read(path) .. "\n"):gmatch("([^\n]*)\n") do
      lineno = lineno + 1
      local where = path .. ":" .. lineno
      local name, parents = line:match("^%-%-%-@class%s+([%w_.*]+)%s*:?%s*(.-)%s*$")
      if name then
        assert(not classes[name], where .. ": class " .. name .. " twice")
        n = n + 1
        current = {parents = {}, fields = {}, methods = {}, order = n,
          where = where}
        for p in parents:gmatch("[%w_.]+") do
          current.parents[#current.parents + 1] = p
        end
        classes[name] = current
        current.name = name
      elseif line:match("^%-%-%-@field") and current then
        local f = line:match("^%-%-%-@field%s+([%w_]+)%??%s")
        if f then current.fields[f] = true end
      elseif line:match("^%-%-%-@async%s*$") then
        is_async = true
      elseif line:match("^%-%-") or line:match("^%s*$") then
        -- a comment or annotation: the block goes on
      else
        local var = line:match("^local%s+([%w_]+)%s*=%s*{}%s*$")
        if var and current then var_class[var] = current.name end
        local fpath, fname = line:match("^function%s+([%w_.]+)%.([%w_]+)%s*%(")
        if fpath then
          -- The module's table may be a local of its class (local repl).
          local head, rest = fpath:match("^([%w_]+)(.*)$")
          local mod = (var_class[head] or head) .. rest
          assert(A.MODULES_SET[mod], where .. ": function of " .. fpath ..
            ", which is no module")
          functions[mod .. "." .. fname] = true
          if is_async then async[mod .. "." .. fname] = true end
        end
        local mvar, mname = line:match("^function%s+([%w_]+):([%w_]+)%s*%(")
        if mvar then
          local cls = assert(var_class[mvar], where .. ": methods of " ..
            mvar .. ", which is no class's table")
          classes[cls].methods[mname] = true
          if is_async then
            classes[cls].async = classes[cls].async or {}
            classes[cls].async[mname] = true
          end
        end
        current = nil
        is_async = false
      end
    end
  end
  for _, c in pairs(classes) do c.async = c.async or {} end
  return classes, functions, async
end

A.MODULES_SET = {}
for _, m in ipairs(A.MODULES) do A.MODULES_SET[m] = true end

-- Every field (or method) of a class, with those of its parents.
function A.inherited(classes, name, what)
  local set = {}
  local function walk(n)
    local c = assert(classes[n], "no class " .. n)
    for _, p in ipairs(c.parents) do walk(p) end
    for k in pairs(c[what]) do set[k] = true end
  end
  walk(name)
  return set
end

-- The names the stubs declare, as A.actual() lists them: module functions,
-- module values (the fields of a module's class), and the methods of every
-- class that has any (inherited ones included). Classes that only serve
-- as parents are left out when A.ABSTRACT names them.
A.ABSTRACT = {["tide.Awaitable"] = true}

-- Adds "Class:method" to names (and to async for the async ones) for every
-- class but modules and abstract ones, inherited methods included.
local function add_methods(classes, names, async)
  for cname in pairs(classes) do
    if not A.MODULES_SET[cname] and not A.ABSTRACT[cname] then
      for m in pairs(A.inherited(classes, cname, "methods")) do
        names[cname .. ":" .. m] = true
      end
      for m in pairs(A.inherited(classes, cname, "async")) do
        async[cname .. ":" .. m] = true
      end
    end
  end
end
function A.stubs()
  local classes, names, async = A.parse_stubs()
  for mod in pairs(A.MODULES_SET) do
    if classes[mod] then
      for f in pairs(classes[mod].fields) do names[mod .. "." .. f] = true end
    end
  end
  add_methods(classes, names, async)
  return names, async
end

-- ------------------------------------------------------------ the reference

A.REFERENCE = "docs/reference.md"

-- Parses docs/reference.md into entries: each `### ` heading outside code
-- blocks is one, named from its first word:
--   ### tide.tcp.connect(host, port [, opts])   -> "tide.tcp.connect"
--   ### stream:read([max])                       -> "<class>:read"
-- where <class> is the one of the last `## Class: tide.X` heading (any
-- other `## ` heading ends a class section). A class section's line
-- "*Inherits every method of [tide.Y](...)*" makes Y its parent.
-- Returns entries (a list of {name =, heading =, body =, line =}) and
-- classes[name] = {parents = {...}, methods = {m = true}}.
function A.parse_reference(path)
  path = path or A.REFERENCE
  local entries, classes = {}, {}
  local class, entry, fence = nil, nil, false
  local lineno = 0
  for line in (read(path) .. "\n"):gmatch("([^\n]*)\n") do
    lineno = lineno + 1
    local where = path .. ":" .. lineno
    if line:match("^```") then fence = not fence end
    local h2 = not fence and line:match("^##%s+(.-)%s*$")
    local h3 = not fence and line:match("^###%s+(.-)%s*$")
    if h2 and not line:match("^###") then
      entry = nil
      local cname = h2:match("^Class:%s+`?([%w_.]+)`?%s*$")
      class = cname and {parents = {}, methods = {}, name = cname} or nil
      if cname then
        assert(not classes[cname], where .. ": class " .. cname .. " twice")
        classes[cname] = class
      end
    elseif h3 then
      local text = h3:gsub("`", "")
      local name
      local var, method = text:match("^([%w_]+):([%w_]+)")
      if var then
        assert(class, where .. ": method " .. text .. " outside a class")
        class.methods[method] = true
        name = method
      else
        name = text:match("^(tide[%w_.]*%.[%w_]+)")
        assert(name, where .. ": heading names no function: " .. h3)
      end
      entry = {name = name, heading = h3, body = {}, line = lineno,
        class = var and class or nil}
      entries[#entries + 1] = entry
    else
      if entry and line:match("^%- %*Suspends%*") then
        entry.async = true
        if entry.class then
          entry.class.async = entry.class.async or {}
          entry.class.async[entry.name] = true
        end
      end
      local parent = class and line:match(
        "^%*Inherits every method of %[`?([%w_.]+)`?%]")
      if parent then class.parents[#class.parents + 1] = parent end
      if entry then entry.body[#entry.body + 1] = line end
    end
  end
  assert(not fence, path .. ": a code block is not closed")
  for _, e in ipairs(entries) do e.body = table.concat(e.body, "\n") end
  for _, c in pairs(classes) do c.async = c.async or {} end
  return entries, classes
end

-- The names the reference documents, as A.actual() lists them.
-- Also returns the set of those marked "- *Suspends*".
function A.reference()
  local entries, classes = A.parse_reference()
  local names, async = {}, {}
  for _, e in ipairs(entries) do
    if not e.class then
      names[e.name] = true
      if e.async then async[e.name] = true end
    end
  end
  add_methods(classes, names, async)
  return names, async
end

if arg and arg[0] and arg[0]:find("api_helper%.lua$") then
  package.path = "lua/?.lua;lua/?/init.lua;spec/?.lua;" .. package.path
  package.cpath = (os.getenv("TIDE_BUILD") or "build") .. "/?.so;" ..
    package.cpath
  local which = arg[1] or "actual"
  if which == "options" then
    local _, options = A.collect()
    for _, class in ipairs(sorted_keys(options)) do
      print(class .. ": " .. table.concat(sorted_keys(options[class]), " "))
    end
  elseif which == "async" then
    local _, sa = A.stubs()
    local _, ra = A.reference()
    for _, n in ipairs(sorted_keys(sa)) do
      print(n, ra[n] and "" or "NOT IN REFERENCE")
    end
    for _, n in ipairs(sorted_keys(ra)) do
      if not sa[n] then print(n, "NOT IN STUBS") end
    end
  else
    for _, n in ipairs(sorted_keys(A[which]())) do print(n) end
  end
end

return A
