---@meta tide
-- Type stubs of tide for lua-language-server (LuaLS): require "tide".
--
-- Definitions only (---@meta): nothing here runs. Point LuaLS at this
-- directory (installed as $(PREFIX)/share/tide/types) with .luarc.json:
--   { "runtime.version": "Lua 5.4",
--     "workspace.library": ["/usr/local/share/tide/types"] }
-- Functions marked ---@async suspend the calling task (they must run in a
-- task: tide.run, tide.spawn, the tide command). docs/reference.md has the
-- prose and an example per function; spec/api_spec.lua checks that these
-- stubs name exactly what the modules export.
--
-- Conventions: misuse raises; an expected failure (I/O, a missing file, a
-- refused connection) returns nil, a message and a code:
--   nil, "ECONNREFUSED: connection refused", "ECONNREFUSED"
-- tide's own errors (cancellation, timeouts, closed queues ...) are raised
-- as tide.Error objects.

-- ============================================================ shared types

---@alias tide.ErrorKind
---| "cancelled"   # a task, deadline or group was cancelled (level-triggered)
---| "timeout"     # tide.timeout, timeout_scope, wait_for, as_completed
---| "group"       # several children of a task group failed (.errors)
---| "closed"      # a tide.Queue was closed
---| "broken"      # a tide.Barrier was aborted or reset
---| "interrupted" # tide.run ended by SIGINT/SIGTERM (.signal, .status)

--- An error object of tide's own: a table whose tostring is its message.
--- Test it with tide.is_error(err, kind), tide.is_cancelled, tide.is_timeout.
---@class tide.Error
---@field kind tide.ErrorKind|string what happened
---@field message string the text tostring(err) gives
---@field scope? integer cancelled: the id of the scope that owns the cancellation
---@field errors? any[] group: the errors, the body's first, then the children's in order
---@field signal? "SIGINT"|"SIGTERM" interrupted: the signal
---@field status? integer interrupted: the exit status a shell expects (130, 143)

--- Anything the combinators, tide.await and tide.wait_for accept: a future,
--- a task, a function (run as a task), or an object whose metatable has
--- __await (a process, a signal watcher).
---@alias tide.AwaitableLike tide.Awaitable|tide.Process|tide.SignalWatcher|(async fun(...):...)

-- ============================================================ tide

---@class tide
---@field version string tide's version, "0.1.0"
local tide = {}

---@class tide.RunOptions
---@field signals? boolean SIGINT/SIGTERM cancel fn's task and the run raises an "interrupted" error (default true)

--- Runs fn(...) as the root task of a loop run until it finishes, then
--- cancels the tasks it left behind, waits for their cleanup (up to the
--- grace period) and drops callbacks not yet due. Returns fn's values or
--- raises its error; raises on a deadlock. Inside a task it just calls fn.
---@param fn async fun(...):...
---@param ... any
---@return any ...
---@overload fun(opts: tide.RunOptions, fn: (async fun(...):...), ...: any): ...
function tide.run(fn, ...) end

---@class tide.SpawnOptions
---@field name? string the task's name, for reports and tide.dump()
---@field eager? boolean run at once up to the first await (asyncio's eager tasks)

--- Starts fn(...) as a new task on the loop's next turn.
---@param fn async fun(...):...
---@param ... any
---@return tide.Task
---@overload fun(opts: tide.SpawnOptions, fn: (async fun(...):...), ...: any): tide.Task
function tide.spawn(fn, ...) end

--- The values of a future, task or awaitable object, waiting while it is
--- pending; its error is raised here.
---@async
---@param x tide.Awaitable|tide.Process|tide.SignalWatcher
---@return any ...
function tide.await(x) end

--- Suspends the running task for seconds (0: until the loop's next turn;
--- math.huge: until cancelled). Allocates nothing.
---@async
---@param seconds number
function tide.sleep(seconds) end

--- Lets every other ready task run, then continues.
---@async
function tide.yield() end

--- The loop's monotonic clock, in seconds.
---@return number
function tide.now() end

--- A new pending future.
---@return tide.Future
function tide.future() end

--- Makes an error object.
---@param kind string
---@param message? string
---@return tide.Error
function tide.error(kind, message) end

--- Is v an error object of tide's (of that kind, if given)?
---@param v any
---@param kind? tide.ErrorKind|string
---@return boolean
function tide.is_error(v, kind) end

--- Is err a cancellation?
---@param err any
---@return boolean
function tide.is_cancelled(err) end

--- Is err a timeout error?
---@param err any
---@return boolean
function tide.is_timeout(err) end

--- The running task, or nil outside any task.
---@return tide.Task?
function tide.current_task() end

---@class tide.TaskInfo
---@field task tide.Task
---@field id integer
---@field parent integer the id of the task that spawned it (0: none)
---@field name? string
---@field state "running"|"ready"|"sleeping"|"waiting"
---@field where? string file:line of the await it is suspended in
---@field label string "task #2 'x' (spawned at file:line)"

--- The pending tasks, oldest first.
---@return tide.TaskInfo[]
function tide.tasks() end

--- The pending tasks as a text tree with their state and where each waits.
---@return string
function tide.dump() end

--- Sets the handler of unhandled errors (nil: the default, which prints to
--- stderr). Returns the previous handler.
---@param fn? fun(err: any, task?: tide.Task)
---@return fun(err: any, task?: tide.Task)|nil
function tide.set_error_handler(fn) end

--- Loop time jumps to the next timer whenever nothing else can happen.
--- Returns whether it was on.
---@param on boolean
---@return boolean was_on
function tide.virtual_clock(on) end

---@class tide.Stats
---@field tasks integer pending tasks
---@field ready integer tasks on the ready queue
---@field timers integer armed timers
---@field handles integer libuv handles, jobs and children tide has open
---@field accept_errors integer accepts that failed
---@field conns_accepted integer
---@field conns_active integer
---@field conns_refused integer refused for want of descriptors
---@field bytes_in integer
---@field bytes_out integer
---@field read_buffers integer read buffers streams hold now (only streams with bytes waiting hold one)
---@field read_buffer_bytes integer their bytes
---@field tasks_spawned integer
---@field tasks_failed integer
---@field iterations integer of the loop
---@field slow_steps integer steps longer than tide.debug's slow_callback
---@field slowest_step number seconds

--- Counters of the runtime.
---@return tide.Stats
function tide.stats() end

---@class tide.DebugOptions
---@field slow_callback? number|false report every task step that holds the loop longer than this (seconds); false: off

--- Turns the slow-step report on or off; returns the previous setting.
---@param opts tide.DebugOptions
---@return number|false previous
function tide.debug(opts) end

-- ------------------------------------------------------------ callbacks, signals

--- fn(...) runs from the loop on its next turn (a plain callback, not a task).
---@param fn fun(...)
---@param ... any
---@return tide.CallHandle
function tide.call_soon(fn, ...) end

--- fn(...) runs from the loop once seconds have passed.
---@param seconds number
---@param fn fun(...)
---@param ... any
---@return tide.CallHandle
function tide.call_later(seconds, fn, ...) end

---@alias tide.SignalName
---| "SIGINT" | "SIGTERM" | "SIGHUP" | "SIGQUIT" | "SIGUSR1" | "SIGUSR2"
---| "SIGWINCH" | "SIGCHLD" | "SIGALRM" | "SIGPIPE" | "SIGCONT" | "SIGTSTP"
---| "SIGTTIN" | "SIGTTOU" | "SIGURG" | "SIGIO" | "SIGPROF" | "SIGVTALRM"
---| "SIGXCPU" | "SIGXFSZ" | "SIGPWR" | "SIGSTKFLT" | "SIGABRT" | string

--- fn(signum) runs from the loop each time the signal arrives, until the
--- watcher is closed. Does not keep the loop alive.
---@param name tide.SignalName
---@param fn fun(signum: integer)
---@return tide.SignalWatcher
function tide.on_signal(name, fn) end

--- A watcher a task awaits: w:await() returns how many deliveries came
--- since the last await. Lives until closed or the end of its tide.run.
---@param name tide.SignalName
---@return tide.SignalWatcher
function tide.signal(name) end

-- ------------------------------------------------------------ deadlines and shields

--- Calls fn(...) in the running task; on the deadline fn is cancelled and a
--- timeout error (tide.is_timeout) is raised instead.
---@async
---@param seconds number
---@param fn async fun(...):...
---@param ... any
---@return any ...
function tide.timeout(seconds, fn, ...) end

--- A scope for `local s <close> = tide.timeout_scope(s)`: the rest of the
--- block is under the deadline and raises a timeout error at its end.
---@param seconds? number nil or math.huge: no deadline
---@return tide.Scope
function tide.timeout_scope(seconds) end

--- true and fn's values, or false if the deadline passed first (fn is
--- cancelled, no error).
---@async
---@param seconds number
---@param fn async fun(...):...
---@param ... any
---@return boolean finished
---@return any ...
function tide.move_on_after(seconds, fn, ...) end

--- Seconds left before the nearest deadline around the running code
--- (math.huge if none, 0 once one has passed).
---@return number
function tide.remaining() end

--- Awaits x with a deadline; on expiry x is cancelled and a timeout error
--- raised. seconds = nil waits without a deadline.
---@async
---@param seconds number?
---@param x tide.AwaitableLike
---@return any ...
function tide.wait_for(seconds, x) end

--- Runs fn(...) (or awaits x) where no cancellation from outside reaches it.
---@async
---@param fn async fun(...):...
---@param ... any
---@return any ...
---@overload async fun(x: tide.AwaitableLike): ...
function tide.shield(fn, ...) end

--- Runs fn(...) shielded within the cleanup grace period, for cleanup that
--- awaits after a cancellation: true and fn's values, or false.
---@async
---@param fn async fun(...):...
---@param ... any
---@return boolean finished
---@return any ...
function tide.cleanup(fn, ...) end

--- Gets, and with seconds sets, the cleanup grace period (default 5).
--- Returns the period before the change.
---@param seconds? number
---@return number
function tide.cleanup_grace(seconds) end

-- ------------------------------------------------------------ groups and combinators

--- Structured concurrency: runs fn(g, ...) with a new group g and returns
--- fn's values once every child has finished. A failing child cancels the
--- others and its error is raised. tide.group() returns a group for
--- `local g <close> = tide.group()`.
---@async
---@param fn async fun(g: tide.Group, ...):...
---@param ... any
---@return any ...
---@overload fun(): tide.Group
function tide.group(fn, ...) end

---@class tide.GatherOptions
---@field return_errors? boolean return results, errors instead of failing fast

--- Awaits every argument (futures, tasks, functions run as tasks); returns
--- {r1, r2, ..., n = count}, the first value of each. The first failure
--- cancels the rest and is raised. With {return_errors = true} as the last
--- argument it returns results, errors.
---@async
---@param ... tide.AwaitableLike|tide.GatherOptions
---@return table results
---@return table? errors
function tide.gather(...) end

--- The values of the first argument to finish; the others are cancelled and
--- waited for.
---@async
---@param ... tide.AwaitableLike
---@return any ...
function tide.first(...) end

--- The same function as tide.first.
---@async
---@param ... tide.AwaitableLike
---@return any ...
function tide.race(...) end

---@class tide.WaitOptions
---@field timeout? number return when this much time has passed
---@field return_when? "all"|"first"|"first_error" default "all"

--- Waits for the awaitables of list until return_when is met; returns the
--- done and the pending ones, in list's order. Cancels nothing.
---@async
---@param list tide.AwaitableLike[]
---@param opts? tide.WaitOptions
---@return tide.Awaitable[] done
---@return tide.Awaitable[] pending
function tide.wait(list, opts) end

---@class tide.AsCompletedOptions
---@field timeout? number past it the next step raises a timeout error

--- An iterator for a generic for, giving each awaitable of list (and its
--- index) as it finishes. Each step may suspend the task. Leaving the loop
--- early cancels the tasks it started from functions.
---@param list tide.AwaitableLike[]
---@param opts? tide.AsCompletedOptions
---@return async fun(): tide.Awaitable?, integer?
---@return any state
---@return nil
---@return any closing
function tide.as_completed(list, opts) end

-- ------------------------------------------------------------ synchronization

--- A new, unlocked lock (FIFO, direct hand-off).
---@return tide.Lock
function tide.Lock() end

--- A new event, not set.
---@return tide.Event
function tide.Event() end

--- A semaphore of value permits (default 1).
---@param value? integer
---@return tide.Semaphore
function tide.Semaphore(value) end

--- A semaphore that raises when released more times than acquired.
---@param value? integer
---@return tide.Semaphore
function tide.BoundedSemaphore(value) end

--- A condition variable over lock (a new Lock by default).
---@param lock? tide.Lock
---@return tide.Condition
function tide.Condition(lock) end

--- A barrier for parties tasks.
---@param parties integer
---@return tide.Barrier
function tide.Barrier(parties) end

--- A FIFO queue holding at most maxsize items (nil or 0: no limit).
---@param maxsize? integer
---@return tide.Queue
function tide.Queue(maxsize) end

--- A queue that gives the last item put first.
---@param maxsize? integer
---@return tide.Queue
function tide.LifoQueue(maxsize) end

--- A queue that gives the smallest item (by <) first.
---@param maxsize? integer
---@return tide.Queue
function tide.PriorityQueue(maxsize) end

--- A context variable: a value per task, copied into the tasks it spawns.
---@param name string
---@param default? any
---@return tide.ContextVar
function tide.context_var(name, default) end

-- ------------------------------------------------------------ threads and workers

--- Runs fn(...) on a thread of tide's default pool, in a Lua state of its
--- own, with copies of the arguments and results; raises fn's error.
---@async
---@param fn fun(...):...
---@param ... any
---@return any ...
function tide.offload(fn, ...) end

---@class tide.WorkerPoolOptions
---@field size? integer threads, 1 to 256 (default: the CPUs libuv counts)

--- A worker pool of its own.
---@param opts? tide.WorkerPoolOptions
---@return tide.WorkerPool
function tide.worker_pool(opts) end

---@class tide.WorkersOptions
---@field n? integer worker processes, 1 to 1024 (default: the CPUs libuv counts)
---@field main? string the script each worker runs (default arg[0])
---@field args? string[] its arguments (default none)
---@field grace? number seconds a stopping worker gets to finish (default: the cleanup grace period)
---@field command? string[] the interpreter (default: the one running this script)

--- Runs n worker processes of a script sharing its listening ports until
--- SIGTERM or SIGINT has stopped them all; returns the exit status for the
--- process. Runs a loop of its own: call it outside tide.run.
---@param opts tide.WorkersOptions
---@return integer status
function tide.workers(opts) end

--- This worker's number (1..n), or 0 outside workers.
---@return integer
function tide.worker_id() end

--- How many workers the supervisor runs, or 0.
---@return integer
function tide.worker_count() end

--- true once SIGTERM's graceful stop has begun.
---@return boolean
function tide.stopping() end

--- A stream on descriptor 0 (the same one until it is closed), or nil, err, code.
---@return tide.Stream? stream
---@return string? err
---@return string? code
function tide.stdin() end

--- A stream on descriptor 1 (the same one until it is closed), or nil, err, code.
---@return tide.Stream? stream
---@return string? err
---@return string? code
function tide.stdout() end

--- A stream on descriptor 2 (the same one until it is closed), or nil, err, code.
---@return tide.Stream? stream
---@return string? err
---@return string? code
function tide.stderr() end

-- ============================================================ awaitables

--- What futures and tasks share.
---@class tide.Awaitable
local Awaitable = {}

--- Its values, waiting while it is pending; its error is raised here.
---@async
---@return any ...
function Awaitable:await() end

---@return boolean
function Awaitable:done() end

---@return boolean
function Awaitable:cancelled() end

---@return "pending"|"done"|"failed"|"cancelled"
function Awaitable:state() end

--- The values of a done one (raising its error); raises if it is pending.
---@return any ...
function Awaitable:result() end

--- The error of a failed or cancelled one, nil otherwise.
---@return any
function Awaitable:error() end

--- fn(self) runs from the loop once it is done.
---@param fn fun(x: tide.Awaitable)
function Awaitable:add_done_callback(fn) end

--- Removes every registration of fn; returns how many there were.
---@param fn function
---@return integer
function Awaitable:remove_done_callback(fn) end

--- A task: a coroutine driven by the loop.
---@class tide.Task: tide.Awaitable
local Task = {}

--- Cancels the task: its next await (and every await after it) raises a
--- cancellation. true if it was pending.
---@param msg? string
---@return boolean
function Task:cancel(msg) end

---@return string?
function Task:name() end

---@param name string
function Task:set_name(name) end

---@return integer
function Task:id() end

--- The traceback of a failed or cancelled task, or where a waiting task waits.
---@return string?
function Task:traceback() end

--- A future: a result set from outside.
---@class tide.Future: tide.Awaitable
local Future = {}

--- Completes the future with these values; raises if it is done.
---@param ... any
function Future:set_result(...) end

--- Fails the future with err; raises if it is done.
---@param err any
function Future:set_error(err) end

--- Cancels the future; true if it was pending.
---@param msg? string
---@return boolean
function Future:cancel(msg) end

-- ============================================================ small objects

--- A pending call of tide.call_soon or tide.call_later.
---@class tide.CallHandle
local CallHandle = {}

--- true if the call had not run yet (it never will).
---@return boolean
function CallHandle:cancel() end

--- A watcher of tide.signal or tide.on_signal.
---@class tide.SignalWatcher
local SignalWatcher = {}

--- How many deliveries came since the last await (>= 1), waiting for one;
--- nil, "ECLOSED: ...", "ECLOSED" once closed. tide.signal watchers only.
---@async
---@return integer? count
---@return string? err
---@return string? code
function SignalWatcher:await() end

--- Stops watching (idempotent); a waiting task wakes with ECLOSED.
function SignalWatcher:close() end

--- The signal's name.
---@return string
function SignalWatcher:signal() end

---@class tide.ContextToken

--- A variable with a value per task (Python's contextvars).
---@class tide.ContextVar
---@field name string
---@field default any
local ContextVar = {}

--- Its value in the running task, else default, else the variable's
--- default; raises if there is none.
---@param default? any
---@return any
function ContextVar:get(default) end

--- Sets it in the running task; the token undoes it.
---@param value any
---@return tide.ContextToken
function ContextVar:set(value) end

--- Restores the value before the set that made token.
---@param token tide.ContextToken
function ContextVar:reset(token) end

--- A cancel scope: tide.timeout_scope's.
---@class tide.Scope
local Scope = {}

--- Leaves the scope; true if err is the cancellation this scope caused.
---@param err? any
---@return boolean
function Scope:close(err) end

--- Cancels the scope now (a deadline: as if it had passed); true if this call did.
---@return boolean
function Scope:cancel() end

---@return boolean
function Scope:cancelled() end

--- The same as cancelled(): has the deadline passed (or cancel() run)?
---@return boolean
function Scope:expired() end

--- Seconds before the deadline (0 once passed, math.huge without one).
---@return number
function Scope:remaining() end

--- Moves the deadline to seconds from now; raises once closed or cancelled.
---@param seconds number
function Scope:reschedule(seconds) end

--- A new timeout error for this scope's deadline.
---@return tide.Error
function Scope:timeout_error() end

--- A task group (tide.group).
---@class tide.Group
local Group = {}

--- Starts fn(...) as a child of the group; raises once it has finished.
---@param fn async fun(...):...
---@param ... any
---@return tide.Task
---@overload fun(self: tide.Group, opts: tide.SpawnOptions, fn: (async fun(...):...), ...: any): tide.Task
function Group:spawn(fn, ...) end

--- Cancels every child (and in the function form the body).
function Group:cancel() end

--- The children, in spawn order.
---@return tide.Task[]
function Group:tasks() end

-- ============================================================ synchronization

---@class tide.LockStatistics
---@field waiting integer
---@field locked boolean

--- A lock (tide.Lock()); `local _ <close> = lock:acquire()` holds it to the
--- end of the block.
---@class tide.Lock
local Lock = {}

--- Waits until the lock is free and takes it; returns the lock.
---@async
---@return tide.Lock
function Lock:acquire() end

--- true if it took the lock now. Never waits.
---@return boolean
function Lock:try_acquire() end

--- Frees the lock, handing it to the oldest waiter; raises if not held.
function Lock:release() end

---@return boolean
function Lock:locked() end

---@return tide.LockStatistics
function Lock:statistics() end

--- Runs fn(...) holding the lock.
---@async
---@param fn async fun(...):...
---@param ... any
---@return any ...
function Lock:with(fn, ...) end

---@class tide.SemaphoreStatistics
---@field waiting integer
---@field available integer

--- A semaphore (tide.Semaphore, tide.BoundedSemaphore).
---@class tide.Semaphore
local Semaphore = {}

--- Takes a permit, waiting for one; returns the semaphore.
---@async
---@return tide.Semaphore
function Semaphore:acquire() end

--- true if it took a permit now. Never waits.
---@return boolean
function Semaphore:try_acquire() end

--- Gives a permit back (a bounded semaphore raises past its start value).
function Semaphore:release() end

--- Permits available now.
---@return integer
function Semaphore:available() end

--- true if acquire would wait.
---@return boolean
function Semaphore:locked() end

---@return tide.SemaphoreStatistics
function Semaphore:statistics() end

--- Runs fn(...) holding a permit.
---@async
---@param fn async fun(...):...
---@param ... any
---@return any ...
function Semaphore:with(fn, ...) end

---@class tide.EventStatistics
---@field waiting integer
---@field set boolean

--- An event (tide.Event()).
---@class tide.Event
local Event = {}

--- Sets the flag and wakes every waiting task.
function Event:set() end

--- Clears the flag.
function Event:clear() end

---@return boolean
function Event:is_set() end

--- Waits until the flag is set (at once if it is); returns true.
---@async
---@return true
function Event:wait() end

---@return tide.EventStatistics
function Event:statistics() end

--- A condition variable (tide.Condition([lock])).
---@class tide.Condition
local Condition = {}

--- Releases the lock, waits for a notify, takes the lock back (also when
--- cancelled, then raises). The lock must be held.
---@async
---@return true
function Condition:wait() end

--- Waits until predicate() (called holding the lock) returns a true value;
--- returns that value.
---@async
---@param predicate fun(): any
---@return any
function Condition:wait_for(predicate) end

--- Wakes up to n waiting tasks (default 1). The lock must be held.
---@param n? integer
function Condition:notify(n) end

--- Wakes every waiting task. The lock must be held.
function Condition:notify_all() end

--- The condition's lock.
---@return tide.Lock
function Condition:lock() end

--- Takes the condition's lock; returns the condition (for <close>).
---@async
---@return tide.Condition
function Condition:acquire() end

--- Releases the condition's lock.
function Condition:release() end

---@return boolean
function Condition:locked() end

--- Runs fn(...) holding the condition's lock.
---@async
---@param fn async fun(...):...
---@param ... any
---@return any ...
function Condition:with(fn, ...) end

---@return tide.LockStatistics
function Condition:statistics() end

--- A barrier (tide.Barrier(parties)).
---@class tide.Barrier
local Barrier = {}

--- Waits until parties tasks wait; returns this task's arrival index
--- (0 .. parties - 1). Raises a "broken" error on a broken barrier.
---@async
---@return integer
function Barrier:wait() end

--- Breaks the barrier: waiters and later waits raise "broken".
function Barrier:abort() end

--- Breaks the current round and makes the barrier usable again.
function Barrier:reset() end

---@return integer
function Barrier:n_waiting() end

---@return boolean
function Barrier:is_broken() end

---@class tide.QueueStatistics
---@field size integer
---@field maxsize integer
---@field getters integer
---@field putters integer
---@field joiners integer
---@field unfinished integer
---@field reserved integer items and slots promised to woken tasks

--- A queue (tide.Queue, tide.LifoQueue, tide.PriorityQueue).
---@class tide.Queue
local Queue = {}

--- Adds item, waiting while the queue is full; raises "closed" once closed.
---@async
---@param item any
function Queue:put(item) end

--- Adds item now; false if the queue is full. Raises once closed.
---@param item any
---@return boolean
function Queue:put_nowait(item) end

--- The next item, waiting while the queue is empty; raises "closed" once
--- closed and empty.
---@async
---@return any
function Queue:get() end

--- The next item, or nil if the queue is empty.
---@return any
function Queue:get_nowait() end

--- Marks an item got as processed (for join).
function Queue:task_done() end

--- Waits until every item put has been marked task_done.
---@async
function Queue:join() end

--- No more puts; waiting putters and getters raise "closed". immediate:
--- drop the items left too.
---@param immediate? boolean
function Queue:close(immediate) end

---@return integer
function Queue:qsize() end

---@return boolean
function Queue:empty() end

---@return boolean
function Queue:full() end

---@return boolean
function Queue:is_closed() end

---@return integer
function Queue:maxsize() end

---@return tide.QueueStatistics
function Queue:statistics() end

--- An iterator for a generic for: gets items until the queue is closed and
--- empty (each step may suspend the task).
---@return async fun(): any
function Queue:items() end

-- ============================================================ worker pools

--- A pool of worker threads (tide.worker_pool).
---@class tide.WorkerPool
local WorkerPool = {}

--- tide.offload on this pool.
---@async
---@param fn fun(...):...
---@param ... any
---@return any ...
function WorkerPool:offload(fn, ...) end

--- Drops jobs not started, interrupts running ones; in a task, waits until
--- every thread has ended. Returns true.
---@async
---@return true
function WorkerPool:close() end

--- Its most threads and the threads started so far (nothing once closed).
---@return integer? size
---@return integer? started
function WorkerPool:size() end

-- ============================================================ streams and servers

---@class tide.StreamOptions
---@field read_timeout? number seconds a read may wait (0: none)
---@field write_timeout? number seconds a write may wait for the queue to drain (0: none)
---@field max_line? integer longest line readline/readuntil accept (default 65536)
---@field high_water? integer write waits while more is queued (default 65536)
---@field low_water? integer ... until the queue is below this (default 16384)
---@field nodelay? boolean TCP_NODELAY (default on)

--- A byte stream: a TCP or Unix connection, a pipe or a TTY, plain or TLS.
--- Reads return nil at EOF; failures nil, err, code (reads add the partial
--- data as a fourth value).
---@class tide.Stream
local Stream = {}

--- What is buffered or next arrives, at most max bytes; nil at EOF.
---@async
---@param max? integer
---@return string? data
---@return string? err
---@return string? code
function Stream:read(max) end

--- Exactly n bytes; at EOF first nil, err, code and the partial bytes.
---@async
---@param n integer
---@return string? data
---@return string? err
---@return string? code
---@return string? partial
function Stream:readexactly(n) end

--- The next line without "\n" (nor "\r" before it) unless keep; nil at EOF.
---@async
---@param keep? boolean
---@return string? line
---@return string? err
---@return string? code
function Stream:readline(keep) end

--- The bytes before sep (sep consumed, included if keep); at EOF first nil,
--- err, code and the partial bytes.
---@async
---@param sep string
---@param keep? boolean
---@return string? data
---@return string? err
---@return string? code
---@return string? partial
function Stream:readuntil(sep, keep) end

--- Sends data or queues it; waits while the queue is above high_water.
---@async
---@param data string
---@return true? ok
---@return string? err
---@return string? code
function Stream:write(data) end

--- Waits until everything written has been handed to the system.
---@async
---@return true? ok
---@return string? err
---@return string? code
function Stream:drain() end

--- Sends what is queued, then closes the write side (the peer reads EOF).
---@async
---@return true? ok
---@return string? err
---@return string? code
function Stream:shutdown() end

--- Closes the stream at once for its user (idempotent); written bytes still
--- go out. Also <close> and garbage collection.
---@return true
function Stream:close() end

---@return boolean
function Stream:closed() end

--- The peer's address: host, port (TCP) or path (Unix socket).
---@return string|nil host_or_path
---@return integer|string|nil port_or_err
---@return string? code
function Stream:peername() end

--- The local address: host, port (TCP) or path (Unix socket).
---@return string|nil host_or_path
---@return integer|string|nil port_or_err
---@return string? code
function Stream:sockname() end

--- TCP_NODELAY on or off (TCP streams).
---@param on boolean
---@return true? ok
---@return string? err
---@return string? code
function Stream:setnodelay(on) end

--- TCP keep-alive probes after delay idle seconds (default 60).
---@param on boolean
---@param delay? integer
---@return true? ok
---@return string? err
---@return string? code
function Stream:setkeepalive(on, delay) end

--- Changes the stream's options.
---@param opts tide.StreamOptions
---@return true? ok
---@return string? err
---@return string? code
function Stream:setoptions(opts) end

--- Bytes read ahead and bytes queued for writing (nothing once closed).
---@return integer? readahead
---@return integer? queued
function Stream:buffered() end

---@class tide.StartTLSOptions
---@field servername? string the name the server's certificate must carry (also SNI)
---@field handshake_timeout? number seconds (default 30; 0: none)

--- Upgrades the stream to TLS in place (a client context connects, a
--- server context accepts). On failure the stream is closed.
---@async
---@param ctx tide.TLSContext|true
---@param opts? tide.StartTLSOptions
---@return true? ok
---@return string? err
---@return string? code
function Stream:starttls(ctx, opts) end

---@class tide.Certificate
---@field subject string RFC 2253 ("CN=localhost")
---@field issuer string
---@field not_before integer seconds since the epoch
---@field not_after integer
---@field sans string[] {"DNS:localhost", "IP:127.0.0.1"}
---@field serial string hex
---@field fingerprint string SHA-256, hex

---@class tide.TLSInfo
---@field version string "TLSv1.3"
---@field cipher string
---@field alpn? string
---@field servername? string
---@field resumed boolean
---@field verified boolean
---@field server boolean
---@field peer_cert? tide.Certificate

--- The TLS session once its handshake is done; nil on a plain stream.
---@return tide.TLSInfo?
function Stream:tlsinfo() end

---@class tide.ServerCloseOptions
---@field wait? boolean return once every connection's handler has finished
---@field cancel? boolean cancel the running handlers (and wait for them)

--- A listening TCP or Unix server (tide.tcp.listen, tide.unix.listen).
---@class tide.Server
local Server = {}

--- host, port (TCP; port 0 picked a free one) or the path (Unix).
---@return string host_or_path
---@return integer? port
function Server:address() end

--- Stops accepting at once; with {wait = true} (or true) or {cancel = true}
--- returns once every handler has finished. Idempotent.
---@async
---@param opts? tide.ServerCloseOptions|true
---@return true
function Server:close(opts) end

---@return boolean
function Server:closed() end

--- How many connection handlers are running.
---@return integer
function Server:connections() end

--- How many accepts failed (EMFILE, ...).
---@return integer
function Server:accept_errors() end

--- How many TLS handshakes failed.
---@return integer
function Server:handshake_errors() end

-- ============================================================ tide.tcp

---@class tide.tcp
tide.tcp = {}

---@class tide.tcp.ConnectOptions: tide.StreamOptions
---@field timeout? number seconds for the whole connect (resolution and TLS handshake included)
---@field family? 4|6|"inet"|"inet6"
---@field tls? tide.TLSContext|true a client context, or true: verified against the system's CAs
---@field servername? string|false the name to verify and send as SNI (default: host)
---@field handshake_timeout? number seconds (default 30)

--- Connects (names resolve, addresses race: happy eyeballs).
---@async
---@param host string
---@param port integer
---@param opts? tide.tcp.ConnectOptions
---@return tide.Stream? stream
---@return string? err
---@return string? code
function tide.tcp.connect(host, port, opts) end

---@class tide.tcp.ListenOptions: tide.StreamOptions
---@field backlog? integer default 511
---@field ipv6only? boolean
---@field family? 4|6|"inet"|"inet6"
---@field reuseport? boolean SO_REUSEPORT
---@field tls? tide.TLSContext a server context: each connection's handshake runs before handler
---@field handshake_timeout? number seconds (default 30)
---@field on_handshake_error? fun(err: string, code: string)

--- Listens; each connection runs handler(stream) in a task of its own (the
--- stream is closed when it returns).
---@async
---@param host string
---@param port integer 0: a free port (server:address())
---@param handler async fun(stream: tide.Stream)
---@param opts? tide.tcp.ListenOptions
---@return tide.Server? server
---@return string? err
---@return string? code
function tide.tcp.listen(host, port, handler, opts) end

-- ============================================================ tide.unix

---@class tide.unix
tide.unix = {}

---@class tide.unix.ConnectOptions: tide.StreamOptions
---@field timeout? number seconds
---@field tls? tide.TLSContext|true
---@field servername? string|false the name to verify (needed to verify: there is no host name)
---@field handshake_timeout? number

--- Connects to a Unix socket.
---@async
---@param path string
---@param opts? tide.unix.ConnectOptions
---@return tide.Stream? stream
---@return string? err
---@return string? code
function tide.unix.connect(path, opts) end

---@class tide.unix.ListenOptions: tide.StreamOptions
---@field backlog? integer
---@field tls? tide.TLSContext
---@field handshake_timeout? number
---@field on_handshake_error? fun(err: string, code: string)

--- Listens on a Unix socket (the file is removed when the server closes).
---@param path string
---@param handler async fun(stream: tide.Stream)
---@param opts? tide.unix.ListenOptions
---@return tide.Server? server
---@return string? err
---@return string? code
function tide.unix.listen(path, handler, opts) end

-- ============================================================ tide.tls

---@class tide.tls
tide.tls = {}

--- A TLS context (OpenSSL 3); it has no methods.
---@class tide.TLSContext

---@class tide.tls.ContextOptions
---@field server? boolean accepts connections (needs cert and key)
---@field cert? string certificate chain: a path or PEM text
---@field key? string private key: a path or PEM text
---@field password? string decrypts an encrypted key
---@field ca? string trusted CAs: a PEM file, a hashed directory or PEM text (default: the system's)
---@field verify? boolean clients (default true): verify chain and name; servers (default false): require a client certificate
---@field alpn? string[] protocols in order of preference
---@field min_version? string "1.2" (default), "1.3"
---@field max_version? string
---@field ciphers? string TLS 1.2 cipher list
---@field ciphersuites? string TLS 1.3 cipher suites
---@field sni? table<string, tide.TLSContext> servers: the context per server name
---@field session_cache? boolean|integer resumption: servers on by default, clients off

--- A reusable TLS context, or nil, err, code when a file cannot be read or
--- OpenSSL rejects a setting.
---@param opts tide.tls.ContextOptions
---@return tide.TLSContext? ctx
---@return string? err
---@return string? code
function tide.tls.context(opts) end

-- ============================================================ tide.udp

---@class tide.udp
tide.udp = {}

---@class tide.udp.BindOptions
---@field reuseaddr? boolean
---@field timeout? number receive timeout, seconds
---@field family? 4|6|"inet"|"inet6"

---@class tide.udp.ConnectOptions
---@field timeout? number receive timeout, seconds
---@field family? 4|6|"inet"|"inet6"

--- An unbound UDP socket (family 4 or 6; default: decided by bind or the
--- first send).
---@param family? 4|6|"inet"|"inet6"
---@return tide.UDPSocket? sock
---@return string? err
---@return string? code
function tide.udp.open(family) end

--- A UDP socket bound to host, port.
---@async
---@param host string
---@param port integer
---@param opts? tide.udp.BindOptions
---@return tide.UDPSocket? sock
---@return string? err
---@return string? code
function tide.udp.bind(host, port, opts) end

--- A UDP socket connected to host, port (send/recv talk to it only).
---@async
---@param host string
---@param port integer
---@param opts? tide.udp.ConnectOptions
---@return tide.UDPSocket? sock
---@return string? err
---@return string? code
function tide.udp.connect(host, port, opts) end

--- A UDP socket. Methods other than sendto take numeric addresses.
---@class tide.UDPSocket
local UDPSocket = {}

---@param ip string
---@param port integer
---@param reuseaddr? boolean
---@return true? ok
---@return string? err
---@return string? code
function UDPSocket:bind(ip, port, reuseaddr) end

--- Connects to ip, port; connect(nil) disconnects.
---@param ip string?
---@param port? integer
---@return true? ok
---@return string? err
---@return string? code
function UDPSocket:connect(ip, port) end

--- Sends a datagram (a host name is resolved first).
---@async
---@param data string
---@param host string
---@param port integer
---@return true? ok
---@return string? err
---@return string? code
function UDPSocket:sendto(data, host, port) end

--- Sends a datagram to the connected peer.
---@param data string
---@return true? ok
---@return string? err
---@return string? code
function UDPSocket:send(data) end

--- The next datagram and its sender.
---@async
---@return string? data
---@return string? ip_or_err
---@return integer|string|nil port_or_code
function UDPSocket:recvfrom() end

--- The next datagram (connected sockets).
---@async
---@return string? data
---@return string? err
---@return string? code
function UDPSocket:recv() end

---@return string? ip
---@return integer|string|nil port_or_err
---@return string? code
function UDPSocket:sockname() end

---@return string? ip
---@return integer|string|nil port_or_err
---@return string? code
function UDPSocket:peername() end

---@param on boolean
---@return true? ok
---@return string? err
---@return string? code
function UDPSocket:setbroadcast(on) end

---@param ttl integer 1 to 255
---@return true? ok
---@return string? err
---@return string? code
function UDPSocket:setttl(ttl) end

---@param ttl integer 0 to 255
---@return true? ok
---@return string? err
---@return string? code
function UDPSocket:setmulticastttl(ttl) end

---@param on boolean
---@return true? ok
---@return string? err
---@return string? code
function UDPSocket:setmulticastloop(on) end

---@param iface? string
---@return true? ok
---@return string? err
---@return string? code
function UDPSocket:setmulticastinterface(iface) end

--- Joins a multicast group.
---@param group string
---@param iface? string
---@return true? ok
---@return string? err
---@return string? code
function UDPSocket:join(group, iface) end

--- Leaves a multicast group.
---@param group string
---@param iface? string
---@return true? ok
---@return string? err
---@return string? code
function UDPSocket:leave(group, iface) end

--- Receive timeout in seconds (nil or 0: none).
---@param seconds? number
---@return true? ok
---@return string? err
---@return string? code
function UDPSocket:settimeout(seconds) end

--- Closes the socket (idempotent); a waiting receiver gets ECLOSED.
---@return true
function UDPSocket:close() end

---@return boolean
function UDPSocket:closed() end

-- ============================================================ tide.dns

---@class tide.dns
tide.dns = {}

---@class tide.dns.ResolveOptions
---@field family? 4|6|"inet"|"inet6" default both
---@field timeout? number seconds

---@class tide.dns.ReverseOptions
---@field timeout? number seconds

--- The addresses of host ({"127.0.0.1", "::1", ...}), or nil, err, code.
---@async
---@param host string
---@param opts? tide.dns.ResolveOptions
---@return string[]? addresses
---@return string? err
---@return string? code
function tide.dns.resolve(host, opts) end

--- The name of an IP address, or nil, err, code.
---@async
---@param ip string
---@param opts? tide.dns.ReverseOptions
---@return string? name
---@return string? err
---@return string? code
function tide.dns.reverse(ip, opts) end

--- "inet" or "inet6" if s is a numeric address, false otherwise.
---@param s string
---@return "inet"|"inet6"|false
function tide.dns.is_ip(s) end

-- ============================================================ tide.pipe

---@class tide.pipe
tide.pipe = {}

---@class tide.pipe.OpenOptions: tide.StreamOptions

--- A stream on a duplicate of descriptor fd (a pipe, a TTY, a socket).
---@param fd integer
---@param opts? tide.pipe.OpenOptions
---@return tide.Stream? stream
---@return string? err
---@return string? code
function tide.pipe.open(fd, opts) end

--- What descriptor fd is.
---@param fd integer
---@return "tty"|"pipe"|"tcp"|"udp"|"file"|"unknown"
function tide.pipe.kind(fd) end

--- The same as tide.stdin().
---@return tide.Stream? stream
---@return string? err
---@return string? code
function tide.pipe.stdin() end

--- The same as tide.stdout().
---@return tide.Stream? stream
---@return string? err
---@return string? code
function tide.pipe.stdout() end

--- The same as tide.stderr().
---@return tide.Stream? stream
---@return string? err
---@return string? code
function tide.pipe.stderr() end

-- ============================================================ tide.fs

---@class tide.fs
tide.fs = {}

---@alias tide.fs.Type "file"|"directory"|"link"|"fifo"|"socket"|"char"|"block"|"unknown"

--- Permission bits: an integer (420) or a string of octal digits ("644").
---@alias tide.fs.Mode integer|string

---@class tide.fs.Stat
---@field type tide.fs.Type
---@field size integer
---@field mode integer permission bits
---@field nlink integer
---@field uid integer
---@field gid integer
---@field dev integer
---@field ino integer
---@field rdev integer
---@field blksize integer
---@field blocks integer
---@field atime number seconds since the epoch
---@field mtime number
---@field ctime number
---@field birthtime number

---@class tide.fs.DirEntry
---@field name string
---@field type tide.fs.Type

---@class tide.fs.WriteFileOptions
---@field append? boolean add to the file instead of replacing it
---@field mode? tide.fs.Mode of a new file (default "666", less the umask)
---@field atomic? boolean write a temporary file, sync it, rename it over path

---@class tide.fs.MkdirOptions
---@field parents? boolean make missing parents, succeed if it exists (mkdir -p)
---@field mode? tide.fs.Mode default "777", less the umask

---@class tide.fs.RmdirOptions
---@field recursive? boolean remove everything under it first (rm -r)

---@class tide.fs.CopyOptions
---@field excl? boolean fail with EEXIST if the target exists

---@class tide.fs.LinesOptions
---@field keep? boolean keep the "\n"
---@field max_line? integer longer lines raise (default 1 MiB)

--- The whole file.
---@async
---@param path string
---@return string? data
---@return string? err
---@return string? code
function tide.fs.readfile(path) end

--- Replaces (or with append adds to) the file's contents.
---@async
---@param path string
---@param data string
---@param opts? tide.fs.WriteFileOptions
---@return true? ok
---@return string? err
---@return string? code
function tide.fs.writefile(path, data, opts) end

--- Opens a file; mode as io.open's (default "r"), plus "x"/"wx": create,
--- failing if it exists.
---@async
---@param path string
---@param mode? "r"|"w"|"a"|"r+"|"w+"|"a+"|"x"|"wx"|string
---@param perm? tide.fs.Mode of a new file (default "666", less the umask)
---@return tide.File? file
---@return string? err
---@return string? code
function tide.fs.open(path, mode, perm) end

---@async
---@param path string
---@return tide.fs.Stat? stat
---@return string? err
---@return string? code
function tide.fs.stat(path) end

--- stat of a link itself.
---@async
---@param path string
---@return tide.fs.Stat? stat
---@return string? err
---@return string? code
function tide.fs.lstat(path) end

--- true if path can be accessed as how says ("r", "w", "x" letters;
--- default: exists).
---@async
---@param path string
---@param how? string
---@return true? ok
---@return string? err
---@return string? code
function tide.fs.access(path, how) end

--- true if something is there (a dangling link: false).
---@async
---@param path string
---@return boolean
function tide.fs.exists(path) end

---@async
---@param from string
---@param to string
---@return true? ok
---@return string? err
---@return string? code
function tide.fs.rename(from, to) end

---@async
---@param path string
---@return true? ok
---@return string? err
---@return string? code
function tide.fs.unlink(path) end

---@async
---@param path string
---@param opts? tide.fs.MkdirOptions
---@return true? ok
---@return string? err
---@return string? code
function tide.fs.mkdir(path, opts) end

---@async
---@param path string
---@param opts? tide.fs.RmdirOptions
---@return true? ok
---@return string? err
---@return string? code
function tide.fs.rmdir(path, opts) end

--- The entries of a directory, sorted by name, without "." and "..".
---@async
---@param path string
---@return tide.fs.DirEntry[]? entries
---@return string? err
---@return string? code
function tide.fs.scandir(path) end

--- `for name, type in tide.fs.dir(path)`: the entries in batches, in the
--- file system's order; raises on failure; closes when the loop ends.
---@param path string
---@return async fun(): string?, tide.fs.Type?
---@return nil
---@return nil
---@return tide.DirStream
function tide.fs.dir(path) end

--- `for line in tide.fs.lines(path)`: the file's lines; raises on failure;
--- closes the file when the loop ends.
---@async
---@param path string
---@param opts? tide.fs.LinesOptions
---@return async fun(): string?
---@return nil
---@return nil
---@return tide.File
function tide.fs.lines(path, opts) end

--- The absolute path without links, "." or "..".
---@async
---@param path string
---@return string? path
---@return string? err
---@return string? code
function tide.fs.realpath(path) end

---@async
---@param path string
---@param mode tide.fs.Mode
---@return true? ok
---@return string? err
---@return string? code
function tide.fs.chmod(path, mode) end

--- Makes path a symbolic link to target.
---@async
---@param target string
---@param path string
---@return true? ok
---@return string? err
---@return string? code
function tide.fs.symlink(target, path) end

--- The target of a link.
---@async
---@param path string
---@return string? target
---@return string? err
---@return string? code
function tide.fs.readlink(path) end

--- A new directory named prefix and six random characters (mode 700).
---@async
---@param prefix string
---@return string? path
---@return string? err
---@return string? code
function tide.fs.mkdtemp(prefix) end

---@async
---@param from string
---@param to string
---@param opts? tide.fs.CopyOptions
---@return true? ok
---@return string? err
---@return string? code
function tide.fs.copyfile(from, to, opts) end

--- Watches a file, or the entries of a directory (not its subdirectories).
---@param path string
---@return tide.Watcher? watcher
---@return string? err
---@return string? code
function tide.fs.watch(path) end

--- An open file (tide.fs.open). Its jobs run in call order; also <close>.
---@class tide.File
local File = {}

--- Up to n bytes (n = "a": the rest of the file, "" at the end), nil at
--- the end of the file; with offset, at that offset (the position stays).
---@async
---@param n integer|"a"
---@param offset? integer
---@return string? data
---@return string? err
---@return string? code
function File:read(n, offset) end

--- Writes data at the position (or at offset: the position stays).
---@async
---@param data string
---@param offset? integer
---@return true? ok
---@return string? err
---@return string? code
function File:write(data, offset) end

--- An iterator over the lines from the position on; raises on failure.
---@param opts? tide.fs.LinesOptions
---@return async fun(): string?
function File:lines(opts) end

--- Moves the position; returns the new one.
---@async
---@param whence? "set"|"cur"|"end" default "cur"
---@param offset? integer
---@return integer? position
---@return string? err
---@return string? code
function File:seek(whence, offset) end

--- fsync: the data and metadata are on disk.
---@async
---@return true? ok
---@return string? err
---@return string? code
function File:sync() end

---@async
---@return tide.fs.Stat? stat
---@return string? err
---@return string? code
function File:stat() end

--- Cuts (or extends) the file to size bytes (default 0).
---@async
---@param size? integer
---@return true? ok
---@return string? err
---@return string? code
function File:truncate(size) end

--- Closes after the queued jobs (waits for it inside a task); idempotent.
---@async
---@return true? ok
---@return string? err
---@return string? code
function File:close() end

---@return boolean
function File:closed() end

--- Bytes read ahead and not yet taken.
---@return integer
function File:buffered() end

--- The directory stream of a tide.fs.dir loop (the for loop closes it).
---@class tide.DirStream
local DirStream = {}

--- Stops reading the directory.
function DirStream:close() end

--- A change watcher (tide.fs.watch): `for name, kind in w do ... end`; also <close>.
---@class tide.Watcher
local Watcher = {}

--- The next change: name, kind ("rename", "change" or "overflow"), waiting
--- for it at most timeout seconds.
---@async
---@param timeout? number
---@return string? name_or_nil
---@return string? kind_or_err
---@return string? code
function Watcher:next(timeout) end

--- Stops watching; a waiting reader wakes (ECLOSED; a for loop ends).
function Watcher:close() end

---@return boolean
function Watcher:closed() end

-- ============================================================ tide.process

---@class tide.process
---@field pid integer this process's id
---@field signals table<string, integer> every signal name tide knows, and its number
---@field watchable table<string, boolean> the signals tide.signal and tide.on_signal accept
tide.process = {}

--- A stdio setting of a child: "inherit" (default), "null", "pipe" (the
--- process gets a stream), an existing stream, an open tide.fs file, or a
--- descriptor.
---@alias tide.process.Stdio "inherit"|"null"|"pipe"|tide.Stream|tide.File|integer

--- {"prog", "arg", ..., options}: the program (looked up in PATH without a
--- slash), its arguments, and these options.
---@class tide.process.SpawnOptions
---@field [integer] string
---@field cwd? string
---@field env? table<string, string|false> variables added or replaced (false removes one)
---@field clear_env? boolean start from an empty environment
---@field stdin? tide.process.Stdio
---@field stdout? tide.process.Stdio
---@field stderr? tide.process.Stdio
---@field detached? boolean a session of its own; left running by the runtime's close
---@field kill_on_cancel? boolean|string|integer signal sent when a task waiting in p:wait() is cancelled (true: SIGKILL)
---@field grace? number seconds between SIGTERM and SIGKILL at the runtime's close (default 5)

---@class tide.process.RunOptions: tide.process.SpawnOptions
---@field input? string written to stdin, which is then closed
---@field timeout? number seconds: then the child is killed (ETIMEDOUT)
---@field max_output? integer bytes per stream (default 64 MiB): past it the child is killed (ENOBUFS)

---@class tide.process.Result
---@field code integer exit status (128 + n when killed by signal n)
---@field signal? string the signal's name when a signal ended it
---@field stdout? string
---@field stderr? string
---@field pid integer

--- Starts a child process.
---@param spec tide.process.SpawnOptions
---@return tide.Process? process
---@return string? err
---@return string? code
function tide.process.spawn(spec) end

--- Spawns, feeds input, reads stdout and stderr at the same time, waits.
--- On failure nil, err, code and the partial result.
---@async
---@param spec tide.process.RunOptions
---@return tide.process.Result? result
---@return string? err
---@return string? code
---@return tide.process.Result? partial
function tide.process.run(spec) end

--- Sends a signal (default "SIGTERM") to any process.
---@param pid integer
---@param sig? string|integer
---@return true? ok
---@return string? err
---@return string? code
function tide.process.kill(pid, sig) end

--- A child process (tide.process.spawn); also <close> and tide.await(p).
---@class tide.Process
---@field pid integer
---@field stdin? tide.Stream with stdin = "pipe"
---@field stdout? tide.Stream with stdout = "pipe"
---@field stderr? tide.Stream with stderr = "pipe"
local Process = {}

--- code, signal once the child has exited and its output pipes are
--- drained; nil, "ETIMEDOUT: ...", "ETIMEDOUT" past timeout.
---@async
---@param timeout? number
---@return integer|nil code
---@return string? signal_or_err
---@return string? code_name
function Process:wait(timeout) end

--- wait() without a timeout.
---@async
---@return integer|nil code
---@return string? signal_or_err
---@return string? code_name
function Process:await() end

--- code, signal once the child has exited, nil while it runs. Never waits.
---@return integer|nil code
---@return string? signal_or_err
---@return string? code_name
function Process:poll() end

--- Sends sig (a name or number, default "SIGTERM").
---@param sig? string|integer
---@return true? ok
---@return string? err
---@return string? code
function Process:kill(sig) end

--- Closes the pipes made for it and lets go of the child (it runs on and
--- is reaped when it exits). Idempotent.
---@return true
function Process:close() end

-- ============================================================ tide.http

---@class tide.http
---@field reasons table<integer, string> reason phrases by status code
tide.http = {}

---@class tide.http.ListenOptions
---@field backlog? integer
---@field family? 4|6|"inet"|"inet6"
---@field ipv6only? boolean
---@field reuseport? boolean
---@field tls? tide.TLSContext HTTPS: a server context
---@field max_line? integer request line (default 8192)
---@field max_head? integer header section (default 8192)
---@field max_fields? integer default 100
---@field max_body? integer default 1 MiB (0: none)
---@field max_requests? integer per connection (default 1000)
---@field discard? integer bytes of an unread body dropped to keep the connection (default 64 KiB)
---@field header_timeout? number seconds for the whole head (default 10)
---@field idle_timeout? number seconds between keep-alive requests (default 5)
---@field body_timeout? number seconds per body read (default 10)
---@field write_timeout? number seconds (default 30)

--- An HTTP/1.1 server: handler(req, res) runs once per request in the
--- connection's task; it answers through res, or returns status, headers,
--- body.
---@async
---@param host string
---@param port integer
---@param handler async fun(req: tide.http.Request, res: tide.http.Response): integer?, table<string, string|string[]>?, string?
---@param opts? tide.http.ListenOptions
---@return tide.http.Server? server
---@return string? err
---@return string? code
function tide.http.listen(host, port, handler, opts) end

---@class tide.http.RequestOptions
---@field url string http:// or https://
---@field method? string default "GET"
---@field headers? table<string, string|string[]>
---@field body? string|fun(): string? a string (Content-Length) or an iterator (chunked)
---@field timeout? number seconds for the whole request
---@field connect_timeout? number default 10
---@field read_timeout? number each read
---@field stream? boolean read the body with res:read()
---@field follow? integer redirects to follow (default 0)
---@field max_body? integer
---@field max_head? integer default 65536
---@field pool? boolean false: a connection of its own
---@field pool_limit? integer connections in use per host (default 10)
---@field tls? tide.TLSContext https: a client context instead of the default

--- Makes a request; returns the response or nil, err, code.
---@async
---@param opts tide.http.RequestOptions
---@return tide.http.ClientResponse? res
---@return string? err
---@return string? code
function tide.http.request(opts) end

---@class tide.http.GetOptions
---@field method? string
---@field headers? table<string, string|string[]>
---@field body? string|fun(): string?
---@field timeout? number
---@field connect_timeout? number
---@field read_timeout? number
---@field stream? boolean
---@field follow? integer
---@field max_body? integer
---@field max_head? integer
---@field pool? boolean
---@field pool_limit? integer
---@field tls? tide.TLSContext

--- tide.http.request with url and opts.
---@async
---@param url string
---@param opts? tide.http.GetOptions
---@return tide.http.ClientResponse? res
---@return string? err
---@return string? code
function tide.http.get(url, opts) end

--- Closes every idle pooled connection now.
function tide.http.close_pool() end

---@class tide.http.WebSocketOptions
---@field headers? table<string, string>
---@field timeout? number connect and handshake (default 10)
---@field max_message? integer default 1 MiB
---@field close_timeout? number default 5
---@field protocols? string[] offered in Sec-WebSocket-Protocol
---@field tls? tide.TLSContext wss: a client context instead of the default

--- Opens a ws:// or wss:// WebSocket.
---@async
---@param url string
---@param opts? tide.http.WebSocketOptions
---@return tide.WebSocket? ws
---@return string? err
---@return string? code
function tide.http.websocket(url, opts) end

---@class tide.http.ServerCloseOptions
---@field wait? number|boolean return once every connection has ended, cancelling those left after this many seconds (true: no limit)

--- An HTTP server (tide.http.listen).
---@class tide.http.Server
local HttpServer = {}

---@return string host
---@return integer port
function HttpServer:address() end

---@return integer
function HttpServer:connections() end

--- Stops accepting, closes idle keep-alive connections; requests in flight
--- finish. Returns true.
---@async
---@param opts? tide.http.ServerCloseOptions
---@return true
function HttpServer:close(opts) end

--- A request, as the handler gets it.
---@class tide.http.Request
---@field method string
---@field target string as sent ("/path?query")
---@field path string
---@field query? string
---@field version "1.0"|"1.1"
---@field headers table<string, string> lowercase names (any case finds them); repeated fields joined with ", "
---@field keep_alive boolean
---@field content_length? integer
---@field expect? string "100-continue" or another expectation
---@field upgrade? boolean the request asks to upgrade the connection
local Request = {}

--- The whole body (within max_body).
---@async
---@return string? body
---@return string? err
---@return string? code
function Request:body() end

--- The next piece of the body (chunked framing removed), nil at its end.
---@async
---@param max? integer
---@return string? data
---@return string? err
---@return string? code
function Request:read(max) end

--- A field's value (repeated fields joined with ", ").
---@param name string
---@return string?
function Request:header(name) end

--- Every value of a field.
---@param name string
---@return string[]
function Request:header_values(name) end

--- The client's address and port.
---@return string? host
---@return integer|string|nil port_or_err
---@return string? code
function Request:peername() end

--- The connection's TLS details, nil over plain HTTP.
---@return tide.TLSInfo?
function Request:tlsinfo() end

---@class tide.http.UpgradeOptions
---@field max_message? integer default 1 MiB
---@field close_timeout? number default 5
---@field protocol? string the subprotocol to confirm

--- The response a handler writes.
---@class tide.http.Response
local Response = {}

--- Sets the status (100-999) before the head is sent; returns res.
---@param code integer
---@return tide.http.Response
function Response:status(code) end

--- Sets a field (a list repeats it; nil removes it); returns res.
---@param name string
---@param value string|number|(string|number)[]|nil
---@return tide.http.Response
function Response:header(name, value) end

--- Streams a piece of the body (the head goes out first).
---@async
---@param data string
---@return true? ok
---@return string? err
---@return string? code
function Response:write(data) end

--- Ends the response (before any write: head and body in one write).
---@async
---@param body? string
---@return true? ok
---@return string? err
---@return string? code
function Response:finish(body) end

---@return boolean
function Response:finished() end

--- Answers a WebSocket handshake (101); else 426/400 and nil, err, code.
---@async
---@param opts? tide.http.UpgradeOptions
---@return tide.WebSocket? ws
---@return string? err
---@return string? code
function Response:upgrade_websocket(opts) end

--- A response the client got (tide.http.request, tide.http.get).
---@class tide.http.ClientResponse
---@field status integer
---@field reason string
---@field version "1.0"|"1.1"
---@field headers table<string, string> lowercase names (any case finds them)
---@field body? string the whole body (unless stream = true)
---@field keep_alive boolean
local ClientResponse = {}

--- The next piece of a streamed body, nil at its end.
---@async
---@param max? integer
---@return string? data
---@return string? err
---@return string? code
function ClientResponse:read(max) end

--- Gives up the rest of a streamed body. Also <close>.
function ClientResponse:close() end

---@param name string
---@return string?
function ClientResponse:header(name) end

--- A WebSocket (RFC 6455), from res:upgrade_websocket() or
--- tide.http.websocket(url); also <close>.
---@class tide.WebSocket
---@field protocol? string the subprotocol the server confirmed (client side)
local WebSocket = {}

--- Sends one message, "text" (default) or "binary".
---@async
---@param data string
---@param kind? "text"|"binary"
---@return true? ok
---@return string? err
---@return string? code
function WebSocket:send(data, kind) end

--- The next message and its kind; nil, "closed", code, reason once the
--- close handshake is done; nil, err, code on failure.
---@async
---@return string? message
---@return string? kind_or_err
---@return integer|string|nil code
---@return string? reason
function WebSocket:receive() end

--- Sends a ping (at most 125 bytes).
---@async
---@param data? string
---@return true? ok
---@return string? err
---@return string? code
function WebSocket:ping(data) end

--- Starts the close handshake, waits up to close_timeout for the peer's
--- close, closes the connection. Returns true.
---@async
---@param code? integer default 1000
---@param reason? string at most 123 bytes
---@return true
function WebSocket:close(code, reason) end

return tide
