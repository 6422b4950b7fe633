/* tide: an embeddable async runtime for Lua 5.4 on libuv.
 *
 * This is the only public header. Types are opaque; every name starts with
 * tide_ (TIDE_ for macros). Functions that can fail return 0 or a negative
 * error code: libuv's codes pass through unchanged (UV_ECONNREFUSED, ...),
 * tide's own are the TIDE_E* below; tide_strerror and tide_err_name name
 * either kind.
 *
 * Threads: everything here must be called on the runtime's thread (the one
 * that created it and runs its loop), except the functions marked "any
 * thread". The functions that take a tide_future_t or check for it return
 * TIDE_ETHREAD when called from another thread; the others do not check.
 *
 * A host, in short (docs/embedding.md has the long version):
 *
 *   tide_runtime_new(&rt, my_loop, my_L);         share loop and/or state
 *   tide_module_add(rt, "host", host_funcs);      require "host" in Lua
 *   tide_runtime_spawn_file(rt, "main.lua", 0);   the script, as a task
 *   uv_run(my_loop, UV_RUN_DEFAULT);              or tide_runtime_run_task
 *   tide_runtime_close(rt);                       cancels what is left
 *   uv_run(my_loop, UV_RUN_DEFAULT);              finishes tide's closes
 *
 * and a host function that Lua awaits:
 *
 *   static int host_compute(lua_State *L) {
 *     tide_future_t *f;
 *     if (tide_future_new(L, &f) != 0) return luaL_error(L, "no runtime");
 *     start_work(f);            later, from any thread: post_number, release
 *     return tide_await(L, -1); suspends the calling task until f completes
 *   } */
#ifndef TIDE_H
#define TIDE_H

#include <stddef.h>

#include <lauxlib.h>
#include <lua.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && !defined(TIDE_STATIC)
#define TIDE_EXTERN __attribute__((visibility("default")))
#else
#define TIDE_EXTERN
#endif

#define TIDE_VERSION_MAJOR 0
#define TIDE_VERSION_MINOR 1
#define TIDE_VERSION_PATCH 0
#define TIDE_VERSION_STRING "0.1.0"

/* Errors of tide's own, outside libuv's range. */
#define TIDE_ERRNO_MAP(XX)                                                     \
  XX(EINVAL, UV_EINVAL, "invalid argument")                                          \
  XX(ENOMEM, UV_ENOMEM, "not enough memory")                                             \
  XX(ESTATE, -30001, "future already completed")                               \
  XX(ECLOSED, -30002, "runtime or object is closed")                           \
  XX(ETHREAD, -30003, "called from the wrong thread")                          \
  XX(ERUNNING, -30004, "loop is already running")                              \
  XX(ESTOPPED, -30005, "loop stopped before the future completed")             \
  XX(ELUA, -30006, "Lua error")                                                \
  XX(ETLS, -30020, "TLS error")                                                \
  XX(ETLSVERIFY, -30021, "TLS certificate verification failed")                \
  XX(ETLSEOF, -30022, "connection closed without a TLS close_notify")

enum {
#define TIDE__ERR_ENUM(name, val, msg) TIDE_##name = (val),
  TIDE_ERRNO_MAP(TIDE__ERR_ENUM)
#undef TIDE__ERR_ENUM
      TIDE_OK = 0
};

/* Names an error code: "future already completed", "connection refused". */
TIDE_EXTERN const char *tide_strerror(int err);
/* The error's symbol: "ESTATE", "ECONNREFUSED". */
TIDE_EXTERN const char *tide_err_name(int err);
TIDE_EXTERN const char *tide_version(void);

typedef struct tide_loop_s tide_loop_t;
typedef struct tide_runtime_s tide_runtime_t;

/* ---------------------------------------------------------------- runtime
 *
 * A runtime is one loop and one Lua state with tide in it. Either may be
 * the host's: pass a uv_loop_t to share the host's loop (tide adds its
 * handles beside the host's and never closes what it did not create), a
 * lua_State to use the host's Lua (its main thread; tide registers
 * "tide.core" and the Lua modules in package.preload). NULL makes one. */
TIDE_EXTERN int tide_runtime_new(tide_runtime_t **out, uv_loop_t *loop,
                                 lua_State *L);

/* Cancels the pending tasks and waits (up to the cleanup grace period, see
 * tide_runtime_set_grace) for their cleanup (<close> variables, awaits in
 * them included), reports task errors nobody retrieved, closes
 * every handle tide made and frees the runtime. The host's loop and Lua
 * state stay usable. On the host's loop, the handles' close callbacks (and
 * the final free) run on the host's next uv_run; a loop tide made is run
 * to completion and closed here. Returns 0, TIDE_EINVAL (NULL),
 * TIDE_ERUNNING (called from inside the loop). */
TIDE_EXTERN int tide_runtime_close(tide_runtime_t *rt);
/* (tide_runtime_close also returns TIDE_ERUNNING when called from inside
 * Lua: a task, a host function, a callback posted with tide_runtime_post.
 * It must not be called from a libuv callback of the host's either, since
 * it runs the loop to let the cancelled tasks clean up: call it once the
 * host's uv_run has returned. Close the runtime before the Lua state.) */

/* Makes the first SIGINT or SIGTERM cancel the task at index idx of the
 * runtime's Lua stack (its cleanup then runs, within the grace period); a
 * second one ends the process by the signal's default action. idx 0 stops
 * watching and restores the dispositions the process had before. The tide
 * command does this for its script. Returns 0, TIDE_EINVAL or a libuv
 * error. */
TIDE_EXTERN int tide_runtime_catch_signals(tide_runtime_t *rt, int idx);
/* The signal (SIGINT, SIGTERM) that interrupted the watched task, or 0. */
TIDE_EXTERN int tide_runtime_interrupted(tide_runtime_t *rt);

/* Sets the cleanup grace period, in seconds (default 5): after a
 * cancellation, <close> handlers may await that long before their awaits
 * fail too; tide_runtime_close and the end of a run wait that long for the
 * cancelled tasks' cleanup. Returns 0 or TIDE_EINVAL (negative or NaN). */
TIDE_EXTERN int tide_runtime_set_grace(tide_runtime_t *rt, double seconds);

TIDE_EXTERN lua_State *tide_runtime_lua(tide_runtime_t *rt);
TIDE_EXTERN uv_loop_t *tide_runtime_uv(tide_runtime_t *rt);

/* Spawns a task running the function below the nargs arguments on top of
 * the runtime's Lua stack (all popped) and pushes the task. The task starts
 * on the loop's next turn. */
TIDE_EXTERN int tide_runtime_spawn(tide_runtime_t *rt, int nargs);

/* Runs the loop until the task at index idx of the runtime's Lua stack has
 * finished. Returns 0 if it returned (its values are left by
 * tide_task_results), TIDE_ELUA if it failed or was cancelled, TIDE_ESTOPPED
 * if nothing is left that could wake it (a deadlock). Errors of other tasks
 * that nobody retrieved are reported to the error handler before it
 * returns (as they are at the end of every tide_runtime_run). */
TIDE_EXTERN int tide_runtime_run_task(tide_runtime_t *rt, int idx);

/* ---------------------------------------------------------------- driving
 *
 * Three ways to drive the loop, freely mixed:
 *  - tide_runtime_run_task: until one task has finished;
 *  - tide_runtime_run: like uv_run (DEFAULT: until nothing is left, ONCE:
 *    one iteration, waiting for I/O if nothing is ready, NOWAIT: one
 *    iteration without blocking, for a host with a frame loop of its own);
 *  - the host's own uv_run on its loop: tide's handles are ordinary handles
 *    of that loop, so tasks advance whenever the host runs it. */
typedef enum {
  TIDE_RUN_DEFAULT = 0,
  TIDE_RUN_ONCE,
  TIDE_RUN_NOWAIT
} tide_run_mode;

/* Runs the loop in the given mode. Returns 1 if work is left (tasks ready,
 * timers, handles: the host's too when the loop is shared), 0 if not, or
 * TIDE_EINVAL, TIDE_ECLOSED, TIDE_ETHREAD, TIDE_ERUNNING (already running,
 * or called from inside Lua). */
TIDE_EXTERN int tide_runtime_run(tide_runtime_t *rt, tide_run_mode mode);

/* Makes the current tide_runtime_run (DEFAULT) or tide_runtime_run_task
 * return after the loop iteration in progress (uv_stop for tide's runs):
 * run returns 1, run_task TIDE_ESTOPPED with the task still pending. Call
 * it on the loop thread, e.g. from a C function a task calls or from a
 * host callback; a run started later runs normally. */
TIDE_EXTERN int tide_runtime_stop(tide_runtime_t *rt);

/* Driving tide from another event loop (an epoll or poll loop of the
 * host's, a GUI toolkit's), as cqueues' pollfd/timeout/step allow:
 *  - tide_runtime_backend_fd: a descriptor that becomes readable when tide
 *    has I/O to handle (libuv's epoll descriptor): watch it for reading;
 *  - tide_runtime_backend_timeout: how long the host may wait, in ms: 0
 *    when work is ready, the time to the next timer, or -1 (no timer: wait
 *    for the descriptor alone);
 *  - tide_runtime_step: runs one loop iteration without blocking (as
 *    TIDE_RUN_NOWAIT); returns 1 if work is left, 0 if not, or an error.
 * Call the three from the loop thread, outside Lua. */
TIDE_EXTERN int tide_runtime_backend_fd(tide_runtime_t *rt);
TIDE_EXTERN int tide_runtime_backend_timeout(tide_runtime_t *rt);
TIDE_EXTERN int tide_runtime_step(tide_runtime_t *rt);

/* Loads a script from a file (path; NULL: standard input) or from a string
 * and spawns it as a task with the nargs values on top of the runtime's Lua
 * stack as its arguments (popped; the script sees them as ...). Pushes the
 * task and returns 0; on a load error (syntax, missing file) pops the
 * arguments, pushes the error message and returns TIDE_ELUA. The task
 * starts on the loop's next turn. chunkname is as for luaL_loadbuffer
 * (NULL: "=(string)"). */
TIDE_EXTERN int tide_runtime_spawn_file(tide_runtime_t *rt, const char *path,
                                        int nargs);
TIDE_EXTERN int tide_runtime_spawn_string(tide_runtime_t *rt,
                                          const char *code,
                                          const char *chunkname, int nargs);

/* States of tasks and futures. */
enum {
  TIDE_STATE_PENDING = 0,
  TIDE_STATE_DONE,
  TIDE_STATE_FAILED,
  TIDE_STATE_CANCELLED
};

/* The state of the task at index idx of the runtime's Lua stack (a
 * TIDE_STATE_*), or TIDE_EINVAL if it is not a task. For a host that drives
 * the loop itself and polls for the end of its script. */
TIDE_EXTERN int tide_task_state(tide_runtime_t *rt, int idx);

/* ---------------------------------------------------------------- host
 *
 * The runtime of a Lua state: L may be any thread (coroutine) of it. NULL
 * if L has no runtime, or once it is closed. For C functions called from
 * Lua. */
TIDE_EXTERN tide_runtime_t *tide_runtime_from_lua(lua_State *L);

/* Receives every unhandled error: a task's error that nobody retrieved
 * (with the task's traceback), a failing done-callback or posted callback.
 * msg is only valid during the call. The default (cb NULL) prints it to
 * stderr; tide never exits the process. A Lua handler set with
 * tide.set_error_handler takes precedence while it is set. */
typedef void (*tide_error_cb)(tide_runtime_t *rt, const char *msg, void *ud);
TIDE_EXTERN int tide_runtime_set_error_handler(tide_runtime_t *rt,
                                               tide_error_cb cb, void *ud);

/* A pointer of the host's own, kept with the runtime. */
TIDE_EXTERN void tide_runtime_set_data(tide_runtime_t *rt, void *data);
TIDE_EXTERN void *tide_runtime_get_data(tide_runtime_t *rt);

/* Makes require(name) return a table of the functions in funcs (a
 * luaL_Reg array ending with {NULL, NULL}, which must stay valid while the
 * runtime is open: a static array). Registered in package.preload; when
 * the runtime closes, the module is removed from package.preload and
 * package.loaded (as are "tide" and "tide.*"), so a host Lua state does not
 * keep functions of a closed runtime. Returns 0, TIDE_EINVAL, TIDE_ECLOSED,
 * TIDE_ETHREAD. */
TIDE_EXTERN int tide_module_add(tide_runtime_t *rt, const char *name,
                                const luaL_Reg *funcs);

/* For the end of a lua_CFunction: "return tide_await(L, idx);" awaits the
 * future or task at idx and returns its values to the Lua caller (or
 * raises its error there), suspending the calling task meanwhile, exactly
 * as a socket read does. Raises a Lua error when not called inside a task,
 * or when the value at idx is not a future or task. */
TIDE_EXTERN int tide_await(lua_State *L, int idx);

/* ---------------------------------------------------------------- futures
 *
 * A host future is a tide future (the same Lua object as tide.future(),
 * awaitable, with add_done_callback, ...) that the host completes from C.
 * The host holds a handle until it calls tide_future_release; the Lua
 * future is pinned while the handle lives, and a pending host future keeps
 * the loop alive (as pending I/O does) until the host completes or
 * releases it.
 *
 * Completion is once: a second completion returns TIDE_ESTATE, as does a
 * completion (or a post, from any thread) after Lua code completed or
 * cancelled the future itself (f:set_result, f:cancel), or after it was
 * cancelled through tide_future_on_cancel. After the runtime has closed, every call on the
 * handle returns TIDE_ECLOSED and does nothing, except
 * tide_future_release, which frees it. Using a handle after releasing it is
 * a use after free. */
typedef struct tide_future_s tide_future_t;

/* Creates a pending future, pushes it onto L (any thread of a runtime's Lua
 * state) and stores the handle in *out. Returns 0, TIDE_EINVAL (no runtime
 * in L), TIDE_ECLOSED, TIDE_ETHREAD or TIDE_ENOMEM. */
TIDE_EXTERN int tide_future_new(lua_State *L, tide_future_t **out);

/* Pushes the Lua future onto L again. Returns 0 or an error. */
TIDE_EXTERN int tide_future_push(tide_future_t *f, lua_State *L);

/* Completes f with the nvalues values on top of L (L NULL: the runtime's
 * main Lua state), or fails it with the error value on top. The values are
 * popped, also when the answer is TIDE_ESTATE or TIDE_ECLOSED. Awaiters
 * wake on the loop's next turn, never inside this call. Returns 0,
 * TIDE_ESTATE, TIDE_ECLOSED, TIDE_EINVAL (NULL, or L of another state: the
 * stack is untouched) or TIDE_ETHREAD (untouched). */
TIDE_EXTERN int tide_future_resolve(tide_future_t *f, lua_State *L,
                                    int nvalues);
TIDE_EXTERN int tide_future_reject(tide_future_t *f, lua_State *L);

/* A TIDE_STATE_*, or TIDE_ECLOSED, TIDE_EINVAL, TIDE_ETHREAD. */
TIDE_EXTERN int tide_future_state(tide_future_t *f);

/* Any thread. Completes f on the loop thread, on its next turn: with one
 * integer, number or string (copied), or fails it with the error message
 * msg (copied; awaiting raises that string). Returns 0 (queued),
 * TIDE_ESTATE (already completed or posted), TIDE_ECLOSED (the runtime has
 * closed), TIDE_EINVAL or TIDE_ENOMEM. */
TIDE_EXTERN int tide_future_post_integer(tide_future_t *f, lua_Integer v);
TIDE_EXTERN int tide_future_post_number(tide_future_t *f, double v);
TIDE_EXTERN int tide_future_post_string(tide_future_t *f, const char *s,
                                        size_t len);
TIDE_EXTERN int tide_future_post_error(tide_future_t *f, const char *msg);

/* Any thread. Completes f on the loop thread with what push(L, arg) pushes
 * there: it returns how many values to complete f with, or -1 to fail f
 * with the value on top (a Lua error raised inside push fails f too). If f
 * can no longer be completed when the item is applied, push is called with
 * L NULL, to free arg only. Returns as the functions above; on an error
 * push is never called and arg stays the caller's. */
typedef int (*tide_push_cb)(lua_State *L, void *arg);
TIDE_EXTERN int tide_future_post(tide_future_t *f, tide_push_cb push,
                                 void *arg);

/* Loop thread. Asks to be told when f is cancelled: when the task awaiting
 * it is cancelled (directly, by a deadline, by its group, by the end of a
 * run) or Lua cancels it (f:cancel()), f is cancelled (awaiting it raises
 * a cancellation) and cb(f, data) runs on the loop thread, once, from the
 * loop (never inside the call that cancelled), so the host can stop its
 * work, as Python's run_in_executor does. From then on posts and resolves
 * answer TIDE_ESTATE, and f no longer keeps the loop alive. Without a
 * cancel callback, a task that stops awaiting a host future leaves it
 * pending (other tasks may still await it). Returns 0, TIDE_EINVAL,
 * TIDE_ETHREAD, TIDE_ECLOSED, or TIDE_ESTATE if f is already complete. */
typedef void (*tide_cancel_cb)(tide_future_t *f, void *data);
TIDE_EXTERN int tide_future_on_cancel(tide_future_t *f, tide_cancel_cb cb,
                                      void *data);

/* Loop thread. C done-callbacks, to chain on a future or a task without
 * Lua: once it is done, cb(rt, idx, state, data) runs from the loop, inside
 * the protected path, with the future or task at index idx of the
 * runtime's Lua stack (tide_task_results and tide_task_state work on it;
 * it is popped after the call) and its final TIDE_STATE_*. A task that the
 * runtime's close cancels still gets its call, during the close; what
 * never completes (a host future) is dropped without a call. Return 0,
 * TIDE_EINVAL (idx is no task), TIDE_ETHREAD, TIDE_ECLOSED or
 * TIDE_ENOMEM. */
typedef void (*tide_done_cb)(tide_runtime_t *rt, int idx, int state,
                             void *data);
TIDE_EXTERN int tide_future_add_done(tide_future_t *f, tide_done_cb cb,
                                     void *data);
TIDE_EXTERN int tide_task_add_done(tide_runtime_t *rt, int idx,
                                   tide_done_cb cb, void *data);

/* Any thread; NULL is a no-op. Gives up the host's handle. A future still
 * pending that the host has not completed (or posted a completion for)
 * fails with "tide: the host released the future without completing it",
 * so nothing awaits it forever. Off the loop thread, the Lua side is let go
 * on the loop's next turn. */
TIDE_EXTERN void tide_future_release(tide_future_t *f);

/* Any thread. Calls cb(rt, arg) on the loop thread on the loop's next
 * turn (in order of posting, inside Lua's protected path: cb may use the
 * runtime's Lua state and raise; errors go to the error handler). A post
 * wakes a running loop but does not keep a loop alive by itself (as
 * uv_async_send). Callbacks still queued when the runtime closes run during
 * tide_runtime_close. Returns 0, TIDE_EINVAL, TIDE_ENOMEM, or TIDE_ECLOSED
 * once the runtime is closing; rt must not be used once tide_runtime_close
 * has returned (stop or join the posting threads first, or post through a
 * future, which stays safe). */
typedef void (*tide_post_cb)(tide_runtime_t *rt, void *arg);
TIDE_EXTERN int tide_runtime_post(tide_runtime_t *rt, tide_post_cb cb,
                                  void *arg);

/* The Lua C module "tide.core" (what require "tide.core" calls). A state
 * without a runtime gets one with a loop of its own, closed when the state
 * is closed. */
TIDE_EXTERN int luaopen_tide_core(lua_State *L);

/* Pushes the results of the finished task at idx and returns their count;
 * for a failed or cancelled task pushes its error value and its traceback
 * (a string) and returns -1. The task's error counts as seen. */
TIDE_EXTERN int tide_task_results(tide_runtime_t *rt, int idx);

#ifdef __cplusplus
}
#endif
#endif
