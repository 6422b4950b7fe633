/* Lua binding of tasks: spawn, the task methods, the task's finalizer. */
#include "../tide_lua.h"

extern const luaL_Reg tide__awaitable_methods[];

/* tide.spawn(fn, ...) -> task. The task starts on the loop's next turn. */
static int l_spawn(lua_State *L) {
  tide_runtime_t *rt = tide__runtime_from(L);
  luaL_checktype(L, 1, LUA_TFUNCTION);
  tide__task_new(L, rt, lua_gettop(L) - 1);
  return 1;
}

/* task:cancel([msg]) -> true if the task was pending (the cancellation is
 * delivered at its next await point), false if it had already finished. */
static int l_task_cancel(lua_State *L) {
  tide__task_t *t = tide__task_check(L, 1);
  tide__runtime_from(L);
  if (!lua_isnoneornil(L, 2)) luaL_checkstring(L, 2);
  if (t->aw.fut.state != TIDE__PENDING) {
    lua_pushboolean(L, 0);
    return 1;
  }
  tide__task_cancel(t, L, lua_isnoneornil(L, 2) ? 0 : 2);
  lua_pushboolean(L, 1);
  return 1;
}

/* task:traceback() -> the traceback of a failed or cancelled task, or nil. */
static int l_task_traceback(lua_State *L) {
  tide__task_t *t = tide__task_check(L, 1);
  if (t->aw.fut.state != TIDE__FAILED && t->aw.fut.state != TIDE__CANCELLED)
    return 0;
  lua_pushvalue(t->co, -1);
  lua_xmove(t->co, L, 1);
  return 1;
}

/* tide.current_task() -> the running task, or nil outside any task. */
static int l_current_task(lua_State *L) {
  tide_runtime_t *rt = tide__runtime_from(L);
  if (rt->current == NULL) return 0;
  tide__task_push(L, rt->current);
  return 1;
}

static int l_task_tostring(lua_State *L) {
  tide__task_t *t = lua_touserdata(L, 1);
  static const char *const names[] = {"pending", "done", "failed",
                                      "cancelled"};
  const char *name = NULL;
  if (lua_getiuservalue(L, 1, TIDE__UV_INFO) == LUA_TTABLE &&
      lua_getfield(L, -1, "name") == LUA_TSTRING)
    name = lua_tostring(L, -1);
  if (name != NULL)
    lua_pushfstring(L, "tide.task '%s': %p (%s)", name, (void *)t,
                    names[t->aw.fut.state]);
  else
    lua_pushfstring(L, "tide.task: %p (%s)", (void *)t,
                    names[t->aw.fut.state]);
  return 1;
}

/* __gc: a failed task whose error nobody saw is reported now. A pending
 * task is only collected when the Lua state closes: it is unlinked. After
 * the runtime has closed, its lists are gone and there is nothing to do. */
static int l_task_gc(lua_State *L) {
  tide__task_t *t = lua_touserdata(L, 1);
  tide_runtime_t *rt;
  void **box = lua_touserdata(L, lua_upvalueindex(1));
  rt = box != NULL ? *box : NULL;
  if (rt == NULL) return 0;
  if (t->aw.fut.state == TIDE__PENDING) {
    tide__link_remove(&t->link);
    rt->ntasks--;
    if (t->waiting != NULL) tide__future_unwait(&t->waiter);
    t->waiting = NULL;
    tide__timer_stop(&rt->loop, &t->timer);
  } else if (t->aw.fut.state == TIDE__FAILED && !t->observed) {
    t->observed = 1;
    tide__link_remove(&t->link);
    lua_pushvalue(t->co, -1);
    lua_xmove(t->co, L, 1);
    lua_pushfstring(L, "task error was never retrieved: %s",
                    lua_tostring(L, -1));
    lua_remove(L, -2);
    tide__runtime_report(rt, L, 0);
  }
  return 0;
}

/* Task methods (spawn lives in the module). */
static const luaL_Reg task_methods[] = {
    {"cancel", l_task_cancel},
    {"traceback", l_task_traceback},
    {NULL, NULL}};

static const luaL_Reg funcs[] = {
    {"spawn", l_spawn},
    {"current_task", l_current_task},
    {NULL, NULL}};

/* Registers the task metatable and functions into the module at the top of
 * L; the runtime box is at top - 1. */
void tide__lua_open_task(lua_State *L, tide_runtime_t *rt) {
  (void)rt;
  luaL_newmetatable(L, TIDE__MT_TASK);
  lua_newtable(L);
  lua_pushvalue(L, -4);
  luaL_setfuncs(L, tide__awaitable_methods, 1);
  lua_pushvalue(L, -4);
  luaL_setfuncs(L, task_methods, 1);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_task_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pushvalue(L, -3);
  lua_pushcclosure(L, l_task_gc, 1);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);

  lua_pushvalue(L, -2);
  luaL_setfuncs(L, funcs, 1);
}
