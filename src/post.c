/* Posting to the loop from other threads: one uv_async_t per runtime and a
 * mutex-protected queue of items (a C callback to call, a value to complete
 * a host future with, a handle to release).
 *
 * Any thread appends an item under the hub's mutex and sends the async
 * handle; the loop thread takes the whole list under the mutex and applies
 * it outside it, each item through the runtime's protected path. Closing
 * the runtime marks the hub closed under the same mutex (later posts get
 * TIDE_ECLOSED), applies what was already queued, detaches every host
 * future and closes the async handle. The hub itself lives on while host
 * future handles point at it (see tide_host.h). */
#include <stdlib.h>
#include <string.h>

#include "tide_host.h"

enum {
  POST_CALL,    /* fn.call(rt, arg) */
  POST_PUSH,    /* complete f with what fn.push(L, arg) pushes */
  POST_INTEGER, /* complete f with i */
  POST_NUMBER,  /* complete f with d */
  POST_STRING,  /* complete f with s[0..len) */
  POST_ERROR,   /* fail f with the string s */
  POST_RELEASE, /* the host released f (from another thread, or after
                   posts of its own still queued) */
  POST_CANCELLED /* f was cancelled: call the host's cancel callback */
};

struct tide__post_s {
  tide__post_t *next;
  int kind;
  tide_future_t *f; /* holds a reference to f (not for POST_CALL) */
  union {
    tide_post_cb call;
    tide_push_cb push;
  } fn;
  void *arg;
  lua_Integer i;
  double d;
  int reject; /* POST_PUSH: the callback asked to fail the future */
  size_t len;
  char s[];   /* POST_STRING, POST_ERROR: a copy, NUL-terminated */
};

static void hub_close(tide__resource_t *res);
static int hostfut_on_cancel(tide__future_t *fut);
static void hub_drain(tide__hub_t *hub, int close);

/* Ready-queue callback: applies the hub's queue (rt's, if still open). */
static void hub_drain_soon(void *data, uintptr_t arg) {
  tide_runtime_t *rt = data;
  (void)arg;
  if (rt->hub != NULL && rt->hub->rt != NULL) hub_drain(rt->hub, 0);
}

int tide__hub_on_thread(const tide__hub_t *hub) {
  uv_thread_t self = uv_thread_self();
  return uv_thread_equal(&self, &hub->thread);
}

/* Drops one reference; the last one destroys the hub. */
void tide__hub_unref(tide__hub_t *hub) {
  int last;
  uv_mutex_lock(&hub->mu);
  last = --hub->refs == 0;
  uv_mutex_unlock(&hub->mu);
  if (last) {
    uv_mutex_destroy(&hub->mu);
    free(hub);
  }
}

/* Drops one reference to a host future handle; the last one frees it and
 * releases its reference to the hub. */
void tide__future_unref(tide_future_t *f) {
  tide__hub_t *hub = f->hub;
  int last;
  uv_mutex_lock(&hub->mu);
  last = --f->refs == 0;
  uv_mutex_unlock(&hub->mu);
  if (last) {
    free(f);
    tide__hub_unref(hub);
  }
}

void tide__hostfut_uncount(tide_future_t *f) {
  tide__hub_t *hub = f->hub;
  if (!f->counted) return;
  f->counted = 0;
  if (--hub->npending == 0 && hub->async != NULL)
    uv_unref((uv_handle_t *)hub->async);
}

void tide__hostfut_detach(tide_future_t *f) {
  tide__hub_t *hub = f->hub;
  if (!f->attached) return;
  tide__hostfut_uncount(f);
  if (f->fut != NULL) { /* the Lua future outlives the handle: unhook it */
    tide__lfuture_t *lf = (tide__lfuture_t *)f->fut;
    lf->host = NULL;
    lf->settled = NULL;
    if (lf->aw.fut.cancel == hostfut_on_cancel) lf->aw.fut.cancel = NULL;
  }
  luaL_unref(hub->rt->L, LUA_REGISTRYINDEX, f->lref); /* pin's release */
  f->lref = LUA_NOREF;
  f->fut = NULL;
  f->attached = 0;
  tide__link_remove(&f->link);
  tide__future_unref(f); /* the loop's reference */
}

/* Lua completed or cancelled the future (f:set_result, f:cancel), or a
 * cancellation came through the cancel hook: from now on the host's posts
 * and resolves answer TIDE_ESTATE, and the future no longer keeps the loop
 * alive. */
static void hostfut_settled(tide__lfuture_t *lf) {
  tide_future_t *f = lf->host;
  if (f == NULL) return;
  uv_mutex_lock(&f->hub->mu);
  f->completing = 1;
  uv_mutex_unlock(&f->hub->mu);
  tide__hostfut_uncount(f);
}

static tide__post_t *post_new(int kind, size_t extra);
static int hub_enqueue(tide__hub_t *hub, tide_future_t *f, tide__post_t *it);

/* The cancel hook of a host future with a cancel callback: the task that
 * awaits it is being cancelled, or Lua cancels it. The future is cancelled
 * (0: the core completes it), and the host's callback is queued as a post
 * of its own: it runs from the loop, or during the close. */
static int hostfut_on_cancel(tide__future_t *fut) {
  tide__lfuture_t *lf = (tide__lfuture_t *)fut;
  tide_future_t *f = lf->host;
  if (f == NULL) return 0;
  hostfut_settled(lf);
  if (f->oncancel != NULL) {
    tide__post_t *it = post_new(POST_CANCELLED, 0);
    if (it != NULL && hub_enqueue(f->hub, f, it) != 0) free(it);
    /* The async handle may not wake a loop that has nothing else alive:
     * the ready queue's next drain applies the queue too. */
    tide__loop_call_soon(&f->hub->rt->loop, hub_drain_soon, f->hub->rt, 0);
  }
  return 0;
}

void tide__hostfut_hook(tide_future_t *f, tide__lfuture_t *lf) {
  lf->host = f;
  lf->settled = hostfut_settled;
  if (f->oncancel != NULL) lf->aw.fut.cancel = hostfut_on_cancel;
}

/* ---------------------------------------------------------------- apply */

int tide__hostfut_complete(tide_future_t *f, lua_State *L, int n) {
  int err;
  if (!lua_checkstack(L, 2)) {
    lua_pop(L, n < 0 ? 1 : n);
    return TIDE_ENOMEM;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, f->lref);
  if (n >= 0) {
    lua_insert(L, -(n + 1));
    err = tide__lua_future_resolve(L, -(n + 1), n);
  } else {
    lua_insert(L, -2);
    err = tide__lua_future_reject(L, -2);
  }
  lua_pop(L, 1);
  return err;
}

void tide__hostfut_abandon(tide_future_t *f, lua_State *L) {
  if (f->fut->state != TIDE__PENDING) return;
  lua_pushliteral(L, "tide: the host released the future without "
                     "completing it");
  tide__hostfut_complete(f, L, -1);
}



typedef struct {
  tide_runtime_t *rt;
  tide__post_t *it;
} post_call_t;

static int post_call_p(lua_State *L) {
  post_call_t *c = lua_touserdata(L, 1);
  lua_settop(L, 0);
  c->it->fn.call(c->rt, c->it->arg);
  return 0;
}

static int post_cancelled_p(lua_State *L) {
  tide_future_t *f = lua_touserdata(L, 1);
  lua_settop(L, 0);
  f->oncancel(f, f->oncancel_data);
  return 0;
}

/* Runs the host's push callback in its own protected call: an error it
 * raises fails the future instead of leaving it pending. */
static int post_push_p(lua_State *L) {
  tide__post_t *it = lua_touserdata(L, 1);
  int n;
  lua_settop(L, 0);
  n = it->fn.push(L, it->arg);
  if (n < 0) {
    it->reject = 1; /* fail the future with the value on top */
    if (lua_gettop(L) == 0)
      lua_pushliteral(L, "tide: the host failed the future");
    return 1;
  }
  if (n > lua_gettop(L))
    return luaL_error(L, "tide: a push callback returned %d but pushed %d "
                         "value(s)", n, lua_gettop(L));
  return n;
}

static int post_complete_p(lua_State *L) {
  tide__post_t *it = lua_touserdata(L, 1);
  int n = 1, base;
  lua_settop(L, 0);
  switch (it->kind) {
  case POST_INTEGER:
    lua_pushinteger(L, it->i);
    break;
  case POST_NUMBER:
    lua_pushnumber(L, it->d);
    break;
  case POST_STRING:
    lua_pushlstring(L, it->s, it->len);
    break;
  case POST_ERROR:
    lua_pushstring(L, it->s);
    n = -1;
    break;
  default: /* POST_PUSH */
    lua_pushcfunction(L, post_push_p);
    lua_pushlightuserdata(L, it);
    base = lua_gettop(L) - 2;
    if (lua_pcall(L, 1, LUA_MULTRET, 0) != LUA_OK || it->reject)
      n = -1; /* the error (or the rejection value) is on top */
    else
      n = lua_gettop(L) - base;
  }
  tide__hostfut_complete(it->f, L, n); /* ESTATE: Lua completed it first */
  return 0;
}

/* The loop thread's side of tide_future_release: fails a future left
 * pending, unpins it, drops the host's reference. */
static void release_on_loop(tide_future_t *f) {
  tide__hub_t *hub = f->hub;
  int was_completing;
  uv_mutex_lock(&hub->mu);
  was_completing = f->completing;
  f->completing = 1;
  uv_mutex_unlock(&hub->mu);
  if (f->attached) {
    if (!was_completing) tide__hostfut_abandon(f, hub->rt->L);
    tide__hostfut_detach(f);
  }
  tide__future_unref(f); /* the host's reference */
}

/* Applies one item on the loop thread and frees it. */
static void post_apply(tide__hub_t *hub, tide__post_t *it) {
  tide_future_t *f = it->f;
  if (f != NULL) {
    uv_mutex_lock(&hub->mu);
    f->queued--;
    uv_mutex_unlock(&hub->mu);
  }
  switch (it->kind) {
  case POST_CALL: {
    post_call_t c = {hub->rt, it};
    tide__runtime_pcall(hub->rt, post_call_p, &c);
    break;
  }
  case POST_RELEASE:
    release_on_loop(f);
    break;
  case POST_CANCELLED:
    if (f->oncancel != NULL && f->attached) /* not once released */
      tide__runtime_pcall(hub->rt, post_cancelled_p, f);
    tide__future_unref(f); /* the item's reference */
    break;
  default:
    if (f->attached)
      tide__runtime_pcall(hub->rt, post_complete_p, it);
    else if (it->kind == POST_PUSH)
      it->fn.push(NULL, it->arg); /* nothing to complete: free arg */
    tide__hostfut_uncount(f);
    tide__future_unref(f); /* the item's reference */
  }
  free(it);
}

/* Takes the queue under the mutex (closing the hub if asked) and applies
 * it outside the mutex, so callbacks may post again. */
static void hub_drain(tide__hub_t *hub, int close) {
  tide__post_t *it, *next;
  uv_mutex_lock(&hub->mu);
  it = hub->head;
  hub->head = hub->tail = NULL;
  if (close) hub->closed = 1;
  uv_mutex_unlock(&hub->mu);
  for (; it != NULL; it = next) {
    next = it->next;
    post_apply(hub, it);
  }
}

static void hub_on_async(uv_async_t *async) {
  tide_runtime_t *rt = async->data; /* the loop is the runtime's first field */
  if (rt->hub != NULL) hub_drain(rt->hub, 0);
}

/* rt->on_free: the runtime's memory is about to go; so does its hub
 * reference (kept until now so tide_runtime_post racing the close finds a
 * closed hub, not freed memory). */
static void hub_on_runtime_free(tide_runtime_t *rt) {
  tide__hub_t *hub = rt->hub;
  rt->hub = NULL;
  if (hub != NULL) tide__hub_unref(hub);
}

tide__hub_t *tide__hub_get(tide_runtime_t *rt) {
  tide__hub_t *hub;
  if (rt->hub != NULL) return rt->hub;
  if (rt->closing || rt->loop.closing || rt->on_free != NULL) return NULL;
  hub = calloc(1, sizeof(*hub));
  if (hub == NULL) goto fail_hub;
  hub->async = malloc(sizeof(*hub->async));
  if (hub->async == NULL) goto fail_async;
  if (uv_mutex_init(&hub->mu) != 0) goto fail_mutex;
  if (uv_async_init(rt->loop.uv, hub->async, hub_on_async) != 0)
    goto fail_init;
  /* data is the loop, as tide__loop_close_free_cb expects. */
  hub->async->data = &rt->loop;
  tide__loop_handle_open(&rt->loop);
  /* Posting alone keeps no loop alive (as uv_async_send); pending host
   * futures do (tide__hostfut_uncount's pair is in host.c). */
  uv_unref((uv_handle_t *)hub->async);
  hub->refs = 1; /* the runtime's, dropped in hub_on_runtime_free */
  hub->thread = uv_thread_self();
  hub->rt = rt;
  hub->modules_ref = LUA_NOREF;
  tide__link_init(&hub->futures);
  tide__link_init(&hub->dones);
  hub->res.close = hub_close;
  tide__link_insert_tail(&rt->resources, &hub->res.link);
  rt->hub = hub;
  rt->on_free = hub_on_runtime_free;
  return hub;

fail_init:
  uv_mutex_destroy(&hub->mu);
fail_mutex:
  free(hub->async);
fail_async:
  free(hub);
fail_hub:
  return NULL;
}

/* Forgets the modules the host added, so the host's Lua state does not
 * keep handing out modules of a closed runtime: package.loaded loses
 * "tide", "tide.*" and the host's modules. */
static void hub_forget_modules(tide__hub_t *hub, lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TSTRING) {
      const char *k = lua_tostring(L, -1);
      if (strcmp(k, "tide") == 0 || strncmp(k, "tide.", 5) == 0) {
        lua_pushvalue(L, -1);
        lua_pushnil(L);
        lua_rawset(L, -4); /* clearing a present field is allowed in next */
      }
    }
  }
  if (hub->modules_ref != LUA_NOREF) {
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_rawgeti(L, LUA_REGISTRYINDEX, hub->modules_ref);
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
      lua_pop(L, 1);
      lua_pushvalue(L, -1);
      lua_pushnil(L);
      lua_rawset(L, -6); /* package.loaded[name] = nil */
      lua_pushvalue(L, -1);
      lua_pushnil(L);
      lua_rawset(L, -5); /* package.preload[name] = nil */
    }
    lua_pop(L, 2);
    luaL_unref(L, LUA_REGISTRYINDEX, hub->modules_ref); /* the one release */
    hub->modules_ref = LUA_NOREF;
  }
  lua_pop(L, 1);
}

void tide__hostdone_drop(tide__hostdone_t *d) {
  tide__link_remove(&d->link);
  if (!tide__link_empty(&d->waiter.link)) tide__future_unwait(&d->waiter);
  if (d->hub->rt != NULL && d->hub->rt->L != NULL)
    luaL_unref(d->hub->rt->L, LUA_REGISTRYINDEX, d->ref);
  free(d);
}

/* The runtime is closing (its tasks are already finished): apply what was
 * posted, detach every host future, close the async handle. */
static void hub_close(tide__resource_t *res) {
  tide__hub_t *hub = TIDE__CONTAINER_OF(res, tide__hub_t, res);
  tide_runtime_t *rt = hub->rt;
  uv_async_t *async;
  tide__link_remove(&res->link);
  hub_drain(hub, 1);
  while (!tide__link_empty(&hub->dones))
    tide__hostdone_drop(
        TIDE__CONTAINER_OF(hub->dones.next, tide__hostdone_t, link));
  while (!tide__link_empty(&hub->futures))
    tide__hostfut_detach(
        TIDE__CONTAINER_OF(hub->futures.next, tide_future_t, link));
  hub_forget_modules(hub, rt->L);
  uv_mutex_lock(&hub->mu);
  async = hub->async;
  hub->async = NULL;
  uv_mutex_unlock(&hub->mu);
  uv_close((uv_handle_t *)async, tide__loop_close_free_cb);
  hub->rt = NULL;
}

/* ---------------------------------------------------------------- post */

/* Appends it to the queue, under the mutex (held by the caller). */
static void hub_append(tide__hub_t *hub, tide__post_t *it) {
  it->next = NULL;
  if (hub->tail != NULL) hub->tail->next = it;
  else hub->head = it;
  hub->tail = it;
  uv_async_send(hub->async);
}

/* Queues it for f without the completion rule (a cancel notification):
 * returns 0 or TIDE_ECLOSED (it is then the caller's). */
static int hub_enqueue(tide__hub_t *hub, tide_future_t *f, tide__post_t *it) {
  int err = 0;
  it->f = f;
  uv_mutex_lock(&hub->mu);
  if (hub->closed) {
    err = TIDE_ECLOSED;
  } else {
    f->refs++; /* the item's, dropped in post_apply */
    f->queued++;
    hub_append(hub, it);
  }
  uv_mutex_unlock(&hub->mu);
  return err;
}

/* Queues it (which must be freshly allocated, or NULL: TIDE_ENOMEM) for f,
 * or for the runtime when f is NULL. */
static int hub_post(tide__hub_t *hub, tide_future_t *f, tide__post_t *it) {
  int err = 0;
  if (it == NULL) return TIDE_ENOMEM;
  it->f = f;
  uv_mutex_lock(&hub->mu);
  if (hub->closed) {
    err = TIDE_ECLOSED;
  } else if (f != NULL && f->completing) {
    err = TIDE_ESTATE;
  } else {
    if (f != NULL) {
      f->completing = 1;
      f->refs++; /* the item's, dropped in post_apply */
      f->queued++;
    }
    hub_append(hub, it);
  }
  uv_mutex_unlock(&hub->mu);
  if (err != 0) free(it);
  return err;
}

static tide__post_t *post_new(int kind, size_t extra) {
  tide__post_t *it = calloc(1, sizeof(*it) + extra);
  if (it != NULL) it->kind = kind;
  return it;
}

int tide_runtime_post(tide_runtime_t *rt, tide_post_cb cb, void *arg) {
  tide__post_t *it;
  if (rt == NULL || cb == NULL || rt->hub == NULL) return TIDE_EINVAL;
  it = post_new(POST_CALL, 0);
  if (it != NULL) {
    it->fn.call = cb;
    it->arg = arg;
  }
  return hub_post(rt->hub, NULL, it);
}

int tide_future_post(tide_future_t *f, tide_push_cb push, void *arg) {
  tide__post_t *it;
  if (f == NULL || push == NULL) return TIDE_EINVAL;
  it = post_new(POST_PUSH, 0);
  if (it != NULL) {
    it->fn.push = push;
    it->arg = arg;
  }
  return hub_post(f->hub, f, it);
}

int tide_future_post_integer(tide_future_t *f, lua_Integer v) {
  tide__post_t *it;
  if (f == NULL) return TIDE_EINVAL;
  it = post_new(POST_INTEGER, 0);
  if (it != NULL) it->i = v;
  return hub_post(f->hub, f, it);
}

int tide_future_post_number(tide_future_t *f, double v) {
  tide__post_t *it;
  if (f == NULL) return TIDE_EINVAL;
  it = post_new(POST_NUMBER, 0);
  if (it != NULL) it->d = v;
  return hub_post(f->hub, f, it);
}

static int post_bytes(tide_future_t *f, int kind, const char *s, size_t len) {
  tide__post_t *it;
  if (f == NULL || s == NULL) return TIDE_EINVAL;
  it = post_new(kind, len + 1);
  if (it != NULL) {
    memcpy(it->s, s, len);
    it->s[len] = '\0';
    it->len = len;
  }
  return hub_post(f->hub, f, it);
}

int tide_future_post_string(tide_future_t *f, const char *s, size_t len) {
  return post_bytes(f, POST_STRING, s, len);
}

int tide_future_post_error(tide_future_t *f, const char *msg) {
  return post_bytes(f, POST_ERROR, msg, msg != NULL ? strlen(msg) : 0);
}

void tide_future_release(tide_future_t *f) {
  tide__hub_t *hub;
  tide__post_t *it;
  int closed, queued;
  if (f == NULL) return;
  hub = f->hub;
  if (tide__hub_on_thread(hub)) {
    uv_mutex_lock(&hub->mu);
    queued = f->queued;
    uv_mutex_unlock(&hub->mu);
    /* With nothing posted for f still queued, release now; else after
     * those posts, in order (a value posted, then the handle released,
     * both on this thread, is delivered). */
    if (queued == 0) {
      release_on_loop(f); /* after the close: just the unref */
      return;
    }
  }
  /* The loop thread unpins the Lua future, from the queue. The item takes
   * over the host's reference. */
  it = post_new(POST_RELEASE, 0);
  uv_mutex_lock(&hub->mu);
  closed = hub->closed;
  if (!closed && it != NULL) {
    it->f = f;
    f->queued++;
    hub_append(hub, it);
    it = NULL;
  }
  uv_mutex_unlock(&hub->mu);
  if (closed) tide__future_unref(f);
  /* Out of memory with the runtime open (it == NULL): the handle cannot
   * be handed over and leaks, pinned until the runtime closes. Never a
   * crash. */
  free(it);
}
