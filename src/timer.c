/* tide's timers: a binary min-heap ordered by (due time, insertion order),
 * driven by one libuv timer armed for the earliest entry.
 *
 * libuv has a heap of its own, but each uv_timer_t is a handle that must be
 * closed before its memory is freed. A sleep is the commonest await there
 * is, so tide keeps its timers as plain structs embedded in their owners:
 * no allocation, no close round trip, and 100,000 sleeping tasks cost one
 * pointer each here. */
#include <stdlib.h>

#include "tide_int.h"

static int timer_less(const tide__timer_t *a, const tide__timer_t *b) {
  return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void heap_set(tide__timer_t **h, size_t i, tide__timer_t *t) {
  h[i] = t;
  t->index = i;
}

static void heap_up(tide__timer_t **h, size_t i) {
  tide__timer_t *t = h[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!timer_less(t, h[parent])) break;
    heap_set(h, i, h[parent]);
    i = parent;
  }
  heap_set(h, i, t);
}

static void heap_down(tide__timer_t **h, size_t len, size_t i) {
  tide__timer_t *t = h[i];
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= len) break;
    if (child + 1 < len && timer_less(h[child + 1], h[child])) child++;
    if (!timer_less(h[child], t)) break;
    heap_set(h, i, h[child]);
    i = child;
  }
  heap_set(h, i, t);
}

/* After a burst (a million sleepers gone), the heap's array goes back to a
 * size near its use: halved whenever it is less than a quarter full. */
static void timers_shrink(tide_loop_t *loop) {
  if (loop->heap_cap > 1024 && loop->heap_len < loop->heap_cap / 4) {
    size_t cap = loop->heap_cap / 2;
    tide__timer_t **h = realloc(loop->heap, cap * sizeof(*h));
    if (h != NULL) {
      loop->heap = h;
      loop->heap_cap = cap;
    }
  }
}

void tide__timer_init(tide__timer_t *timer, tide__timer_fn fn) {
  timer->due = 0;
  timer->seq = 0;
  timer->index = SIZE_MAX;
  timer->fn = fn;
}

/* Arms timer to fire at loop time due (ns); rearms it if armed. */
int tide__timer_start(tide_loop_t *loop, tide__timer_t *timer, uint64_t due) {
  if (loop->closing) return TIDE_ECLOSED;
  if (tide__timer_armed(timer)) tide__timer_stop(loop, timer);
  if (loop->heap_len == loop->heap_cap) {
    size_t cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
    tide__timer_t **h = realloc(loop->heap, cap * sizeof(*h));
    if (h == NULL) return TIDE_ENOMEM;
    loop->heap = h;
    loop->heap_cap = cap;
  }
  timer->due = due;
  timer->seq = loop->timer_seq++;
  heap_set(loop->heap, loop->heap_len++, timer);
  heap_up(loop->heap, timer->index);
  if (timer->index == 0) tide__timers_rearm(loop);
  return 0;
}

void tide__timer_stop(tide_loop_t *loop, tide__timer_t *timer) {
  size_t i = timer->index;
  int was_first = i == 0;
  if (!tide__timer_armed(timer)) return;
  timer->index = SIZE_MAX;
  if (--loop->heap_len != i) {
    heap_set(loop->heap, i, loop->heap[loop->heap_len]);
    heap_up(loop->heap, i);
    heap_down(loop->heap, loop->heap_len, loop->heap[i]->index);
  }
  timers_shrink(loop);
  if (was_first) tide__timers_rearm(loop);
}

int tide__timers_next(const tide_loop_t *loop, uint64_t *due) {
  if (loop->heap_len == 0) return 0;
  *due = loop->heap[0]->due;
  return 1;
}

/* Fires the timers that are due now, earliest first. A callback may start or
 * stop timers; one started for "now" fires in this same pass, which is why
 * a zero sleep goes through the ready queue instead of the heap. */
void tide__timers_run(tide_loop_t *loop) {
  uint64_t now = tide__loop_now(loop);
  while (loop->heap_len > 0 && loop->heap[0]->due <= now) {
    tide__timer_t *t = loop->heap[0];
    /* Disarm before the call: it may rearm the same timer. */
    loop->heap_len--;
    t->index = SIZE_MAX;
    if (loop->heap_len > 0) {
      heap_set(loop->heap, 0, loop->heap[loop->heap_len]);
      heap_down(loop->heap, loop->heap_len, 0);
    }
    timers_shrink(loop);
    t->fn(t);
  }
  tide__timers_rearm(loop);
}

void tide__timers_free(tide_loop_t *loop) {
  size_t i;
  for (i = 0; i < loop->heap_len; i++) loop->heap[i]->index = SIZE_MAX;
  free(loop->heap);
  loop->heap = NULL;
  loop->heap_len = loop->heap_cap = 0;
}

/* Loop time in nanoseconds: monotonic, starting at 0 when the loop was
 * made, with the virtual clock's jumps added. */
uint64_t tide__loop_now(const tide_loop_t *loop) {
  return uv_hrtime() - loop->time_base + loop->time_skew;
}

static void timer_on_uvtimer(uv_timer_t *t) {
  tide__timers_run(t->data);
}

/* The timer heap's libuv side: one uv_timer_t armed for the earliest due
 * timer. Rounds up to whole milliseconds (libuv's resolution) so a timer
 * never fires early; tide__timers_run rearms if the clock lags. */
void tide__timers_rearm(tide_loop_t *loop) {
  uint64_t due, now, ms;
  if (loop->closing) return;
  if (!tide__timers_next(loop, &due)) {
    uv_timer_stop(loop->uvtimer);
    return;
  }
  now = tide__loop_now(loop);
  ms = due > now ? (due - now + 999999) / 1000000 : 0;
  uv_update_time(loop->uv);
  uv_timer_start(loop->uvtimer, timer_on_uvtimer, ms, 0);
}
