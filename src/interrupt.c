/* Ctrl-C and SIGTERM: the first one cancels a task (the tide command's
 * script, tide.run's root task), whose cleanup then runs (<close> handlers,
 * awaits in them, within the grace period), and the leftover tasks' after
 * it; a second one ends the process at once, by the signal's default
 * action, as a program that cannot stop cleanly should.
 *
 * SIGTERM is the way a service manager or tide's supervisor asks a server
 * to stop, so it drains first: every listening server closes (no new
 * connection), the connections already accepted get the grace period to
 * finish (tide.stopping() tells their handlers), and only then is the
 * task cancelled. Ctrl-C cancels at once.
 *
 * A signal the script watches itself (tide.on_signal) is left to it.
 *
 * The watchers are libuv signal handles of the runtime's loop, unreferenced
 * (they never keep the loop alive), made on first use and closed with the
 * runtime. While they watch, the dispositions the process had before
 * (lua.c's own SIGINT handler, a host's) are saved and put back after. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "tide_lua.h"
#include "tide_net.h"

typedef struct tide__interrupt_s {
  tide__resource_t res;    /* in rt->resources: the runtime's close closes
                              the watchers (after the cleanup it waits for:
                              a second signal still ends the process) */
  tide_runtime_t *rt;
  uv_signal_t *h[2];       /* SIGINT, SIGTERM; freed in their close cb */
  struct sigaction old[2]; /* the dispositions before watching */
  tide__task_t *task;      /* cancelled by the first signal; NULL: none */
  uv_timer_t *drain;       /* SIGTERM's drain: looks at the connections
                              left; made on first use, freed in its close
                              callback */
  uint64_t drain_end;      /* loop time (ms) the drain ends at the latest */
  int signum;              /* the first signal seen, 0 before */
  int watching;
  int stopping;            /* a drain began (tide.stopping()) */
} interrupt_t;

static const int signums[2] = {SIGINT, SIGTERM};

typedef struct {
  tide__task_t *task;
  int signum;
} interrupt_call_t;

/* In protected mode: cancels the task with a message naming the signal. */
static int interrupt_cancel_p(lua_State *L) {
  interrupt_call_t *c = lua_touserdata(L, 1);
  lua_pushfstring(L, "interrupted by %s",
                  c->signum == SIGINT ? "SIGINT" : "SIGTERM");
  tide__task_cancel(c->task, L, -1);
  return 0;
}

typedef struct {
  interrupt_t *in;
  int signum;
  int found;
} interrupt_walk_t;

static void interrupt_walk_cb(uv_handle_t *h, void *arg) {
  interrupt_walk_t *w = arg;
  if (h->type == UV_SIGNAL && uv_is_active(h) && !uv_is_closing(h) &&
      ((uv_signal_t *)h)->signum == w->signum &&
      h != (uv_handle_t *)w->in->h[0] && h != (uv_handle_t *)w->in->h[1])
    w->found = 1;
}

/* Does someone else watch signum on this loop (tide.on_signal, tide.signal,
 * the host)? Then the signal is theirs: the script stops as it chose to. */
static int interrupt_watched_elsewhere(tide_runtime_t *rt, int signum) {
  interrupt_walk_t w = {rt->intr, signum, 0};
  uv_walk(rt->loop.uv, interrupt_walk_cb, &w);
  return w.found;
}

/* Cancels the task the signal is for, if it still runs. */
static void interrupt_cancel(tide_runtime_t *rt) {
  interrupt_t *in = rt->intr;
  if (in->drain != NULL) uv_timer_stop(in->drain);
  if (in->task != NULL && in->task->aw.fut.state == TIDE__PENDING) {
    interrupt_call_t c = {in->task, in->signum};
    tide__runtime_pcall(rt, interrupt_cancel_p, &c);
  }
}

/* Every 20 ms of the drain: the task is cancelled once the connections
 * are all closed or the grace period is over. A count, not a callback per
 * connection: the drain happens once in a process's life. */
static void interrupt_drain_cb(uv_timer_t *h) {
  tide_runtime_t *rt = h->data;
  if (rt->loop.conns_active <= 0 || uv_now(rt->loop.uv) >= rt->intr->drain_end)
    interrupt_cancel(rt);
}

char tide__stopping_hooks_key[1];

/* In protected mode: calls every stopping hook, hooks[owner](owner). */
static int interrupt_hooks_p(lua_State *L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, tide__stopping_hooks_key) !=
      LUA_TTABLE)
    return 0;
  lua_pushnil(L);
  while (lua_next(L, -2)) { /* hooks, owner, fn */
    luaL_checkstack(L, 2, NULL);
    lua_pushvalue(L, -2);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) /* one failing hook, not the rest */
      tide__runtime_report(tide__runtime_from(L), L, 0);
  }
  return 0;
}

/* Closes the servers, runs the stopping hooks (an HTTP server closes its
 * idle keep-alive connections there), and starts waiting for the
 * connections; 0 when there is nothing to wait for (cancel at once). */
static int interrupt_drain(tide_runtime_t *rt) {
  interrupt_t *in = rt->intr;
  in->stopping = 1;
  tide__server_close_all(rt);
  tide__runtime_pcall(rt, interrupt_hooks_p, NULL);
  if (rt->loop.conns_active <= 0 || rt->grace_ns == 0) return 0;
  if (in->drain == NULL) {
    in->drain = malloc(sizeof(uv_timer_t));
    if (in->drain == NULL) return 0;
    uv_timer_init(rt->loop.uv, in->drain);
    in->drain->data = rt;
    tide__loop_handle_open(&rt->loop);
  }
  in->drain_end = uv_now(rt->loop.uv) + rt->grace_ns / 1000000;
  uv_timer_start(in->drain, interrupt_drain_cb, 20, 20);
  return 1;
}

static void interrupt_on_signal(uv_signal_t *h, int signum) {
  tide_runtime_t *rt = h->data;
  interrupt_t *in = rt->intr;
  if (interrupt_watched_elsewhere(rt, signum)) return;
  if (in->signum != 0) {
    /* The second one: no more waiting for cleanup. */
    int i;
    for (i = 0; i < 2; i++) sigaction(signums[i], &in->old[i], NULL);
    signal(signum, SIG_DFL);
    raise(signum);
    return;
  }
  in->signum = signum;
  if (signum == SIGTERM && interrupt_drain(rt)) return;
  interrupt_cancel(rt);
}

static void interrupt_res_close(tide__resource_t *res) {
  tide__interrupt_close(TIDE__CONTAINER_OF(res, interrupt_t, res)->rt);
}

int tide__interrupt_watch(tide_runtime_t *rt, tide__task_t *t) {
  interrupt_t *in = rt->intr;
  int i, err;
  if (in == NULL) {
    if (t == NULL) return 0;
    in = calloc(1, sizeof(*in));
    if (in == NULL) return TIDE_ENOMEM;
    for (i = 0; i < 2; i++) {
      in->h[i] = malloc(sizeof(uv_signal_t));
      if (in->h[i] == NULL || uv_signal_init(rt->loop.uv, in->h[i]) != 0) {
        int j;
        free(in->h[i]);
        for (j = 0; j < i; j++) {
          in->h[j]->data = &rt->loop;
          uv_close((uv_handle_t *)in->h[j], tide__loop_close_free_cb);
        }
        free(in);
        return TIDE_ENOMEM;
      }
      in->h[i]->data = rt;
      tide__loop_handle_open(&rt->loop);
      uv_unref((uv_handle_t *)in->h[i]);
    }
    in->rt = rt;
    in->res.close = interrupt_res_close;
    tide__link_insert_tail(&rt->resources, &in->res.link);
    rt->intr = in;
  }
  in->task = t;
  if (t == NULL) {
    if (in->watching) {
      for (i = 0; i < 2; i++) {
        uv_signal_stop(in->h[i]);
        sigaction(signums[i], &in->old[i], NULL);
      }
      in->watching = 0;
    }
    return 0;
  }
  in->signum = 0;
  in->stopping = 0;
  if (!in->watching) {
    for (i = 0; i < 2; i++) {
      sigaction(signums[i], NULL, &in->old[i]);
      err = uv_signal_start(in->h[i], interrupt_on_signal, signums[i]);
      if (err != 0) {
        while (i-- > 0) {
          uv_signal_stop(in->h[i]);
          sigaction(signums[i], &in->old[i], NULL);
        }
        return err;
      }
    }
    in->watching = 1;
  }
  return 0;
}

int tide__interrupt_handles(tide_runtime_t *rt) {
  if (rt->intr == NULL) return 0;
  return 2 + (rt->intr->drain != NULL);
}

int tide__interrupt_stopping(tide_runtime_t *rt) {
  return rt->intr != NULL && rt->intr->stopping;
}

int tide__interrupt_signal(tide_runtime_t *rt) {
  return rt->intr != NULL ? rt->intr->signum : 0;
}

void tide__interrupt_close(tide_runtime_t *rt) {
  interrupt_t *in = rt->intr;
  int i;
  if (in == NULL) return;
  tide__interrupt_watch(rt, NULL);
  tide__link_remove(&in->res.link);
  for (i = 0; i < 2; i++) {
    in->h[i]->data = &rt->loop;
    uv_close((uv_handle_t *)in->h[i], tide__loop_close_free_cb);
  }
  if (in->drain != NULL) {
    in->drain->data = &rt->loop;
    uv_close((uv_handle_t *)in->drain, tide__loop_close_free_cb);
  }
  free(in);
  rt->intr = NULL;
}

/* ------------------------------------------------------------ public */

int tide_runtime_catch_signals(tide_runtime_t *rt, int idx) {
  tide__task_t *t = NULL;
  if (rt == NULL || rt->closing || rt->loop.closing) return TIDE_EINVAL;
  if (idx != 0) {
    t = tide__lua_testmt(rt->L, idx, tide__mt_task);
    if (t == NULL) return TIDE_EINVAL;
  }
  return tide__interrupt_watch(rt, t);
}

int tide_runtime_interrupted(tide_runtime_t *rt) {
  return rt != NULL ? tide__interrupt_signal(rt) : 0;
}

