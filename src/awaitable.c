/* Lua-visible awaitables as data: a future's values in its user values,
 * and tide's error objects. Both the task core (task.c) and the bindings
 * (src/lua/lfuture.c, the host API) build on this file; it calls neither.
 *
 * A future keeps one value bare in user value 1 and several in a table
 * there; a failed future keeps its error there. Error objects are tables
 * {kind =, message =} with the "tide.error" metatable (registered by the
 * binding), whose tostring is the message. */
#include <string.h>

#include "tide_lua.h"

char tide__mt_task[1], tide__mt_future[1], tide__mt_error[1];

/* ------------------------------------------------------------ errors */

void tide__lua_pusherror(lua_State *L, const char *kind, const char *msg) {
  lua_createtable(L, 0, 3);
  lua_pushstring(L, kind);
  lua_setfield(L, -2, "kind");
  lua_pushstring(L, msg);
  lua_setfield(L, -2, "message");
  tide__lua_setmt(L, tide__mt_error);
}

int tide__lua_iserror(lua_State *L, int idx, const char *kind) {
  int is;
  if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx)) return 0;
  lua_rawgetp(L, LUA_REGISTRYINDEX, tide__mt_error);
  is = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  if (!is || kind == NULL) return is;
  lua_getfield(L, idx, "kind");
  is = lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), kind) == 0;
  lua_pop(L, 1);
  return is;
}

/* ------------------------------------------------------------ awaitables */

tide__awaitable_t *tide__lua_toawaitable(lua_State *L, int idx) {
  void *p = lua_touserdata(L, idx);
  int which = 0;
  if (p == NULL || !lua_getmetatable(L, idx)) return NULL;
  lua_rawgetp(L, LUA_REGISTRYINDEX, tide__mt_task);
  if (lua_rawequal(L, -1, -2)) {
    which = 1;
  } else {
    lua_pop(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, tide__mt_future);
    which = lua_rawequal(L, -1, -2);
  }
  lua_pop(L, 2);
  if (!which) p = NULL;
  return p;
}

/* Pushes a done future's values, or raises its error. */
static int future_results(lua_State *L, int idx) {
  tide__lfuture_t *f = lua_touserdata(L, idx);
  int i, n = f->nvalues;
  switch (f->aw.fut.state) {
  case TIDE__DONE:
    if (n == 0) return 0;
    lua_getiuservalue(L, idx, TIDE__UV_VALUES);
    if (n == 1) return 1;
    luaL_checkstack(L, n, "too many results");
    for (i = 1; i <= n; i++) lua_rawgeti(L, -i, i);
    return n;
  case TIDE__FAILED:
  case TIDE__CANCELLED:
    if (lua_getiuservalue(L, idx, TIDE__UV_VALUES) == LUA_TNIL &&
        f->aw.fut.state == TIDE__CANCELLED) {
      /* Cancelled by the cancellation of a task awaiting it (a host future
       * with a cancel callback): the error is made here. */
      lua_pop(L, 1);
      tide__lua_pusherror(L, "cancelled", "tide: future cancelled");
    }
    return lua_error(L);
  default:
    return luaL_error(L, "tide: future is not done");
  }
}

/* Creates a pending future (used by Lua and by the embedding API). */
tide__lfuture_t *tide__lua_newfuture(lua_State *L, tide_runtime_t *rt) {
  tide__lfuture_t *f = lua_newuserdatauv(L, sizeof(*f), 2);
  memset(f, 0, sizeof(*f));
  tide__future_init(&f->aw.fut, &rt->loop);
  f->aw.results = future_results;
  tide__lua_setmt(L, tide__mt_future);
  return f;
}

/* Completes the future at idx with the n values above it (popped). Used by
 * set_result and the embedding API. */
int tide__lua_future_resolve(lua_State *L, int idx, int n) {
  tide__lfuture_t *f = lua_touserdata(L, idx);
  idx = lua_absindex(L, idx);
  if (f->aw.fut.state != TIDE__PENDING) {
    lua_pop(L, n);
    return TIDE_ESTATE;
  }
  if (n == 1) {
    lua_setiuservalue(L, idx, TIDE__UV_VALUES);
  } else if (n > 1) {
    int i, base = lua_gettop(L) - n;
    lua_createtable(L, n, 0);
    for (i = 1; i <= n; i++) {
      lua_pushvalue(L, base + i);
      lua_rawseti(L, -2, i);
    }
    lua_setiuservalue(L, idx, TIDE__UV_VALUES);
    lua_pop(L, n);
  }
  f->nvalues = n;
  tide__future_complete(&f->aw.fut, TIDE__DONE);
  if (f->settled != NULL) f->settled(f);
  return 0;
}

/* Fails the future at idx with the error at the top (popped). */
int tide__lua_future_reject(lua_State *L, int idx) {
  tide__lfuture_t *f = lua_touserdata(L, idx);
  idx = lua_absindex(L, idx);
  if (f->aw.fut.state != TIDE__PENDING) {
    lua_pop(L, 1);
    return TIDE_ESTATE;
  }
  lua_setiuservalue(L, idx, TIDE__UV_VALUES);
  tide__future_complete(&f->aw.fut, TIDE__FAILED);
  if (f->settled != NULL) f->settled(f);
  return 0;
}

int tide__lua_future_cancel(lua_State *L, int idx) {
  tide__lfuture_t *f = lua_touserdata(L, idx);
  idx = lua_absindex(L, idx);
  if (f->aw.fut.state != TIDE__PENDING) {
    lua_pop(L, 1);
    return TIDE_ESTATE;
  }
  lua_setiuservalue(L, idx, TIDE__UV_VALUES);
  tide__future_cancel(&f->aw.fut); /* a host's cancel hook runs here */
  if (f->settled != NULL) f->settled(f);
  return 0;
}

