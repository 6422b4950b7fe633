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
};

struct tide_runtime_s {
  tide_loop_t loop;          /* first: a loop pointer is a runtime pointer */
  lua_State *L;              /* the main thread; tasks are resumed from it */
  unsigned owns_L : 1;       /* L is ours: lua_close it on close */
  unsigned closing : 1;      /* tide_runtime_close has begun */
  tide__task_t *current;     /* the task being resumed, or NULL */
  tide__future_t done_future;/* always done: tide.yield() awaits it */
  tide__link_t tasks;        /* pending tasks, oldest first */
  tide__link_t failed;       /* failed tasks whose error nobody has seen */
  tide__link_t resources;    /* tide__resource_t still open */
  int ntasks;                /* length of tasks */
  int copool_ref;            /* registry: array of coroutines to reuse */
  int copool_n;              /* its length */
  uint64_t next_task_id;     /* the id the next task gets */
  int failed_ref;            /* registry: weak table task ptr -> failed task
                                whose error nobody has seen */
  int errh_ref;              /* registry: Lua error handler, or LUA_NOREF */
  /* The host's error handler (default: print to stderr). */
  void (*errh)(tide_runtime_t *rt, const char *msg, void *ud);
  void *errh_ud;
  /* The host's hook called once the runtime is fully closed. */
  void (*on_free)(tide_runtime_t *rt);
  void *userdata;            /* for the embedding host */
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
  tide__waiter_t cbwaiter;   /* registration for Lua done-callbacks */
  int cbref;                 /* registry: pins the object while Lua callbacks
                                wait; owner cbwaiter, released after they run */
} tide__awaitable_t;

/* User value slots of awaitable userdata. */
#define TIDE__UV_VALUES 1    /* its value(s) or error; a pending task's
                                coroutine */
#define TIDE__UV_CALLBACKS 2 /* table of Lua done-callbacks */
#define TIDE__UV_INFO 3      /* task: table of name, cancel_message,
                                traceback, cause (the task whose error was
                                last raised in it at an await) */
#define TIDE__UV_SPAWNER 4   /* task: the function that called spawn */
#define TIDE__TASK_NUV 4
#define TIDE__COPOOL_MAX 1024 /* finished coroutines kept for reuse */

struct tide__task_s {
  tide__awaitable_t aw;      /* the task's own future; first member */
  tide_runtime_t *rt;
  lua_State *co;             /* the coroutine it drives (anchored in UV 1);
                                NULL once finished */
  tide__waiter_t waiter;     /* our registration on the awaited future */
  tide__future_t *waiting;   /* what the coroutine awaits, or NULL */
  uintptr_t gen;             /* bumped per wake-up: stale ones are ignored */
  tide__link_t link;         /* in rt->tasks while pending, rt->failed while
                                failed and unobserved */
  int nres;                  /* done: how many results (UV 1: the value, or
                                a table of them) */
  int nargs;                 /* before the first step: how many arguments
                                (UV 1: the function, or {fn, args...}) */
  int ref;                   /* registry: pins the task while it is pending
                                (owner: the task; released by task_finish) */
  uint64_t id;               /* 1, 2, ...: names the task in reports */
  uint64_t parent_id;        /* the task that spawned it, 0 if none */
  int spawn_line;            /* line of the spawn call, or -1 */
  int cancel_requests;       /* task:cancel() calls not yet taken back with
                                task:uncancel() (asyncio's cancelling()) */
  unsigned started : 1;      /* the coroutine has been resumed once */
  unsigned must_cancel : 1;  /* deliver a cancellation at the next await */
  unsigned observed : 1;     /* someone has seen its error */
  unsigned scheduled : 1;    /* a wake-up is queued */
  /* tide.sleep's timer and future: a task awaits one thing at a time, so
   * one of each per task is enough and sleeping allocates nothing. */
  tide__timer_t timer;
  tide__future_t sleep;
};

/* runtime.c */
tide_runtime_t *tide__runtime_from(lua_State *L);
/* Closes the run-scoped resources (at the end of tide.run); returns how
 * many. */
int tide__runtime_close_run_scoped(tide_runtime_t *rt);
/* The one protected path from the loop into Lua: calls fn(L) with ud as its
 * only argument under lua_pcall with a traceback; a Lua error goes to the
 * runtime's error handler and never further. Returns the pcall status. */
int tide__runtime_pcall(tide_runtime_t *rt, lua_CFunction fn, void *ud);
/* Reports an unhandled error (message at the top of L's stack, popped) to
 * the Lua handler, or the host's, or stderr; task (may be NULL) is pushed
 * as its second argument. */
void tide__runtime_report(tide_runtime_t *rt, lua_State *L, int task_idx);

/* task.c */
tide__task_t *tide__task_new(lua_State *L, tide_runtime_t *rt, int nargs);
/* The C function at the bottom of every task's coroutine (it runs the
 * task's function under a yieldable pcall). */
int tide__task_body(lua_State *L);
tide__task_t *tide__task_check(lua_State *L, int idx);
void tide__task_cancel(tide__task_t *t, lua_State *L, int msg_idx);
int tide__task_results(lua_State *L, int idx);
int tide__task_push_results(lua_State *L, int idx, tide__task_t *t);
void tide__task_push_traceback(lua_State *L, int idx);
void tide__task_report_unobserved(tide_runtime_t *rt);
void tide__task_report_failed(lua_State *L, tide__task_t *t, int idx);
void tide__task_mark_observed(tide__task_t *t);
/* Pushes a pending task's userdata (through its pin), or nil. */
void tide__task_push(lua_State *L, tide__task_t *t);
/* Pushes the info table of the task at idx, made if needed. */
void tide__task_pushinfo(lua_State *L, int idx);
/* Pushes "task #id 'name' (spawned at src:line)" for reports. */
void tide__task_pushlabel(lua_State *L, tide__task_t *t, int idx);
/* Pushes the file:line where a pending task waits, or nil. */
int tide__task_pushwhere(lua_State *L, tide__task_t *t);

/* lfuture.c (await and errors) */
void tide__lua_open_future(lua_State *L, tide_runtime_t *rt);
void tide__lua_open_task(lua_State *L, tide_runtime_t *rt);
void tide__lua_open_coro(lua_State *L, tide_runtime_t *rt);
void tide__lua_open_timer(lua_State *L, tide_runtime_t *rt);
void tide__lua_open_signal(lua_State *L, tide_runtime_t *rt);
void tide__lua_open_opts(lua_State *L, tide_runtime_t *rt); /* lopts.c */
/* Raises "fname: unknown option 'k' (known: ...)" if the table at idx (any
 * other value is ignored) has a key not in known (NULL-terminated). */
void tide__lua_check_options(lua_State *L, int idx, const char *fname,
                             const char *const known[]);
void tide__lua_open_net(lua_State *L, tide_runtime_t *rt); /* ltcp.c */
void tide__lua_open_http(lua_State *L, tide_runtime_t *rt); /* lhttp.c */
void tide__lua_open_ws(lua_State *L, tide_runtime_t *rt);   /* lws.c */
tide__awaitable_t *tide__lua_toawaitable(lua_State *L, int idx);
/* Yields the running task to wait for f, continuing in k (with ctx). Raises
 * "await outside a task" from the main thread; raises the pending
 * cancellation of the current task instead of waiting. */
int tide__lua_await(lua_State *L, tide__future_t *f, lua_KContext ctx,
                    lua_KFunction k);
/* The same in two halves, for code that must prepare f only once it knows
 * the await will happen: _begin raises if it cannot (and returns the
 * running task), _yield yields. */
tide__task_t *tide__lua_await_begin(lua_State *L);
int tide__lua_await_yield(lua_State *L, tide__future_t *f, lua_KContext ctx,
                          lua_KFunction k);
/* For continuations: checks the wake token at the top of the stack, pops
 * it, and raises if the task was cancelled or resumed by hand. */
void tide__lua_check_wake(lua_State *L);
/* Pushes a tide error object {kind=, message=}. */
void tide__lua_pusherror(lua_State *L, const char *kind, const char *msg);
int tide__lua_iserror(lua_State *L, int idx, const char *kind);
int tide__lua_raise_cancel(lua_State *L);

#endif
