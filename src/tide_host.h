/* Internal declarations of the embedding layer (src/host.c, src/post.c):
 * host futures, the cross-thread post queue, host modules.
 *
 * The hub is the part of a runtime that other threads may touch. It is
 * reference counted (the runtime holds one reference, every host future
 * handle one more) so that a host future outlives its runtime safely: after
 * the runtime has closed, the handle still finds its hub, sees it closed and
 * answers TIDE_ECLOSED instead of touching freed memory. Fields marked "mu"
 * are read and written under hub->mu; the others belong to the loop thread. */
#ifndef TIDE_HOST_H
#define TIDE_HOST_H

#include "tide_lua.h"

typedef struct tide__hub_s tide__hub_t;
typedef struct tide__post_s tide__post_t;

struct tide__hub_s {
  uv_mutex_t mu;
  int refs;                  /* mu: the runtime's + one per future handle */
  int closed;                /* mu: the runtime has closed: refuse posts */
  tide__post_t *head, *tail; /* mu: posted items, oldest first */
  uv_async_t *async;         /* mu (sent under mu); NULL once closed */
  uv_thread_t thread;        /* the runtime's thread (set once) */
  tide_runtime_t *rt;        /* NULL once the runtime has closed */
  tide__link_t futures;      /* attached host futures (tide_future_s.link) */
  int npending;              /* futures the host must still complete: while
                                non-zero the async handle is ref'd, so the
                                loop stays alive as for pending I/O */
  int modules_ref;           /* registry: set of module names the host
                                added; owner: the hub, released on close */
  tide__link_t dones;        /* C done-callbacks not yet run (host.c) */
  tide__resource_t res;      /* in rt->resources: closes the hub */
};

struct tide_future_s {
  tide__hub_t *hub;          /* constant; the handle holds a hub reference */
  int refs;                  /* mu: the host's, the loop's while attached,
                                one per queued post */
  unsigned completing : 1;   /* mu: the host has completed (or posted a
                                completion, or released) it, or Lua has
                                completed or cancelled it */
  int queued;                /* mu: posted items for it not yet applied */
  /* Loop thread only. */
  unsigned attached : 1;     /* pinned in Lua, linked in hub->futures */
  unsigned counted : 1;      /* counted in hub->npending */
  int lref;                  /* registry: the Lua future; owner: this
                                handle while attached, released on detach */
  tide__future_t *fut;       /* inside the pinned Lua future */
  tide__link_t link;         /* in hub->futures while attached */
  tide_cancel_cb oncancel;   /* the host's cancel callback, or NULL */
  void *oncancel_data;
};

/* A C done-callback (tide_future_add_done, tide_task_add_done). */
typedef struct {
  tide__waiter_t waiter;     /* on the future or task's own future */
  tide__link_t link;         /* in hub->dones until it has run */
  tide__hub_t *hub;
  tide_done_cb cb;
  void *data;
  int ref;                   /* registry: pins the object until the call;
                                owner: this, released after it (or at the
                                hub's close) */
} tide__hostdone_t;

/* post.c */
/* The runtime's hub, made on first use (on the loop thread). NULL on
 * failure to allocate. */
tide__hub_t *tide__hub_get(tide_runtime_t *rt);
int tide__hub_on_thread(const tide__hub_t *hub);
void tide__hub_unref(tide__hub_t *hub);
void tide__future_unref(tide_future_t *f);
/* The host no longer wants f's completion counted (it completed it). */
void tide__hostfut_uncount(tide_future_t *f);
/* Unpins the Lua future and drops the loop's reference. */
void tide__hostfut_detach(tide_future_t *f);
/* Ties the Lua future of f to it: Lua completing or cancelling it marks
 * f completing; a cancellation reaches the host's cancel callback. */
void tide__hostfut_hook(tide_future_t *f, tide__lfuture_t *lf);
/* Frees a done-callback that never ran (the hub closes). */
void tide__hostdone_drop(tide__hostdone_t *d);

/* host.c */
/* Completes the pinned Lua future of f from L: n values (n >= 0) or, with
 * n < 0, the error at the top. Returns 0 or TIDE_ESTATE. */
int tide__hostfut_complete(tide_future_t *f, lua_State *L, int n);
/* Fails a still pending future the host released without completing. */
void tide__hostfut_abandon(tide_future_t *f, lua_State *L);

#endif
