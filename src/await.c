/* The await protocol as Lua code meets it: suspending the running task on
 * a future (tide__lua_await_begin, tide__lua_await_yield), checking the
 * wake token in continuations (tide__lua_check_wake), and raising the
 * level-triggered cancellation (src/scope.c) at every await inside a
 * cancelled scope, but for cleanup within its grace period. Every binding
 * that waits uses these; they sit on the task core and the runtime. */
#include "tide_lua.h"

/* Pushes the cancellation error of task t owned by owner (NULL: the task
 * itself, with the message given to task:cancel()). Its "scope" field names
 * the owner, so that the owner's exit knows the error for its own. */
static char cancel_error_key[1]; /* registry: the shared plain error */

static void push_cancel(lua_State *L, tide__task_t *t, tide__scope_t *owner) {
  const char *msg = NULL;
  luaL_checkstack(L, 6, NULL);
  if (owner == NULL) {
    tide__task_push(L, t);
    if (lua_getiuservalue(L, -1, TIDE__UV_INFO) == LUA_TTABLE &&
        lua_getfield(L, -1, "cancel_message") == LUA_TSTRING) {
      msg = lua_pushfstring(L, "tide: task cancelled: %s", lua_tostring(L, -1));
    } else {
      /* A task cancelled without a message: one error object serves them
       * all, so cancelling a million tasks allocates no million errors. */
      if (lua_rawgetp(L, LUA_REGISTRYINDEX, cancel_error_key) == LUA_TTABLE)
        return;
      lua_pop(L, 1);
      tide__lua_pusherror(L, "cancelled", "tide: task cancelled");
      lua_pushinteger(L, 0);
      lua_setfield(L, -2, "scope");
      lua_pushvalue(L, -1);
      lua_rawsetp(L, LUA_REGISTRYINDEX, cancel_error_key);
      return;
    }
  } else {
    msg = lua_pushfstring(L, "tide: cancelled by %s", owner->reason);
  }
  tide__lua_pusherror(L, "cancelled", msg ? msg : "tide: task cancelled");
  lua_pushinteger(L, owner != NULL ? (lua_Integer)owner->id : 0);
  lua_setfield(L, -2, "scope");
}

void tide__lua_push_cancel(lua_State *L) {
  tide_runtime_t *rt = tide__runtime_from(L);
  tide__task_t *t = rt->current;
  tide__scope_t *owner = NULL;
  if (t == NULL) {
    tide__lua_pusherror(L, "cancelled", "tide: task cancelled");
    return;
  }
  if (!tide__cstack_cancelled(&t->cs, &owner)) owner = NULL;
  push_cancel(L, t, owner);
}

/* Raises the cancellation pending in the running task (level-triggered: it
 * is raised at every await until the code leaves the cancelled scope). */
int tide__lua_raise_cancel(lua_State *L) {
  tide__lua_push_cancel(L);
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

tide__task_t *tide__lua_await_begin_uncancellable(lua_State *L) {
  tide_runtime_t *rt = tide__runtime_from(L);
  tide__task_t *t = rt->current;
  if (t == NULL)
    luaL_error(L, "tide: await outside a task (use tide.run or tide.spawn)");
  if (!lua_isyieldable(L))
    luaL_error(L, "tide: cannot await across a C call boundary (inside a "
                  "metamethod or a C function's callback)");
  t->cleanup = 0;
  return t;
}

tide__task_t *tide__lua_await_begin(lua_State *L) {
  tide__task_t *t = tide__lua_await_begin_uncancellable(L);
  tide__scope_t *owner;
  if (t->cs.ncancelled == 0) {
    if (t->graced || t->grace_over) tide__task_grace_reset(t);
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
  } else if (t->graced || t->grace_over) {
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

