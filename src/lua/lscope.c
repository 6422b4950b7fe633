/* Lua binding of cancel scopes (src/scope.c): the one mechanism under
 * tide.timeout, move_on_after, timeout_scope, wait_for, shield, cleanup and
 * the task group's body (lua/tide/deadline.lua, group.lua).
 *
 * A scope is a userdata opened in the running task; it may have a deadline
 * (a timer of the loop's heap, embedded) and may be a shield. Its close(err)
 * says whether err is the cancellation this scope owns, which the Lua code
 * turns into the scope's outcome. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../tide_lua.h"

#define TIDE__MT_SCOPE "tide.scope"

/* Kinds: what the scope is for (its reason in cancellation messages) and
 * what its __close does. */
enum { KIND_DEADLINE, KIND_TIMEOUT, KIND_GROUP, KIND_SHIELD, KIND_CLEANUP };

static const struct {
  const char *name;   /* core.open_scope's kind argument */
  const char *reason; /* "tide: cancelled by <reason>" */
  int shield;
} kinds[] = {
    {"deadline", "a deadline", 0},
    {"timeout", "a deadline", 0}, /* timeout_scope: __close raises */
    {"group", "its task group", 0},
    {"shield", "a shield's deadline", 1},
    {"cleanup", "the end of the cleanup grace period", 1},
    {NULL, NULL, 0}};

typedef struct {
  tide__scope_t scope;  /* open in the task's stack while open */
  tide_runtime_t *rt;
  double seconds;       /* the deadline's length, for messages */
  int kind;
  unsigned closed : 1;
} lscope_t;

/* Methods and functions carry the runtime box (upvalue 1) and the scope
 * metatable (2). */
static lscope_t *scope_check(lua_State *L) {
  return tide__lua_checkself(L, 1, 2, TIDE__MT_SCOPE);
}

/* Arms the deadline seconds from now (1e9 and more: none). */
static void scope_arm(lua_State *L, lscope_t *ls, lua_Number seconds) {
  uint64_t due = UINT64_MAX;
  ls->seconds = seconds;
  if (seconds < 1e9) /* about 31 years: beyond, no deadline */
    due = tide__loop_now(&ls->rt->loop) + (uint64_t)(seconds * 1e9);
  if (tide__scope_set_deadline(&ls->scope, due) != 0)
    luaL_error(L, "tide: %s", tide_strerror(TIDE_ENOMEM));
}

static lua_Number check_seconds(lua_State *L, int idx) {
  lua_Number s = luaL_checknumber(L, idx);
  luaL_argcheck(L, s == s && s >= 0, idx, "number of seconds >= 0 expected");
  return s;
}

/* core.open_scope(kind [, seconds [, what]]) -> scope, opened innermost in
 * the running task. kind: "deadline", "timeout" (its __close raises a
 * timeout error when it owns the cancellation), "group", "shield" or
 * "cleanup" (a shield whose deadline is the cleanup grace period). seconds:
 * the deadline (nil or math.huge: none). what names the caller in the error
 * raised outside a task. */
static int l_open_scope(lua_State *L) {
  tide_runtime_t *rt = tide__runtime_from(L);
  int kind = luaL_checkoption(L, 1, NULL, (const char *const[]){
                                  "deadline", "timeout", "group", "shield",
                                  "cleanup", NULL});
  lua_Number seconds = lua_isnoneornil(L, 2) ? HUGE_VAL : check_seconds(L, 2);
  lscope_t *ls;
  if (rt->current == NULL) {
    luaL_where(L, 2);
    lua_pushfstring(L, "tide: %s outside a task", luaL_optstring(L, 3, "scope"));
    lua_concat(L, 2);
    return lua_error(L);
  }
  if (kind == KIND_CLEANUP) seconds = (lua_Number)rt->grace_ns / 1e9;
  ls = lua_newuserdatauv(L, sizeof(*ls), 0);
  memset(ls, 0, sizeof(*ls));
  ls->rt = rt;
  ls->kind = kind;
  tide__scope_init(&ls->scope, kinds[kind].reason, kinds[kind].shield);
  ls->scope.cleanup = kind == KIND_CLEANUP;
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_setmetatable(L, -2);
  tide__scope_open(&rt->current->cs, &ls->scope, &rt->loop,
                   tide__task_interrupt);
  scope_arm(L, ls, seconds);
  return 1;
}

/* Closes the scope; returns 1 if the error at index err (0: none) is the
 * cancellation this scope owns. */
static int scope_close(lua_State *L, lscope_t *ls, int err) {
  int owned = 0;
  if (ls->closed) return 0;
  ls->closed = 1;
  if (err != 0 && ls->scope.cancelled &&
      tide__lua_iserror(L, err, "cancelled")) {
    lua_getfield(L, err, "scope");
    owned = lua_tointeger(L, -1) == (lua_Integer)ls->scope.id;
    lua_pop(L, 1);
  }
  tide__scope_close(&ls->scope);
  return owned;
}

/* scope:close([err]) -> true if err is the cancellation this scope caused
 * (its deadline passed, or scope:cancel()): the caller turns it into its own
 * outcome. Leaves the scope (idempotent: a second close returns false). */
static int l_scope_close(lua_State *L) {
  lscope_t *ls = scope_check(L);
  tide__runtime_from(L);
  lua_pushboolean(L, scope_close(L, ls, lua_isnoneornil(L, 2) ? 0 : 2));
  return 1;
}

static void push_timeout_error(lua_State *L, lscope_t *ls) {
  char msg[64];
  snprintf(msg, sizeof(msg), "tide: timeout after %g s", ls->seconds);
  tide__lua_pusherror(L, "timeout", msg);
}

/* __close: leaves the scope at the end of its block; a timeout scope that
 * owns the error the block ends with raises a timeout error instead. */
static int l_scope_gc_close(lua_State *L) {
  lscope_t *ls = lua_touserdata(L, 1);
  void **box = lua_touserdata(L, lua_upvalueindex(1));
  if (box == NULL || *box == NULL) return 0; /* the runtime is gone */
  if (scope_close(L, ls, lua_isnoneornil(L, 2) ? 0 : 2) &&
      ls->kind == KIND_TIMEOUT) {
    push_timeout_error(L, ls);
    return lua_error(L);
  }
  return 0;
}

/* scope:timeout_error() -> a new error of kind "timeout" for this scope's
 * deadline. */
static int l_scope_timeout_error(lua_State *L) {
  push_timeout_error(L, scope_check(L));
  return 1;
}

/* scope:cancel() -> true if this call cancelled the scope (for a deadline:
 * as if it had passed now). False once closed or already cancelled. */
static int l_scope_cancel(lua_State *L) {
  lscope_t *ls = scope_check(L);
  tide__runtime_from(L);
  if (ls->closed || ls->scope.cancelled) {
    lua_pushboolean(L, 0);
    return 1;
  }
  if (ls->scope.due != UINT64_MAX)
    tide__scope_set_deadline(&ls->scope, tide__loop_now(&ls->rt->loop));
  lua_pushboolean(L, tide__scope_cancel(&ls->scope));
  return 1;
}

/* scope:cancelled() / scope:expired() -> true once cancelled (its deadline
 * passed or cancel()). */
static int l_scope_cancelled(lua_State *L) {
  lua_pushboolean(L, scope_check(L)->scope.cancelled);
  return 1;
}

/* scope:remaining() -> seconds before the deadline (0 once passed or
 * cancelled, math.huge without one). */
static int l_scope_remaining(lua_State *L) {
  lscope_t *ls = scope_check(L);
  uint64_t now;
  tide__runtime_from(L);
  if (ls->scope.cancelled) {
    lua_pushnumber(L, 0);
    return 1;
  }
  if (ls->scope.due == UINT64_MAX) {
    lua_pushnumber(L, HUGE_VAL);
    return 1;
  }
  now = tide__loop_now(&ls->rt->loop);
  lua_pushnumber(L, ls->scope.due > now ? (ls->scope.due - now) / 1e9 : 0);
  return 1;
}

/* scope:reschedule(seconds): moves the deadline to seconds from now
 * (asyncio's Timeout.reschedule). Raises once the scope is closed or
 * cancelled. */
static int l_scope_reschedule(lua_State *L) {
  lscope_t *ls = scope_check(L);
  lua_Number s = check_seconds(L, 2);
  tide__runtime_from(L);
  if (ls->closed || ls->scope.cancelled || ls->scope.cs == NULL)
    return luaL_error(L, "tide: reschedule of a deadline that has passed or "
                         "is closed");
  scope_arm(L, ls, s);
  return 0;
}

static int l_scope_tostring(lua_State *L) {
  lscope_t *ls = lua_touserdata(L, 1);
  lua_pushfstring(L, "tide.scope (%s, %s): %p", kinds[ls->kind].name,
                  ls->closed ? "closed"
                  : ls->scope.cancelled ? "cancelled" : "open",
                  (void *)ls);
  return 1;
}

/* core.remaining() -> seconds left before the nearest deadline around the
 * running code (math.huge if none; 0 once one has passed). */
static int l_remaining(lua_State *L) {
  tide_runtime_t *rt = tide__runtime_from(L);
  uint64_t due, now;
  tide__scope_t *owner;
  if (rt->current == NULL) {
    lua_pushnumber(L, HUGE_VAL);
    return 1;
  }
  if (tide__cstack_cancelled(&rt->current->cs, &owner) && owner != NULL) {
    lua_pushnumber(L, 0);
    return 1;
  }
  due = tide__cstack_deadline(&rt->current->cs);
  now = tide__loop_now(&rt->loop);
  if (due == UINT64_MAX) lua_pushnumber(L, HUGE_VAL);
  else lua_pushnumber(L, due > now ? (due - now) / 1e9 : 0);
  return 1;
}

/* tide.cleanup_grace([seconds]) -> the grace period (seconds) before the
 * change: how long cleanup after a cancellation may await (<close>
 * handlers, tide.cleanup, the end of tide.run). Default 5. */
static int l_cleanup_grace(lua_State *L) {
  tide_runtime_t *rt = tide__runtime_from(L);
  lua_pushnumber(L, (lua_Number)rt->grace_ns / 1e9);
  if (!lua_isnoneornil(L, 1)) {
    lua_Number s = check_seconds(L, 1);
    rt->grace_ns = s >= 1e9 ? (uint64_t)1e18 : (uint64_t)(s * 1e9);
  }
  return 1;
}

static const luaL_Reg scope_methods[] = {
    {"close", l_scope_close},
    {"cancel", l_scope_cancel},
    {"cancelled", l_scope_cancelled},
    {"expired", l_scope_cancelled},
    {"remaining", l_scope_remaining},
    {"reschedule", l_scope_reschedule},
    {"timeout_error", l_scope_timeout_error},
    {NULL, NULL}};

static const luaL_Reg funcs[] = {{"open_scope", l_open_scope},
                                 {"remaining", l_remaining},
                                 {"cleanup_grace", l_cleanup_grace},
                                 {NULL, NULL}};

/* Registers the scope metatable and functions into the module at the top of
 * L; the runtime box is at top - 1. */
void tide__lua_open_scope(lua_State *L, tide_runtime_t *rt) {
  (void)rt;
  luaL_newmetatable(L, TIDE__MT_SCOPE);
  lua_newtable(L);
  lua_pushvalue(L, -4);
  lua_pushvalue(L, -3);
  luaL_setfuncs(L, scope_methods, 2);
  lua_setfield(L, -2, "__index");
  lua_pushvalue(L, -3);
  lua_pushcclosure(L, l_scope_gc_close, 1);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "__close");
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, l_scope_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pushvalue(L, -3);
  lua_insert(L, -2);
  luaL_setfuncs(L, funcs, 2); /* upvalues: box, the metatable */
}
