/* Lua binding of worker pools: tide.offload(fn, ...) and
 * tide.worker_pool{size=}.
 *
 * A job is fn and its arguments copied into a worker thread's own Lua
 * state (lxfer.c: data and plain functions copy, anything else is refused
 * with an error naming it), run there under a traceback handler, and its
 * results (or error) copied back into the task that waits. Each worker
 * thread makes its Lua state once (luaL_newstate, the standard libraries,
 * the loop state's package.path and package.cpath so require finds the
 * same modules) and reuses it for every job it runs: globals a job sets
 * stay for the next jobs of that thread.
 *
 * Cancelling the waiting task takes a queued job back (it never runs); a
 * running one is interrupted the way lua.c stops a script on Ctrl-C: a
 * signal (WORK__SIGNAL, a real-time one) sent to the worker's thread runs a
 * handler there that sets a count hook, and the hook raises in the job.
 * A hook set for good would cost every job dearly: with any count hook,
 * Lua 5.4 calls into its hook machinery at every instruction (about twice
 * the time of plain Lua code), so it is set only when a job is to stop.
 * A job busy inside one C call (a huge string.rep, os.execute) only stops
 * when the call returns.
 *
 * tide.offload uses the runtime's default pool, made at its first use with
 * as many threads as libuv counts CPUs (uv_available_parallelism); a
 * worker_pool is a pool of its own. Both are closed by the runtime's close,
 * which interrupts running jobs and joins every thread. */
#include <stdlib.h>
#include <string.h>

#include <pthread.h>
#include <signal.h>

#include <lualib.h>

#include "../tide_work.h"

#define TIDE__MT_POOL "tide.worker_pool"
/* The signal that tells a worker thread to look at its job's flag. */
#define WORK__SIGNAL (SIGRTMIN + 4)

void tide__xfer_encode(lua_State *L, int first, int n, const char *what,
                       int base, char **out, size_t *outlen);
char *tide__xfer_encode_error(const char *msg, const char *tb,
                              size_t *outlen);
int tide__xfer_decode(lua_State *L, const char *p, size_t len);

static char default_pool_key[1]; /* registry: the default pool's box */
static uv_once_t handler_once = UV_ONCE_INIT; /* WORK__SIGNAL's handler */
static const char *const tb_key = "tide.offload.traceback";

typedef struct {
  tide__job_t job;   /* first */
  char *in;          /* the function and its arguments, encoded */
  size_t inlen;
  char *out;         /* the answer (true, results... | false, err, tb) */
  size_t outlen;
} lwjob_t;

/* A worker thread's context. */
typedef struct {
  lua_State *W;
  tide__job_t *current; /* the job it runs, for the hook */
  pthread_t thread;     /* the thread, for WORK__SIGNAL */
} worker_t;

/* What the threads need from the loop's state, copied at the pool's
 * creation. */
typedef struct {
  char *path, *cpath;
} pool_ud_t;

typedef struct {
  tide__pool_t *pool; /* NULL once closing */
} lpool_t;

/* ------------------------------------------------------------ in a thread */

/* The count hook, set by the signal handler below. If the job is to stop
 * it raises, and stays to raise again at every instruction: a pcall in the
 * job catches the error, but the next instruction outside that pcall
 * raises again, so the job unwinds however many pcalls it nests. A stale
 * signal (its job already over) just removes the hook. */
static void work_hook(lua_State *W, lua_Debug *ar) {
  worker_t *w = *(worker_t **)lua_getextraspace(W);
  int why = w->current != NULL ? tide__job_interrupted(w->current) : 0;
  (void)ar;
  if (why == 0) {
    lua_sethook(W, NULL, 0, 0);
    return;
  }
  if (why == TIDE__JOB_CLOSING)
    luaL_error(W, "tide: offloaded job interrupted: the worker pool is "
                  "closing");
  luaL_error(W, "tide: offloaded job interrupted: its task was cancelled");
}

/* Runs on the worker's own thread, which the signal interrupted: only
 * lua_sethook, which Lua allows from a signal handler (lua.c's laction). */
static void work_on_signal(int sig, siginfo_t *si, void *uc) {
  worker_t *w = si->si_value.sival_ptr;
  (void)sig;
  (void)uc;
  if (w != NULL && w->W != NULL) lua_sethook(w->W, work_hook, LUA_MASKCOUNT, 1);
}

/* The pool's interrupt hook (its mutex held, the job running on w's
 * thread, which therefore has not ended). */
static void work_interrupt(void *ctx) {
  worker_t *w = ctx;
  union sigval v;
  if (w == NULL) return;
  v.sival_ptr = w;
  pthread_sigqueue(w->thread, WORK__SIGNAL, v);
}

static void work_install_handler(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = work_on_signal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART; /* a job's system calls go on */
  sigemptyset(&sa.sa_mask);
  sigaction(WORK__SIGNAL, &sa, NULL);
}

static void work_signal_mask(int how) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, WORK__SIGNAL);
  pthread_sigmask(how, &set, NULL);
}

static void *work_init(tide__pool_t *pool) {
  pool_ud_t *ud = pool->ud;
  worker_t *w = calloc(1, sizeof(*w));
  if (w == NULL) return NULL;
  w->thread = pthread_self();
  work_signal_mask(SIG_UNBLOCK);
  w->W = luaL_newstate();
  if (w->W == NULL) return w;
  *(worker_t **)lua_getextraspace(w->W) = w;
  luaL_openlibs(w->W);
  lua_getglobal(w->W, "package");
  if (ud->path != NULL) {
    lua_pushstring(w->W, ud->path);
    lua_setfield(w->W, -2, "path");
  }
  if (ud->cpath != NULL) {
    lua_pushstring(w->W, ud->cpath);
    lua_setfield(w->W, -2, "cpath");
  }
  lua_settop(w->W, 0);
  return w;
}

static void work_fini(void *ctx) {
  worker_t *w = ctx;
  /* A signal still on its way must not meet a closed state: blocked, it
   * is dropped when the thread ends. */
  work_signal_mask(SIG_BLOCK);
  if (w == NULL) return;
  if (w->W != NULL) lua_close(w->W);
  free(w);
}

/* Message handler: keeps the worker's traceback aside (registry) and
 * leaves the error value itself as it is. */
static int work_msgh(lua_State *W) {
  luaL_traceback(W, W, "(in the worker)", 1);
  lua_setfield(W, LUA_REGISTRYINDEX, tb_key);
  lua_settop(W, 1);
  return 1;
}

/* In protected mode in the worker's state: decodes the function and its
 * arguments, calls it, encodes the answer into the job. */
static int work_main(lua_State *W) {
  lwjob_t *j = lua_touserdata(W, 1);
  int n, top;
  lua_settop(W, 0);
  lua_pushcfunction(W, work_msgh); /* 1 */
  n = tide__xfer_decode(W, j->in, j->inlen);
  if (lua_pcall(W, n - 1, LUA_MULTRET, 1) == LUA_OK) {
    top = lua_gettop(W);
    lua_pushboolean(W, 1);
    lua_replace(W, 1); /* true, results... */
    tide__xfer_encode(W, 1, top, "result", 0, &j->out, &j->outlen);
    return 0;
  }
  /* false, the error, the traceback. An error value that cannot be a copy
   * (a userdata, an object with a metatable) travels as its string, as the
   * lua command would print it. */
  top = lua_type(W, -1);
  if (top == LUA_TTABLE && lua_getmetatable(W, -1)) {
    lua_pop(W, 1);
    top = LUA_TUSERDATA;
  }
  if (top == LUA_TLIGHTUSERDATA || top >= LUA_TFUNCTION) {
    luaL_tolstring(W, -1, NULL);
    lua_remove(W, -2);
  }
  lua_pushboolean(W, 0);
  lua_replace(W, 1);
  lua_getfield(W, LUA_REGISTRYINDEX, tb_key);
  lua_pushnil(W);
  lua_setfield(W, LUA_REGISTRYINDEX, tb_key);
  tide__xfer_encode(W, 1, 3, "error value", -1, &j->out, &j->outlen);
  return 0;
}

static void work_run(tide__job_t *job, void *ctx) {
  lwjob_t *j = (lwjob_t *)job;
  worker_t *w = ctx;
  const char *msg = "tide: not enough memory for a worker's Lua state";
  if (w != NULL && w->W != NULL) {
    lua_State *W = w->W;
    w->current = job;
    lua_settop(W, 0);
    lua_pushcfunction(W, work_main);
    lua_pushlightuserdata(W, j);
    if (lua_pcall(W, 1, 0, 0) == LUA_OK) msg = NULL;
    else if ((msg = lua_tostring(W, -1)) == NULL)
      msg = "tide: offloaded job failed";
    w->current = NULL;
    lua_sethook(W, NULL, 0, 0); /* the hook of an interruption, if any */
    if (msg != NULL) {
      /* The answer itself could not be made (a result that does not copy,
       * no memory): the job fails with why. */
      free(j->out);
      j->out = tide__xfer_encode_error(msg, "", &j->outlen);
    }
    lua_settop(W, 0);
    return;
  }
  j->out = tide__xfer_encode_error(msg, "", &j->outlen);
}

/* ------------------------------------------------------------ the loop side */

static void lwjob_free(tide__job_t *job) {
  lwjob_t *j = (lwjob_t *)job;
  free(j->in);
  free(j->out);
  free(j);
}

static void pool_ud_free(void *p) {
  pool_ud_t *ud = p;
  free(ud->path);
  free(ud->cpath);
  free(ud);
}

static char *dup_package_field(lua_State *L, const char *field) {
  char *s = NULL;
  lua_getglobal(L, "package");
  if (lua_istable(L, -1) && lua_getfield(L, -1, field) == LUA_TSTRING) {
    s = strdup(lua_tostring(L, -1));
    if (s == NULL) luaL_error(L, "tide: not enough memory");
  }
  lua_settop(L, lua_gettop(L) - (lua_istable(L, -1) ? 1 : 2));
  return s;
}

/* Makes a pool (its Lua box pushed) of size threads; a run-scoped one
 * ends with the tide.run that made it. */
static tide__pool_t *pool_make(lua_State *L, int size, int run_scoped) {
  tide_runtime_t *rt = tide__runtime_from(L);
  pool_ud_t *ud = calloc(1, sizeof(*ud));
  lpool_t *box;
  tide__pool_t *p;
  int top = lua_gettop(L);
  if (ud == NULL) luaL_error(L, "tide: not enough memory");
  ud->path = dup_package_field(L, "path");
  ud->cpath = dup_package_field(L, "cpath");
  lua_settop(L, top);
  box = lua_newuserdatauv(L, sizeof(*box), 0);
  box->pool = NULL;
  luaL_setmetatable(L, TIDE__MT_POOL);
  if (tide__pool_new(rt, size, work_init, work_fini, ud, pool_ud_free,
                     &p) != 0) {
    pool_ud_free(ud);
    luaL_error(L, "tide: cannot make a worker pool: not enough memory");
  }
  box->pool = p;
  p->slot = (void **)&box->pool;
  p->res.run_scoped = run_scoped != 0;
  p->interrupt = work_interrupt;
  uv_once(&handler_once, work_install_handler);
  return p;
}

/* The default pool, made at the first offload. */
static tide__pool_t *default_pool(lua_State *L) {
  lpool_t *box;
  tide__pool_t *p;
  lua_rawgetp(L, LUA_REGISTRYINDEX, default_pool_key);
  box = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (box != NULL && box->pool != NULL) return box->pool;
  p = pool_make(L, tide__pool_default_size(), 0);
  lua_rawsetp(L, LUA_REGISTRYINDEX, default_pool_key);
  return p;
}

static int offload_k(lua_State *L, int status, lua_KContext ctx) {
  lwjob_t *j = (lwjob_t *)ctx;
  int n;
  (void)status;
  if (lua_type(L, -1) != LUA_TLIGHTUSERDATA ||
      lua_touserdata(L, -1) != tide__token_wake) {
    tide__job_release(&j->job);
    tide__lua_check_wake(L); /* raises */
  }
  lua_settop(L, 0);
  if (j->job.taken || j->out == NULL) {
    tide__job_release(&j->job);
    return luaL_error(L, "tide: the worker pool closed before the job ran");
  }
  n = tide__xfer_decode(L, j->out, j->outlen);
  tide__job_release(&j->job);
  if (lua_toboolean(L, 1)) return n - 1;
  /* The job failed: its error value, with the worker's traceback added to
   * a message (tables are raised as they were). */
  if (lua_type(L, 2) == LUA_TSTRING && lua_type(L, 3) == LUA_TSTRING &&
      lua_rawlen(L, 3) > 0) {
    lua_pushvalue(L, 2);
    lua_pushliteral(L, "\n");
    lua_pushvalue(L, 3);
    lua_concat(L, 3);
    lua_replace(L, 2);
  }
  lua_settop(L, 2);
  return lua_error(L);
}

/* Copies fn and the arguments (stack from first to the top) into a job of
 * p and waits for its answer. */
static int offload_on(lua_State *L, tide__pool_t *p, int first) {
  lwjob_t *j;
  char *in;
  size_t inlen;
  int err;
  luaL_checktype(L, first, LUA_TFUNCTION);
  tide__lua_await_begin(L);
  /* The copy raises on a value that does not copy: before anything is
   * allocated that would leak. */
  tide__xfer_encode(L, first, lua_gettop(L) - first + 1, "argument", first,
                    &in, &inlen);
  j = calloc(1, sizeof(*j));
  if (j == NULL) {
    free(in);
    return luaL_error(L, "tide: not enough memory");
  }
  j->in = in;
  j->inlen = inlen;
  j->job.run = work_run;
  j->job.free = lwjob_free;
  tide__future_init(&j->job.fut, p->loop);
  err = tide__pool_submit(p, &j->job);
  if (err != 0) {
    lwjob_free(&j->job);
    return luaL_error(L, "tide: cannot run the job: %s", tide_strerror(err));
  }
  lua_settop(L, 0);
  return tide__lua_await_yield(L, &j->job.fut, (lua_KContext)j, offload_k);
}

/* tide.offload(fn, ...) -> fn(...)'s values: runs fn in a thread of the
 * default pool with copies of the arguments, suspending only the calling
 * task; raises fn's error (a message gets the worker's traceback). */
static int l_offload(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  return offload_on(L, default_pool(L), 1);
}

static lpool_t *pool_check(lua_State *L) {
  return luaL_checkudata(L, 1, TIDE__MT_POOL);
}

/* pool:offload(fn, ...): tide.offload on this pool. */
static int l_pool_offload(lua_State *L) {
  lpool_t *box = pool_check(L);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  if (box->pool == NULL) return luaL_error(L, "tide: the worker pool is closed");
  return offload_on(L, box->pool, 2);
}

static int pool_close_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  tide__lua_check_wake(L);
  lua_pushboolean(L, 1);
  return 1;
}

/* pool:close() -> true: jobs not started are dropped (their tasks get an
 * error), running ones are interrupted; inside a task, waits until every
 * thread has ended. Closing twice is fine. Also __close; __gc closes
 * without waiting. */
static int l_pool_close(lua_State *L) {
  lpool_t *box = pool_check(L);
  tide_runtime_t *rt;
  tide__pool_t *p = box->pool;
  if (p == NULL) {
    lua_pushboolean(L, 1);
    return 1;
  }
  rt = tide__runtime_from(L);
  tide__pool_close(p, 0); /* detaches box */
  if (p->closed.state != TIDE__PENDING || rt->current == NULL ||
      !lua_isyieldable(L)) {
    lua_pushboolean(L, 1);
    return 1;
  }
  /* p stays until `closed` has woken us (and one turn more). */
  tide__lua_await_begin(L);
  lua_settop(L, 1);
  return tide__lua_await_yield(L, &p->closed, 0, pool_close_k);
}

static int l_pool_gc(lua_State *L) {
  lpool_t *box = lua_touserdata(L, 1);
  void **rtbox = lua_touserdata(L, lua_upvalueindex(1));
  if (box->pool != NULL && rtbox != NULL && *rtbox != NULL)
    tide__pool_close(box->pool, 0);
  return 0;
}

/* pool:size() -> its most threads, threads started so far. */
static int l_pool_size(lua_State *L) {
  lpool_t *box = pool_check(L);
  if (box->pool == NULL) return 0;
  lua_pushinteger(L, box->pool->size);
  lua_pushinteger(L, box->pool->nthreads);
  return 2;
}

static int l_pool_tostring(lua_State *L) {
  lpool_t *box = lua_touserdata(L, 1);
  if (box->pool == NULL)
    lua_pushfstring(L, "tide.worker_pool: %p (closed)", (void *)box);
  else
    lua_pushfstring(L, "tide.worker_pool (%d threads): %p", box->pool->size,
                    (void *)box);
  return 1;
}

/* tide.worker_pool([{size=}]) -> pool: a pool of its own for jobs that
 * must not wait behind others (default size: the CPUs libuv counts). It
 * lives until closed, collected, or the end of the tide.run that made it. */
static int l_worker_pool(lua_State *L) {
  static const char *const known[] = {"size", NULL};
  lua_Integer size = tide__pool_default_size();
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    tide__lua_check_options(L, 1, "tide.worker_pool", known);
    if (lua_getfield(L, 1, "size") != LUA_TNIL) {
      size = luaL_checkinteger(L, -1);
      luaL_argcheck(L, size >= 1 && size <= 256, 1,
                    "size: 1 to 256 threads");
    }
    lua_pop(L, 1);
  }
  lua_settop(L, 0);
  pool_make(L, (int)size, 1);
  return 1;
}

static const luaL_Reg pool_methods[] = {
    {"offload", l_pool_offload},
    {"close", l_pool_close},
    {"size", l_pool_size},
    {NULL, NULL}};

static const luaL_Reg funcs[] = {
    {"offload", l_offload},
    {"worker_pool", l_worker_pool},
    {NULL, NULL}};

/* Registers the pool metatable and the functions into the module at the
 * top of L; the runtime box is at the top - 1. */
void tide__lua_open_work(lua_State *L, tide_runtime_t *rt) {
  (void)rt;
  luaL_newmetatable(L, TIDE__MT_POOL);
  lua_newtable(L);
  lua_pushvalue(L, -4);
  luaL_setfuncs(L, pool_methods, 1);
  lua_setfield(L, -2, "__index");
  lua_pushvalue(L, -3);
  lua_pushcclosure(L, l_pool_close, 1);
  lua_setfield(L, -2, "__close");
  lua_pushvalue(L, -3);
  lua_pushcclosure(L, l_pool_gc, 1);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, l_pool_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, funcs, 1);
}
