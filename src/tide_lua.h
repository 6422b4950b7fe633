/* Internal declarations of the Lua-aware core: the runtime (a loop plus a
 * Lua state), tasks, awaitables, and the await protocol that every C module
 * uses to suspend a task. */
#ifndef TIDE_LUA_H
#define TIDE_LUA_H

#include <lauxlib.h>
#include <lua.h>

#include "tide_int.h"

/* Registry keys (their addresses are unique) and metatable names. */
#define TIDE__MT_FUTURE "tide.future"
#define TIDE__MT_TASK "tide.task"
#define TIDE__MT_ERROR "tide.error"

/* The await protocol. Code that suspends the running task yields exactly two
 * values, the sentinel and a pointer to the tide__future_t it waits for,
 * with lua_yieldk and a continuation. The task binds itself to the future
 * and, once the future completes, resumes the coroutine with one value: a
 * wake token. The continuation reads the token: WAKE means the future is
 * done and its outcome can be read; CANCEL means the task is being
 * cancelled and the continuation must raise (tide__lua_raise_cancel);
 * NOTASK means there is no task to suspend (the yield reached plain Lua
 * code). Any other value means someone resumed the coroutine by hand.
 * Values yielded in any other shape pass through nested coroutines
 * untouched. */
extern char tide__sentinel[1];
extern char tide__token_wake[1];
extern char tide__token_cancel[1];
extern char tide__token_notask[1];

typedef struct tide__task_s tide__task_t;

#define TIDE__SRCCACHE 16 /* slots of the runtime's spawn-site cache */

/* Something the runtime must close when it closes (a socket, a host
 * future's anchor, ...): its owner links it into rt->resources while it is
 * open and unlinks it when it closes by itself. close() must unlink it and
 * start closing (libuv handles finish in their close callbacks). */
typedef struct tide__resource_s tide__resource_t;
struct tide__resource_s {
  tide__link_t link;
  void (*close)(tide__resource_t *res);
  unsigned run_scoped : 1; /* ends with the tide.run that made it: a stream
                              closed by its user but still flushing, a
                              call_later not yet due (asyncio.run closes
                              its loop, and all of them with it) */
  unsigned server : 1;     /* a listening server (tide__server_close_all) */
};

struct tide_runtime_s {
  tide_loop_t loop;          /* first: a loop pointer is a runtime pointer */
  lua_State *L;              /* the main thread; tasks are resumed from it */
  unsigned owns_L : 1;       /* L is ours: lua_close it on close */
  unsigned closing : 1;      /* tide_runtime_close has begun */
  unsigned in_run : 1;       /* tide.run is running (its end included:
                                callbacks it makes may not start another) */
  tide__task_t *current;     /* the task being resumed, or NULL */
  tide__future_t done_future;/* always done: tide.yield() awaits it */
  tide__link_t tasks;        /* pending tasks, oldest first */
  tide__link_t failed;       /* failed tasks whose error nobody has seen */
  tide__link_t resources;    /* tide__resource_t still open */
  int ntasks;                /* length of tasks */
  int quiet_handles;         /* handles of tide's own made on demand (the
                                worker pools' wake-ups): tide.stats() leaves
                                them out */
  int copool_ref;            /* registry: array of coroutines to reuse */
  int pins_ref;              /* registry: table pinning pending tasks */
  int npinned, pins_peak;    /* pins held, and the most since its making */
  int body_ref;              /* registry: the task body closure (task.c) */
  int copool_n;              /* its length */
  uint64_t next_task_id;     /* the id the next task gets */
  int failed_ref;            /* registry: weak table task ptr -> failed task
                                whose error nobody has seen */
  int errh_ref;              /* registry: Lua error handler, or LUA_NOREF */
  int reserve_fd;            /* a descriptor kept to give back when out of
                                them: servers refuse what they cannot
                                accept (tcp.c); -1 if none */
  uint64_t accept_errors;    /* accepts that failed, all servers */
  uint64_t emfile_refused;   /* ... for want of descriptors (EMFILE/ENFILE),
                                not yet reported */
  uint64_t emfile_said;      /* loop time of the last EMFILE report */
  uint64_t heap_peak_kb;     /* the largest Lua heap seen at a collection
                                since the last trim (runtime.c) */
  int heap_check_queued;     /* the next drain looks at the heap */
  int eager_depth;           /* eager first steps running, nested */
  uint64_t tasks_failed;     /* tasks that ended with an error */
  uint64_t slow_ns;          /* tide.debug{slow_callback=}: steps longer
                                than this are reported; 0: off */
  uint64_t slowest_ns;       /* the longest step seen while it is on */
  uint64_t slow_steps;       /* steps noted as slow */
  uint64_t slow_reported;    /* ... of which reported */
  int slow_ref;              /* registry: slow-step reports to send (task.c
                                fills it, runtime.c reports after a drain) */
  uint64_t grace_ns;         /* cleanup grace period after a cancellation
                                (tide.cleanup_grace; default 5 s) */
  /* The host's error handler (default: print to stderr). */
  void (*errh)(tide_runtime_t *rt, const char *msg, void *ud);
  void *errh_ud;
  /* The host's hook called once the runtime is fully closed. */
  void (*on_free)(tide_runtime_t *rt);
  void *userdata;            /* for the embedding host */
  struct {                   /* task.c: is a spawning function tide's own
                                Lua? cached by function pointer */
    const void *fn;
    int tide;
  } srccache[TIDE__SRCCACHE];
  struct tide__interrupt_s *intr; /* interrupt.c: SIGINT/SIGTERM cancel a
                                task (tide command, tide.run); NULL until
                                first used */
  struct tide__hub_s *hub;   /* host.c/post.c: host futures and posting
                                from other threads (src/tide_host.h); NULL
                                until the embedding API first needs it */
};

/* Every Lua-visible awaitable (future, task) starts with this header, so the
 * await code handles them alike. */
typedef struct {
  tide__future_t fut;
  /* Pushes the outcome of the (done) awaitable at index idx: its values,
   * returning their count; raises its error or the cancellation. */
  int (*results)(lua_State *L, int idx);
  struct tide__cbblock_s *cb;/* the Lua done-callbacks' registration while
                                some wait, or NULL (lfuture.c: malloc'd on
                                the first add_done_callback, freed once they
                                have run or the object is collected) */
} tide__awaitable_t;

/* The registration of an awaitable's Lua done-callbacks. */
typedef struct tide__cbblock_s {
  tide__waiter_t waiter;     /* on the awaitable's own future */
  int ref;                   /* registry: pins the object until the
                                callbacks have run; released then */
} tide__cbblock_t;
/* Frees an awaitable's callback block (__gc of futures and tasks). */
void tide__lua_free_callbacks(tide__awaitable_t *aw);

/* A Lua future (tide.future(), a host future): src/awaitable.c. */
typedef struct tide__lfuture_s tide__lfuture_t;
struct tide__lfuture_s {
  tide__awaitable_t aw;      /* first: a future is an awaitable */
  int nvalues;               /* done: how many values (1 is kept bare in UV
                                1, more in a table) */
  /* A host future's (post.c): told at once when Lua completes or cancels
   * the future, so that later posts answer TIDE_ESTATE. */
  void (*settled)(tide__lfuture_t *f);
  void *host;                /* the host's tide_future_t, or NULL */
};

/* User value slots of awaitable userdata. */
#define TIDE__UV_VALUES 1    /* its value(s) or error; a pending task's
                                coroutine */
#define TIDE__UV_CALLBACKS 2 /* table of Lua done-callbacks */
#define TIDE__UV_INFO 3      /* task: table of name, cancel_message,
                                traceback, cause (the task whose error was
                                last raised in it at an await) */
/* Task: the function that called spawn. Only a task with a spawn line has
 * this slot; the arguments follow it (task.c). */
#define TIDE__UV_SPAWNER 4
#define TIDE__TASK_NUV 4
#define TIDE__COPOOL_MAX 1024 /* finished coroutines kept for reuse */
#define TIDE__GRACE_NS (5 * (uint64_t)1000000000) /* cleanup grace period */

struct tide__task_s {
  tide__awaitable_t aw;      /* the task's own future; first member (its
                                loop is the runtime's: tide__task_rt) */
  lua_State *co;             /* the coroutine it drives (anchored in UV 1);
                                NULL once finished */
  tide__waiter_t waiter;     /* our registration on the awaited future */
  tide__future_t *waiting;   /* what the coroutine awaits, or NULL */
  tide__link_t link;         /* in rt->tasks while pending, rt->failed while
                                failed and unobserved */
  tide__cstack_t cs;         /* its cancel scopes; the task is the root */
  int ref;                   /* rt->pins: pins the task while it is pending
                                (owner: the task; released by task_finish) */
  uint32_t gen;              /* bumped per wake-up: stale ones are ignored
                                (a stale one is never 2^32 wake-ups old) */
  uint64_t id;               /* 1, 2, ...: names the task in reports */
  uint64_t parent_id;        /* the task that spawned it, 0 if none */
  int spawn_line;            /* line of the spawn call, or -1 */
  unsigned n : 20;           /* before the first step: how many arguments
                                (the slots after the spawner's, task.c);
                                done: how many results (UV 1: the value, or
                                a table of them); one field, as the two
                                never overlap. Both are at most a Lua stack
                                (LUAI_MAXSTACK, checked below): 20 bits,
                                beside the flags */
  unsigned started : 1;      /* the coroutine has been resumed once */
  unsigned observed : 1;     /* someone has seen its error */
  unsigned scheduled : 1;    /* a wake-up is queued */
  unsigned cancel_wake : 1;  /* ... and it delivers a cancellation */
  unsigned in_cancel : 1;    /* passing its cancellation on to what it
                                awaits (breaks cycles of awaits) */
  unsigned propagated : 1;   /* the task it awaits took its cancellation
                                over: it wakes when that one has ended */
  unsigned cleanup : 1;      /* it waits in a <close> handler run by a
                                cancellation: the grace period applies */
  unsigned grace_over : 1;   /* the grace period ended, or a second
                                cancellation came: cleanup awaits fail */
  unsigned has_ctx : 1;      /* its info table holds a context (lcontext.c) */
  unsigned ctx_shared : 1;   /* ... shared with its spawner or a child:
                                copied before a write */
  unsigned graced : 1;       /* a cleanup grace period has begun (its timer
                                is w->grace): tide__task_grace_reset ends it */
  unsigned own_body : 1;     /* its function is a body itself (returns
                                true, results or false, error as
                                tide__task_body does): no wrapper frame */
  struct tide__taskwait_s *w; /* tide.sleep's timer and its wait future:
                                made on first need (tide__task_wait) */
};

typedef char tide__task_n_fits[LUAI_MAXSTACK < (1 << 20) ? 1 : -1];

/* The task's runtime: its future's loop is the runtime's (the first
 * member), so a task does not keep the pointer twice. */
static inline tide_runtime_t *tide__task_rt(const tide__task_t *t) {
  return (tide_runtime_t *)t->aw.fut.loop;
}

/* tide.sleep's timer and a task's own wait future (a sleep, or a park on a
 * wait queue, with qlink in the queue): a task awaits one thing at a time,
 * so one of each per task is enough, and sleeping or waiting on a lock or a
 * queue again allocates nothing. With them, the timer of the grace period
 * of a cleanup after a cancellation. Made on the task's first sleep, park
 * or grace period and freed when it ends: a task that only awaits streams
 * and futures (an idle connection's) does not carry its 136 bytes. */
typedef struct tide__taskwait_s {
  tide__timer_t timer;
  tide__future_t sleep;
  tide__link_t qlink;        /* in a wait queue's list while parked */
  struct tide__waitq_s *parkq; /* ... that queue, or NULL */
  tide__task_t *task;        /* whose */
  tide__timer_t grace;       /* the cleanup grace period (graced) */
} tide__taskwait_t;

/* The wait block of task t (the running task of L), made on first call;
 * raises a memory error if it cannot be. */
tide__taskwait_t *tide__task_wait(lua_State *L, tide__task_t *t);

/* A FIFO of parked tasks (Lock, Semaphore, Event, Queue ...): the tasks
 * themselves are the nodes (qlink), so waiting allocates nothing, and a
 * cancelled waiter leaves in O(1). */
typedef struct tide__waitq_s {
  tide__link_t tasks;        /* parked tasks, oldest first */
  int n;                     /* how many */
} tide__waitq_t;

/* runtime.c */
/* Makes the runtime for L and its box (left in the registry). uv is the
 * host's loop, or NULL for a loop of our own; owned: the box's __gc closes
 * the runtime (a runtime made by require). */
int tide__runtime_create(lua_State *L, uv_loop_t *uv, int owned,
                         tide_runtime_t **out);
/* Pushes the box of L's runtime (nil if none): a userdata whose first
 * field is the runtime pointer, NULL once it has closed. */
void tide__runtime_pushbox(lua_State *L);
/* Cancels every pending task and waits for their cleanup (the grace
 * period at most). */
void tide__runtime_cancel_all(tide_runtime_t *rt);
/* The runtime of the running code, raising if it is closed. */
tide_runtime_t *tide__runtime_from(lua_State *L);
/* Closes the run-scoped resources (at the end of tide.run); returns how
 * many. */
int tide__runtime_close_run_scoped(tide_runtime_t *rt);
/* Is a resource scoped to the run still open? */
int tide__runtime_has_run_scoped(const tide_runtime_t *rt);
/* The one protected path from the loop into Lua: calls fn(L) with ud as its
 * only argument under lua_pcall with a traceback; a Lua error goes to the
 * runtime's error handler and never further. Returns the pcall status. */
int tide__runtime_pcall(tide_runtime_t *rt, lua_CFunction fn, void *ud);
/* Reports an unhandled error (message at the top of L's stack, popped) to
 * the Lua handler, or the host's, or stderr; task (may be NULL) is pushed
 * as its second argument. */
void tide__runtime_report(tide_runtime_t *rt, lua_State *L, int task_idx);

/* build/gen/embed.c (tools/embed.lua): preloads tide's Lua files. */
void tide__lua_preload_embedded(lua_State *L);

/* interrupt.c */
/* Watches SIGINT and SIGTERM for task t (NULL: stop watching): the first
 * signal cancels t, a second one ends the process (default action). The
 * previous dispositions are restored when watching stops. Returns 0 or a
 * libuv error. */
int tide__interrupt_watch(tide_runtime_t *rt, tide__task_t *t);
/* The signal that interrupted the watched task (0: none), reset by the
 * next watch. */
int tide__interrupt_signal(tide_runtime_t *rt);
/* The registry key of the stopping hooks: a table owner -> function (weak
 * keys), each called with its owner when SIGTERM's drain begins
 * (core._on_stopping in lworkers.c fills it). */
extern char tide__stopping_hooks_key[1];
/* Has a SIGTERM's drain begun (servers closed, connections finishing)? */
int tide__interrupt_stopping(tide_runtime_t *rt);
/* How many libuv handles interrupt.c holds (tide.stats() leaves them out). */
int tide__interrupt_handles(tide_runtime_t *rt);
/* Closes the watchers (the runtime's close). */
void tide__interrupt_close(tide_runtime_t *rt);

/* task.c */
tide__task_t *tide__task_new(lua_State *L, tide_runtime_t *rt, int nargs);
/* The same, running the task's first step now, up to its first await
 * (asyncio's eager task factory): a task that ends without awaiting never
 * waits for the loop. */
tide__task_t *tide__task_new_eager(lua_State *L, tide_runtime_t *rt,
                                   int nargs);
/* The same for a function that is a task body itself (own_body): it
 * catches its errors and returns true and its results, or false and the
 * error, as tide__task_body does; the coroutine holds no wrapper frame
 * (accepted connections, ltcp.c). */
tide__task_t *tide__task_new_body(lua_State *L, tide_runtime_t *rt,
                                  int nargs);
/* The C function at the bottom of every task's coroutine (it runs the
 * task's function under a yieldable pcall). */
int tide__task_body(lua_State *L);
/* The body of an accepted connection's task (ltcp.c), at the bottom of its
 * coroutine in place of tide__task_body. */
int tide__lua_conn_body(lua_State *L);
/* Makes the runtime's task body closure (rt->body_ref). */
void tide__task_setup(lua_State *L, tide_runtime_t *rt);
tide__task_t *tide__task_check(lua_State *L, int idx);
/* task:cancel(): cancels the task's root scope (the message at msg_idx of
 * L goes with it; 0: none). A second cancel interrupts its cleanup. */
/* What a cancellation reaching the innermost point of a task's scope stack
 * calls (the stack is t->cs): the task wakes its await with the
 * cancellation (during cleanup awaits, that ends the grace period). */
void tide__task_interrupt(tide__cstack_t *cs);
/* Pushes a new table with the raw key/value pairs of the table at idx (a
 * shallow copy; no metatable). */
void tide__lua_copytable(lua_State *L, int idx);
void tide__task_cancel(tide__task_t *t, lua_State *L, int msg_idx);
/* Frees what a task holds outside Lua (its grace timer) and closes its
 * scopes: the task has finished or is being dropped. */
void tide__task_release(tide__task_t *t);
void tide__waitq_init(tide__waitq_t *q);
/* Parks the running task t on q: returns the future to yield on (its own
 * wait future, reset). A cancellation takes it off q. */
tide__future_t *tide__task_park(lua_State *L, tide__task_t *t,
                                tide__waitq_t *q);
/* Wakes the oldest task parked on q (taken off it); returns it, or NULL if
 * none. Its await completes normally (the wake token), unless a
 * cancellation reaches it before it runs: then its continuation sees the
 * CANCEL token and tide__task_was_woken tells it that it had been woken,
 * so it can pass on what it was handed. */
tide__task_t *tide__waitq_wake(tide__waitq_t *q);
/* The same, ending the park in state: TIDE__DONE (handed what it waited
 * for) or TIDE__FAILED (woken without it: a queue closed, say). */
tide__task_t *tide__waitq_wake_as(tide__waitq_t *q, int state);
/* A park that no cancellation ends (Condition taking its lock back): the
 * task waits until it is woken; its cancellation is raised after. */
tide__future_t *tide__task_park_uncancellable(lua_State *L, tide__task_t *t,
                                              tide__waitq_t *q);
/* Lets go of every task parked on q (the queue's owner is collected): they
 * are never woken. */
void tide__waitq_clear(tide__waitq_t *q);
static inline int tide__task_was_woken(const tide__task_t *t) {
  return t->w != NULL && t->w->sleep.state == TIDE__DONE;
}

/* Starts the grace period of a task's cleanup (if not started); returns 0
 * or TIDE_ENOMEM. */
int tide__task_grace_start(tide__task_t *t);
/* Ends the grace period bookkeeping: the cancellation is gone. */
void tide__task_grace_reset(tide__task_t *t);
int tide__task_results(lua_State *L, int idx);
int tide__task_push_results(lua_State *L, int idx, tide__task_t *t);
void tide__task_push_traceback(lua_State *L, int idx);
/* runtime.c: reports failed tasks whose error nobody has seen (all of them,
 * or the one at idx). */
void tide__task_report_unobserved(tide_runtime_t *rt);
void tide__task_report_failed(lua_State *L, tide__task_t *t, int idx);
void tide__task_mark_observed(tide__task_t *t);
/* Releases a task's pin (it has finished, or is dropped). */
void tide__task_unpin(lua_State *L, tide__task_t *t);
/* Pushes a pending task's userdata (through its pin), or nil. */
void tide__task_push(lua_State *L, tide__task_t *t);
/* Pushes the info table of the task at idx, made if needed. */
void tide__task_pushinfo(lua_State *L, int idx);
/* Pushes "task #id 'name' (spawned at src:line)" for reports. */
void tide__task_pushlabel(lua_State *L, tide__task_t *t, int idx);
/* Pushes the file:line where a pending task waits, or nil. */
int tide__task_pushwhere(lua_State *L, tide__task_t *t);

/* awaitable.c (futures' values, errors), await.c (the await protocol),
 * the l*.c bindings */
void tide__lua_open_future(lua_State *L, tide_runtime_t *rt);
void tide__lua_open_task(lua_State *L, tide_runtime_t *rt);
void tide__lua_open_coro(lua_State *L, tide_runtime_t *rt);
void tide__lua_open_timer(lua_State *L, tide_runtime_t *rt);
void tide__lua_open_signal(lua_State *L, tide_runtime_t *rt);
void tide__lua_open_opts(lua_State *L, tide_runtime_t *rt); /* lopts.c */
/* Option key of the table at idx (if it is one) as an integer in min..max,
 * dflt when absent; raises "fname: option 'key': integer min..max
 * expected, got ..." otherwise (lopts.c). */
lua_Integer tide__lua_opt_integer(lua_State *L, int idx, const char *key,
                                  const char *fname, lua_Integer min,
                                  lua_Integer max, lua_Integer dflt);
void tide__lua_open_scope(lua_State *L, tide_runtime_t *rt); /* lscope.c */
void tide__lua_open_sync(lua_State *L, tide_runtime_t *rt);  /* lsync.c */
void tide__lua_open_queue(lua_State *L, tide_runtime_t *rt); /* lqueue.c */
void tide__lua_open_context(lua_State *L, tide_runtime_t *rt); /* lcontext.c */
/* registry key of the root context (task.c; see lcontext.c) */
extern char tide__ctx_root_key[1];
/* Raises "fname: unknown option 'k' (known: ...)" if the table at idx (any
 * other value is ignored) has a key not in known (NULL-terminated). */
void tide__lua_check_options(lua_State *L, int idx, const char *fname,
                             const char *const known[]);
/* The networking bindings, each into the _net table at the top of L (the
 * runtime box at top - 1): lstream.c, ltcp.c, lpipe.c, ludp.c, ldns.c,
 * ltls.c (which also adds starttls and tlsinfo to the stream methods). */
void tide__lua_open_stream(lua_State *L, tide_runtime_t *rt);
void tide__lua_open_tcp(lua_State *L, tide_runtime_t *rt);
void tide__lua_open_pipe(lua_State *L, tide_runtime_t *rt);
void tide__lua_open_udp(lua_State *L, tide_runtime_t *rt);
void tide__lua_open_dns(lua_State *L, tide_runtime_t *rt);
void tide__lua_open_fs(lua_State *L, tide_runtime_t *rt);  /* lfs.c */
void tide__lua_open_file(lua_State *L, tide_runtime_t *rt); /* lfile.c */
void tide__lua_open_watch(lua_State *L, tide_runtime_t *rt); /* lwatch.c */
void tide__lua_open_work(lua_State *L, tide_runtime_t *rt); /* lwork.c */
void tide__lua_open_process(lua_State *L, tide_runtime_t *rt); /* lprocess.c */
void tide__lua_open_workers(lua_State *L, tide_runtime_t *rt); /* lworkers.c */
/* HTTP/1.1 and WebSocket: core._http (lhttp.c) and core._ws (lws.c), into
 * the module table at the top of L (the runtime box at top - 1). */
void tide__lua_open_http(lua_State *L, tide_runtime_t *rt);
void tide__lua_open_ws(lua_State *L, tide_runtime_t *rt);
void tide__lua_open_tls(lua_State *L, tide_runtime_t *rt);
void tide__lua_open_repl(lua_State *L, tide_runtime_t *rt); /* lrepl.c */
tide__awaitable_t *tide__lua_toawaitable(lua_State *L, int idx);
/* Pushes a new pending Lua future of rt. */
tide__lfuture_t *tide__lua_newfuture(lua_State *L, tide_runtime_t *rt);
/* Completes the future at idx with the n values above it (popped), or fails
 * it with the error at the top (popped). TIDE_ESTATE if it was done. */
int tide__lua_future_resolve(lua_State *L, int idx, int n);
int tide__lua_future_reject(lua_State *L, int idx);
/* Cancels the pending future at idx (the error at the top, popped, is what
 * awaiting it raises; none: a cancellation made when asked). */
int tide__lua_future_cancel(lua_State *L, int idx);
/* Yields the running task to wait for f, continuing in k (with ctx). Raises
 * "await outside a task" from the main thread; raises the pending
 * cancellation of the current task instead of waiting. */
int tide__lua_await(lua_State *L, tide__future_t *f, lua_KContext ctx,
                    lua_KFunction k);
/* The same in two halves, for code that must prepare f only once it knows
 * the await will happen: _begin raises if it cannot (and returns the
 * running task), _yield yields. */
tide__task_t *tide__lua_await_begin(lua_State *L);
/* The same without the cancellation check: for a wait that must happen
 * whatever (an uncancellable park). */
tide__task_t *tide__lua_await_begin_uncancellable(lua_State *L);
int tide__lua_await_yield(lua_State *L, tide__future_t *f, lua_KContext ctx,
                          lua_KFunction k);
/* For continuations: checks the wake token at the top of the stack, pops
 * it, and raises if the task was cancelled or resumed by hand. */
void tide__lua_check_wake(lua_State *L);
/* The metatables of tasks, futures and error objects, also kept in the
 * registry under these keys (their addresses): fetching one by pointer is a
 * plain hash lookup, where luaL_setmetatable and luaL_testudata intern the
 * name first. Set by the bindings that make them (ltask.c, lfuture.c). */
extern char tide__mt_task[1], tide__mt_future[1], tide__mt_error[1];

static inline void tide__lua_setmt(lua_State *L, void *key) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, key);
  lua_setmetatable(L, -2);
}

/* The userdata at idx if its metatable is the one under key, else NULL. */
static inline void *tide__lua_testmt(lua_State *L, int idx, void *key) {
  void *p = lua_touserdata(L, idx);
  int same;
  if (p == NULL || !lua_getmetatable(L, idx)) return NULL;
  lua_rawgetp(L, LUA_REGISTRYINDEX, key);
  same = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return same ? p : NULL;
}

/* The userdata at idx, whose metatable must be the one at upvalue mtup of
 * the running C function; raises a type error naming tname otherwise. For
 * methods on the hot path: luaL_checkudata looks the metatable up in the
 * registry by name, about ten times the cost. */
static inline void *tide__lua_checkself(lua_State *L, int idx, int mtup,
                                        const char *tname) {
  void *p = lua_touserdata(L, idx);
  if (p != NULL && lua_getmetatable(L, idx)) {
    int same = lua_rawequal(L, -1, lua_upvalueindex(mtup));
    lua_pop(L, 1);
    if (same) return p;
  }
  luaL_typeerror(L, idx, tname);
  return NULL;
}

/* Pushes a tide error object {kind=, message=}. */
void tide__lua_pusherror(lua_State *L, const char *kind, const char *msg);
int tide__lua_iserror(lua_State *L, int idx, const char *kind);
int tide__lua_raise_cancel(lua_State *L);
/* Pushes the error tide__lua_raise_cancel raises (possibly an object shared
 * by every plain task cancellation: copy it before changing it). */
void tide__lua_push_cancel(lua_State *L);

#endif
