/* Task-local context (Python's contextvars): tide.context_var(name
 * [, default]) makes a variable whose value each task sees in its own
 * context; a spawned task starts with a copy of its spawner's context, so
 * a request id set by a server's connection task reaches every task it
 * spawns, and nothing a child sets leaks back.
 *
 * A context is a Lua table (variable -> value) kept in the task's info
 * table; code outside any task (loop callbacks, the main chunk before
 * tide.run) uses the runtime's root context. Copies are lazy: a spawn
 * shares the table and marks both tasks (ctx_shared), and whichever writes
 * first copies it. Tasks that never use a variable carry no table. */
#include <string.h>

#include "../tide_lua.h"

#define MT_VAR "tide.ContextVar"

static char nilval[1];     /* a value set to nil (a table cannot hold nil) */

/* Pushes the context of the running code (nil if it has none and for_write
 * is 0). With for_write, makes or copies it so that it is this task's own.
 * Returns the task, or NULL for the root context. */
static tide__task_t *ctx_push(lua_State *L, tide_runtime_t *rt,
                              int for_write) {
  tide__task_t *t = rt->current;
  int shared;
  luaL_checkstack(L, 4, NULL);
  if (t == NULL) {
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, tide__ctx_root_key) == LUA_TTABLE ||
        !for_write)
      return NULL;
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, tide__ctx_root_key);
    return NULL;
  }
  if (!t->has_ctx && !for_write) {
    lua_pushnil(L);
    return t;
  }
  tide__task_push(L, t);
  tide__task_pushinfo(L, -1); /* task, info */
  lua_getfield(L, -1, "context");
  shared = t->ctx_shared;
  if (for_write && (!t->has_ctx || shared)) {
    int i = lua_gettop(L);
    if (lua_type(L, i) == LUA_TTABLE)
      tide__lua_copytable(L, i); /* copy the shared one */
    else
      lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, i - 1, "context");
    lua_remove(L, i);
    t->has_ctx = 1;
    t->ctx_shared = 0;
  }
  lua_replace(L, -3);
  lua_pop(L, 1);
  return t;
}

/* tide.context_var(name [, default]) -> a context variable. */
static int l_context_var(lua_State *L) {
  luaL_checkstring(L, 1);
  lua_settop(L, 2);
  lua_createtable(L, 0, 3);
  lua_pushvalue(L, 1);
  lua_setfield(L, -2, "name");
  lua_pushvalue(L, 2);
  lua_setfield(L, -2, "default");
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_setmetatable(L, -2);
  return 1;
}

static void var_check(lua_State *L) {
  if (!lua_getmetatable(L, 1) || !lua_rawequal(L, -1, lua_upvalueindex(2)))
    luaL_typeerror(L, 1, MT_VAR);
  lua_pop(L, 1);
}

/* var:get([default]) -> its value in the running context, else the default
 * given here, else the variable's default; raises if there is none (as
 * Python's LookupError). */
static int l_var_get(lua_State *L) {
  tide_runtime_t *rt = tide__runtime_from(L);
  var_check(L);
  lua_settop(L, 2); /* 2: the default given here, or nil */
  ctx_push(L, rt, 0);
  if (lua_type(L, -1) == LUA_TTABLE) {
    lua_pushvalue(L, 1);
    if (lua_rawget(L, -2) != LUA_TNIL) {
      if (lua_touserdata(L, -1) == nilval) lua_pushnil(L);
      return 1;
    }
  }
  if (!lua_isnil(L, 2)) {
    lua_pushvalue(L, 2);
    return 1;
  }
  if (lua_getfield(L, 1, "default") != LUA_TNIL) return 1;
  lua_getfield(L, 1, "name");
  return luaL_error(L, "tide: context variable '%s' has no value",
                    lua_tostring(L, -1));
}

/* var:set(value) -> token: sets the variable in the running context (the
 * task's own: its spawner and children do not see it); the token undoes
 * it with var:reset(token). */
static int l_var_set(lua_State *L) {
  tide_runtime_t *rt = tide__runtime_from(L);
  tide__task_t *t;
  int ctx;
  var_check(L);
  luaL_checkany(L, 2);
  lua_settop(L, 2);
  t = ctx_push(L, rt, 1);
  ctx = lua_gettop(L);
  lua_createtable(L, 0, 3); /* the token */
  lua_pushvalue(L, 1);
  lua_setfield(L, -2, "var");
  lua_pushvalue(L, 1);
  lua_rawget(L, ctx);
  lua_setfield(L, -2, "old"); /* nil: unset before */
  lua_pushlightuserdata(L, t);
  lua_setfield(L, -2, "owner");
  lua_pushvalue(L, 1);
  if (lua_isnil(L, 2)) lua_pushlightuserdata(L, nilval);
  else lua_pushvalue(L, 2);
  lua_rawset(L, ctx);
  return 1;
}

/* var:reset(token): restores the value the variable had before the set
 * that made token, in the same context. */
static int l_var_reset(lua_State *L) {
  tide_runtime_t *rt = tide__runtime_from(L);
  int ctx;
  var_check(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  lua_getfield(L, 2, "var");
  if (!lua_rawequal(L, -1, 1))
    return luaL_error(L, "tide: token of another context variable");
  lua_getfield(L, 2, "owner");
  if (lua_touserdata(L, -1) != (void *)rt->current)
    return luaL_error(L, "tide: token made in another context (task)");
  lua_settop(L, 2);
  ctx_push(L, rt, 1);
  ctx = lua_gettop(L);
  lua_pushvalue(L, 1);
  lua_getfield(L, 2, "old");
  lua_rawset(L, ctx);
  return 0;
}

static int l_var_tostring(lua_State *L) {
  lua_getfield(L, 1, "name");
  lua_pushfstring(L, "tide.ContextVar '%s'", lua_tostring(L, -1));
  return 1;
}

static const luaL_Reg var_methods[] = {
    {"get", l_var_get}, {"set", l_var_set}, {"reset", l_var_reset},
    {NULL, NULL}};

/* Registers tide.context_var into the module at the top of L; the runtime
 * box is at top - 1. */
void tide__lua_open_context(lua_State *L, tide_runtime_t *rt) {
  (void)rt;
  luaL_newmetatable(L, MT_VAR);
  lua_newtable(L);
  lua_pushvalue(L, -4);
  lua_pushvalue(L, -3);
  luaL_setfuncs(L, var_methods, 2);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_var_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pushvalue(L, -3); /* box */
  lua_pushvalue(L, -2); /* metatable */
  lua_pushcclosure(L, l_context_var, 2);
  lua_setfield(L, -3, "context_var");
  lua_pop(L, 1);
}
