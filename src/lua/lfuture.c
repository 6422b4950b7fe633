/* Lua binding of futures, the await protocol as Lua sees it, done-callbacks
 * and tide's error objects. */
#include <string.h>

#include "../tide_lua.h"

typedef struct {
  tide__awaitable_t aw; /* first: a future is an awaitable */
  int nvalues;          /* done: how many values (1 is kept bare in UV 1,
                           more in a table) */
} lfuture_t;

/* ------------------------------------------------------------ errors */

static int error_tostring(lua_State *L) {
  lua_getfield(L, 1, "message");
  if (lua_type(L, -1) != LUA_TSTRING) {
    lua_getfield(L, 1, "kind");
    lua_pushfstring(L, "tide: %s", luaL_optstring(L, -1, "error"));
  }
  return 1;
}

void tide__lua_pusherror(lua_State *L, const char *kind, const char *msg) {
  lua_createtable(L, 0, 3);
  lua_pushstring(L, kind);
  lua_setfield(L, -2, "kind");
  lua_pushstring(L, msg);
  lua_setfield(L, -2, "message");
  luaL_setmetatable(L, TIDE__MT_ERROR);
}

int tide__lua_iserror(lua_State *L, int idx, const char *kind) {
  int is;
  if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx)) return 0;
  luaL_getmetatable(L, TIDE__MT_ERROR);
  is = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  if (!is || kind == NULL) return is;
  lua_getfield(L, idx, "kind");
  is = lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), kind) == 0;
  lua_pop(L, 1);
  return is;
}

/* Pushes the cancellation error of task t owned by owner (NULL: the task
 * itself, with the message given to task:cancel()). Its "scope" field names
 * the owner, so that the owner's exit knows the error for its own. */
static void push_cancel(lua_State *L, tide__task_t *t, tide__scope_t *owner) {
  const char *msg = NULL;
  luaL_checkstack(L, 6, NULL);
  if (owner == NULL) {
    tide__task_push(L, t);
    if (lua_getiuservalue(L, -1, TIDE__UV_INFO) == LUA_TTABLE &&
        lua_getfield(L, -1, "cancel_message") == LUA_TSTRING)
      msg = lua_pushfstring(L, "tide: task cancelled: %s", lua_tostring(L, -1));
  } else {
    msg = lua_pushfstring(L, "tide: cancelled by %s", owner->reason);
  }
  tide__lua_pusherror(L, "cancelled", msg ? msg : "tide: task cancelled");
  lua_pushinteger(L, owner != NULL ? (lua_Integer)owner->id : 0);
  lua_setfield(L, -2, "scope");
}

/* Raises the cancellation pending in the running task (level-triggered: it
 * is raised at every await until the code leaves the cancelled scope). */
int tide__lua_raise_cancel(lua_State *L) {
  tide_runtime_t *rt = tide__runtime_from(L);
  tide__task_t *t = rt->current;
  tide__scope_t *owner = NULL;
  if (t == NULL) {
    tide__lua_pusherror(L, "cancelled", "tide: task cancelled");
    return lua_error(L);
  }
  if (!tide__cstack_cancelled(&t->cs, &owner)) owner = NULL;
  push_cancel(L, t, owner);
  return lua_error(L);
}

/* How many stack slots the frame ar can see (its locals and temporaries):
 * for a frame that called another, the slots up to the callee's function.
 * Found by doubling then bisecting over lua_getlocal, which answers NULL
 * past the end. */
static int frame_slots(lua_State *L, lua_Debug *ar) {
  int lo = 0, hi = 1;
  for (;;) {
    if (lua_getlocal(L, ar, hi) == NULL) break;
    lua_pop(L, 1);
    lo = hi;
    if (hi > (1 << 24)) return lo;
    hi *= 2;
  }
  while (hi - lo > 1) { /* slot lo exists, slot hi does not */
    int mid = lo + (hi - lo) / 2;
    if (lua_getlocal(L, ar, mid) != NULL) {
      lua_pop(L, 1);
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return lo;
}

/* Is the running code inside a <close> handler that Lua runs because the
 * cancellation owner owns is unwinding the stack? Only such cleanup may
 * await through a cancellation, within the grace period.
 *
 * Lua 5.4 calls a __close method from luaF_close with the closed value and
 * the error as its arguments, pushing the method right above the
 * to-be-closed slot and the error object (lfunc.c, prepcallclosemth): so
 * the two slots of the calling frame just below the method's own slot hold
 * the value and the error, whatever parameters the method declares. A
 * frame is such a handler when the value's __close is the frame's function
 * and the error is this cancellation. This walks the coroutine's frames:
 * it runs only on the rare path of an await in a cancelled scope. */
static int in_cancel_cleanup(lua_State *L, tide__scope_t *owner) {
  lua_Debug ar, car;
  int level, found = 0;
  lua_Integer want = owner != NULL ? (lua_Integer)owner->id : 0;
  luaL_checkstack(L, 8, NULL);
  for (level = 1; !found && lua_getstack(L, level, &ar); level++) {
    int top = lua_gettop(L), n;
    if (!lua_getstack(L, level + 1, &car)) break;
    if (!lua_getinfo(L, "Sf", &ar) || ar.what[0] == 'C') { /* [fn] */
      lua_settop(L, top);
      continue;
    }
    n = frame_slots(L, &car);
    if (n >= 2 && lua_getlocal(L, &car, n - 1) != NULL && /* the value */
        luaL_getmetafield(L, -1, "__close") != LUA_TNIL &&
        lua_rawequal(L, -1, top + 1) &&
        lua_getlocal(L, &car, n) != NULL && /* the error */
        tide__lua_iserror(L, -1, "cancelled")) {
      lua_getfield(L, -1, "scope");
      found = lua_tointeger(L, -1) == want;
    }
    lua_settop(L, top);
  }
  return found;
}

/* tide.error(kind, message): makes an error object. */
static int l_error_new(lua_State *L) {
  tide__lua_pusherror(L, luaL_checkstring(L, 1), luaL_optstring(L, 2, ""));
  if (lua_isnoneornil(L, 2)) {
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

tide__awaitable_t *tide__lua_toawaitable(lua_State *L, int idx) {
  void *p = luaL_testudata(L, idx, TIDE__MT_TASK);
  if (p == NULL) p = luaL_testudata(L, idx, TIDE__MT_FUTURE);
  return p;
}

static tide__awaitable_t *check_awaitable(lua_State *L, int idx) {
  tide__awaitable_t *aw = tide__lua_toawaitable(L, idx);
  if (aw == NULL) {
    const char *got = luaL_typename(L, idx);
    luaL_argerror(L, idx, lua_pushfstring(L, "future or task expected, got %s",
                                          got));
  }
  return aw;
}

tide__task_t *tide__lua_await_begin(lua_State *L) {
  tide_runtime_t *rt = tide__runtime_from(L);
  tide__task_t *t = rt->current;
  tide__scope_t *owner;
  if (t == NULL)
    luaL_error(L, "tide: await outside a task (use tide.run or tide.spawn)");
  if (!lua_isyieldable(L))
    luaL_error(L, "tide: cannot await across a C call boundary (inside a "
                  "metamethod or a C function's callback)");
  t->cleanup = 0;
  if (t->cs.ncancelled == 0) {
    if (t->grace != NULL || t->grace_over) tide__task_grace_reset(t);
  } else if (tide__cstack_cancelled(&t->cs, &owner)) {
    /* A <close> handler cleaning up after this very cancellation may
     * await, shielded, until the grace period ends; anything else fails
     * here, at every await, until the code leaves the cancelled scope. */
    if (!t->grace_over && in_cancel_cleanup(L, owner) &&
        tide__task_grace_start(t) == 0) {
      t->cleanup = 1;
      return t;
    }
    push_cancel(L, t, owner);
    lua_error(L);
  } else if (t->grace != NULL || t->grace_over) {
    tide__task_grace_reset(t);
  }
  return t;
}

int tide__lua_await_yield(lua_State *L, tide__future_t *f, lua_KContext ctx,
                          lua_KFunction k) {
  lua_pushlightuserdata(L, tide__sentinel);
  lua_pushlightuserdata(L, f);
  return lua_yieldk(L, 2, ctx, k);
}

int tide__lua_await(lua_State *L, tide__future_t *f, lua_KContext ctx,
                    lua_KFunction k) {
  tide__lua_await_begin(L);
  return tide__lua_await_yield(L, f, ctx, k);
}

void tide__lua_check_wake(lua_State *L) {
  void *tok = lua_touserdata(L, -1);
  if (lua_type(L, -1) == LUA_TLIGHTUSERDATA) {
    if (tok == tide__token_wake) {
      lua_pop(L, 1);
      return;
    }
    if (tok == tide__token_cancel) {
      lua_pop(L, 1);
      tide__lua_raise_cancel(L);
    }
    if (tok == tide__token_notask)
      luaL_error(L, "tide: await outside a task");
  }
  luaL_error(L, "tide: a task's coroutine was resumed by hand");
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
  int i, n;
  lua_rawgeti(L, LUA_REGISTRYINDEX, aw->cbref); /* 2: the object */
  luaL_unref(L, LUA_REGISTRYINDEX, aw->cbref);  /* release the pin */
  aw->cbref = LUA_NOREF;
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
  if (aw->cbref == LUA_NOREF) {
    lua_pushvalue(L, 1);
    aw->cbref = luaL_ref(L, LUA_REGISTRYINDEX); /* released in callbacks_run */
    aw->cbwaiter.fn = callbacks_on_done;
    aw->cbwaiter.data = aw;
    aw->cbwaiter.arg = 0;
    tide__future_wait(&aw->fut, &aw->cbwaiter);
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

static lfuture_t *check_future(lua_State *L, int idx) {
  return luaL_checkudata(L, idx, TIDE__MT_FUTURE);
}

static const char *state_name(int state) {
  static const char *const names[] = {"pending", "done", "failed",
                                      "cancelled"};
  return names[state];
}

/* Pushes a done future's values, or raises its error. */
static int future_results(lua_State *L, int idx) {
  lfuture_t *f = lua_touserdata(L, idx);
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
    lua_getiuservalue(L, idx, TIDE__UV_VALUES);
    return lua_error(L);
  default:
    return luaL_error(L, "tide: future is not done");
  }
}

/* Creates a pending future (used by Lua and by the embedding API). */
void *tide__lua_newfuture(lua_State *L, tide_runtime_t *rt) {
  lfuture_t *f = lua_newuserdatauv(L, sizeof(*f), 2);
  memset(f, 0, sizeof(*f));
  tide__future_init(&f->aw.fut, &rt->loop);
  f->aw.results = future_results;
  f->aw.cbref = LUA_NOREF;
  luaL_setmetatable(L, TIDE__MT_FUTURE);
  return f;
}

static int l_future_new(lua_State *L) {
  tide__lua_newfuture(L, tide__runtime_from(L));
  return 1;
}

static void future_check_pending(lua_State *L, lfuture_t *f, const char *op) {
  if (f->aw.fut.state != TIDE__PENDING)
    luaL_error(L, "tide: %s on a future that is already %s", op,
               state_name(f->aw.fut.state));
}

/* Completes the future at idx with the n values above it (popped). Used by
 * set_result and the embedding API. */
int tide__lua_future_resolve(lua_State *L, int idx, int n) {
  lfuture_t *f = lua_touserdata(L, idx);
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
  return tide__future_complete(&f->aw.fut, TIDE__DONE);
}

/* Fails the future at idx with the error at the top (popped). */
int tide__lua_future_reject(lua_State *L, int idx) {
  lfuture_t *f = lua_touserdata(L, idx);
  idx = lua_absindex(L, idx);
  if (f->aw.fut.state != TIDE__PENDING) {
    lua_pop(L, 1);
    return TIDE_ESTATE;
  }
  lua_setiuservalue(L, idx, TIDE__UV_VALUES);
  return tide__future_complete(&f->aw.fut, TIDE__FAILED);
}

static int l_future_set_result(lua_State *L) {
  lfuture_t *f = check_future(L, 1);
  future_check_pending(L, f, "set_result");
  tide__lua_future_resolve(L, 1, lua_gettop(L) - 1);
  return 0;
}

static int l_future_set_error(lua_State *L) {
  lfuture_t *f = check_future(L, 1);
  luaL_checkany(L, 2);
  future_check_pending(L, f, "set_error");
  lua_settop(L, 2);
  tide__lua_future_reject(L, 1);
  return 0;
}

/* f:cancel([msg]) -> true if it was pending (now cancelled), else false. */
static int l_future_cancel(lua_State *L) {
  lfuture_t *f = check_future(L, 1);
  const char *msg = luaL_optstring(L, 2, NULL);
  if (f->aw.fut.state != TIDE__PENDING) {
    lua_pushboolean(L, 0);
    return 1;
  }
  if (msg != NULL) msg = lua_pushfstring(L, "tide: future cancelled: %s", msg);
  tide__lua_pusherror(L, "cancelled", msg ? msg : "tide: future cancelled");
  lua_setiuservalue(L, 1, TIDE__UV_VALUES);
  tide__future_cancel(&f->aw.fut);
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
  lfuture_t *f = lua_touserdata(L, 1);
  while (!tide__link_empty(&f->aw.fut.waiters))
    tide__link_remove(f->aw.fut.waiters.next);
  return 0;
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
  lua_pushcfunction(L, error_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);

  luaL_newmetatable(L, TIDE__MT_FUTURE);
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
