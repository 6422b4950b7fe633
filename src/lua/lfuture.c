/* Lua binding of futures: tide.future() and its methods, tide.await and the
 * methods every awaitable shares, done-callbacks, and the error objects'
 * metatable and functions. The values and errors themselves live in
 * src/awaitable.c; the await protocol in src/await.c. */
#include <stdlib.h>
#include <string.h>

#include "../tide_lua.h"

/* ------------------------------------------------------------ errors */

static int error_tostring(lua_State *L) {
  lua_getfield(L, 1, "message");
  if (lua_type(L, -1) != LUA_TSTRING) {
    lua_getfield(L, 1, "kind");
    lua_pushfstring(L, "tide: %s", luaL_optstring(L, -1, "error"));
  }
  return 1;
}

/* tide.error(kind, message): makes an error object. */
static int l_error_new(lua_State *L) {
  int has_msg = !lua_isnoneornil(L, 2); /* before pushing anything */
  tide__lua_pusherror(L, luaL_checkstring(L, 1), luaL_optstring(L, 2, ""));
  if (!has_msg) {
    lua_pushfstring(L, "tide: %s", lua_tostring(L, 1));
    lua_setfield(L, -2, "message");
  }
  return 1;
}

/* tide.is_error(v [, kind]) */
static int l_is_error(lua_State *L) {
  lua_pushboolean(L, tide__lua_iserror(L, 1, luaL_optstring(L, 2, NULL)));
  return 1;
}

/* ------------------------------------------------------------ await */

static tide__awaitable_t *check_awaitable(lua_State *L, int idx) {
  tide__awaitable_t *aw = tide__lua_toawaitable(L, idx);
  if (aw == NULL) {
    const char *got = luaL_typename(L, idx);
    luaL_argerror(L, idx, lua_pushfstring(L, "future or task expected, got %s",
                                          got));
  }
  return aw;
}

static int await_k(lua_State *L, int status, lua_KContext ctx) {
  tide__awaitable_t *aw = lua_touserdata(L, 1);
  (void)status;
  (void)ctx;
  tide__lua_check_wake(L);
  lua_settop(L, 1);
  return aw->results(L, 1);
}

/* tide.await(x), x:await(): the values of a future or task, or its error
 * raised here. Suspends the running task while x is pending. */
static int l_await(lua_State *L) {
  tide__awaitable_t *aw = check_awaitable(L, 1);
  tide_runtime_t *rt = tide__runtime_from(L);
  lua_settop(L, 1);
  if (rt->current != NULL && &rt->current->aw == aw)
    return luaL_error(L, "tide: a task cannot await itself");
  if (aw->fut.state != TIDE__PENDING) {
    /* Every await is a checkpoint: a cancelled scope fails it even when
     * the result is at hand (else a loop of awaits on done futures would
     * never see its deadline). */
    if (rt->current != NULL && rt->current->cs.ncancelled > 0 &&
        lua_isyieldable(L))
      tide__lua_await_begin(L);
    return aw->results(L, 1);
  }
  return tide__lua_await(L, &aw->fut, 0, await_k);
}

/* ------------------------------------------------------------ callbacks */

/* Runs the Lua done-callbacks of an awaitable, in protected mode; each one's
 * error is reported and does not stop the others. */
static int callbacks_run(lua_State *L) {
  tide__awaitable_t *aw = lua_touserdata(L, 1);
  tide_runtime_t *rt = (tide_runtime_t *)aw->fut.loop;
  tide__cbblock_t *cb = aw->cb;
  int i, n;
  lua_rawgeti(L, LUA_REGISTRYINDEX, cb->ref); /* 2: the object */
  luaL_unref(L, LUA_REGISTRYINDEX, cb->ref);  /* release the pin */
  aw->cb = NULL;
  free(cb);
  lua_getiuservalue(L, 2, TIDE__UV_CALLBACKS); /* 3: callbacks */
  lua_pushnil(L);
  lua_setiuservalue(L, 2, TIDE__UV_CALLBACKS);
  n = (int)luaL_len(L, 3);
  for (i = 1; i <= n; i++) {
    lua_rawgeti(L, 3, i);
    lua_pushvalue(L, 2);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) tide__runtime_report(rt, L, 0);
  }
  return 0;
}

static void callbacks_on_done(void *data, uintptr_t arg) {
  tide__awaitable_t *aw = data;
  (void)arg;
  tide__runtime_pcall((tide_runtime_t *)aw->fut.loop, callbacks_run, aw);
}

/* x:add_done_callback(fn): fn(x) runs from the loop once x is done. */
static int l_add_done_callback(lua_State *L) {
  tide__awaitable_t *aw = check_awaitable(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  tide__runtime_from(L);
  if (lua_getiuservalue(L, 1, TIDE__UV_CALLBACKS) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, 1, TIDE__UV_CALLBACKS);
  }
  lua_pushvalue(L, 2);
  lua_rawseti(L, -2, luaL_len(L, -2) + 1);
  if (aw->cb == NULL) {
    tide__cbblock_t *cb = malloc(sizeof(*cb));
    if (cb == NULL) return luaL_error(L, "tide: %s", tide_strerror(TIDE_ENOMEM));
    lua_pushvalue(L, 1);
    cb->ref = luaL_ref(L, LUA_REGISTRYINDEX); /* released in callbacks_run */
    cb->waiter.fn = callbacks_on_done;
    cb->waiter.data = aw;
    cb->waiter.arg = 0;
    aw->cb = cb;
    tide__future_wait(&aw->fut, &cb->waiter);
  }
  return 0;
}

/* x:remove_done_callback(fn): removes every registration of fn; returns how
 * many there were. */
static int l_remove_done_callback(lua_State *L) {
  int i, j, n, removed = 0;
  check_awaitable(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  if (lua_getiuservalue(L, 1, TIDE__UV_CALLBACKS) == LUA_TTABLE) {
    n = (int)luaL_len(L, -1);
    for (i = j = 1; i <= n; i++) {
      lua_rawgeti(L, -1, i);
      if (lua_rawequal(L, -1, 2)) {
        lua_pop(L, 1);
        removed++;
        continue;
      }
      lua_rawseti(L, -2, j++);
    }
    for (; j <= n; j++) {
      lua_pushnil(L);
      lua_rawseti(L, -2, j);
    }
  }
  lua_pushinteger(L, removed);
  return 1;
}

/* ------------------------------------------------------------ futures */

static tide__lfuture_t *check_future(lua_State *L, int idx) {
  tide__lfuture_t *f = tide__lua_testmt(L, idx, tide__mt_future);
  if (f == NULL) luaL_typeerror(L, idx, TIDE__MT_FUTURE);
  return f;
}

static const char *state_name(int state) {
  static const char *const names[] = {"pending", "done", "failed",
                                      "cancelled"};
  return names[state];
}

static int l_future_new(lua_State *L) {
  tide__lua_newfuture(L, tide__runtime_from(L));
  return 1;
}

static void future_check_pending(lua_State *L, tide__lfuture_t *f, const char *op) {
  if (f->aw.fut.state != TIDE__PENDING)
    luaL_error(L, "tide: %s on a future that is already %s", op,
               state_name(f->aw.fut.state));
}

static int l_future_set_result(lua_State *L) {
  tide__lfuture_t *f = check_future(L, 1);
  future_check_pending(L, f, "set_result");
  tide__lua_future_resolve(L, 1, lua_gettop(L) - 1);
  return 0;
}

static int l_future_set_error(lua_State *L) {
  tide__lfuture_t *f = check_future(L, 1);
  luaL_checkany(L, 2);
  future_check_pending(L, f, "set_error");
  lua_settop(L, 2);
  tide__lua_future_reject(L, 1);
  return 0;
}

/* f:cancel([msg]) -> true if it was pending (now cancelled), else false. */
static int l_future_cancel(lua_State *L) {
  tide__lfuture_t *f = check_future(L, 1);
  const char *msg = luaL_optstring(L, 2, NULL);
  if (f->aw.fut.state != TIDE__PENDING) {
    lua_pushboolean(L, 0);
    return 1;
  }
  if (msg != NULL) msg = lua_pushfstring(L, "tide: future cancelled: %s", msg);
  tide__lua_pusherror(L, "cancelled", msg ? msg : "tide: future cancelled");
  tide__lua_future_cancel(L, 1);
  lua_pushboolean(L, 1);
  return 1;
}

static int l_future_done(lua_State *L) {
  tide__awaitable_t *aw = check_awaitable(L, 1);
  lua_pushboolean(L, aw->fut.state != TIDE__PENDING);
  return 1;
}

static int l_future_cancelled(lua_State *L) {
  tide__awaitable_t *aw = check_awaitable(L, 1);
  lua_pushboolean(L, aw->fut.state == TIDE__CANCELLED);
  return 1;
}

/* x:state() -> "pending" | "done" | "failed" | "cancelled" */
static int l_future_state(lua_State *L) {
  tide__awaitable_t *aw = check_awaitable(L, 1);
  lua_pushstring(L, state_name(aw->fut.state));
  return 1;
}

/* x:result(): the values of a done future (raising its error); raises if
 * it is still pending. Never waits. */
static int l_future_result(lua_State *L) {
  tide__awaitable_t *aw = check_awaitable(L, 1);
  lua_settop(L, 1);
  if (aw->fut.state == TIDE__PENDING) {
    luaL_getmetafield(L, 1, "__name");
    return luaL_error(L, "tide: result() of a pending %s",
                      lua_tostring(L, -1));
  }
  return aw->results(L, 1);
}

/* x:error(): the error of a failed (or cancelled) future, nil otherwise. */
static int future_error_p(lua_State *L) {
  tide__awaitable_t *aw = lua_touserdata(L, 1);
  aw->results(L, 1);
  return 0;
}

static int l_future_error(lua_State *L) {
  tide__awaitable_t *aw = check_awaitable(L, 1);
  if (aw->fut.state != TIDE__FAILED && aw->fut.state != TIDE__CANCELLED)
    return 0;
  lua_pushcfunction(L, future_error_p);
  lua_pushvalue(L, 1);
  lua_pcall(L, 1, 0, 0);
  return 1;
}

/* __gc: a future collected while tasks are still registered on it (their
 * await's frame anchored it; only a coroutine closed or abandoned under
 * them can lose it) lets go of them, so that a later cancel of such a task
 * never reads freed memory. Nothing can complete the future any more: a
 * task left waiting is a deadlock tide.run reports. */
static int l_future_gc(lua_State *L) {
  tide__lfuture_t *f = lua_touserdata(L, 1);
  while (!tide__link_empty(&f->aw.fut.waiters))
    tide__link_remove(f->aw.fut.waiters.next);
  tide__lua_free_callbacks(&f->aw);
  return 0;
}

void tide__lua_free_callbacks(tide__awaitable_t *aw) {
  if (aw->cb == NULL) return;
  /* Collected with callbacks still registered: only when its pin went
   * with the whole Lua state (lua_close), or the loop closed before they
   * ran. */
  tide__link_remove(&aw->cb->waiter.link);
  free(aw->cb);
  aw->cb = NULL;
}

static int l_future_tostring(lua_State *L) {
  tide__awaitable_t *aw = lua_touserdata(L, 1);
  lua_pushfstring(L, "tide.future: %p (%s)", (void *)aw,
                  state_name(aw->fut.state));
  return 1;
}

/* Methods every awaitable has; tasks add their own (ltask.c). */
const luaL_Reg tide__awaitable_methods[] = {
    {"await", l_await},
    {"done", l_future_done},
    {"cancelled", l_future_cancelled},
    {"state", l_future_state},
    {"result", l_future_result},
    {"error", l_future_error},
    {"add_done_callback", l_add_done_callback},
    {"remove_done_callback", l_remove_done_callback},
    {NULL, NULL}};

static const luaL_Reg future_methods[] = {
    {"set_result", l_future_set_result},
    {"set_error", l_future_set_error},
    {"cancel", l_future_cancel},
    {NULL, NULL}};

static const luaL_Reg funcs[] = {
    {"future", l_future_new}, {"await", l_await},
    {"error", l_error_new},   {"is_error", l_is_error},
    {NULL, NULL}};

/* Registers the future and error metatables and their functions into the
 * module table at the top of L; the runtime box is at the top - 1. */
void tide__lua_open_future(lua_State *L, tide_runtime_t *rt) {
  (void)rt;
  luaL_newmetatable(L, TIDE__MT_ERROR);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, tide__mt_error);
  lua_pushcfunction(L, error_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);

  luaL_newmetatable(L, TIDE__MT_FUTURE);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, tide__mt_future);
  lua_newtable(L); /* __index */
  lua_pushvalue(L, -4);
  luaL_setfuncs(L, tide__awaitable_methods, 1);
  lua_pushvalue(L, -4);
  luaL_setfuncs(L, future_methods, 1);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_future_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pushcfunction(L, l_future_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);

  lua_pushvalue(L, -2);
  luaL_setfuncs(L, funcs, 1);
}
