/* The runtime: one loop, one Lua state, the tasks between them.
 *
 * Lua code reaches its runtime through a small "box" userdata kept in the
 * registry and as upvalue 1 of every tide C function. The box outlives the
 * runtime: closing the runtime clears box->rt, so a method called (or an
 * object collected) after the close sees NULL and says the runtime is
 * closed, instead of touching freed memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>

#include <lualib.h>

#include "tide_lua.h"
#include "tide_supervise.h"

static char runtime_key[1]; /* registry[&runtime_key] = box */

typedef struct {
  tide_runtime_t *rt; /* NULL once the runtime is closed */
  int owned;          /* created by require: the box's __gc closes it */
} runtime_box_t;

tide_runtime_t *tide__runtime_from(lua_State *L) {
  runtime_box_t *box = lua_touserdata(L, lua_upvalueindex(1));
  if (box == NULL || box->rt == NULL || box->rt->closing)
    luaL_error(L, "tide: the runtime is closed");
  return box->rt;
}

/* Pushes the box of L's runtime, or nil. */
void tide__runtime_pushbox(lua_State *L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, runtime_key);
}

static void runtime_default_errh(tide_runtime_t *rt, const char *msg,
                                 void *ud) {
  (void)rt;
  (void)ud;
  fprintf(stderr, "tide: unhandled error: %s\n", msg);
  fflush(stderr);
}

/* Message handler for the protected path: adds a traceback to strings. */
static int runtime_msgh(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)",
                          luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

int tide__runtime_pcall(tide_runtime_t *rt, lua_CFunction fn, void *ud) {
  lua_State *L = rt->L;
  int top = lua_gettop(L), status;
  if (!lua_checkstack(L, 4)) return LUA_ERRMEM;
  lua_pushcfunction(L, runtime_msgh);
  lua_pushcfunction(L, fn);
  lua_pushlightuserdata(L, ud);
  status = lua_pcall(L, 1, 0, top + 1);
  if (status != LUA_OK) tide__runtime_report(rt, L, 0);
  lua_settop(L, top);
  return status;
}

/* Calls the Lua error handler with (message, task) in protected mode. */
static int runtime_call_luah(lua_State *L) {
  lua_call(L, lua_gettop(L) - 1, 0);
  return 0;
}

void tide__runtime_report(tide_runtime_t *rt, lua_State *L, int task_idx) {
  int top = lua_gettop(L); /* the message */
  if (task_idx < 0) task_idx = lua_absindex(L, task_idx);
  if (rt->errh_ref != LUA_NOREF && !rt->closing && lua_checkstack(L, 6)) {
    lua_pushcfunction(L, runtime_call_luah);
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->errh_ref);
    lua_pushvalue(L, top);
    if (task_idx > 0) lua_pushvalue(L, task_idx);
    else lua_pushnil(L);
    if (lua_pcall(L, 3, 0, 0) == LUA_OK) {
      lua_settop(L, top - 1);
      return;
    }
    /* The handler itself failed: say so, then report the original. */
    rt->errh(rt, lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1)
                                                : "error handler failed",
             rt->errh_ud);
    lua_settop(L, top);
  }
  if (lua_type(L, top) == LUA_TSTRING) {
    rt->errh(rt, lua_tostring(L, top), rt->errh_ud);
  } else {
    lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, top));
    rt->errh(rt, lua_tostring(L, -1), rt->errh_ud);
  }
  lua_settop(L, top - 1);
}

/* Reports the failed task t (its userdata at idx) to the error handler:
 * "task #3 'name' (spawned at f.lua:12): error was never retrieved:" and
 * the traceback. */
void tide__task_report_failed(lua_State *L, tide__task_t *t, int idx) {
  idx = lua_absindex(L, idx);
  tide__task_pushlabel(L, t, idx);
  tide__task_push_traceback(L, idx);
  lua_pushfstring(L, "%s: error was never retrieved: %s", lua_tostring(L, -2),
                  lua_tostring(L, -1));
  lua_replace(L, -3);
  lua_pop(L, 1);
  tide__runtime_report(tide__task_rt(t), L, idx);
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

/* ---------------------------------------------------------------- trim */

/* Memory goes back after a burst. glibc keeps what Lua frees in its
 * arenas, so a server that once held a million tasks would keep their RSS
 * forever. A sentinel object, made anew each time it is collected, sees
 * every full collection, and asks the loop's next drain to look at the
 * heap (lua_gc answers nothing inside a finalizer): once the Lua heap has
 * shrunk to a
 * quarter of the peak seen (and that peak was large), malloc_trim hands the
 * free pages back. */
#define TIDE__TRIM_MIN_KB (32 * 1024) /* peaks below this are not worth it */

static char sentinel_mt_key[1];

static void runtime_new_sentinel(lua_State *L) {
  lua_newuserdatauv(L, 1, 0);
  lua_rawgetp(L, LUA_REGISTRYINDEX, sentinel_mt_key);
  lua_setmetatable(L, -2);
  lua_pop(L, 1);
}

/* From the loop, after a collection: compare the heap with its peak. */
static void runtime_heap_check(tide_runtime_t *rt) {
  uint64_t kb;
  rt->heap_check_queued = 0;
  if (rt->closing || rt->L == NULL) return;
  kb = (uint64_t)lua_gc(rt->L, LUA_GCCOUNT, 0);
  if (kb > rt->heap_peak_kb) rt->heap_peak_kb = kb;
  if (rt->heap_peak_kb >= TIDE__TRIM_MIN_KB && kb < rt->heap_peak_kb / 4) {
    rt->heap_peak_kb = kb;
#ifdef __GLIBC__
    malloc_trim(0);
#endif
  }
}

static int runtime_sentinel_gc(lua_State *L) {
  runtime_box_t *box = lua_touserdata(L, lua_upvalueindex(1));
  tide_runtime_t *rt = box != NULL ? box->rt : NULL;
  if (rt == NULL || rt->closing) return 0; /* no new sentinel: it ends */
  rt->heap_check_queued = 1;
  runtime_new_sentinel(L);
  return 0;
}

/* Makes the sentinel's metatable (its __gc knows the box) and the first
 * sentinel. The box is at the top of L. */
static void runtime_watch_heap(lua_State *L) {
  lua_createtable(L, 0, 1);
  lua_pushvalue(L, -2);
  lua_pushcclosure(L, runtime_sentinel_gc, 1);
  lua_setfield(L, -2, "__gc");
  lua_rawsetp(L, LUA_REGISTRYINDEX, sentinel_mt_key);
  runtime_new_sentinel(L);
}

/* Box metamethods. */
static int box_gc(lua_State *L) {
  runtime_box_t *box = lua_touserdata(L, 1);
  if (box->rt != NULL && box->owned) {
    /* lua_close is finalizing us: no Lua code may run any more (finalizers
     * registered now would never run), so pending tasks are dropped
     * without being resumed. */
    box->rt->closing = 1;
    tide_runtime_close(box->rt);
  }
  return 0;
}

/* The loop's drains run inside one protected call per batch of ready
 * callbacks instead of one per callback: task steps call lua_resume (which
 * catches the coroutine's own errors) without a pcall each. If something
 * raises anyway (out of memory), the error is reported and the drain goes
 * on with the next callback. */
static int runtime_drain_p(lua_State *L) {
  tide__loop_drain(lua_touserdata(L, 1));
  return 0;
}

/* In protected mode: reports the slow steps task.c noted. */
static int runtime_report_slow_p(lua_State *L) {
  tide_runtime_t *rt = lua_touserdata(L, 1);
  lua_Integer i, n;
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->slow_ref);
  n = (lua_Integer)luaL_len(L, -1);
  lua_newtable(L);
  lua_rawseti(L, LUA_REGISTRYINDEX, rt->slow_ref); /* a fresh list */
  for (i = 1; i <= n; i++) {
    lua_rawgeti(L, 2, i);
    tide__runtime_report(rt, L, 0);
  }
  return 0;
}

static void runtime_protect_drain(tide_loop_t *loop) {
  tide_runtime_t *rt = (tide_runtime_t *)loop;
  if (rt->heap_check_queued) runtime_heap_check(rt);
  while (tide__runtime_pcall(rt, runtime_drain_p, loop) != LUA_OK)
    ;
  if (rt->slow_ref != LUA_NOREF && rt->slow_steps > rt->slow_reported) {
    rt->slow_reported = rt->slow_steps;
    tide__runtime_pcall(rt, runtime_report_slow_p, rt);
  }
}

static void runtime_on_loop_closed(tide_loop_t *loop) {
  tide_runtime_t *rt = (tide_runtime_t *)loop;
  if (rt->on_free != NULL) rt->on_free(rt);
  free(rt);
}

int tide__runtime_create(lua_State *L, uv_loop_t *uv, int owned,
                         tide_runtime_t **out) {
  tide_runtime_t *rt;
  runtime_box_t *box;
  int err;

  lua_rawgetp(L, LUA_REGISTRYINDEX, runtime_key);
  box = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (box != NULL && box->rt != NULL) return TIDE_EINVAL; /* one per state */

  rt = calloc(1, sizeof(*rt));
  if (rt == NULL) return TIDE_ENOMEM;
  err = tide__loop_init(&rt->loop, uv);
  if (err != 0) {
    free(rt);
    return err;
  }
  rt->loop.on_closed = runtime_on_loop_closed;
  rt->loop.protect = runtime_protect_drain;
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  rt->L = lua_tothread(L, -1);
  lua_pop(L, 1);
  rt->errh = runtime_default_errh;
  rt->errh_ref = LUA_NOREF;
  rt->grace_ns = TIDE__GRACE_NS;
  /* A worker of `tide --workers` takes the supervisor's grace period, so
   * that its drain and cleanup fit in the time before SIGKILL. */
  if (tide__worker_grace() >= 0)
    rt->grace_ns = (uint64_t)(tide__worker_grace() * 1e9);
  rt->slow_ref = LUA_NOREF;
  rt->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  tide__link_init(&rt->tasks);
  tide__link_init(&rt->failed);
  tide__link_init(&rt->resources);
  tide__future_init(&rt->done_future, &rt->loop);
  rt->done_future.state = TIDE__DONE;

  lua_newtable(L);
  rt->copool_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_newtable(L);
  rt->pins_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  tide__task_setup(L, rt);
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "v");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  rt->failed_ref = luaL_ref(L, LUA_REGISTRYINDEX);

  box = lua_newuserdatauv(L, sizeof(*box), 0);
  box->rt = rt;
  box->owned = owned;
  lua_newtable(L);
  lua_pushcfunction(L, box_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  runtime_watch_heap(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, runtime_key);
  *out = rt;
  return 0;
}

/* The shutdown's clock: fires once the grace period is over. */
typedef struct {
  tide__timer_t timer;
  int fired;
} shutdown_clock_t;

static void shutdown_on_timer(tide__timer_t *timer) {
  ((shutdown_clock_t *)timer)->fired = 1;
}

/* Cancels every pending task that is not cancelled yet (tasks spawned
 * during the shutdown are cancelled before they start); with again, a
 * second time, which ends the grace period of their cleanup. */
static void runtime_cancel_pending(tide_runtime_t *rt, int again) {
  tide__link_t *l = rt->tasks.next;
  while (l != &rt->tasks) {
    tide__task_t *t = TIDE__CONTAINER_OF(l, tide__task_t, link);
    l = l->next; /* cancelling never unlinks: tasks finish from the loop */
    if (again) t->grace_over = 1;
    if (again || !t->cs.root_cancelled) tide__task_cancel(t, rt->L, 0);
  }
}

/* Cancels every pending task once, then runs the loop until they have all
 * finished their cleanup (awaits in <close> handlers included), at most for
 * the grace period. Then a second cancellation ends what cleanup is left;
 * tasks that still have not finished after a few more turns are left
 * pending (tide_runtime_close drops them). */
void tide__runtime_cancel_all(tide_runtime_t *rt) {
  shutdown_clock_t clock;
  int round;
  if (rt->ntasks == 0) return;
  tide__timer_init(&clock.timer, shutdown_on_timer);
  clock.fired = 0;
  if (tide__timer_start(&rt->loop, &clock.timer,
                        tide__loop_now(&rt->loop) + rt->grace_ns) != 0)
    clock.fired = 1;
  while (rt->ntasks > 0 && !clock.fired) {
    runtime_cancel_pending(rt, 0);
    tide__loop_run_once(&rt->loop, 0); /* the clock bounds the wait */
  }
  tide__timer_stop(&rt->loop, &clock.timer);
  for (round = 0; round < 100 && rt->ntasks > 0; round++) {
    if (round == 0) runtime_cancel_pending(rt, 1);
    else runtime_cancel_pending(rt, 0);
    tide__loop_run_once(&rt->loop, 1);
  }
}

/* Drops pending tasks without running them: their pins are released and
 * the loop forgets their wake-ups. */
static void runtime_drop_all(tide_runtime_t *rt) {
  while (!tide__link_empty(&rt->tasks)) {
    tide__task_t *t = TIDE__CONTAINER_OF(rt->tasks.next, tide__task_t, link);
    tide__link_remove(&t->link);
    if (t->waiting != NULL) tide__future_unwait(&t->waiter);
    t->waiting = NULL;
    tide__task_release(t); /* stops its sleep timer */
    tide__task_unpin(rt->L, t);
    rt->ntasks--;
  }
}

int tide__runtime_has_run_scoped(const tide_runtime_t *rt) {
  const tide__link_t *l;
  for (l = rt->resources.next; l != &rt->resources; l = l->next)
    if (TIDE__CONTAINER_OF(l, tide__resource_t, link)->run_scoped) return 1;
  return 0;
}

int tide__runtime_close_run_scoped(tide_runtime_t *rt) {
  tide__link_t *l = rt->resources.next;
  int n = 0;
  while (l != &rt->resources) {
    tide__resource_t *res = TIDE__CONTAINER_OF(l, tide__resource_t, link);
    l = l->next; /* close unlinks res */
    if (res->run_scoped) {
      res->close(res);
      n++;
    }
  }
  return n;
}

int tide_runtime_close(tide_runtime_t *rt) {
  lua_State *L;
  runtime_box_t *box;
  int lua_usable;
  if (rt == NULL) return TIDE_EINVAL;
  if (rt->loop.closing) return TIDE_ECLOSED;
  if (rt->loop.running) return TIDE_ERUNNING;
  /* From inside Lua (a host function, a callback run by the host's own
   * uv_run): the cancelled tasks' cleanup would run the loop re-entrantly.
   * (A finalizer closing the runtime with the state has closing set.) */
  if (!rt->closing && lua_getstack(rt->L, 0, &(lua_Debug){0}))
    return TIDE_ERUNNING;
  L = rt->L;
  lua_usable = !rt->closing;
  rt->closing = 1;
  if (lua_usable) {
    rt->closing = 0; /* cancelled tasks still need to run their cleanup */
    tide__runtime_cancel_all(rt);
    tide__task_report_unobserved(rt);
    rt->closing = 1;
  }
  if (!lua_usable) tide__task_report_unobserved(rt);
  runtime_drop_all(rt);
  /* Close what is still open (each close unlinks its resource). */
  while (!tide__link_empty(&rt->resources)) {
    tide__resource_t *res =
        TIDE__CONTAINER_OF(rt->resources.next, tide__resource_t, link);
    res->close(res);
    if (rt->resources.next == &res->link) tide__link_remove(&res->link);
  }
  if (lua_usable) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, runtime_key);
    box = lua_touserdata(L, -1);
    if (box != NULL) box->rt = NULL;
    lua_pop(L, 1);
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, runtime_key);
    luaL_unref(L, LUA_REGISTRYINDEX, rt->failed_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, rt->copool_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, rt->pins_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, rt->slow_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, rt->body_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, rt->errh_ref);
  } else {
    lua_rawgetp(L, LUA_REGISTRYINDEX, runtime_key);
    box = lua_touserdata(L, -1);
    if (box != NULL) box->rt = NULL;
    lua_pop(L, 1);
  }
  rt->failed_ref = rt->errh_ref = LUA_NOREF;
  rt->copool_ref = rt->body_ref = rt->pins_ref = LUA_NOREF;
  if (rt->reserve_fd >= 0) close(rt->reserve_fd);
  rt->reserve_fd = -1;
  rt->copool_n = 0;
  if (rt->owns_L) {
    rt->L = NULL;
    lua_close(L);
  }
  return tide__loop_close(&rt->loop);
}

/* ---------------------------------------------------------------- public */



int tide_runtime_set_grace(tide_runtime_t *rt, double seconds) {
  if (rt == NULL || !(seconds >= 0)) return TIDE_EINVAL;
  rt->grace_ns = seconds >= 1e9 ? (uint64_t)1e18 : (uint64_t)(seconds * 1e9);
  return 0;
}

int tide_runtime_stop(tide_runtime_t *rt) {
  if (rt == NULL) return TIDE_EINVAL;
  if (rt->loop.closing) return TIDE_ECLOSED;
  rt->loop.stopped = 1;
  uv_stop(rt->loop.uv);
  return 0;
}

lua_State *tide_runtime_lua(tide_runtime_t *rt) {
  return rt != NULL ? rt->L : NULL;
}

uv_loop_t *tide_runtime_uv(tide_runtime_t *rt) {
  return rt != NULL ? rt->loop.uv : NULL;
}

int tide_runtime_spawn(tide_runtime_t *rt, int nargs) {
  if (rt == NULL || nargs < 0) return TIDE_EINVAL;
  if (rt->closing || rt->loop.closing) return TIDE_ECLOSED;
  if (lua_type(rt->L, -(nargs + 1)) != LUA_TFUNCTION) return TIDE_EINVAL;
  /* Make sure "tide.core" is loaded so the task metatables exist. */
  luaL_requiref(rt->L, "tide.core", luaopen_tide_core, 0);
  lua_pop(rt->L, 1);
  tide__task_new(rt->L, rt, nargs);
  return 0;
}

static tide__task_t *runtime_totask(tide_runtime_t *rt, int idx) {
  return tide__lua_testmt(rt->L, idx, tide__mt_task);
}

int tide_runtime_run_task(tide_runtime_t *rt, int idx) {
  tide__task_t *t;
  if (rt == NULL) return TIDE_EINVAL;
  t = runtime_totask(rt, idx);
  if (t == NULL) return TIDE_EINVAL;
  if (rt->loop.running) return TIDE_ERUNNING;
  /* From inside Lua, as in close: the loop must not run re-entrantly. */
  if (lua_getstack(rt->L, 0, &(lua_Debug){0})) return TIDE_ERUNNING;
  rt->loop.stopped = 0;
  while (t->aw.fut.state == TIDE__PENDING) {
    if ((!tide__loop_run_once(&rt->loop, 0) || rt->loop.stopped) &&
        t->aw.fut.state == TIDE__PENDING)
      break;
  }
  /* Other tasks' errors nobody retrieved go to the error handler now, not
   * at some later collection; this task's own is the host's to read. */
  if (t->aw.fut.state == TIDE__FAILED && !t->observed) {
    tide__link_remove(&t->link);
    tide__task_report_unobserved(rt);
    tide__link_insert_tail(&rt->failed, &t->link);
  } else {
    tide__task_report_unobserved(rt);
  }
  if (t->aw.fut.state == TIDE__PENDING) return TIDE_ESTOPPED;
  return t->aw.fut.state == TIDE__DONE ? 0 : TIDE_ELUA;
}

int tide_task_results(tide_runtime_t *rt, int idx) {
  lua_State *L;
  tide__task_t *t;
  if (rt == NULL) return TIDE_EINVAL;
  L = rt->L;
  t = runtime_totask(rt, idx);
  if (t == NULL || t->aw.fut.state == TIDE__PENDING) return TIDE_EINVAL;
  if (!lua_checkstack(L, t->n + 2)) return TIDE_ENOMEM;
  if (t->aw.fut.state == TIDE__DONE) return tide__task_push_results(L, idx, t);
  tide__task_mark_observed(t);
  idx = lua_absindex(L, idx);
  lua_getiuservalue(L, idx, TIDE__UV_VALUES);
  tide__task_push_traceback(L, idx);
  return -1;
}
