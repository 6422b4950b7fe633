/* Signals: tide.on_signal(name, fn) runs a Lua function from the loop when
 * the process receives a signal (asyncio's add_signal_handler);
 * tide.signal(name) is a watcher a task awaits (w:await() waits for the
 * next delivery). Neither keeps the loop alive by itself, except while a
 * task awaits a delivery. Every standard signal libuv can watch is
 * accepted (signal.c has the table); SIGKILL and SIGSTOP cannot be caught,
 * and SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP and SIGSYS report faults
 * that a handler returning to the loop cannot mend: they are refused. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "../tide_lua.h"

#define TIDE__MT_SIGNAL "tide.signal"

typedef struct {
  tide__resource_t res;  /* in rt->resources while open */
  tide_runtime_t *rt;
  uv_signal_t *handle;   /* malloc'd; freed in the close callback */
  int fn_ref;            /* registry: the Lua function (on_signal); owner:
                            this watcher, released by signal_close */
  int self_ref;          /* registry: pins an on_signal watcher while it
                            watches (an active watcher nobody holds keeps
                            working, as a signal handler should); released
                            by signal_close */
  int signum;
  int pending;           /* tide.signal: deliveries not yet awaited */
  tide__future_t fut;    /* tide.signal: pending while a task awaits (the
                            object is anchored on that task's stack) */
} lsignal_t;

/* The signal named at idx; raises for unknown and unwatchable ones. */
static int signal_check_name(lua_State *L, int idx) {
  const char *name = luaL_checkstring(L, idx);
  int watchable, signum = tide__signal_number(name, &watchable);
  if (signum == 0)
    return luaL_argerror(L, idx, lua_pushfstring(L, "unknown signal name "
                                                    "'%s'", name));
  if (!watchable)
    return luaL_argerror(L, idx, lua_pushfstring(L, "%s cannot be watched",
                                                 name));
  return signum;
}

static int signal_call(lua_State *L) {
  lsignal_t *s = lua_touserdata(L, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, s->fn_ref);
  lua_pushinteger(L, s->signum);
  lua_call(L, 1, 0);
  return 0;
}

static void signal_on_signal(uv_signal_t *h, int signum) {
  lsignal_t *s = h->data;
  (void)signum;
  if (s == NULL) return;
  if (s->fn_ref != LUA_NOREF) {
    tide__runtime_pcall(s->rt, signal_call, s);
    return;
  }
  s->pending++;
  if (s->fut.state == TIDE__PENDING) {
    uv_unref((uv_handle_t *)s->handle);
    tide__future_complete(&s->fut, TIDE__DONE);
  }
}

/* Stops watching; the handle's memory goes in its close callback. */
static void signal_close(lsignal_t *s) {
  if (s->handle == NULL) return;
  tide__link_remove(&s->res.link);
  if (s->fut.state == TIDE__PENDING)
    tide__future_complete(&s->fut, TIDE__FAILED); /* wakes the awaiter */
  s->handle->data = &s->rt->loop;
  uv_close((uv_handle_t *)s->handle, tide__loop_close_free_cb);
  s->handle = NULL;
  if (s->signum == SIGPIPE) {
    /* libuv puts the default action back when its last watcher of a
     * signal stops; for SIGPIPE that kills the process at the next write
     * to a closed socket, which tide has it ignore (ltcp.c). */
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
      sa.sa_handler = SIG_IGN;
      sigaction(SIGPIPE, &sa, NULL);
    }
  }
  if (s->rt->L != NULL) {
    luaL_unref(s->rt->L, LUA_REGISTRYINDEX, s->fn_ref);   /* the releases */
    luaL_unref(s->rt->L, LUA_REGISTRYINDEX, s->self_ref);
  }
  s->fn_ref = s->self_ref = LUA_NOREF;
}

static void signal_res_close(tide__resource_t *res) {
  signal_close((lsignal_t *)res);
}

/* Pushes a new watcher of signum (started, not keeping the loop alive).
 * fn: index of the on_signal function, or 0 for an awaitable watcher. */
static lsignal_t *signal_new(lua_State *L, int signum, int fn,
                             const char *what) {
  tide_runtime_t *rt = tide__runtime_from(L);
  lsignal_t *s;
  int err;
  s = lua_newuserdatauv(L, sizeof(*s), 0);
  memset(s, 0, sizeof(*s));
  s->fn_ref = s->self_ref = LUA_NOREF;
  tide__future_init(&s->fut, &rt->loop);
  s->fut.state = TIDE__DONE; /* pending exactly while a task awaits */
  luaL_setmetatable(L, TIDE__MT_SIGNAL);
  s->handle = malloc(sizeof(*s->handle));
  if (s->handle == NULL) luaL_error(L, "tide: not enough memory");
  uv_signal_init(rt->loop.uv, s->handle);
  tide__loop_handle_open(&rt->loop);
  s->handle->data = s;
  s->rt = rt;
  s->signum = signum;
  s->res.close = signal_res_close;
  tide__link_insert_tail(&rt->resources, &s->res.link);
  if (fn != 0) {
    lua_pushvalue(L, fn);
    s->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX); /* released by signal_close */
    lua_pushvalue(L, -1);
    s->self_ref = luaL_ref(L, LUA_REGISTRYINDEX); /* ... this one too */
  } else {
    /* An awaitable watcher ends with the tide.run that made it (as a
     * call_later not yet due): tide.signal("SIGTERM"):await() leaves
     * nothing behind. */
    s->res.run_scoped = 1;
  }
  err = uv_signal_start(s->handle, signal_on_signal, signum);
  if (err != 0) {
    signal_close(s);
    luaL_error(L, "%s: %s", what, uv_strerror(err));
  }
  uv_unref((uv_handle_t *)s->handle);
  return s;
}

/* tide.on_signal(name, fn) -> watcher: fn(signum) runs from the loop each
 * time the signal arrives, until watcher:close() (or the runtime closes).
 * name is "SIGINT", "SIGUSR1", ... */
static int l_on_signal(lua_State *L) {
  int signum = signal_check_name(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  signal_new(L, signum, 2, "tide.on_signal");
  return 1;
}

/* tide.signal(name) -> watcher: deliveries of the signal from now on, for
 * a task to await: w:await() returns how many arrived since the last
 * await (signals that arrive close together may merge into one, as the
 * system delivers them), waiting for the next if none did. The watcher
 * lives until w:close(), its collection, or the end of the tide.run that
 * made it. */
static int l_signal(lua_State *L) {
  int signum = signal_check_name(L, 1);
  lua_settop(L, 1);
  signal_new(L, signum, 0, "tide.signal");
  return 1;
}

static int signal_await_k(lua_State *L, int status, lua_KContext ctx) {
  lsignal_t *s = lua_touserdata(L, 1);
  int n;
  (void)status;
  (void)ctx;
  tide__lua_check_wake(L);
  if (s->handle == NULL && s->pending == 0) {
    lua_pushnil(L);
    lua_pushliteral(L, "ECLOSED: signal watcher is closed");
    lua_pushliteral(L, "ECLOSED");
    return 3;
  }
  n = s->pending;
  s->pending = 0;
  lua_pushinteger(L, n);
  return 1;
}

/* A cancelled await: the watcher stops keeping the loop alive; deliveries
 * meanwhile are still counted for the next await. */
static int signal_on_cancel(tide__future_t *f) {
  lsignal_t *s = TIDE__CONTAINER_OF(f, lsignal_t, fut);
  if (s->handle != NULL) uv_unref((uv_handle_t *)s->handle);
  return 0;
}

/* w:await(), tide.await(w) -> the count of deliveries since the last
 * await (>= 1) | nil, "ECLOSED: ...", "ECLOSED" once closed. One task
 * awaits a watcher at a time. */
static int l_signal_await(lua_State *L) {
  lsignal_t *s = luaL_checkudata(L, 1, TIDE__MT_SIGNAL);
  lua_settop(L, 1);
  if (s->fn_ref != LUA_NOREF)
    return luaL_error(L, "tide: an on_signal watcher calls its function; "
                         "await a tide.signal watcher");
  if (s->pending > 0 || s->handle == NULL) {
    lua_pushlightuserdata(L, tide__token_wake);
    return signal_await_k(L, LUA_OK, 0);
  }
  if (s->fut.state == TIDE__PENDING)
    return luaL_error(L, "tide: another task is already awaiting this "
                         "signal watcher");
  tide__lua_await_begin(L);
  tide__future_reset(&s->fut);
  s->fut.cancel = signal_on_cancel;
  uv_ref((uv_handle_t *)s->handle); /* a task waits: not a deadlock */
  return tide__lua_await_yield(L, &s->fut, 0, signal_await_k);
}

/* watcher:close(): stops watching (closing twice is a no-op); a task
 * awaiting it wakes with ECLOSED. */
static int l_signal_close(lua_State *L) {
  lsignal_t *s = luaL_checkudata(L, 1, TIDE__MT_SIGNAL);
  signal_close(s);
  return 0;
}

/* watcher:signal() -> its signal's name. */
static int l_signal_name(lua_State *L) {
  lsignal_t *s = luaL_checkudata(L, 1, TIDE__MT_SIGNAL);
  lua_pushstring(L, tide__signal_name(s->signum));
  return 1;
}

static int l_signal_tostring(lua_State *L) {
  lsignal_t *s = lua_touserdata(L, 1);
  lua_pushfstring(L, "tide.signal (%s): %p%s", tide__signal_name(s->signum),
                  (void *)s, s->handle ? "" : " (closed)");
  return 1;
}

/* __gc / __close: stops watching (a watcher is pinned while it watches, so
 * __gc only meets closed ones, unless the state itself is closing). */
static int l_signal_gc(lua_State *L) {
  lsignal_t *s = lua_touserdata(L, 1);
  void **box = lua_touserdata(L, lua_upvalueindex(1));
  if (box != NULL && *box != NULL) signal_close(s);
  return 0;
}

void tide__lua_open_signal(lua_State *L, tide_runtime_t *rt) {
  (void)rt;
  luaL_newmetatable(L, TIDE__MT_SIGNAL);
  lua_newtable(L);
  lua_pushcfunction(L, l_signal_close);
  lua_setfield(L, -2, "close");
  lua_pushcfunction(L, l_signal_name);
  lua_setfield(L, -2, "signal");
  lua_pushvalue(L, -4); /* the runtime box */
  lua_pushcclosure(L, l_signal_await, 1);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "await");
  lua_setfield(L, -3, "__await");
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_signal_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pushvalue(L, -3);
  lua_pushcclosure(L, l_signal_gc, 1);
  lua_setfield(L, -2, "__gc");
  lua_pushvalue(L, -3);
  lua_pushcclosure(L, l_signal_gc, 1);
  lua_setfield(L, -2, "__close");
  lua_pop(L, 1);
  lua_pushvalue(L, -2);
  lua_pushcclosure(L, l_on_signal, 1);
  lua_setfield(L, -2, "on_signal");
  lua_pushvalue(L, -2);
  lua_pushcclosure(L, l_signal, 1);
  lua_setfield(L, -2, "signal");
}
