/* Tasks: futures that drive one Lua coroutine each.
 *
 * A step resumes the coroutine from the runtime's main thread. When the
 * coroutine yields the await sentinel and a future, the task registers its
 * waiter on that future and sleeps; when the future completes, the waiter
 * runs from the ready queue and takes the next step. The coroutine's return
 * values become the task's result (left on the dead coroutine's stack, where
 * awaiters copy them from); an uncaught error becomes the task's error,
 * kept with a traceback taken before the stack unwinds.
 *
 * Lifetime: a pending task is pinned in the runtime's pending table
 * (coroutine -> task); finishing unpins it, and from then on it lives as
 * long as Lua references it. */
#include <string.h>

#include "tide_lua.h"

char tide__sentinel[1];
char tide__token_wake[1];
char tide__token_cancel[1];
char tide__token_notask[1];

static void task_on_wake(void *data, uintptr_t gen);
static int task_cancel_hook(tide__future_t *f);

/* Pushes the pending table. */
static void task_pushpending(lua_State *L, tide_runtime_t *rt) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->pending_ref);
}

void tide__task_push(lua_State *L, tide__task_t *t) {
  task_pushpending(L, t->rt);
  lua_pushthread(t->co);
  lua_xmove(t->co, L, 1);
  lua_rawget(L, -2);
  lua_remove(L, -2);
}

/* Remembers where the task was spawned: the calling Lua function (kept in
 * a user value; its source is looked up only when a report needs it) and
 * the current line. The task userdata is at the top of L. */
static void task_record_spawner(lua_State *L, tide__task_t *t) {
  lua_Debug ar;
  int level;
  for (level = 1; level < 3 && lua_getstack(L, level, &ar); level++) {
    if (!lua_getinfo(L, "fl", &ar)) break;
    if (ar.currentline > 0) {
      t->spawn_line = ar.currentline;
      lua_setiuservalue(L, -2, TIDE__UV_SPAWNER);
      return;
    }
    lua_pop(L, 1); /* a C function (e.g. the facade's spawn): look higher */
  }
}

void tide__task_pushlabel(lua_State *L, tide__task_t *t, int idx) {
  luaL_Buffer b;
  idx = lua_absindex(L, idx);
  luaL_buffinit(L, &b);
  lua_pushfstring(L, "task #%I", (lua_Integer)t->id);
  luaL_addvalue(&b);
  if (lua_getiuservalue(L, idx, TIDE__UV_INFO) == LUA_TTABLE &&
      lua_getfield(L, -1, "name") == LUA_TSTRING) {
    lua_pushfstring(L, " '%s'", lua_tostring(L, -1));
    lua_remove(L, -2);
    lua_remove(L, -2);
    luaL_addvalue(&b);
  } else {
    lua_pop(L, lua_type(L, -1) == LUA_TTABLE ? 2 : 1);
  }
  if (t->spawn_line > 0 &&
      lua_getiuservalue(L, idx, TIDE__UV_SPAWNER) == LUA_TFUNCTION) {
    lua_Debug ar;
    lua_getinfo(L, ">S", &ar);
    lua_pushfstring(L, " (spawned at %s:%d)", ar.short_src, t->spawn_line);
    luaL_addvalue(&b);
  } else if (t->spawn_line > 0) {
    lua_pop(L, 1);
  }
  luaL_pushresult(&b);
}

int tide__task_pushwhere(lua_State *L, tide__task_t *t) {
  lua_Debug ar;
  int level;
  if (t->aw.fut.state != TIDE__PENDING || !t->started) return 0;
  for (level = 0; lua_getstack(t->co, level, &ar); level++) {
    if (lua_getinfo(t->co, "Sl", &ar) && ar.currentline > 0) {
      lua_pushfstring(L, "%s:%d", ar.short_src, ar.currentline);
      return 1;
    }
  }
  return 0;
}

/* Queues the next step. gen tells this wake-up from stale ones. */
static void task_schedule(tide__task_t *t) {
  t->scheduled = 1;
  t->waiting = NULL;
  tide__loop_call_soon(&t->rt->loop, task_on_wake, t, ++t->gen);
}

/* Creates a task running the function below the nargs arguments on top of
 * L's stack (popping them all) and pushes it. The first step is queued. */
tide__task_t *tide__task_new(lua_State *L, tide_runtime_t *rt, int nargs) {
  tide__task_t *t;
  lua_State *co;
  luaL_checkstack(L, 4, NULL);
  t = lua_newuserdatauv(L, sizeof(*t), TIDE__TASK_NUV);
  memset(t, 0, sizeof(*t));
  t->id = ++rt->next_task_id;
  t->parent_id = rt->current != NULL ? rt->current->id : 0;
  t->spawn_line = -1;
  tide__future_init(&t->aw.fut, &rt->loop);
  t->aw.fut.cancel = task_cancel_hook;
  t->aw.results = tide__task_results;
  t->aw.cbref = LUA_NOREF;
  t->rt = rt;
  t->waiter.data = t;
  t->waiter.fn = task_on_wake;
  tide__link_init(&t->waiter.link);
  tide__timer_init(&t->timer, NULL);
  tide__future_init(&t->sleep, &rt->loop);
  luaL_setmetatable(L, TIDE__MT_TASK);
  task_record_spawner(L, t);
  co = lua_newthread(L);
  t->co = co;
  lua_setiuservalue(L, -2, TIDE__UV_VALUES);
  /* Move the function and its arguments onto the coroutine. */
  lua_insert(L, -(nargs + 2));
  lua_xmove(L, co, nargs + 1);
  /* Pin: pending[co] = task. */
  task_pushpending(L, rt);
  lua_pushthread(co);
  lua_xmove(co, L, 1);
  lua_pushvalue(L, -3);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  tide__link_insert_tail(&rt->tasks, &t->link);
  rt->ntasks++;
  task_schedule(t);
  return t;
}

tide__task_t *tide__task_check(lua_State *L, int idx) {
  return luaL_checkudata(L, idx, TIDE__MT_TASK);
}

/* Marks the task's error as seen (it will not be reported). */
void tide__task_mark_observed(tide__task_t *t) {
  if (!t->observed && t->aw.fut.state == TIDE__FAILED) {
    t->observed = 1;
    tide__link_remove(&t->link);
  }
}

/* Finishes the task in state: unpins it and wakes its waiters. The
 * coroutine's stack holds the outcome (results, or error and traceback). */
static void task_finish(lua_State *L, tide__task_t *t, int state) {
  tide_runtime_t *rt = t->rt;
  tide__link_remove(&t->link);
  rt->ntasks--;
  if (state == TIDE__FAILED) {
    /* Until someone sees the error, the task is on the failed list and in
     * the weak failed table (so a report can find its userdata; the weak
     * value lets it be collected, and its __gc reports it). */
    tide__link_insert_tail(&rt->failed, &t->link);
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->failed_ref);
    tide__task_push(L, t);
    lua_rawsetp(L, -2, t);
    lua_pop(L, 1);
  }
  tide__future_complete(&t->aw.fut, state);
  task_pushpending(L, rt);
  lua_pushthread(t->co);
  lua_xmove(t->co, L, 1);
  lua_pushnil(L);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

/* Is the value at idx of co a cancellation error? */
static int task_is_cancel(lua_State *co, int idx) {
  return tide__lua_iserror(co, idx, "cancelled");
}

/* If the task dies of the very error that an awaited task raised in it,
 * the traceback of that task goes with it: the report then shows where the
 * error really began. L: [err, tb] -> [err, tb']. */
static void task_add_cause(lua_State *L, tide__task_t *t) {
  tide__task_t *cause;
  tide__task_push(L, t);
  if (lua_getiuservalue(L, -1, TIDE__UV_CAUSE) == LUA_TUSERDATA) {
    cause = lua_touserdata(L, -1);
    lua_pushvalue(cause->co, -2); /* the cause's error */
    lua_xmove(cause->co, L, 1);
    if (lua_rawequal(L, -1, -5)) {
      tide__task_pushlabel(L, cause, -2);
      lua_pushvalue(cause->co, -1); /* its traceback */
      lua_xmove(cause->co, L, 1);
      lua_pushfstring(L, "%s\n(the error came from %s:)\n%s", lua_tostring(L, -6),
                      lua_tostring(L, -2), lua_tostring(L, -1));
      lua_replace(L, -7);
      lua_pop(L, 2);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 2);
}

/* The coroutine died with an error at the top of its stack: take the
 * traceback while the stack is intact, then close it (running its pending
 * to-be-closed variables), and leave [error, traceback] on its stack. */
static void task_fail(lua_State *L, tide__task_t *t) {
  lua_State *co = t->co;
  int cancelled;
  lua_pushvalue(co, -1);
  lua_xmove(co, L, 1);                                  /* L: err */
  luaL_traceback(L, co, luaL_tolstring(L, -1, NULL), 0); /* err, s, tb */
  lua_replace(L, -2);                                   /* L: err, tb */
  task_add_cause(L, t);
  lua_remove(L, -2);                                    /* L: tb */
  /* Closing the coroutine runs its to-be-closed variables; one of them may
   * replace the error with its own. */
  lua_resetthread(co);
  if (lua_gettop(co) == 0) lua_pushnil(co);
  cancelled = task_is_cancel(co, -1);
  lua_xmove(L, co, 1); /* co: [error, traceback] */
  t->nres = 2;
  task_finish(L, t, cancelled ? TIDE__CANCELLED : TIDE__FAILED);
}

/* One step, in protected mode: resume the coroutine and act on how it
 * stopped. */
static int task_step(lua_State *L) {
  tide__task_t *t = lua_touserdata(L, 1);
  tide_runtime_t *rt = t->rt;
  lua_State *co = t->co;
  tide__task_t *prev;
  int nargs, nres, status;

  t->scheduled = 0;
  if (!t->started) {
    t->started = 1;
    if (t->must_cancel) {
      /* Cancelled before it ever ran: the body never starts. */
      lua_settop(co, 0);
      tide__lua_pusherror(co, "cancelled", "task cancelled before it started");
      luaL_traceback(L, co, "tide: cancelled", 0);
      lua_xmove(L, co, 1);
      t->nres = 2;
      task_finish(L, t, TIDE__CANCELLED);
      return 0;
    }
    nargs = lua_gettop(co) - 1;
  } else {
    if (!lua_checkstack(co, 1)) return luaL_error(L, "tide: stack overflow");
    lua_pushlightuserdata(co, t->must_cancel ? tide__token_cancel
                                             : tide__token_wake);
    t->must_cancel = 0;
    nargs = 1;
  }
  prev = rt->current;
  rt->current = t;
  status = lua_resume(co, L, nargs, &nres);
  rt->current = prev;

  if (status == LUA_YIELD) {
    if (nres == 2 && lua_touserdata(co, -2) == tide__sentinel) {
      tide__future_t *f = lua_touserdata(co, -1);
      lua_pop(co, 2);
      t->waiting = f;
      t->waiter.arg = ++t->gen;
      tide__future_wait(f, &t->waiter);
      return 0;
    }
    /* A bare coroutine.yield() at the task's own level has no resumer to
     * return to: the task fails with a clear error. */
    lua_pop(co, nres);
    lua_resetthread(co);
    lua_settop(co, 0);
    lua_pushliteral(co, "tide: coroutine.yield() called in a task outside "
                        "any nested coroutine (use tide.yield() or "
                        "tide.await())");
    luaL_traceback(L, co, lua_tostring(co, -1), 0);
    lua_xmove(L, co, 1);
    t->nres = 2;
    task_finish(L, t, TIDE__FAILED);
  } else if (status == LUA_OK) {
    t->nres = nres;
    task_finish(L, t, TIDE__DONE);
  } else {
    task_fail(L, t);
  }
  return 0;
}

/* Ready-queue callback: the future the task awaited is done (or the task
 * was cancelled, or it is the first step). */
static void task_on_wake(void *data, uintptr_t gen) {
  tide__task_t *t = data;
  if (gen != t->gen || t->aw.fut.state != TIDE__PENDING) return;
  t->waiting = NULL;
  tide__runtime_pcall(t->rt, task_step, t);
}

/* Requests cancellation: delivered at the task's next await point (at once
 * if it is waiting now). The message at msg_idx (0: none) goes with it.
 * Cancelling a done task does nothing. */
void tide__task_cancel(tide__task_t *t, lua_State *L, int msg_idx) {
  if (t->aw.fut.state != TIDE__PENDING) return;
  if (msg_idx != 0) {
    msg_idx = lua_absindex(L, msg_idx);
    tide__task_push(L, t);
    lua_getiuservalue(L, -1, TIDE__UV_INFO);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      lua_newtable(L);
      lua_pushvalue(L, -1);
      lua_setiuservalue(L, -3, TIDE__UV_INFO);
    }
    lua_pushvalue(L, msg_idx);
    lua_setfield(L, -2, "cancel_message");
    lua_pop(L, 2);
  }
  t->must_cancel = 1;
  if (t->waiting != NULL) {
    tide__future_t *f = t->waiting;
    /* Pass the request down (a task we await is cancelled too, asyncio's
     * rule). If the awaited thing took the request over, stay bound to it:
     * we wake when it has finished cancelling, so its cleanup completes
     * before ours runs. Otherwise wake now. */
    if (f->cancel != NULL && f->state == TIDE__PENDING &&
        tide__future_cancel(f) && f->state == TIDE__PENDING)
      return;
    tide__future_unwait(&t->waiter);
    task_schedule(t);
  }
}

/* The cancel hook of a task's own future. */
static int task_cancel_hook(tide__future_t *f) {
  tide__task_t *t = (tide__task_t *)f;
  tide__task_cancel(t, t->rt->L, 0);
  return 1;
}

/* Pushes copies of a done task's results onto L (stack space checked by the
 * caller); the task keeps its own. */
void tide__task_copy_results(tide__task_t *t, lua_State *L) {
  int i, base = lua_gettop(t->co) - t->nres;
  for (i = 1; i <= t->nres; i++) lua_pushvalue(t->co, base + i);
  lua_xmove(t->co, L, t->nres);
}

/* Pushes a done task's results, or raises its error. */
int tide__task_results(lua_State *L, int idx) {
  tide__task_t *t = lua_touserdata(L, idx);
  lua_State *co = t->co;
  int n = t->nres;
  if (t->aw.fut.state == TIDE__DONE) {
    luaL_checkstack(L, n, "too many results");
    tide__task_copy_results(t, L);
    return n;
  }
  tide__task_mark_observed(t);
  if (t->rt->current != NULL && t->rt->current != t &&
      t->aw.fut.state == TIDE__FAILED) {
    tide__task_push(L, t->rt->current);
    lua_pushvalue(L, idx);
    lua_setiuservalue(L, -2, TIDE__UV_CAUSE);
    lua_pop(L, 1);
  }
  lua_pushvalue(co, -2); /* the error object */
  lua_xmove(co, L, 1);
  return lua_error(L);
}

/* Reports the failed task t (its userdata at idx) to the error handler:
 * "task #3 'name' (spawned at f.lua:12): error was never retrieved:" and
 * the traceback. */
void tide__task_report_failed(lua_State *L, tide__task_t *t, int idx) {
  idx = lua_absindex(L, idx);
  tide__task_pushlabel(L, t, idx);
  lua_pushvalue(t->co, -1); /* the traceback */
  lua_xmove(t->co, L, 1);
  lua_pushfstring(L, "%s: error was never retrieved: %s", lua_tostring(L, -2),
                  lua_tostring(L, -1));
  lua_replace(L, -3);
  lua_pop(L, 1);
  tide__runtime_report(t->rt, L, idx);
}

/* Reports every failed task whose error nobody has seen, once. */
void tide__task_report_unobserved(tide_runtime_t *rt) {
  lua_State *L = rt->L;
  while (!tide__link_empty(&rt->failed)) {
    tide__task_t *t = TIDE__CONTAINER_OF(rt->failed.next, tide__task_t, link);
    t->observed = 1;
    tide__link_remove(&t->link);
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->failed_ref);
    if (lua_rawgetp(L, -1, t) == LUA_TUSERDATA)
      tide__task_report_failed(L, t, -1);
    lua_pop(L, 2);
  }
}
