-- tide: an async runtime for Lua 5.4 on libuv.
--
-- This file is the facade over the C module tide.core: it re-exports the
-- core (run, spawn, await, sleep, now, yield, future, ...) and adds what is
-- best written in Lua on top of it (the concurrency toolkit: groups,
-- deadlines, sync primitives, combinators). Other modules add
-- themselves through tide._extend.
local core = require "tide.core"

local tide = {}
for k, v in pairs(core) do tide[k] = v end

local is_error = core.is_error

-- tide.run([opts,] fn, ...): from plain Lua, runs fn as the root task of a
-- loop run (core.run; opts.signals: see there). Inside a task (a script under the tide command, or code
-- already in tide.run) fn just runs in that task, so the same script works
-- both ways. From a loop callback it raises: the loop cannot nest.
local core_run, current_task = core.run, core.current_task
function tide.run(fn, ...)
  if current_task() then
    if type(fn) == "table" then -- tide.run(opts, fn, ...)
      core.check_options(fn, "tide.run", {signals = true})
      return tide.run(...)
    end
    if type(fn) ~= "function" then
      error("bad argument #1 to 'run' (function expected, got " .. type(fn) ..
        ")", 2)
    end
    return fn(...)
  end
  return core_run(fn, ...)
end

-- tide.await(x): the values of a future or task (core.await), or of an
-- awaitable object: one whose metatable has __await, a function that waits
-- for it (a process waits for its exit).
-- (The upvalue is named await so that misuse reads "bad argument #1 to
-- 'await'".)
local await, getmetatable = core.await, getmetatable
function tide.await(x)
  local mt = getmetatable(x)
  local own = type(mt) == "table" and mt.__await
  if own then return own(x) end
  return await(x)
end

-- Errors: tide's own errors are tables {kind = ..., message = ...} whose
-- tostring is the message. Kinds: "cancelled", "timeout".
function tide.is_cancelled(err) return is_error(err, "cancelled") end
function tide.is_timeout(err) return is_error(err, "timeout") end

-- The concurrency toolkit, one module per concern (docs/concurrency.md).
local combinators = require "tide.combinators"
local deadline = require "tide.deadline"
local group = require "tide.group"
local sync = require "tide.sync"
local queue = require "tide.queue"

tide._awaitable = combinators.awaitable
-- Combinators: gather, first/race, wait, as_completed.
tide.gather = combinators.gather
tide.first = combinators.first
tide.race = combinators.race
tide.wait = combinators.wait
tide.as_completed = combinators.as_completed
-- Deadlines and cancellation.
tide.timeout = deadline.timeout
tide.timeout_scope = deadline.timeout_scope
tide.move_on_after = deadline.move_on_after
tide.remaining = deadline.remaining
tide.wait_for = deadline.wait_for
tide.shield = deadline.shield
tide.cleanup = deadline.cleanup
-- Structured concurrency.
tide.group = group.group
-- Synchronization primitives.
tide.Lock = sync.Lock
tide.Event = sync.Event
tide.Semaphore = sync.Semaphore
tide.BoundedSemaphore = sync.BoundedSemaphore
tide.Condition = sync.Condition
tide.Barrier = sync.Barrier
tide.Queue = queue.Queue
tide.LifoQueue = queue.LifoQueue
tide.PriorityQueue = queue.PriorityQueue

-- tide.dump() -> text: the pending tasks as a tree (a task under the task
-- that spawned it), each with its state and where it waits. The tide
-- command prints it on a signal with --dump-on SIGUSR1.
function tide.dump()
  local list = core.tasks()
  local byid, children, roots = {}, {}, {}
  for _, r in ipairs(list) do byid[r.id] = r end
  for _, r in ipairs(list) do
    if byid[r.parent] then
      local c = children[r.parent] or {}
      children[r.parent] = c
      c[#c + 1] = r
    else
      roots[#roots + 1] = r
    end
  end
  local out = {("tide: %d pending task(s) at %.3f s"):format(#list, core.now())}
  local function walk(r, depth)
    out[#out + 1] = ("%s%s: %s%s"):format(("  "):rep(depth + 1), r.label,
      r.state, r.where and (" at " .. r.where) or "")
    for _, c in ipairs(children[r.id] or {}) do walk(c, depth + 1) end
  end
  for _, r in ipairs(roots) do walk(r, 0) end
  return table.concat(out, "\n") .. "\n"
end

-- Lets other modules (tide.tcp, tide.sync, ...) hang off the same table.
function tide._extend(name, mod)
  tide[name] = mod
  return mod
end

-- Networking (sockets, pipes, DNS, TLS):
-- lua/tide/{tcp,unix,udp,dns,pipe,tls}.lua.
tide.tcp = require "tide.tcp"
tide.tls = require "tide.tls"
tide.unix = require "tide.unix"
tide.dns = require "tide.dns"
tide.pipe = require "tide.pipe"
tide.udp = require "tide.udp"
tide.stdin, tide.stdout, tide.stderr =
  tide.pipe.stdin, tide.pipe.stdout, tide.pipe.stderr
-- Files and directories: lua/tide/fs.lua.
tide.fs = require "tide.fs"
-- Child processes: lua/tide/process.lua.
tide.process = require "tide.process"
-- HTTP/1.1 server and client, WebSocket: lua/tide/http.lua (docs/http.md).
tide.http = require "tide.http"
require "tide.http_client" -- adds tide.http.request, get, close_pool
require "tide.websocket"   -- adds tide.http.websocket, res:upgrade_websocket

return tide
