/* Lua binding of loop callbacks: tide.call_soon and tide.call_later, which
 * run a plain function (not a task) from the loop, asyncio's handles. */
#include <string.h>

#include "../tide_lua.h"

#define TIDE__MT_HANDLE "tide.handle"

typedef struct {
  tide__timer_t timer;   /* armed while the call is due (call_later) */
  tide__resource_t res;  /* in rt->resources until it runs or is
                            cancelled: the end of tide.run cancels it */
  tide_runtime_t *rt;
  int ref;               /* registry: pins the handle until it has run or
                            been cancelled; owner: the handle */
  unsigned queued : 1;   /* call_soon: sits in the ready queue */
  unsigned cancelled : 1;
} lhandle_t;

/* Calls the stored function with its arguments (user value 1 holds
 * {fn, args...}, n = count), in protected mode. */
static int handle_call(lua_State *L) {
  lhandle_t *h = lua_touserdata(L, 1);
  int i, n;
  lua_rawgeti(L, LUA_REGISTRYINDEX, h->ref);
  luaL_unref(L, LUA_REGISTRYINDEX, h->ref); /* the pin's release */
  h->ref = LUA_NOREF;
  lua_getiuservalue(L, -1, 1);
  lua_getfield(L, -1, "n");
  n = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  luaL_checkstack(L, n, NULL);
  for (i = 1; i <= n; i++) lua_rawgeti(L, -i, i);
  lua_call(L, n - 1, 0);
  return 0;
}

/* Takes the handle off the runtime's resources (it has run or is
 * cancelled). */
static void handle_done(lhandle_t *h) {
  if (!tide__link_empty(&h->res.link)) tide__link_remove(&h->res.link);
}

static void handle_run(lhandle_t *h) {
  if (h->cancelled || h->ref == LUA_NOREF) return;
  handle_done(h);
  tide__runtime_pcall(h->rt, handle_call, h);
}

/* Cancels the call: disarms it and lets go of the function. */
static int handle_cancel(lhandle_t *h) {
  int pending = !h->cancelled && h->ref != LUA_NOREF;
  h->cancelled = 1;
  handle_done(h);
  if (pending) {
    tide__timer_stop(&h->rt->loop, &h->timer);
    /* A queued call_soon entry still points at h: keep the pin until it
     * has been taken off the queue. */
    if (!h->queued) {
      luaL_unref(h->rt->L, LUA_REGISTRYINDEX, h->ref);
      h->ref = LUA_NOREF;
    }
  }
  return pending;
}

static void handle_res_close(tide__resource_t *res) {
  handle_cancel(TIDE__CONTAINER_OF(res, lhandle_t, res));
}

static void handle_on_timer(tide__timer_t *timer) {
  handle_run((lhandle_t *)timer);
}

static void handle_on_ready(void *data, uintptr_t arg) {
  lhandle_t *h = data;
  (void)arg;
  h->queued = 0;
  if (h->cancelled) {
    /* Cancelled while queued: its pin was kept for this entry. */
    if (h->ref != LUA_NOREF) {
      luaL_unref(h->rt->L, LUA_REGISTRYINDEX, h->ref);
      h->ref = LUA_NOREF;
    }
    return;
  }
  /* Not touched after the call: the call releases the pin, and reporting
   * its error runs Lua (the error handler) that may collect the handle. */
  handle_run(h);
}

/* Makes a handle for fn (at index first) and the arguments after it. */
static lhandle_t *handle_new(lua_State *L, tide_runtime_t *rt, int first) {
  int i, top = lua_gettop(L);
  lhandle_t *h;
  luaL_checktype(L, first, LUA_TFUNCTION);
  h = lua_newuserdatauv(L, sizeof(*h), 1);
  memset(h, 0, sizeof(*h));
  tide__timer_init(&h->timer, handle_on_timer);
  h->rt = rt;
  luaL_setmetatable(L, TIDE__MT_HANDLE);
  lua_createtable(L, top - first + 1, 1);
  for (i = first; i <= top; i++) {
    lua_pushvalue(L, i);
    lua_rawseti(L, -2, i - first + 1);
  }
  lua_pushinteger(L, top - first + 1);
  lua_setfield(L, -2, "n");
  lua_setiuservalue(L, -2, 1);
  lua_pushvalue(L, -1);
  h->ref = luaL_ref(L, LUA_REGISTRYINDEX); /* released when run/cancelled */
  h->res.close = handle_res_close;
  h->res.run_scoped = 1;
  tide__link_insert_tail(&rt->resources, &h->res.link);
  return h;
}

/* tide.call_soon(fn, ...) -> handle: fn(...) runs on the loop's next turn. */
static int l_call_soon(lua_State *L) {
  tide_runtime_t *rt = tide__runtime_from(L);
  lhandle_t *h = handle_new(L, rt, 1);
  h->queued = 1;
  tide__loop_call_soon(&rt->loop, handle_on_ready, h, 0);
  return 1;
}

/* tide.call_later(seconds, fn, ...) -> handle: fn(...) runs from the loop
 * once that much time has passed. */
static int l_call_later(lua_State *L) {
  tide_runtime_t *rt = tide__runtime_from(L);
  lua_Number s = luaL_checknumber(L, 1);
  lhandle_t *h;
  luaL_argcheck(L, s == s && s >= 0, 1, "delay must be a number >= 0");
  h = handle_new(L, rt, 2);
  if (s > 1e9) s = 1e9;
  tide__timer_start(&rt->loop, &h->timer,
                    tide__loop_now(&rt->loop) + (uint64_t)(s * 1e9));
  return 1;
}

/* handle:cancel() -> true if the call had not run yet. */
static int l_handle_cancel(lua_State *L) {
  lhandle_t *h = luaL_checkudata(L, 1, TIDE__MT_HANDLE);
  lua_pushboolean(L, handle_cancel(h));
  return 1;
}

static const luaL_Reg handle_methods[] = {{"cancel", l_handle_cancel},
                                          {NULL, NULL}};

static const luaL_Reg funcs[] = {{"call_soon", l_call_soon},
                                 {"call_later", l_call_later},
                                 {NULL, NULL}};

void tide__lua_open_timer(lua_State *L, tide_runtime_t *rt) {
  (void)rt;
  luaL_newmetatable(L, TIDE__MT_HANDLE);
  lua_newtable(L);
  luaL_setfuncs(L, handle_methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, funcs, 1);
}
