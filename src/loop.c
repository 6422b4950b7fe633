/* The readiness loop: libuv underneath, tide's ready queue and timer heap on
 * top.
 *
 * The ready queue holds C callbacks (a task to resume, a future's done
 * callbacks to run). It is drained from a check handle, right after libuv's
 * poll phase, so whatever I/O completed in this iteration is acted on in the
 * same iteration. Each drain runs only the entries that were queued when it
 * began: callbacks queued during a drain wait for the next iteration, so a
 * task that yields in a loop cannot starve I/O. While the queue is not empty
 * an idle handle is active, which makes libuv poll without blocking. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "tide_int.h"

#define TIDE__READY_MIN 64
#define TIDE__READY_SHRINK 4096 /* an empty ring larger than this shrinks */
/* Entries one loop iteration may run (in whole batches) before libuv polls
 * I/O again: a hand-off between tasks costs no poll, and a task yielding in
 * a loop still lets I/O in every 1024 turns (a few hundred µs). */
#define TIDE__DRAIN_BUDGET 1024

static void loop_on_check(uv_check_t *check);
static void loop_on_idle(uv_idle_t *idle) {
  (void)idle; /* Exists only to keep the poll phase from blocking. */
}

/* Allocates one of the loop's own handles. Handle memory is malloc'd (never
 * embedded in memory someone else frees) and released in its close callback,
 * tide__loop_close_free_cb. */
static void *loop_handle_alloc(tide_loop_t *loop, size_t size) {
  uv_handle_t *h = calloc(1, size);
  if (h != NULL) h->data = loop;
  return h;
}

int tide__loop_init(tide_loop_t *loop, uv_loop_t *uv) {
  int err;

  memset(loop, 0, sizeof(*loop));
  if (uv == NULL) {
    err = uv_loop_init(&loop->own_uv);
    if (err != 0) return err;
    loop->uv = &loop->own_uv;
    loop->owns_uv = 1;
  } else {
    loop->uv = uv;
  }
  loop->time_base = uv_hrtime();

  err = TIDE_ENOMEM;
  loop->ready = malloc(sizeof(*loop->ready) * TIDE__READY_MIN);
  if (loop->ready == NULL) goto fail_ready;
  loop->ready_mask = TIDE__READY_MIN - 1;

  loop->check = loop_handle_alloc(loop, sizeof(uv_check_t));
  loop->idle = loop_handle_alloc(loop, sizeof(uv_idle_t));
  loop->uvtimer = loop_handle_alloc(loop, sizeof(uv_timer_t));
  if (loop->check == NULL || loop->idle == NULL || loop->uvtimer == NULL)
    goto fail_handles;

  /* These inits cannot fail on Unix; their handles are closed by
   * tide__loop_close like every other tide handle. */
  uv_check_init(loop->uv, loop->check);
  uv_idle_init(loop->uv, loop->idle);
  uv_timer_init(loop->uv, loop->uvtimer);
  loop->check->data = loop->idle->data = loop->uvtimer->data = loop;
  loop->handles += 3;
  /* The check handle alone must not keep the loop alive: only pending work
   * (ready entries, timers, I/O) does. */
  uv_check_start(loop->check, loop_on_check);
  uv_unref((uv_handle_t *)loop->check);
  return 0;

fail_handles:
  free(loop->check);
  free(loop->idle);
  free(loop->uvtimer);
  free(loop->ready);
fail_ready:
  if (loop->owns_uv) uv_loop_close(&loop->own_uv);
  return err;
}

/* Doubles the ring buffer, unrolling it so the head is at slot 0. */
static int loop_ready_grow(tide_loop_t *loop) {
  size_t cap = loop->ready_mask + 1;
  size_t first = cap - loop->ready_head;
  tide__ready_t *r = malloc(sizeof(*r) * cap * 2);
  if (r == NULL) return TIDE_ENOMEM;
  if (first > loop->ready_count) first = loop->ready_count;
  memcpy(r, loop->ready + loop->ready_head, first * sizeof(*r));
  memcpy(r + first, loop->ready, (loop->ready_count - first) * sizeof(*r));
  free(loop->ready);
  loop->ready = r;
  loop->ready_head = 0;
  loop->ready_mask = cap * 2 - 1;
  return 0;
}

int tide__loop_call_soon(tide_loop_t *loop, tide__ready_fn fn, void *data,
                         uintptr_t arg) {
  tide__ready_t *e;
  if (loop->ready_count > loop->ready_mask && loop_ready_grow(loop) != 0)
    return TIDE_ENOMEM;
  e = &loop->ready[(loop->ready_head + loop->ready_count) & loop->ready_mask];
  e->fn = fn;
  e->data = data;
  e->arg = arg;
  if (loop->ready_count++ == 0 && !loop->closing)
    uv_idle_start(loop->idle, loop_on_idle);
  return 0;
}

/* Runs the ready queue in batches: each batch is the entries queued when it
 * began, in order; entries queued during a batch wait for the next one.
 * Batches go on while the iteration's budget lasts (TIDE__DRAIN_BUDGET
 * entries; a batch that began always ends) before libuv polls I/O again,
 * without blocking while entries remain: tasks handing work to each other
 * do not pay a poll per hand-off, and I/O is never starved. The position is
 * kept in the loop, so a drain interrupted by an error (the runtime's
 * protected call catches it) resumes where it stopped. */
void tide__loop_drain(tide_loop_t *loop) {
  for (;;) {
    if (loop->drain_left == 0) {
      if (loop->ready_count == 0 || loop->budget_left <= 0) break;
      loop->drain_left = loop->ready_count;
      loop->budget_left -= (long)loop->ready_count;
    }
    while (loop->drain_left > 0 && loop->ready_count > 0) {
      tide__ready_t e = loop->ready[loop->ready_head];
      loop->ready_head = (loop->ready_head + 1) & loop->ready_mask;
      loop->ready_count--;
      loop->drain_left--;
      e.fn(e.data, e.arg);
    }
    loop->drain_left = 0;
  }
  if (loop->ready_count == 0 && !loop->closing) {
    uv_idle_stop(loop->idle);
    /* After a burst (a million tasks woken at once) the ring goes back to
     * its first size: it is empty, nothing to copy. */
    if (loop->ready_mask + 1 > TIDE__READY_SHRINK) {
      tide__ready_t *r = malloc(sizeof(*r) * TIDE__READY_MIN);
      if (r != NULL) {
        free(loop->ready);
        loop->ready = r;
        loop->ready_head = 0;
        loop->ready_mask = TIDE__READY_MIN - 1;
      }
    }
  }
}

void tide__loop_rpool_trim(tide_loop_t *loop) {
  uint64_t now = uv_now(loop->uv);
  int64_t keep;
  if (now < loop->rpool_trim_at) return;
  loop->rpool_trim_at = now + 1000;
  loop->rbufs_peak = loop->rbufs_window < loop->rbufs_last
                         ? loop->rbufs_window
                         : loop->rbufs_last;
  loop->rbufs_last = loop->rbufs_window;
  loop->rbufs_window = loop->rbufs;
  keep = loop->rbufs_peak - loop->rbufs;
  if (keep < TIDE__RPOOL_MAX) keep = TIDE__RPOOL_MAX;
  while (loop->rpool_n > keep) {
    void *p = loop->rpool;
    loop->rpool = *(void **)p;
    loop->rpool_n--;
    free(p);
  }
}

static void loop_on_check(uv_check_t *check) {
  tide_loop_t *loop = check->data;
  loop->iterations++;
  if (loop->rbufs_window > TIDE__RPOOL_MAX ||
      loop->rbufs_last > TIDE__RPOOL_MAX)
    tide__loop_rpool_trim(loop);
  loop->budget_left = TIDE__DRAIN_BUDGET;
  loop->drain_left = 0;
  if (loop->protect != NULL)
    loop->protect(loop);
  else
    tide__loop_drain(loop);
}


void tide__loop_handle_open(tide_loop_t *loop) {
  loop->handles++;
}

void tide__loop_handle_closed(tide_loop_t *loop) {
  if (--loop->handles == 0 && loop->closing && loop->on_closed != NULL)
    loop->on_closed(loop);
}

void tide__loop_close_free_cb(uv_handle_t *handle) {
  tide_loop_t *loop = handle->data;
  free(handle);
  tide__loop_handle_closed(loop);
}

/* Public entry points. */

size_t tide_loop_pending(const tide_loop_t *loop) {
  return loop->ready_count;
}

uv_loop_t *tide_loop_uv(tide_loop_t *loop) {
  return loop->uv;
}

/* Runs one libuv iteration; blocks in poll only if nothing is ready and
 * nowait is 0. Returns libuv's "still alive" answer. */
int tide__loop_run_once(tide_loop_t *loop, int nowait) {
  int alive;
  loop->running++;
  alive = uv_run(loop->uv, nowait ? UV_RUN_NOWAIT : UV_RUN_ONCE);
  loop->running--;
  return alive || loop->ready_count > 0;
}

/* Starts closing the loop's own handles and frees the queue and heap. Ready
 * entries still queued are dropped: the runtime has completed or cancelled
 * their owners before calling this. When the libuv loop is ours it is run
 * until every handle's close callback has run, then closed; a host's loop is
 * left to the host, whose next run completes the closes. */
int tide__loop_close(tide_loop_t *loop) {
  int err = 0;
  if (loop->closing) return TIDE_ECLOSED;
  loop->closing = 1;
  uv_close((uv_handle_t *)loop->check, tide__loop_close_free_cb);
  uv_close((uv_handle_t *)loop->idle, tide__loop_close_free_cb);
  uv_close((uv_handle_t *)loop->uvtimer, tide__loop_close_free_cb);
  if (loop->prepare != NULL)
    uv_close((uv_handle_t *)loop->prepare, tide__loop_close_free_cb);
  tide__timers_free(loop);
  /* The read buffer pool: streams closing from now on free theirs. */
  while (loop->rpool != NULL) {
    void *next = *(void **)loop->rpool;
    free(loop->rpool);
    loop->rpool = next;
  }
  loop->rpool_n = INT_MAX; /* full for good: streams free their buffers */
  free(loop->ready);
  loop->ready = NULL;
  loop->ready_count = loop->drain_left = 0;
  if (loop->owns_uv) {
    /* Our own loop: run it until every close callback has run. */
    void (*on_closed)(tide_loop_t *) = loop->on_closed;
    loop->on_closed = NULL;
    while (loop->handles > 0)
      uv_run(loop->uv, UV_RUN_ONCE);
    err = uv_loop_close(loop->uv);
    if (on_closed != NULL) on_closed(loop);
  }
  return err;
}

/* The virtual clock. Before each poll: if no task is ready and no I/O is in
 * flight (the only active handle is our own timer), nothing but a timer can
 * happen next, so loop time jumps to the earliest timer and the poll does
 * not block. A test of an hour of timeouts runs in milliseconds (Trio's
 * autojump clock). */
static void loop_on_prepare(uv_prepare_t *prepare) {
  tide_loop_t *loop = prepare->data;
  uint64_t due, now;
  if (!loop->autojump || loop->ready_count > 0) return;
  if (!tide__timers_next(loop, &due)) return;
  if (loop->uv->active_handles != 1 || loop->uv->active_reqs.count != 0)
    return;
  now = tide__loop_now(loop);
  if (due > now) {
    /* Whole milliseconds, as the real clock moves for libuv's timer: what
     * is due within the same millisecond fires in the same turn. */
    loop->time_skew += (due - now + 999999) / 1000000 * 1000000;
    tide__timers_rearm(loop);
  }
}

int tide__loop_set_autojump(tide_loop_t *loop, int on) {
  int was = loop->autojump;
  if (loop->closing) return TIDE_ECLOSED;
  if (on && loop->prepare == NULL) {
    loop->prepare = loop_handle_alloc(loop, sizeof(uv_prepare_t));
    if (loop->prepare == NULL) return TIDE_ENOMEM;
    uv_prepare_init(loop->uv, loop->prepare);
    loop->prepare->data = loop;
    loop->handles++;
    uv_prepare_start(loop->prepare, loop_on_prepare);
    uv_unref((uv_handle_t *)loop->prepare);
  }
  loop->autojump = on;
  if (!on) tide__timers_rearm(loop);
  return was;
}
