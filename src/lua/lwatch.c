/* Lua binding of change watchers: tide.fs.watch(path).
 *
 *   local w <close> = assert(tide.fs.watch(dir))
 *   for name, kind in w do ... end      -- kind: "rename" or "change"
 *   local name, kind = w:next(5)        -- or nil, "ETIMEDOUT: ...", ...
 *
 * One task reads a watcher at a time. Closing it (close(), <close>, __gc,
 * the runtime's close) wakes a waiting reader: next() answers ECLOSED and
 * a for loop over it ends. */
#include <stdlib.h>

#include "../tide_fs.h"
#include "../tide_net.h" /* tide__lua_fail, tide__lua_opt_seconds */

#define TIDE__MT_WATCH "tide.watcher"

int tide__lua_fs_fail(lua_State *L, int err, const char *path,
                      const char *path2);

typedef struct {
  tide__watch_t *w; /* NULL once closed */
} lwatch_t;

static const char *const kinds[] = {"?", "rename", "change", "overflow"};

/* Pushes the oldest event (name, kind); returns 2, or 0 if none. The name
 * of an overflow event is the watched path. */
static int watch_push_event(lua_State *L, tide__watch_t *w) {
  char *name;
  int kind;
  if (!tide__watch_take(w, &kind, &name)) return 0;
  if (name != NULL) {
    lua_pushstring(L, name);
    free(name);
  } else {
    lua_getiuservalue(L, 1, 1);
  }
  lua_pushstring(L, kinds[kind]);
  return 2;
}

/* Continuation context: 1 when called as an iterator (errors raise, the
 * end is nil), 0 for next(). */
static int next_step(lua_State *L, int iter);

static int next_k(lua_State *L, int status, lua_KContext iter) {
  lwatch_t *box = lua_touserdata(L, 1);
  (void)status;
  tide__lua_check_wake(L);
  if (box->w != NULL && box->w->timedout && box->w->count == 0 &&
      !box->w->overflow && box->w->err == 0) {
    box->w->timedout = 0;
    return tide__lua_fail(L, UV_ETIMEDOUT, "no change before the timeout");
  }
  return next_step(L, (int)iter);
}

static int next_step(lua_State *L, int iter) {
  lwatch_t *box = lua_touserdata(L, 1);
  tide__watch_t *w = box->w;
  int n;
  if (w == NULL) {
    if (iter) return 0;
    return tide__lua_fail(L, TIDE_ECLOSED, "watcher is closed");
  }
  n = watch_push_event(L, w);
  if (n > 0) return n;
  if (w->err != 0) {
    const char *path;
    lua_getiuservalue(L, 1, 1);
    path = lua_tostring(L, -1);
    tide__lua_fs_fail(L, w->err, path, NULL);
    if (!iter) return 3;
    lua_pop(L, 1);
    return lua_error(L);
  }
  if (w->rfut.state == TIDE__PENDING)
    return luaL_error(L, "tide: another task is already reading this "
                         "watcher");
  tide__lua_await_begin(L);
  lua_settop(L, 2); /* the timeout (ns) stays for a wait after a wake-up */
  tide__watch_wait(w, (uint64_t)lua_tointeger(L, 2));
  return tide__lua_await_yield(L, &w->rfut, iter, next_k);
}

/* w:next([timeout]) -> name, kind | nil, err, name: the next change
 * (waiting for it, at most timeout seconds). kind: "rename" (an entry
 * appeared, went or moved), "change" (contents or metadata), or
 * "overflow" (more than 1024 events piled up unread and some were lost:
 * look at the directory again; name is the watched path). */
static int l_watch_next(lua_State *L) {
  uint64_t ns = 0;
  luaL_checkudata(L, 1, TIDE__MT_WATCH);
  if (!lua_isnoneornil(L, 2)) {
    lua_Number t = luaL_checknumber(L, 2);
    luaL_argcheck(L, t >= 0, 2, "timeout must be >= 0");
    ns = t > 1e9 ? 0 : (uint64_t)(t * 1e9);
    if (t > 0 && ns == 0 && t <= 1e9) ns = 1;
  }
  lua_settop(L, 1);
  lua_pushinteger(L, (lua_Integer)ns);
  return next_step(L, 0);
}

/* for name, kind in w do ... end: next() without a timeout; ends when the
 * watcher is closed; an error raises. */
static int l_watch_call(lua_State *L) {
  luaL_checkudata(L, 1, TIDE__MT_WATCH);
  lua_settop(L, 1);
  return next_step(L, 1);
}

static int l_watch_close(lua_State *L) {
  lwatch_t *box = luaL_checkudata(L, 1, TIDE__MT_WATCH);
  void **rtbox = lua_touserdata(L, lua_upvalueindex(1));
  if (box->w != NULL && rtbox != NULL && *rtbox != NULL)
    tide__watch_close(box->w);
  return 0;
}

static int l_watch_closed(lua_State *L) {
  lwatch_t *box = luaL_checkudata(L, 1, TIDE__MT_WATCH);
  lua_pushboolean(L, box->w == NULL);
  return 1;
}

/* fs.watch(path) -> watcher | nil, err, name: watches a file, or the
 * entries of a directory (not its subdirectories). */
static int l_fs_watch(lua_State *L) {
  tide_runtime_t *rt = tide__runtime_from(L);
  const char *path = luaL_checkstring(L, 1);
  tide__watch_t *w;
  lwatch_t *box;
  int err;
  lua_settop(L, 1);
  err = tide__watch_start(rt, path, &w);
  if (err != 0) return tide__lua_fs_fail(L, err, path, NULL);
  box = lua_newuserdatauv(L, sizeof(*box), 1);
  box->w = w;
  w->slot = (void **)&box->w;
  luaL_setmetatable(L, TIDE__MT_WATCH);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  return 1;
}

/* Registers the watcher metatable and adds watch to the _fs table at the
 * top; the runtime box is at the top - 1. */
void tide__lua_open_watch(lua_State *L, tide_runtime_t *rt) {
  (void)rt;
  luaL_newmetatable(L, TIDE__MT_WATCH);
  lua_newtable(L);
  lua_pushvalue(L, -4);
  lua_pushcclosure(L, l_watch_next, 1);
  lua_setfield(L, -2, "next");
  lua_pushvalue(L, -4);
  lua_pushcclosure(L, l_watch_close, 1);
  lua_setfield(L, -2, "close");
  lua_pushcfunction(L, l_watch_closed);
  lua_setfield(L, -2, "closed");
  lua_setfield(L, -2, "__index");
  lua_pushvalue(L, -3);
  lua_pushcclosure(L, l_watch_call, 1);
  lua_setfield(L, -2, "__call");
  lua_pushvalue(L, -3);
  lua_pushcclosure(L, l_watch_close, 1);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "__close");
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  lua_pushvalue(L, -2);
  lua_pushcclosure(L, l_fs_watch, 1);
  lua_setfield(L, -2, "watch");
}
