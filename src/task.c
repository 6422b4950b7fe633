/* Tasks: futures that drive one Lua coroutine each.
 *
 * A step resumes the coroutine from the runtime's main thread. When the
 * coroutine yields the await sentinel and a future, the task registers its
 * waiter on that future and sleeps; when the future completes, the waiter
 * runs from the ready queue and takes the next step. The coroutine's return
 * values become the task's result and an uncaught error its error, kept with
 * a traceback taken before the stack unwinds; both move into the task's
 * user values, and the coroutine is recycled for a later task.
 *
 * Lifetime: a pending task is pinned by a registry reference; finishing
 * unpins it, and from then on it lives as long as Lua references it. Its
 * coroutine is taken at its first step and given back when it finishes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tide_lua.h"

char tide__sentinel[1];
char tide__token_wake[1];
char tide__token_cancel[1];
char tide__token_notask[1];

static void task_on_wake(void *data, uintptr_t gen);
static void task_step(tide__task_t *t);
void tide__lua_copytable(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  luaL_checkstack(L, 4, NULL);
  lua_newtable(L);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -4);
  }
}

static void task_inherit_context(lua_State *L, tide_runtime_t *rt,
                                 tide__task_t *child, int child_idx);
static int task_cancel_hook(tide__future_t *f);
static lua_State *task_take_coroutine(lua_State *L, tide_runtime_t *rt);

/* The task's wait block, made on first call; NULL when out of memory. */
static tide__taskwait_t *task_wait_make(tide__task_t *t) {
  tide__taskwait_t *w = t->w;
  if (w != NULL) return w;
  w = malloc(sizeof(*w));
  if (w == NULL) return NULL;
  tide__timer_init(&w->timer, NULL);
  tide__future_init(&w->sleep, &tide__task_rt(t)->loop);
  tide__link_init(&w->qlink);
  w->parkq = NULL;
  w->task = t;
  tide__timer_init(&w->grace, NULL);
  t->w = w;
  return w;
}

/* Pushes a pending task's userdata (through its pin), nil for others. */
void tide__task_push(lua_State *L, tide__task_t *t) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, tide__task_rt(t)->pins_ref);
  lua_rawgeti(L, -1, t->ref);
  lua_replace(L, -2);
}

/* Pending tasks are pinned in a table of the runtime's own (rt->pins), by
 * luaL_ref: the registry would do, but a table's array never shrinks, and
 * a burst of a million tasks would keep 16 MB of empty slots for good.
 * When fewer than a quarter of the peak remain pinned, the pins move to a
 * fresh table (O(pinned), so amortised over the burst's unpins). */
static void task_pin(lua_State *L, tide__task_t *t) {
  tide_runtime_t *rt = tide__task_rt(t);
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->pins_ref);
  lua_pushvalue(L, -2);
  t->ref = luaL_ref(L, -2);
  lua_pop(L, 1);
  if (++rt->npinned > rt->pins_peak) rt->pins_peak = rt->npinned;
}

static void task_repin_all(lua_State *L, tide_runtime_t *rt) {
  tide__link_t *l;
  luaL_checkstack(L, 4, NULL);
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->pins_ref); /* old */
  lua_createtable(L, rt->npinned, 0);              /* new */
  for (l = rt->tasks.next; l != &rt->tasks; l = l->next) {
    tide__task_t *t = TIDE__CONTAINER_OF(l, tide__task_t, link);
    if (t->ref == LUA_NOREF) continue;
    lua_rawgeti(L, -2, t->ref);
    t->ref = luaL_ref(L, -2);
  }
  lua_rawseti(L, LUA_REGISTRYINDEX, rt->pins_ref);
  lua_pop(L, 1);
  rt->pins_peak = rt->npinned;
}

void tide__task_unpin(lua_State *L, tide__task_t *t) {
  tide_runtime_t *rt = tide__task_rt(t);
  if (t->ref == LUA_NOREF) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->pins_ref);
  luaL_unref(L, -1, t->ref); /* the pin's release */
  lua_pop(L, 1);
  t->ref = LUA_NOREF;
  rt->npinned--;
  if (rt->pins_peak > 4096 && rt->npinned < rt->pins_peak / 4)
    task_repin_all(L, rt);
}

/* Is src (a chunk name) one of tide's own Lua files (".../tide/x.lua")? */
static int task_is_tide_source(const char *src) {
  size_t n = strlen(src);
  const char *slash;
  if (src[0] != '@' || n < 5 || strcmp(src + n - 4, ".lua") != 0) return 0;
  slash = strrchr(src, '/');
  return slash != NULL && slash - src >= 5 &&
         strncmp(slash - 5, "/tide", 5) == 0;
}

/* Is the function at the top of L one of tide's own Lua files'? Asked per
 * spawn, so the answer is cached by function (a few slots, direct-mapped):
 * a spawn site in a loop pays for lua_getinfo's "S" (its chunk id) once. */
static int task_fn_is_tide(lua_State *L, tide_runtime_t *rt) {
  const void *fn = lua_topointer(L, -1);
  unsigned slot = (unsigned)((uintptr_t)fn >> 4) % TIDE__SRCCACHE;
  lua_Debug ar;
  if (rt->srccache[slot].fn == fn) return rt->srccache[slot].tide;
  lua_pushvalue(L, -1);
  if (!lua_getinfo(L, ">S", &ar)) return 0;
  rt->srccache[slot].fn = fn;
  rt->srccache[slot].tide = task_is_tide_source(ar.source);
  return rt->srccache[slot].tide;
}

/* Finds where a task is being spawned: the calling Lua function (kept in
 * a user value; its source is looked up only when a report needs it) and
 * its current line, skipping C functions and tide's own Lua files. Pushes
 * the function and returns the line (> 0), or pushes nothing and returns
 * -1 (a task spawned from C, e.g. an accepted connection's). */
static int task_find_spawner(lua_State *L, tide_runtime_t *rt) {
  lua_Debug ar;
  int level;
  for (level = 1; level < 8 && lua_getstack(L, level, &ar); level++) {
    if (!lua_getinfo(L, "fl", &ar)) break;
    /* tide's own Lua (groups, combinators) spawns for the user: the site
     * worth naming is the user's call further up. */
    if (ar.currentline > 0 && !task_fn_is_tide(L, rt)) return ar.currentline;
    lua_pop(L, 1); /* a C function (e.g. the facade's spawn): look higher */
  }
  return -1;
}

/* The user value slot before a task's first argument. The arguments follow
 * the spawner's slot, which only a task with a spawner (spawn_line > 0)
 * has: a task spawned from C does not carry an empty one. */
static int task_args_base(int spawn_line) {
  return spawn_line > 0 ? TIDE__TASK_NUV : TIDE__TASK_NUV - 1;
}

void tide__task_pushlabel(lua_State *L, tide__task_t *t, int idx) {
  int top, n = 1;
  idx = lua_absindex(L, idx);
  luaL_checkstack(L, 6, NULL);
  lua_pushfstring(L, "task #%I", (lua_Integer)t->id);
  top = lua_gettop(L);
  if (lua_getiuservalue(L, idx, TIDE__UV_INFO) == LUA_TTABLE &&
      lua_getfield(L, -1, "name") == LUA_TSTRING) {
    lua_pushfstring(L, " '%s'", lua_tostring(L, -1));
    lua_replace(L, top + 1);
    n++;
  }
  lua_settop(L, top + n - 1);
  if (t->spawn_line > 0 &&
      lua_getiuservalue(L, idx, TIDE__UV_SPAWNER) == LUA_TFUNCTION) {
    lua_Debug ar;
    lua_getinfo(L, ">S", &ar); /* pops the function */
    lua_pushfstring(L, " (spawned at %s:%d)", ar.short_src, t->spawn_line);
    n++;
  } else if (t->spawn_line > 0) {
    lua_pop(L, 1);
  }
  lua_concat(L, n);
}

int tide__task_pushwhere(lua_State *L, tide__task_t *t) {
  lua_Debug ar;
  int level;
  /* The first Lua frame of the user's: a task waiting in a Queue, a Lock
   * or a group waits in tide's own Lua files, but where it matters is the
   * line that called them. */
  int found = 0;
  if (t->aw.fut.state != TIDE__PENDING || !t->started || t->co == NULL)
    return 0;
  for (level = 0; lua_getstack(t->co, level, &ar); level++) {
    if (!lua_getinfo(t->co, "Sl", &ar) || ar.currentline <= 0) continue;
    if (found) lua_pop(L, 1); /* a tide file's line: only a fallback */
    lua_pushfstring(L, "%s:%d", ar.short_src, ar.currentline);
    found = 1;
    if (!task_is_tide_source(ar.source)) break;
  }
  return found;
}

/* Queues the next step. gen tells this wake-up from stale ones. */
static void task_schedule(tide__task_t *t) {
  t->scheduled = 1;
  t->waiting = NULL;
  tide__loop_call_soon(&tide__task_rt(t)->loop, task_on_wake, t, ++t->gen);
}

/* The task body runs under a yieldable pcall inside the coroutine, so that
 * when an error leaves the task's function, its <close> variables and the
 * cleanup they do run while the task can still await (a failed coroutine
 * can only be closed where nothing may yield). The message handler records
 * the traceback at the point of the error, before the stack unwinds. The
 * body returns true and the results, or false and the error. */
static int task_msgh(lua_State *L) {
  tide_runtime_t *rt = lua_touserdata(L, lua_upvalueindex(1));
  const char *msg;
  if (rt == NULL || rt->current == NULL) return 1;
  /* A cancellation is no failure: nothing to show where it happened, and
   * cancelling a million tasks must not build a million tracebacks. */
  if (tide__lua_iserror(L, 1, "cancelled")) return 1;
  if (lua_type(L, 1) == LUA_TSTRING) {
    msg = lua_tostring(L, 1);
  } else if (luaL_callmeta(L, 1, "__tostring") &&
             lua_type(L, -1) == LUA_TSTRING) {
    msg = lua_tostring(L, -1);
  } else {
    msg = lua_pushfstring(L, "(error object is a %s value)",
                          luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  tide__task_push(L, rt->current);
  tide__task_pushinfo(L, -1);
  lua_pushvalue(L, -3);
  lua_setfield(L, -2, "traceback");
  lua_settop(L, 1);
  return 1; /* the error itself, unchanged */
}

static int task_body_k(lua_State *L, int status, lua_KContext ctx) {
  (void)ctx;
  lua_pushboolean(L, status == LUA_OK || status == LUA_YIELD);
  lua_replace(L, 1); /* over the message handler */
  return lua_gettop(L);
}

int tide__task_body(lua_State *L) {
  lua_pushvalue(L, lua_upvalueindex(2)); /* task_msgh */
  lua_insert(L, 1);
  return task_body_k(L,
                     lua_pcallk(L, lua_gettop(L) - 2, LUA_MULTRET, 1, 0,
                                task_body_k),
                     0);
}

void tide__task_setup(lua_State *L, tide_runtime_t *rt) {
  /* The body and its message handler know their runtime by an upvalue:
   * made once per runtime, so that starting a task allocates no closure. */
  lua_pushlightuserdata(L, rt);
  lua_pushlightuserdata(L, rt);
  lua_pushcclosure(L, task_msgh, 1);
  lua_pushcclosure(L, tide__task_body, 2);
  rt->body_ref = luaL_ref(L, LUA_REGISTRYINDEX); /* released at close */
}

/* Creates a task running the function below the nargs arguments on top of
 * L's stack (popping them all) and pushes it. The first step is queued. */
static tide__task_t *task_create(lua_State *L, tide_runtime_t *rt,
                                 int nargs) {
  tide__task_t *t;
  int i, base = lua_gettop(L) - nargs; /* the function */
  int line, args;
  luaL_checkstack(L, 5, NULL);
  line = task_find_spawner(L, rt); /* the spawner on top, if any */
  args = task_args_base(line);
  /* The function and its arguments wait in user values until the first
   * step (UV 1 and the slots after args): the coroutine is only taken
   * then, so a task that has not started costs no coroutine, and one that
   * finished hands its coroutine to the next. */
  t = lua_newuserdatauv(L, sizeof(*t), args + nargs);
  memset(t, 0, sizeof(*t));
  t->id = ++rt->next_task_id;
  t->parent_id = rt->current != NULL ? rt->current->id : 0;
  t->spawn_line = line;
  tide__future_init(&t->aw.fut, &rt->loop);
  t->aw.fut.cancel = task_cancel_hook;
  t->aw.results = tide__task_results;
  t->waiter.data = t;
  t->waiter.fn = task_on_wake;
  tide__link_init(&t->waiter.link);
  tide__cstack_init(&t->cs);
  tide__lua_setmt(L, tide__mt_task);
  if (line > 0) {
    lua_rotate(L, -2, 1); /* the task, the spawner */
    lua_setiuservalue(L, -2, TIDE__UV_SPAWNER);
  }
  task_inherit_context(L, rt, t, -1);
  for (i = 1; i <= nargs; i++) {
    lua_pushvalue(L, base + i);
    lua_setiuservalue(L, -2, args + i);
  }
  lua_pushvalue(L, base);
  lua_setiuservalue(L, -2, TIDE__UV_VALUES);
  t->n = nargs;
  task_pin(L, t); /* while pending; released in task_finish */
  lua_replace(L, base); /* the task where the function was */
  lua_settop(L, base);
  tide__link_insert_tail(&rt->tasks, &t->link);
  rt->ntasks++;
  return t;
}

tide__task_t *tide__task_new(lua_State *L, tide_runtime_t *rt, int nargs) {
  tide__task_t *t = task_create(L, rt, nargs);
  task_schedule(t);
  return t;
}

tide__task_t *tide__task_new_body(lua_State *L, tide_runtime_t *rt,
                                  int nargs) {
  tide__task_t *t = task_create(L, rt, nargs);
  t->own_body = 1;
  task_schedule(t);
  return t;
}

/* Eager tasks nest (an eager task spawning another eagerly): past this
 * depth they start from the loop instead, so the C stack stays bounded. */
#define TIDE__EAGER_DEPTH 16

tide__task_t *tide__task_new_eager(lua_State *L, tide_runtime_t *rt,
                                   int nargs) {
  tide__task_t *t = task_create(L, rt, nargs);
  if (rt->eager_depth >= TIDE__EAGER_DEPTH) {
    task_schedule(t);
    return t;
  }
  /* The first step runs now, from here: a task that ends without awaiting
   * never goes through the ready queue. */
  rt->eager_depth++;
  task_step(t);
  rt->eager_depth--;
  return t;
}

tide__task_t *tide__task_check(lua_State *L, int idx) {
  tide__task_t *t = tide__lua_testmt(L, idx, tide__mt_task);
  if (t == NULL) luaL_typeerror(L, idx, TIDE__MT_TASK);
  return t;
}

/* Marks the task's error as seen (it will not be reported). */
void tide__task_mark_observed(tide__task_t *t) {
  if (!t->observed && t->aw.fut.state == TIDE__FAILED) {
    t->observed = 1;
    tide__link_remove(&t->link);
  }
}

/* Keeps a finished task's coroutine for the next spawn: a coroutine that
 * returned (or was reset after an error) is as good as new, and reusing it
 * saves the allocation and the collection of a thread per task. */
static void task_release_coroutine(lua_State *L, tide__task_t *t) {
  tide_runtime_t *rt = tide__task_rt(t);
  lua_State *co = t->co;
  t->co = NULL;
  if (rt->copool_n >= TIDE__COPOOL_MAX || lua_status(co) != LUA_OK) return;
  lua_settop(co, 0);
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->copool_ref);
  lua_pushthread(co);
  lua_xmove(co, L, 1);
  lua_rawseti(L, -2, ++rt->copool_n);
  lua_pop(L, 1);
}

/* A coroutine for a new task: from the pool, or a new one. Pushed on L. */
static lua_State *task_take_coroutine(lua_State *L, tide_runtime_t *rt) {
  lua_State *co;
  if (rt->copool_n == 0) return lua_newthread(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->copool_ref);
  lua_rawgeti(L, -1, rt->copool_n);
  lua_pushnil(L);
  lua_rawseti(L, -3, rt->copool_n--);
  lua_remove(L, -2);
  co = lua_tothread(L, -1);
  return co;
}

/* Pushes the info table of the task at idx, made if needed. */
void tide__task_pushinfo(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  if (lua_getiuservalue(L, idx, TIDE__UV_INFO) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, idx, TIDE__UV_INFO);
  }
}

/* Finishes the task in state. L's stack holds [task, outcome...]: nres
 * results (DONE) or [error, traceback] (FAILED, CANCELLED), all popped
 * with the task. The outcome moves into the task's user values, the task is
 * unpinned, its coroutine recycled and its waiters woken. */
static void task_finish(lua_State *L, tide__task_t *t, int state, int nres) {
  tide_runtime_t *rt = tide__task_rt(t);
  int tidx = lua_gettop(L) - nres - (state == TIDE__DONE ? 0 : 2);
  if (state == TIDE__DONE) {
    t->n = nres;
    if (nres > 1) {
      int i;
      lua_createtable(L, nres, 0);
      lua_insert(L, tidx + 1);
      for (i = nres; i >= 1; i--) lua_rawseti(L, tidx + 1, i);
    }
    if (nres > 0) lua_setiuservalue(L, tidx, TIDE__UV_VALUES);
    else {
      lua_pushnil(L);
      lua_setiuservalue(L, tidx, TIDE__UV_VALUES);
    }
  } else if (state == TIDE__CANCELLED && lua_type(L, -1) != LUA_TSTRING) {
    lua_pop(L, 1); /* no traceback kept for a cancellation */
    lua_setiuservalue(L, tidx, TIDE__UV_VALUES);
  } else {
    tide__task_pushinfo(L, tidx);
    lua_insert(L, -2);
    lua_setfield(L, -2, "traceback");
    lua_pop(L, 1);
    lua_setiuservalue(L, tidx, TIDE__UV_VALUES);
  }
  tide__link_remove(&t->link);
  rt->ntasks--;
  if (state == TIDE__FAILED) {
    rt->tasks_failed++;
    /* Until someone sees the error, the task is on the failed list and in
     * the weak failed table (so a report can find its userdata; the weak
     * value lets it be collected, and its __gc reports it). */
    tide__link_insert_tail(&rt->failed, &t->link);
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->failed_ref);
    lua_pushvalue(L, tidx);
    lua_rawsetp(L, -2, t);
    lua_pop(L, 1);
  }
  tide__task_unpin(L, t);
  if (t->co != NULL) task_release_coroutine(L, t);
  tide__task_release(t);
  lua_settop(L, tidx - 1);
  tide__future_complete(&t->aw.fut, state);
}

/* Is the value at idx of L a cancellation error? */
static int task_is_cancel(lua_State *L, int idx) {
  return tide__lua_iserror(L, idx, "cancelled");
}

/* If the task dies of the very error that an awaited task raised in it,
 * the traceback of that task goes with it: the report then shows where the
 * error really began. L: [task, err, tb] -> [task, err, tb']. */
static void task_add_cause(lua_State *L, tide__task_t *t) {
  int top = lua_gettop(L);
  (void)t;
  if (lua_getiuservalue(L, top - 2, TIDE__UV_INFO) == LUA_TTABLE &&
      lua_getfield(L, -1, "cause") == LUA_TUSERDATA) {
    tide__task_t *cause = lua_touserdata(L, -1);
    lua_getiuservalue(L, -1, TIDE__UV_VALUES); /* the cause's error */
    if (lua_rawequal(L, -1, top - 1)) {
      tide__task_pushlabel(L, cause, -2);
      tide__task_pushinfo(L, -3);
      lua_getfield(L, -1, "traceback");
      lua_pushfstring(L, "%s\n(the error came from %s:)\n%s",
                      lua_tostring(L, top), lua_tostring(L, -3),
                      lua_tostring(L, -1));
      lua_replace(L, top);
    }
  }
  lua_settop(L, top);
}

/* The coroutine itself died with an error at the top of its stack (an
 * error the body's pcall could not catch: one raised by a <close> method
 * during the cleanup, or out of memory): take the traceback while the stack
 * is intact, then close it (running what is left to close), and finish the
 * task. L: [task]. */
static void task_fail(lua_State *L, tide__task_t *t) {
  lua_State *co = t->co;
  int cancelled;
  lua_pushvalue(co, -1);
  lua_xmove(co, L, 1);                                  /* task, err */
  luaL_traceback(L, co, luaL_tolstring(L, -1, NULL), 0); /* err, s, tb */
  lua_remove(L, -2);                                    /* task, err, tb */
  task_add_cause(L, t);
  lua_remove(L, -2);                                    /* task, tb */
  /* Closing the coroutine runs its to-be-closed variables; one of them may
   * replace the error with its own. */
  lua_resetthread(co);
  if (lua_gettop(co) == 0) lua_pushnil(co);
  lua_xmove(co, L, 1);                                  /* task, tb, err */
  lua_insert(L, -2);                                    /* task, err, tb */
  cancelled = task_is_cancel(L, -2);
  task_finish(L, t, cancelled ? TIDE__CANCELLED : TIDE__FAILED, 0);
}

/* ------------------------------------------------------------ context */

/* registry[&tide__ctx_root_key]: the context of code outside any task
 * (src/lua/lcontext.c has the variables' API). */
char tide__ctx_root_key[1];

/* A new task (its userdata at child_idx) starts with the running code's
 * context: the same table, shared (copied on its first write, by whichever
 * task writes first); the root context is copied at once. */
static void task_inherit_context(lua_State *L, tide_runtime_t *rt,
                                 tide__task_t *child, int child_idx) {
  tide__task_t *parent = rt->current;
  child_idx = lua_absindex(L, child_idx);
  if (parent != NULL && !parent->has_ctx) return;
  luaL_checkstack(L, 4, NULL);
  if (parent == NULL) {
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, tide__ctx_root_key) != LUA_TTABLE) {
      lua_pop(L, 1);
      return;
    }
    /* The root context is shared from now on: its next write copies. */
    tide__lua_copytable(L, -1);
    lua_remove(L, -2);
  } else {
    tide__task_push(L, parent);
    tide__task_pushinfo(L, -1);
    lua_getfield(L, -1, "context");
    lua_replace(L, -3);
    lua_pop(L, 1);
    parent->ctx_shared = 1;
    child->ctx_shared = 1;
  }
  tide__task_pushinfo(L, child_idx);
  lua_insert(L, -2);
  lua_setfield(L, -2, "context");
  lua_pop(L, 1);
  child->has_ctx = 1;
}


/* Gives a task that is about to start its coroutine: the task body, then
 * the function and arguments kept since spawn, on a coroutine from the
 * pool (or a new one). The coroutine is anchored in the task's user value,
 * where the function was. */
static lua_State *task_start(lua_State *L, tide__task_t *t) {
  int top = lua_gettop(L), n = t->n + 1, i, tidx;
  int args = task_args_base(t->spawn_line);
  lua_State *co;
  luaL_checkstack(L, n + 4, "too many arguments");
  co = task_take_coroutine(L, tide__task_rt(t)); /* L: co */
  if (!lua_checkstack(co, n + 2)) luaL_error(L, "tide: stack overflow");
  tide__task_push(L, t);                   /* co, task */
  tidx = top + 2;
  if (!t->own_body)
    lua_rawgeti(co, LUA_REGISTRYINDEX, tide__task_rt(t)->body_ref);
  lua_getiuservalue(L, tidx, TIDE__UV_VALUES); /* the function */
  for (i = 1; i < n; i++)
    lua_getiuservalue(L, tidx, args + i);
  lua_xmove(L, co, n);
  /* The coroutine takes the function's place (anchored); the arguments'
   * slots let go of them. */
  lua_pushvalue(L, top + 1);
  lua_setiuservalue(L, tidx, TIDE__UV_VALUES);
  for (i = 1; i < n; i++) {
    lua_pushnil(L);
    lua_setiuservalue(L, tidx, args + i);
  }
  lua_settop(L, top);
  t->co = co;
  return co;
}

/* tide.debug{slow_callback=}: a step that held the loop for dt ns (no
 * await in between) is noted for the runtime to report after the drain,
 * naming the task and the line it has reached (asyncio's debug mode). */
static void task_note_slow(lua_State *L, tide__task_t *t, uint64_t dt) {
  tide_runtime_t *rt = tide__task_rt(t);
  int top = lua_gettop(L);
  char secs[32];
  if (!lua_checkstack(L, 8)) return;
  rt->slow_steps++;
  snprintf(secs, sizeof(secs), "%.3f", (double)dt / 1e9);
  tide__task_push(L, t);
  tide__task_pushlabel(L, t, -1);
  if (!tide__task_pushwhere(L, t)) lua_pushliteral(L, "its end");
  lua_pushfstring(L, "tide: slow step: %s ran %s s without awaiting (the "
                     "loop waited), up to %s",
                  lua_tostring(L, -2), secs, lua_tostring(L, -1));
  if (rt->slow_ref == LUA_NOREF) {
    lua_newtable(L);
    rt->slow_ref = luaL_ref(L, LUA_REGISTRYINDEX); /* released at close */
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->slow_ref);
  lua_insert(L, -2);
  lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
  lua_settop(L, top);
}

/* One step: resume the coroutine and act on how it stopped. Runs inside
 * the loop's protected batch (tide__runtime_pcall around the drain). */
static void task_step(tide__task_t *t) {
  tide_runtime_t *rt = tide__task_rt(t);
  lua_State *L = rt->L;
  lua_State *co = t->co;
  tide__task_t *prev;
  int nargs, nres, status;

  t->scheduled = 0;
  if (!t->started) {
    t->started = 1;
    if (t->cs.root_cancelled) {
      /* Cancelled before it ever ran: the body never starts. */
      tide__task_push(L, t);
      tide__lua_pusherror(L, "cancelled", "tide: task cancelled before it "
                                          "started");
      lua_pushliteral(L, "tide: task cancelled before it started");
      task_finish(L, t, TIDE__CANCELLED, 0);
      return;
    }
    co = task_start(L, t);
    nargs = t->n + !t->own_body; /* the body's: the function too */
  } else {
    if (!lua_checkstack(co, 1)) luaL_error(L, "tide: stack overflow");
    lua_pushlightuserdata(co, t->cancel_wake ? tide__token_cancel
                                             : tide__token_wake);
    t->cancel_wake = 0;
    nargs = 1;
  }
  prev = rt->current;
  rt->current = t;
  if (rt->slow_ns == 0) {
    status = lua_resume(co, L, nargs, &nres);
  } else {
    uint64_t t0 = uv_hrtime(), dt, limit = rt->slow_ns;
    status = lua_resume(co, L, nargs, &nres);
    dt = uv_hrtime() - t0;
    if (dt > rt->slowest_ns) rt->slowest_ns = dt;
    if (dt >= limit) task_note_slow(L, t, dt);
  }
  rt->current = prev;

  if (status == LUA_YIELD) {
    if (nres == 2 && lua_touserdata(co, -2) == tide__sentinel) {
      tide__future_t *f = lua_touserdata(co, -1);
      lua_pop(co, 2);
      t->waiting = f;
      t->waiter.arg = ++t->gen;
      tide__future_wait(f, &t->waiter);
      return;
    }
    /* A bare coroutine.yield() at the task's own level has no resumer to
     * return to: the task fails with a clear error. */
    lua_pop(co, nres);
    lua_resetthread(co);
    lua_settop(co, 0);
    tide__task_push(L, t);
    lua_pushliteral(L, "tide: coroutine.yield() called in a task outside "
                       "any nested coroutine (use tide.yield() or "
                       "tide.await())");
    luaL_traceback(L, co, lua_tostring(L, -1), 0);
    task_finish(L, t, TIDE__FAILED, 0);
  } else if (status == LUA_OK && lua_toboolean(co, -nres)) {
    tide__task_push(L, t);
    luaL_checkstack(L, nres, "too many results");
    lua_xmove(co, L, nres - 1);
    lua_pop(co, 1); /* the body's true */
    task_finish(L, t, TIDE__DONE, nres - 1);
  } else if (status == LUA_OK) {
    /* The body caught the error (its cleanup has run): [false, error]. */
    tide__task_push(L, t);
    lua_xmove(co, L, 1);
    lua_settop(co, 0);
    if (task_is_cancel(L, -1)) {
      /* Cancelled: no traceback (task_msgh took none); the error alone. */
      lua_pushnil(L);
      task_finish(L, t, TIDE__CANCELLED, 0);
      return;
    }
    tide__task_push_traceback(L, -2);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      luaL_tolstring(L, -1, NULL);
    }
    task_add_cause(L, t);
    task_finish(L, t, TIDE__FAILED, 0);
  } else {
    tide__task_push(L, t);
    task_fail(L, t);
  }
}

/* Ready-queue callback: the future the task awaited is done (or the task
 * was cancelled, or it is the first step). */
static void task_on_wake(void *data, uintptr_t gen) {
  tide__task_t *t = data;
  if (gen != t->gen || t->aw.fut.state != TIDE__PENDING) return;
  if (t->propagated) {
    /* The task we awaited has ended after we passed our cancellation on to
     * it. If it ended with results, they are ours (nothing is lost);
     * otherwise our own cancellation is raised, so that the scope that
     * asked for it (a deadline of wait_for) sees its own error. It is a
     * task, anchored by our await's frame: still alive. */
    t->propagated = 0;
    if (t->waiting != NULL && t->waiting->state != TIDE__DONE)
      t->cancel_wake = 1;
  }
  t->waiting = NULL;
  t->cleanup = 0;
  task_step(t);
}

/* Wakes the waiting task t with a cancellation, or leaves it bound to what
 * it awaits when that is a task which takes the cancellation over (asyncio's
 * rule: cancelling a task that awaits another cancels that one too, and
 * waits until it has finished, so its cleanup completes first). A task that
 * is running, or whose wake-up is queued, meets the cancellation at its
 * next await instead. */
static void task_wake_cancel(tide__task_t *t) {
  tide__future_t *f = t->waiting;
  if (f == NULL || t->scheduled || t->propagated) return;
  /* While our waiter is registered, f is pending and alive (whoever owns it
   * keeps it until its waiters are woken). Once f has completed, the waiter
   * is off its list and only a wake-up is queued: f may be gone already (a
   * closed stream frees its memory), so it is not touched. */
  if (!tide__link_empty(&t->waiter.link)) {
    /* A task that is itself passing a cancellation on to us (a cycle of
     * awaits) is not asked again: we wake now instead of waiting for it. */
    int cycle = f->cancel == task_cancel_hook &&
                ((tide__task_t *)f)->in_cancel;
    /* Nor is a task someone else cancelled already: its end is not ours to
     * wait for, and it may be waiting for us in turn through something no
     * flag on the way sees (a group whose child awaits the group's task). */
    if (f->cancel == task_cancel_hook &&
        ((tide__task_t *)f)->cs.root_cancelled)
      cycle = 1;
    if (f->cancel != NULL && !cycle) {
      int took;
      t->in_cancel = 1;
      took = tide__future_cancel(f);
      t->in_cancel = 0;
      if (took && f->state == TIDE__PENDING &&
          !tide__link_empty(&t->waiter.link)) {
        t->propagated = 1;
        return;
      }
      if (tide__link_empty(&t->waiter.link) && f->state != TIDE__PENDING) {
        /* Cancelling f woke its waiters, us among them: that wake-up,
         * already queued with our generation, delivers the cancellation
         * (one ready entry per cancelled task, not two). */
        t->cancel_wake = 1;
        t->scheduled = 1;
        return;
      }
    }
    if (!tide__link_empty(&t->waiter.link)) tide__future_unwait(&t->waiter);
  }
  t->cancel_wake = 1;
  task_schedule(t);
}

/* The scope stack's interrupt: a cancellation reaches the point where the
 * task waits. During a cleanup await (a <close> handler after a
 * cancellation) this is a second cancellation: the grace period is over. */
void tide__task_interrupt(tide__cstack_t *cs) {
  tide__task_t *t = TIDE__CONTAINER_OF(cs, tide__task_t, cs);
  if (t->aw.fut.state != TIDE__PENDING || !t->started) return;
  if (t->cleanup) t->grace_over = 1;
  task_wake_cancel(t);
}

/* A second cancellation of t (its root scope was cancelled before): it ends
 * the grace period of the cleanup t may be waiting in (a <close> handler's
 * or tide.cleanup's), and it stops t
 * waiting for a task it passed its first cancellation on to (that task
 * goes on ending; t raises now). */
static int task_park_stays(tide__future_t *f);
static int task_park_on_cancel(tide__future_t *f);

static void task_cancel_again(tide__task_t *t) {
  /* Cleanup in tide.cleanup() shields ends too, as <close> cleanup does. */
  if (tide__cstack_cancel_cleanup(&t->cs) > 0) return;
  if (t->cleanup) {
    tide__task_interrupt(&t->cs);
  } else if (t->propagated) {
    t->propagated = 0;
    /* An uncancellable park (a Condition taking its lock back) gives up
     * too: it leaves its queue, and its future stays pending, which tells
     * the continuation that nothing was handed over. */
    if (t->waiting != NULL && t->waiting->cancel == task_park_stays &&
        !tide__link_empty(&t->waiter.link))
      task_park_on_cancel(t->waiting);
    if (!tide__link_empty(&t->waiter.link)) tide__future_unwait(&t->waiter);
    t->cancel_wake = 1;
    task_schedule(t);
  }
}

void tide__task_cancel(tide__task_t *t, lua_State *L, int msg_idx) {
  if (t->aw.fut.state != TIDE__PENDING) return;
  if (msg_idx != 0 && L != NULL) {
    msg_idx = lua_absindex(L, msg_idx);
    tide__task_push(L, t);
    tide__task_pushinfo(L, -1);
    lua_pushvalue(L, msg_idx);
    lua_setfield(L, -2, "cancel_message");
    lua_pop(L, 2);
  }
  if (!tide__cstack_cancel_root(&t->cs, tide__task_interrupt))
    task_cancel_again(t);
}

/* The cancel hook of a task's own future: someone awaiting the task is
 * cancelled (or cancels the future): the task is cancelled, and completes
 * later, once it has unwound; the awaiter waits for that. */
static int task_cancel_hook(tide__future_t *f) {
  tide__task_cancel((tide__task_t *)f, NULL, 0);
  return 1;
}

/* ------------------------------------------------------------ grace */

/* The grace period of a task's cleanup: awaits in <close> handlers that run
 * because of a cancellation go on, shielded, until it ends (or a second
 * cancellation comes); then they fail too. Its timer is in the task's wait
 * block (w->grace). */
static void task_grace_on_timer(tide__timer_t *timer) {
  tide__taskwait_t *w = TIDE__CONTAINER_OF(timer, tide__taskwait_t, grace);
  tide__task_t *t = w->task;
  t->grace_over = 1;
  if (t->cleanup) task_wake_cancel(t);
}

int tide__task_grace_start(tide__task_t *t) {
  tide_loop_t *loop = &tide__task_rt(t)->loop;
  tide__taskwait_t *w = task_wait_make(t);
  if (w == NULL) return TIDE_ENOMEM;
  t->graced = 1;
  w->grace.fn = task_grace_on_timer;
  if (!tide__timer_armed(&w->grace) && !t->grace_over)
    return tide__timer_start(loop, &w->grace,
                             tide__loop_now(loop) + tide__task_rt(t)->grace_ns);
  return 0;
}

void tide__task_grace_reset(tide__task_t *t) {
  if (t->graced) {
    tide__timer_stop(&tide__task_rt(t)->loop, &t->w->grace);
    t->graced = 0;
  }
  t->grace_over = 0;
}

/* ------------------------------------------------------------ parking */

void tide__waitq_init(tide__waitq_t *q) {
  tide__link_init(&q->tasks);
  q->n = 0;
}

/* The cancel hook of a parked task's wait: it leaves its queue (the future
 * is then cancelled), in O(1), keeping the others' order. */
static int task_park_on_cancel(tide__future_t *f) {
  tide__taskwait_t *w = TIDE__CONTAINER_OF(f, tide__taskwait_t, sleep);
  if (!tide__link_empty(&w->qlink)) {
    w->parkq->n--;
    tide__link_remove(&w->qlink);
  }
  w->parkq = NULL;
  return 0;
}

tide__taskwait_t *tide__task_wait(lua_State *L, tide__task_t *t) {
  tide__taskwait_t *w = task_wait_make(t);
  if (w == NULL) luaL_error(L, "%s", tide_strerror(TIDE_ENOMEM));
  return w;
}

tide__future_t *tide__task_park(lua_State *L, tide__task_t *t,
                                tide__waitq_t *q) {
  tide__taskwait_t *w = tide__task_wait(L, t);
  tide__future_reset(&w->sleep);
  w->sleep.cancel = task_park_on_cancel;
  tide__link_insert_tail(&q->tasks, &w->qlink);
  w->parkq = q;
  q->n++;
  return &w->sleep;
}

/* The cancel hook of an uncancellable park: the task stays parked (it took
 * the request over, to end only when it is woken: task.c's propagated
 * path), and its wake-up delivers the wake token. A second cancellation
 * ends the park (task_cancel_again). */
static int task_park_stays(tide__future_t *f) {
  (void)f;
  return 1;
}

tide__future_t *tide__task_park_uncancellable(lua_State *L, tide__task_t *t,
                                              tide__waitq_t *q) {
  tide__future_t *f = tide__task_park(L, t, q);
  f->cancel = task_park_stays;
  /* Parked while a cancellation is already pending: the park holds it, as
   * if it had arrived now, so that the next one ends the wait (a second
   * cancellation, the end of the shutdown's grace period) instead of
   * finding nothing to stop. */
  if (t->cs.ncancelled > 0) t->propagated = 1;
  return f;
}

tide__task_t *tide__waitq_wake_as(tide__waitq_t *q, int state) {
  tide__taskwait_t *w;
  if (tide__link_empty(&q->tasks)) return NULL;
  w = TIDE__CONTAINER_OF(q->tasks.next, tide__taskwait_t, qlink);
  tide__link_remove(&w->qlink);
  w->parkq = NULL;
  q->n--;
  tide__future_complete(&w->sleep, state);
  return w->task;
}

tide__task_t *tide__waitq_wake(tide__waitq_t *q) {
  return tide__waitq_wake_as(q, TIDE__DONE);
}

void tide__waitq_clear(tide__waitq_t *q) {
  while (!tide__link_empty(&q->tasks)) {
    tide__taskwait_t *w =
        TIDE__CONTAINER_OF(q->tasks.next, tide__taskwait_t, qlink);
    tide__link_remove(&w->qlink);
    w->parkq = NULL;
  }
  q->n = 0;
}

void tide__task_release(tide__task_t *t) {
  tide__taskwait_t *w = t->w;
  tide__task_grace_reset(t); /* while w, which has its timer, exists */
  if (w != NULL) {
    if (!tide__link_empty(&w->qlink)) { /* dropped while parked */
      w->parkq->n--;
      tide__link_remove(&w->qlink);
    }
    tide__timer_stop(&tide__task_rt(t)->loop, &w->timer);
    t->w = NULL;
    free(w);
  }
  tide__cstack_clear(&t->cs);
  t->cleanup = 0;
}

/* Pushes a done task's results (the task at idx); returns their count.
 * Stack space is checked here. */
int tide__task_push_results(lua_State *L, int idx, tide__task_t *t) {
  int i, n = t->n;
  idx = lua_absindex(L, idx);
  if (n == 0) return 0;
  luaL_checkstack(L, n + 1, "too many results");
  lua_getiuservalue(L, idx, TIDE__UV_VALUES);
  if (n == 1) return 1;
  for (i = 1; i <= n; i++) lua_rawgeti(L, -i, i);
  lua_remove(L, -(n + 1));
  return n;
}

/* Pushes a done task's results, or raises its error. */
int tide__task_results(lua_State *L, int idx) {
  tide__task_t *t = lua_touserdata(L, idx);
  tide_runtime_t *rt = tide__task_rt(t);
  if (t->aw.fut.state == TIDE__DONE) return tide__task_push_results(L, idx, t);
  tide__task_mark_observed(t);
  if (rt->current != NULL && rt->current != t &&
      t->aw.fut.state == TIDE__FAILED) {
    /* Remember where the error came from, for the awaiting task's own
     * report should it die of it. */
    tide__task_push(L, rt->current);
    tide__task_pushinfo(L, -1);
    lua_pushvalue(L, idx);
    lua_setfield(L, -2, "cause");
    lua_pop(L, 2);
  }
  lua_getiuservalue(L, idx, TIDE__UV_VALUES); /* the error object */
  return lua_error(L);
}

/* Pushes the traceback of a failed or cancelled task (at idx), or nil. */
void tide__task_push_traceback(lua_State *L, int idx) {
  if (lua_getiuservalue(L, idx, TIDE__UV_INFO) == LUA_TTABLE) {
    lua_getfield(L, -1, "traceback");
    lua_remove(L, -2);
  }
}

