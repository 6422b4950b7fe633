/* tide: an embeddable async runtime for Lua 5.4 on libuv.
 *
 * This is the only public header. Types are opaque; every name starts with
 * tide_ (TIDE_ for macros). Functions that can fail return 0 or a negative
 * error code: libuv's codes pass through unchanged (UV_ECONNREFUSED, ...),
 * tide's own are the TIDE_E* below; tide_strerror and tide_err_name name
 * either kind.
 *
 * Threads: everything here must be called on the thread that runs the loop,
 * except the functions marked "any thread". */
#ifndef TIDE_H
#define TIDE_H

#include <stddef.h>

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
  XX(ELUA, -30006, "Lua error")

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

/* Cancels the pending tasks and lets them run their cleanup (<close>
 * variables, pcall handlers), reports task errors nobody retrieved, closes
 * every handle tide made and frees the runtime. The host's loop and Lua
 * state stay usable. On the host's loop, the handles' close callbacks (and
 * the final free) run on the host's next uv_run; a loop tide made is run
 * to completion and closed here. Returns 0, TIDE_EINVAL (NULL),
 * TIDE_ERUNNING (called from inside the loop). */
TIDE_EXTERN int tide_runtime_close(tide_runtime_t *rt);

TIDE_EXTERN lua_State *tide_runtime_lua(tide_runtime_t *rt);
TIDE_EXTERN uv_loop_t *tide_runtime_uv(tide_runtime_t *rt);

/* Spawns a task running the function below the nargs arguments on top of
 * the runtime's Lua stack (all popped) and pushes the task. The task starts
 * on the loop's next turn. */
TIDE_EXTERN int tide_runtime_spawn(tide_runtime_t *rt, int nargs);

/* Runs the loop until the task at index idx of the runtime's Lua stack has
 * finished. Returns 0 if it returned (its values are left by
 * tide_task_results), TIDE_ELUA if it failed or was cancelled, TIDE_ESTOPPED
 * if nothing is left that could wake it (a deadlock). */
TIDE_EXTERN int tide_runtime_run_task(tide_runtime_t *rt, int idx);

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
