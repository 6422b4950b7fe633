/* The embedding API on the loop thread: driving the loop, loading scripts,
 * the error handler, host modules, tide_await for C functions, and host
 * futures (creating and completing them from C). The cross-thread half is
 * in post.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lualib.h>

#include "tide_host.h"

/* Is Lua running on the runtime's main thread (a task, a callback, a host
 * function)? Driving or closing the loop from there would run it
 * re-entrantly. */
static int host_in_lua(tide_runtime_t *rt) {
  lua_Debug ar;
  return rt->L != NULL && lua_getstack(rt->L, 0, &ar);
}

/* ---------------------------------------------------------------- runtime */

int tide_runtime_new(tide_runtime_t **out, uv_loop_t *loop, lua_State *L) {
  tide_runtime_t *rt;
  int owns_L = 0, err;
  if (out == NULL) return TIDE_EINVAL;
  *out = NULL;
  if (L == NULL) {
    L = luaL_newstate();
    if (L == NULL) return TIDE_ENOMEM;
    luaL_openlibs(L);
    owns_L = 1;
  }
  err = tide__runtime_create(L, loop, 0, &rt);
  if (err != 0) {
    if (owns_L) lua_close(L);
    return err;
  }
  rt->owns_L = owns_L;
  /* require "tide.core" finds this runtime through the registry. */
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_tide_core);
  lua_setfield(L, -2, "tide.core");
  lua_pop(L, 1);
  tide__lua_preload_embedded(L);
  /* The embedding layer (src/post.c) now, so that other threads can post
   * to the runtime from the moment the host has it. */
  if (tide__hub_get(rt) == NULL) {
    tide_runtime_close(rt);
    return TIDE_ENOMEM;
  }
  *out = rt;
  return 0;
}

tide_runtime_t *tide_runtime_from_lua(lua_State *L) {
  tide_runtime_t **box;
  if (L == NULL) return NULL;
  tide__runtime_pushbox(L);
  box = lua_touserdata(L, -1); /* the box starts with the runtime pointer */
  lua_pop(L, 1);
  return box != NULL ? *box : NULL;
}

static void host_default_errh(tide_runtime_t *rt, const char *msg, void *ud) {
  (void)rt;
  (void)ud;
  fprintf(stderr, "tide: unhandled error: %s\n", msg);
  fflush(stderr);
}

int tide_runtime_set_error_handler(tide_runtime_t *rt, tide_error_cb cb,
                                   void *ud) {
  if (rt == NULL) return TIDE_EINVAL;
  rt->errh = cb != NULL ? cb : host_default_errh;
  rt->errh_ud = cb != NULL ? ud : NULL;
  return 0;
}

void tide_runtime_set_data(tide_runtime_t *rt, void *data) {
  if (rt != NULL) rt->userdata = data;
}

void *tide_runtime_get_data(tide_runtime_t *rt) {
  return rt != NULL ? rt->userdata : NULL;
}

/* Checks shared by the entry points that run the loop. */
static int host_check_drive(tide_runtime_t *rt) {
  if (rt == NULL) return TIDE_EINVAL;
  if (rt->closing || rt->loop.closing) return TIDE_ECLOSED;
  if (rt->hub != NULL && !tide__hub_on_thread(rt->hub)) return TIDE_ETHREAD;
  if (rt->loop.running || host_in_lua(rt)) return TIDE_ERUNNING;
  return 0;
}

/* Runs the loop in mode; reports the errors of failed tasks nobody has
 * retrieved before it returns, so that a host sees them without waiting
 * for a garbage collection. */
static int host_run(tide_runtime_t *rt, tide_run_mode mode) {
  int alive;
  rt->loop.stopped = 0;
  switch (mode) {
  case TIDE_RUN_DEFAULT:
    while ((alive = tide__loop_run_once(&rt->loop, 0)) != 0) {
      if (rt->loop.stopped) break; /* tide_runtime_stop */
    }
    break;
  case TIDE_RUN_ONCE:
    alive = tide__loop_run_once(&rt->loop, 0) != 0;
    break;
  case TIDE_RUN_NOWAIT:
    alive = tide__loop_run_once(&rt->loop, 1) != 0;
    break;
  default:
    return TIDE_EINVAL;
  }
  tide__task_report_unobserved(rt);
  return alive;
}

int tide_runtime_run(tide_runtime_t *rt, tide_run_mode mode) {
  int err = host_check_drive(rt);
  if (err != 0) return err;
  return host_run(rt, mode);
}

int tide_runtime_backend_fd(tide_runtime_t *rt) {
  if (rt == NULL || rt->loop.closing) return TIDE_EINVAL;
  return uv_backend_fd(rt->loop.uv);
}

int tide_runtime_backend_timeout(tide_runtime_t *rt) {
  if (rt == NULL || rt->loop.closing) return TIDE_EINVAL;
  if (rt->loop.ready_count > 0) return 0;
  /* libuv answers 0 when nothing is alive at all ("do not block"); for a
   * host polling the descriptor, nothing alive means no timeout. */
  if (!uv_loop_alive(rt->loop.uv)) return -1;
  return uv_backend_timeout(rt->loop.uv);
}

int tide_runtime_step(tide_runtime_t *rt) {
  int err = host_check_drive(rt);
  if (err != 0) return err;
  return host_run(rt, TIDE_RUN_NOWAIT);
}

/* Spawns the chunk loaded with status below the nargs arguments, or leaves
 * only the error message. */
static int host_spawn_loaded(tide_runtime_t *rt, int status, int nargs) {
  lua_State *L = rt->L;
  if (status != LUA_OK) {
    if (nargs > 0) {
      lua_replace(L, -(nargs + 1)); /* the message over the first argument */
      lua_pop(L, nargs - 1);
    }
    return TIDE_ELUA;
  }
  lua_insert(L, -(nargs + 1));
  return tide_runtime_spawn(rt, nargs);
}

int tide_runtime_spawn_file(tide_runtime_t *rt, const char *path,
                            int nargs) {
  if (rt == NULL || nargs < 0) return TIDE_EINVAL;
  if (rt->closing || rt->loop.closing) return TIDE_ECLOSED;
  return host_spawn_loaded(rt, luaL_loadfile(rt->L, path), nargs);
}

int tide_runtime_spawn_string(tide_runtime_t *rt, const char *code,
                              const char *chunkname, int nargs) {
  if (rt == NULL || code == NULL || nargs < 0) return TIDE_EINVAL;
  if (rt->closing || rt->loop.closing) return TIDE_ECLOSED;
  return host_spawn_loaded(
      rt,
      luaL_loadbuffer(rt->L, code, strlen(code),
                      chunkname != NULL ? chunkname : "=(string)"),
      nargs);
}

int tide_task_state(tide_runtime_t *rt, int idx) {
  tide__task_t *t;
  if (rt == NULL || rt->L == NULL) return TIDE_EINVAL;
  t = tide__lua_testmt(rt->L, idx, tide__mt_task);
  if (t == NULL) return TIDE_EINVAL;
  return t->aw.fut.state; /* TIDE__PENDING.. match TIDE_STATE_* */
}

/* ---------------------------------------------------------------- modules */

/* package.preload loader: upvalue 1 is the host's luaL_Reg array. */
static int host_module_loader(lua_State *L) {
  const luaL_Reg *funcs = lua_touserdata(L, lua_upvalueindex(1));
  lua_newtable(L);
  luaL_setfuncs(L, funcs, 0);
  return 1;
}

int tide_module_add(tide_runtime_t *rt, const char *name,
                    const luaL_Reg *funcs) {
  tide__hub_t *hub;
  lua_State *L;
  if (rt == NULL || name == NULL || funcs == NULL) return TIDE_EINVAL;
  if (rt->closing || rt->loop.closing) return TIDE_ECLOSED;
  hub = tide__hub_get(rt);
  if (hub == NULL) return TIDE_ENOMEM;
  if (!tide__hub_on_thread(hub)) return TIDE_ETHREAD;
  L = rt->L;
  if (hub->modules_ref == LUA_NOREF) {
    lua_newtable(L);
    hub->modules_ref = luaL_ref(L, LUA_REGISTRYINDEX); /* released on close */
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, hub->modules_ref);
  lua_pushboolean(L, 1);
  lua_setfield(L, -2, name);
  lua_pop(L, 1);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushlightuserdata(L, (void *)funcs);
  lua_pushcclosure(L, host_module_loader, 1);
  lua_setfield(L, -2, name);
  lua_pop(L, 1);
  return 0;
}

/* ---------------------------------------------------------------- await */

static int host_await_k(lua_State *L, int status, lua_KContext base) {
  (void)status;
  return lua_gettop(L) - (int)base;
}

/* Calls x:await() with a continuation, so the caller's C function can
 * suspend: the await method carries the runtime as its upvalue, which the
 * host's own functions do not have. */
int tide_await(lua_State *L, int idx) {
  int base;
  idx = lua_absindex(L, idx);
  if (tide__lua_toawaitable(L, idx) == NULL)
    return luaL_error(L, "tide_await: future or task expected, got %s",
                      luaL_typename(L, idx));
  base = lua_gettop(L);
  lua_getfield(L, idx, "await");
  lua_pushvalue(L, idx);
  lua_callk(L, 1, LUA_MULTRET, base, host_await_k);
  return host_await_k(L, LUA_OK, base);
}

/* ---------------------------------------------------------------- futures */

int tide_future_new(lua_State *L, tide_future_t **out) {
  tide_runtime_t *rt = tide_runtime_from_lua(L);
  tide__hub_t *hub;
  tide_future_t *f;
  if (out == NULL) return TIDE_EINVAL;
  *out = NULL;
  if (rt == NULL) return TIDE_EINVAL;
  if (rt->closing || rt->loop.closing) return TIDE_ECLOSED;
  hub = tide__hub_get(rt);
  if (hub == NULL) return TIDE_ENOMEM;
  if (!tide__hub_on_thread(hub)) return TIDE_ETHREAD;
  /* Room for the future and requiref's values: the host need not have
   * checked the stack for us. */
  if (!lua_checkstack(L, 4)) return TIDE_ENOMEM;
  f = calloc(1, sizeof(*f));
  if (f == NULL) return TIDE_ENOMEM;
  /* The future's metatable comes with tide.core. */
  luaL_requiref(L, "tide.core", luaopen_tide_core, 0);
  lua_pop(L, 1);
  {
    tide__lfuture_t *lf = tide__lua_newfuture(L, rt);
    f->fut = &lf->aw.fut;
    tide__hostfut_hook(f, lf);
  }
  lua_pushvalue(L, -1);
  f->lref = luaL_ref(L, LUA_REGISTRYINDEX); /* released in detach */
  f->hub = hub;
  f->refs = 2; /* the host's (tide_future_release) and the loop's (detach) */
  uv_mutex_lock(&hub->mu);
  hub->refs++; /* dropped when the handle is freed */
  uv_mutex_unlock(&hub->mu);
  f->attached = 1;
  tide__link_insert_tail(&hub->futures, &f->link);
  /* A pending host future keeps the loop alive until the host completes
   * it: uncounted in tide__hostfut_uncount. */
  f->counted = 1;
  if (hub->npending++ == 0) uv_ref((uv_handle_t *)hub->async);
  *out = f;
  return 0;
}

/* Common checks of the loop-thread calls on a handle; *L is defaulted to
 * the runtime's main thread and must belong to the runtime's state. */
static int host_check_future(tide_future_t *f, lua_State **L) {
  if (f == NULL) return TIDE_EINVAL;
  if (!tide__hub_on_thread(f->hub)) return TIDE_ETHREAD;
  if (!f->attached) return TIDE_ECLOSED;
  if (L != NULL) {
    if (*L == NULL) *L = f->hub->rt->L;
    else if (tide_runtime_from_lua(*L) != f->hub->rt) return TIDE_EINVAL;
  }
  return 0;
}

int tide_future_push(tide_future_t *f, lua_State *L) {
  int err = host_check_future(f, &L);
  if (err != 0) return err;
  if (!lua_checkstack(L, 1)) return TIDE_ENOMEM;
  lua_rawgeti(L, LUA_REGISTRYINDEX, f->lref);
  return 0;
}

/* Completes f from the loop thread: n values, or the error when n < 0. */
static int host_complete(tide_future_t *f, lua_State *L, int n) {
  lua_State *given = L;
  int err = host_check_future(f, &L), was;
  if (err == TIDE_ECLOSED && given != NULL) {
    lua_pop(given, n < 0 ? 1 : n); /* the values are the host's state's */
    return err;
  }
  if (err != 0) return err;
  uv_mutex_lock(&f->hub->mu);
  was = f->completing;
  f->completing = 1;
  uv_mutex_unlock(&f->hub->mu);
  if (was) {
    lua_pop(L, n < 0 ? 1 : n);
    return TIDE_ESTATE;
  }
  err = tide__hostfut_complete(f, L, n);
  tide__hostfut_uncount(f);
  return err;
}

int tide_future_resolve(tide_future_t *f, lua_State *L, int nvalues) {
  if (nvalues < 0) return TIDE_EINVAL;
  return host_complete(f, L, nvalues);
}

int tide_future_reject(tide_future_t *f, lua_State *L) {
  return host_complete(f, L, -1);
}

int tide_future_state(tide_future_t *f) {
  int err = host_check_future(f, NULL);
  if (err != 0) return err;
  return f->fut->state;
}

int tide_future_on_cancel(tide_future_t *f, tide_cancel_cb cb, void *data) {
  int err = host_check_future(f, NULL);
  if (err != 0) return err;
  if (f->fut->state != TIDE__PENDING) return TIDE_ESTATE;
  f->oncancel = cb;
  f->oncancel_data = data;
  tide__hostfut_hook(f, (tide__lfuture_t *)f->fut);
  if (cb == NULL && f->fut->cancel != NULL) f->fut->cancel = NULL;
  return 0;
}

/* ---------------------------------------------------------------- done */

typedef struct {
  tide__hostdone_t *d;
  int state;
} host_done_call_t;

/* In protected mode: the host's callback, with the object at the top. */
static int host_done_p(lua_State *L) {
  host_done_call_t *c = lua_touserdata(L, 1);
  tide__hostdone_t *d = c->d;
  tide_runtime_t *rt = d->hub->rt;
  lua_settop(L, 0);
  lua_rawgeti(L, LUA_REGISTRYINDEX, d->ref);
  d->cb(rt, lua_gettop(L), c->state, d->data);
  return 0;
}

/* Ready-queue callback: the object is done. */
static void host_done_fire(void *data, uintptr_t arg) {
  tide__hostdone_t *d = data;
  tide_runtime_t *rt = d->hub->rt;
  host_done_call_t c;
  tide__awaitable_t *aw;
  (void)arg;
  tide__link_remove(&d->link);
  lua_rawgeti(rt->L, LUA_REGISTRYINDEX, d->ref);
  aw = lua_touserdata(rt->L, -1);
  c.state = aw->fut.state;
  lua_pop(rt->L, 1);
  c.d = d;
  tide__runtime_pcall(rt, host_done_p, &c);
  luaL_unref(rt->L, LUA_REGISTRYINDEX, d->ref); /* the pin's release */
  free(d);
}

/* Registers cb on the awaitable at the top of rt's stack (popped). */
static int host_add_done(tide_runtime_t *rt, tide_done_cb cb, void *data) {
  lua_State *L = rt->L;
  tide__awaitable_t *aw = tide__lua_toawaitable(L, -1);
  tide__hub_t *hub = tide__hub_get(rt);
  tide__hostdone_t *d;
  if (aw == NULL || cb == NULL) {
    lua_pop(L, 1);
    return TIDE_EINVAL;
  }
  if (hub == NULL || (d = calloc(1, sizeof(*d))) == NULL) {
    lua_pop(L, 1);
    return TIDE_ENOMEM;
  }
  d->hub = hub;
  d->cb = cb;
  d->data = data;
  d->ref = luaL_ref(L, LUA_REGISTRYINDEX); /* released after the call */
  d->waiter.fn = host_done_fire;
  d->waiter.data = d;
  d->waiter.arg = 0;
  tide__link_insert_tail(&hub->dones, &d->link);
  tide__future_wait(&aw->fut, &d->waiter);
  return 0;
}

int tide_future_add_done(tide_future_t *f, tide_done_cb cb, void *data) {
  lua_State *L = NULL;
  int err = host_check_future(f, &L);
  if (err != 0) return err;
  if (cb == NULL) return TIDE_EINVAL;
  if (!lua_checkstack(L, 1)) return TIDE_ENOMEM;
  lua_rawgeti(L, LUA_REGISTRYINDEX, f->lref);
  return host_add_done(f->hub->rt, cb, data);
}

int tide_task_add_done(tide_runtime_t *rt, int idx, tide_done_cb cb,
                       void *data) {
  if (rt == NULL || rt->L == NULL || cb == NULL) return TIDE_EINVAL;
  if (rt->closing || rt->loop.closing) return TIDE_ECLOSED;
  if (rt->hub != NULL && !tide__hub_on_thread(rt->hub)) return TIDE_ETHREAD;
  if (tide__lua_testmt(rt->L, idx, tide__mt_task) == NULL) return TIDE_EINVAL;
  if (!lua_checkstack(rt->L, 1)) return TIDE_ENOMEM;
  lua_pushvalue(rt->L, idx);
  return host_add_done(rt, cb, data);
}

