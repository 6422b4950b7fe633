/* Futures: the core state machine, free of Lua.
 *
 * A future is pending until it completes once: done (with values), failed
 * (with an error) or cancelled. Where its values live is its owner's
 * business (the Lua binding keeps them in the userdata's user values; a
 * task keeps them on its coroutine's stack); this file only moves the state
 * and tells the waiters. Waiters always run from the loop's ready queue,
 * never from inside the call that completed the future, so completing a
 * future never re-enters the code that completed it. */
#include "tide_int.h"

void tide__future_init(tide__future_t *f, tide_loop_t *loop) {
  f->loop = loop;
  f->state = TIDE__PENDING;
  f->cancel = NULL;
  tide__link_init(&f->waiters);
}

/* Moves every waiter onto the ready queue, in registration order. A waiter
 * that cannot be queued (no memory) is dropped with its link reset, so its
 * owner sees it unregistered; the queue preallocates, so this needs a
 * failure to grow a buffer of a few pointers. */
static void future_schedule(tide__future_t *f) {
  while (!tide__link_empty(&f->waiters)) {
    tide__waiter_t *w = TIDE__CONTAINER_OF(f->waiters.next, tide__waiter_t,
                                           link);
    tide__link_remove(&w->link);
    tide__loop_call_soon(f->loop, w->fn, w->data, w->arg);
  }
}

int tide__future_complete(tide__future_t *f, int state) {
  if (f->state != TIDE__PENDING) return TIDE_ESTATE;
  f->state = state;
  future_schedule(f);
  return 0;
}

void tide__future_wait(tide__future_t *f, tide__waiter_t *w) {
  if (f->state != TIDE__PENDING) {
    tide__link_init(&w->link);
    tide__loop_call_soon(f->loop, w->fn, w->data, w->arg);
    return;
  }
  tide__link_insert_tail(&f->waiters, &w->link);
}

void tide__future_unwait(tide__waiter_t *w) {
  tide__link_remove(&w->link);
}

int tide__future_cancel(tide__future_t *f) {
  if (f->state != TIDE__PENDING) return 0;
  if (f->cancel != NULL && f->cancel(f)) return 1;
  /* The cancel hook may have completed the future itself. */
  if (f->state == TIDE__PENDING) tide__future_complete(f, TIDE__CANCELLED);
  return 1;
}

void tide__future_reset(tide__future_t *f) {
  f->state = TIDE__PENDING;
  tide__link_init(&f->waiters);
}
