/* Lua binding of tasks: spawn, the task methods, the task's finalizer. */
#include "../tide_lua.h"

extern const luaL_Reg tide__awaitable_methods[];

/* Sets the name of the task at idx (the string at the top, popped). */
static void task_setname(lua_State *L, int idx) {
  tide__task_pushinfo(L, idx);
  lua_insert(L, -2);
  lua_setfield(L, -2, "name");
  lua_pop(L, 1);
}

/* tide.spawn([opts,] fn, ...) -> task. The task starts on the loop's next
 * turn; with opts.eager it runs at once, up to its first await (asyncio
 * 3.12's eager tasks: one that ends without awaiting costs no loop turn).
 * opts: {name = "worker 3", eager = true}. */
static int l_spawn(lua_State *L) {
  static const char *const known[] = {"name", "eager", NULL};
  tide_runtime_t *rt = tide__runtime_from(L);
  int named = 0, eager = 0;
  if (lua_type(L, 1) == LUA_TTABLE) {
    tide__lua_check_options(L, 1, "tide.spawn", known);
    lua_getfield(L, 1, "eager");
    eager = lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, 1, "name");
    if (!lua_isnil(L, -1)) {
      luaL_argexpected(L, lua_type(L, -1) == LUA_TSTRING, 1,
                       "name to be a string");
      named = 1;
      lua_replace(L, 1);
    } else {
      lua_pop(L, 1);
      lua_remove(L, 1);
    }
    luaL_checktype(L, 1 + named, LUA_TFUNCTION);
  } else {
    luaL_checktype(L, 1, LUA_TFUNCTION);
  }
  if (eager)
    tide__task_new_eager(L, rt, lua_gettop(L) - 1 - named);
  else
    tide__task_new(L, rt, lua_gettop(L) - 1 - named);
  if (named) {
    lua_pushvalue(L, 1);
    task_setname(L, -2);
  }
  return 1;
}

/* task:name() -> the task's name, or nil. */
static int l_task_name(lua_State *L) {
  tide__task_check(L, 1);
  if (lua_getiuservalue(L, 1, TIDE__UV_INFO) != LUA_TTABLE) return 0;
  lua_getfield(L, -1, "name");
  return 1;
}

/* task:set_name(name) */
static int l_task_set_name(lua_State *L) {
  tide__task_check(L, 1);
  luaL_checkstring(L, 2);
  lua_settop(L, 2);
  task_setname(L, 1);
  return 0;
}

/* task:id() -> the task's number (1, 2, ...: reports use it). */
static int l_task_id(lua_State *L) {
  tide__task_t *t = tide__task_check(L, 1);
  lua_pushinteger(L, (lua_Integer)t->id);
  return 1;
}

/* What a pending task is doing, for introspection. */
static const char *task_activity(tide__task_t *t) {
  if (t == tide__task_rt(t)->current) return "running";
  if (!t->started || t->scheduled || t->waiting == NULL) return "ready";
  if (t->w != NULL && t->waiting == &t->w->sleep) return "sleeping";
  if (t->waiting == &tide__task_rt(t)->done_future) return "ready";
  return "waiting";
}

/* tide.tasks() -> list of the pending tasks, oldest first, each a table
 * {task=, id=, parent=, name=, state=, where=, label=}: state is
 * "running", "ready", "sleeping" or "waiting"; where is the file:line of
 * the await it is suspended in; label names the task and its spawn site. */
static int l_tasks(lua_State *L) {
  tide_runtime_t *rt = tide__runtime_from(L);
  tide__link_t *l;
  int i = 0;
  lua_createtable(L, rt->ntasks, 0);
  for (l = rt->tasks.next; l != &rt->tasks; l = l->next) {
    tide__task_t *t = TIDE__CONTAINER_OF(l, tide__task_t, link);
    lua_createtable(L, 0, 7);
    tide__task_push(L, t);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "task");
    lua_pushinteger(L, (lua_Integer)t->id);
    lua_setfield(L, -3, "id");
    lua_pushinteger(L, (lua_Integer)t->parent_id);
    lua_setfield(L, -3, "parent");
    if (lua_getiuservalue(L, -1, TIDE__UV_INFO) == LUA_TTABLE)
      lua_getfield(L, -1, "name");
    else
      lua_pushnil(L);
    lua_setfield(L, -4, "name");
    lua_pop(L, 1);
    lua_pushstring(L, task_activity(t));
    lua_setfield(L, -3, "state");
    if (tide__task_pushwhere(L, t)) lua_setfield(L, -3, "where");
    tide__task_pushlabel(L, t, -1);
    lua_setfield(L, -3, "label");
    lua_pop(L, 1);
    lua_rawseti(L, -2, ++i);
  }
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

/* task:traceback() -> the traceback of a failed or cancelled task; for a
 * task waiting in an await, the stack where it waits; nil otherwise. */
static int l_task_traceback(lua_State *L) {
  tide__task_t *t = tide__task_check(L, 1);
  if (t->aw.fut.state == TIDE__PENDING) {
    /* A waiting task: where it waits, as debug.traceback shows it. */
    if (!t->started || t->co == NULL || t == tide__task_rt(t)->current)
      return 0;
    luaL_traceback(L, t->co, "waiting", 0);
    return 1;
  }
  if (t->aw.fut.state != TIDE__FAILED && t->aw.fut.state != TIDE__CANCELLED)
    return 0;
  tide__task_push_traceback(L, 1);
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
  tide__lua_free_callbacks(&t->aw);
  rt = box != NULL ? *box : NULL;
  if (rt == NULL) return 0;
  if (t->aw.fut.state == TIDE__PENDING) {
    tide__link_remove(&t->link);
    rt->ntasks--;
    if (t->waiting != NULL) tide__future_unwait(&t->waiter);
    t->waiting = NULL;
    tide__task_release(t); /* stops its sleep timer */
  } else if (t->aw.fut.state == TIDE__FAILED && !t->observed) {
    t->observed = 1;
    tide__link_remove(&t->link);
    tide__task_report_failed(L, t, 1);
  }
  return 0;
}

/* Task methods (spawn lives in the module). */
static const luaL_Reg task_methods[] = {
    {"cancel", l_task_cancel},
    {"name", l_task_name},
    {"set_name", l_task_set_name},
    {"id", l_task_id},
    {"traceback", l_task_traceback},
    {NULL, NULL}};

static const luaL_Reg funcs[] = {
    {"spawn", l_spawn},
    {"current_task", l_current_task},
    {"tasks", l_tasks},
    {NULL, NULL}};

/* Registers the task metatable and functions into the module at the top of
 * L; the runtime box is at top - 1. */
void tide__lua_open_task(lua_State *L, tide_runtime_t *rt) {
  (void)rt;
  luaL_newmetatable(L, TIDE__MT_TASK);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, tide__mt_task);
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
