/* tide.on_signal(name, fn): run a Lua function from the loop when the
 * process receives a signal (asyncio's add_signal_handler). The watcher
 * does not keep the loop alive by itself. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "../tide_lua.h"

#define TIDE__MT_SIGNAL "tide.signal"

typedef struct {
  tide__resource_t res;  /* in rt->resources while open */
  tide_runtime_t *rt;
  uv_signal_t *handle;   /* malloc'd; freed in the close callback */
  int fn_ref;            /* registry: the Lua function; owner: this watcher,
                            released by signal_close */
  int self_ref;          /* registry: pins the watcher while it watches (an
                            active watcher nobody holds keeps working, as a
                            signal handler should); released by signal_close */
  int signum;
} lsignal_t;

static const struct {
  const char *name;
  int num;
} signals[] = {{"SIGINT", SIGINT},   {"SIGTERM", SIGTERM},
               {"SIGHUP", SIGHUP},   {"SIGQUIT", SIGQUIT},
               {"SIGUSR1", SIGUSR1}, {"SIGUSR2", SIGUSR2},
               {"SIGWINCH", SIGWINCH}, {"SIGCHLD", SIGCHLD},
               {NULL, 0}};

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
  if (s != NULL && s->fn_ref != LUA_NOREF)
    tide__runtime_pcall(s->rt, signal_call, s);
}

/* Stops watching; the handle's memory goes in its close callback. */
static void signal_close(lsignal_t *s) {
  if (s->handle == NULL) return;
  tide__link_remove(&s->res.link);
  s->handle->data = &s->rt->loop;
  uv_close((uv_handle_t *)s->handle, tide__loop_close_free_cb);
  s->handle = NULL;
  if (s->rt->L != NULL) {
    luaL_unref(s->rt->L, LUA_REGISTRYINDEX, s->fn_ref);   /* the releases */
    luaL_unref(s->rt->L, LUA_REGISTRYINDEX, s->self_ref);
  }
  s->fn_ref = s->self_ref = LUA_NOREF;
}

static void signal_res_close(tide__resource_t *res) {
  signal_close((lsignal_t *)res);
}

/* tide.on_signal(name, fn) -> watcher: fn(signum) runs from the loop each
 * time the signal arrives, until watcher:close() (or the runtime closes).
 * name is "SIGINT", "SIGUSR1", ... */
static int l_on_signal(lua_State *L) {
  tide_runtime_t *rt = tide__runtime_from(L);
  const char *name = luaL_checkstring(L, 1);
  lsignal_t *s;
  int i, signum = 0, err;
  for (i = 0; signals[i].name != NULL; i++)
    if (strcmp(signals[i].name, name) == 0) signum = signals[i].num;
  if (signum == 0) return luaL_argerror(L, 1, "unknown signal name");
  luaL_checktype(L, 2, LUA_TFUNCTION);
  s = lua_newuserdatauv(L, sizeof(*s), 0);
  memset(s, 0, sizeof(*s));
  s->fn_ref = s->self_ref = LUA_NOREF;
  luaL_setmetatable(L, TIDE__MT_SIGNAL);
  s->handle = malloc(sizeof(*s->handle));
  if (s->handle == NULL) return luaL_error(L, "tide: not enough memory");
  uv_signal_init(rt->loop.uv, s->handle);
  tide__loop_handle_open(&rt->loop);
  s->handle->data = s;
  s->rt = rt;
  s->signum = signum;
  s->res.close = signal_res_close;
  tide__link_insert_tail(&rt->resources, &s->res.link);
  lua_pushvalue(L, 2);
  s->fn_ref = luaL_ref(L, LUA_REGISTRYINDEX); /* released by signal_close */
  lua_pushvalue(L, -1);
  s->self_ref = luaL_ref(L, LUA_REGISTRYINDEX); /* released by signal_close */
  err = uv_signal_start(s->handle, signal_on_signal, signum);
  if (err != 0) {
    signal_close(s);
    return luaL_error(L, "tide.on_signal: %s", uv_strerror(err));
  }
  uv_unref((uv_handle_t *)s->handle);
  return 1;
}

/* watcher:close(): stops watching (closing twice is a no-op). */
static int l_signal_close(lua_State *L) {
  lsignal_t *s = luaL_checkudata(L, 1, TIDE__MT_SIGNAL);
  signal_close(s);
  return 0;
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
  lua_setfield(L, -2, "__index");
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
}
