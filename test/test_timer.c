/* tide's timer heap (src/timer.c): order, ties, stop and restart, scale. */
#include <stdlib.h>

#include "test.h"
#include "tide_int.h"

typedef struct {
  tide__timer_t timer;
  int id;
} item_t;

static int fired[20000];
static uint64_t fired_due[20000];
static int nfired;

static void on_fire(tide__timer_t *t) {
  item_t *it = TIDE__CONTAINER_OF(t, item_t, timer);
  fired_due[nfired] = t->due;
  fired[nfired++] = it->id;
}

/* Timers due in the past all fire from one tide__timers_run, earliest due
 * first, ties in the order they were started. */
TEST(heap_order_and_fifo_ties) {
  tide_loop_t loop;
  static item_t items[1000];
  int i, ordered = 1, fifo = 1;
  unsigned seed = 12345;
  CHECK_INT(tide__loop_init(&loop, NULL), 0);
  nfired = 0;
  for (i = 0; i < 1000; i++) {
    seed = seed * 1103515245u + 12345u;
    items[i].id = i;
    tide__timer_init(&items[i].timer, on_fire);
    /* Only 16 distinct due times: plenty of ties. */
    CHECK_INT(tide__timer_start(&loop, &items[i].timer, 1 + (seed >> 16) % 16),
              0);
  }
  CHECK_INT(loop.heap_len, 1000);
  tide__timers_run(&loop);
  CHECK_INT(nfired, 1000);
  for (i = 1; i < nfired; i++) {
    if (fired_due[i] < fired_due[i - 1]) ordered = 0;
    if (fired_due[i] == fired_due[i - 1] && fired[i] < fired[i - 1]) fifo = 0;
  }
  CHECK(ordered);
  CHECK(fifo);
  CHECK_INT(loop.heap_len, 0);
  for (i = 0; i < 1000; i++) CHECK(!tide__timer_armed(&items[i].timer));
  CHECK_INT(tide__loop_close(&loop), 0);
}

TEST(stop_and_restart) {
  tide_loop_t loop;
  item_t a, b, c;
  CHECK_INT(tide__loop_init(&loop, NULL), 0);
  a.id = 1, b.id = 2, c.id = 3;
  tide__timer_init(&a.timer, on_fire);
  tide__timer_init(&b.timer, on_fire);
  tide__timer_init(&c.timer, on_fire);
  tide__timer_start(&loop, &a.timer, 10);
  tide__timer_start(&loop, &b.timer, 20);
  tide__timer_start(&loop, &c.timer, 30);
  tide__timer_stop(&loop, &b.timer);
  CHECK(!tide__timer_armed(&b.timer));
  tide__timer_stop(&loop, &b.timer); /* stopping a stopped timer: no-op */
  /* Restarting an armed timer moves it: a now fires after c. */
  tide__timer_start(&loop, &a.timer, 40);
  CHECK_INT(loop.heap_len, 2);
  nfired = 0;
  tide__timers_run(&loop);
  CHECK_INT(nfired, 2);
  CHECK_INT(fired[0], 3);
  CHECK_INT(fired[1], 1);
  CHECK_INT(tide__loop_close(&loop), 0);
}

/* A timer in the future fires from the loop, not before its time. */
static tide_loop_t *stamp_loop;
static uint64_t stamp_at;
static void on_fire_at(tide__timer_t *t) {
  (void)t;
  stamp_at = tide__loop_now(stamp_loop);
  nfired++;
}

TEST(fires_from_the_loop_not_early) {
  tide_loop_t loop;
  tide__timer_t t;
  uint64_t due;
  CHECK_INT(tide__loop_init(&loop, NULL), 0);
  stamp_loop = &loop;
  nfired = 0;
  tide__timer_init(&t, on_fire_at);
  due = tide__loop_now(&loop) + 20 * 1000000u;
  tide__timer_start(&loop, &t, due);
  while (nfired == 0 && tide__loop_run_once(&loop, 0)) {
  }
  CHECK_INT(nfired, 1);
  CHECK(stamp_at >= due);
  /* The heap is empty, so nothing keeps the loop alive. */
  CHECK_INT(tide__loop_run_once(&loop, 0), 0);
  CHECK_INT(tide__loop_close(&loop), 0);
}

/* 20,000 timers with random stops: the survivors fire in order. */
TEST(many_timers) {
  tide_loop_t loop;
  item_t *items = calloc(20000, sizeof(*items));
  int i, stopped = 0, ordered = 1;
  unsigned seed = 99;
  CHECK_INT(tide__loop_init(&loop, NULL), 0);
  for (i = 0; i < 20000; i++) {
    seed = seed * 1103515245u + 12345u;
    items[i].id = i;
    tide__timer_init(&items[i].timer, on_fire);
    tide__timer_start(&loop, &items[i].timer, 1 + (seed >> 8) % 100000);
  }
  for (i = 0; i < 20000; i += 3) {
    tide__timer_stop(&loop, &items[i].timer);
    stopped++;
  }
  CHECK_INT(loop.heap_len, 20000 - stopped);
  nfired = 0;
  tide__timers_run(&loop);
  CHECK_INT(nfired, 20000 - stopped);
  for (i = 1; i < nfired; i++)
    if (fired_due[i] < fired_due[i - 1]) ordered = 0;
  CHECK(ordered);
  for (i = 0; i < nfired; i++)
    if (fired[i] % 3 == 0) ordered = 0;
  CHECK(ordered);
  CHECK_INT(tide__loop_close(&loop), 0);
  free(items);
}

/* Closing the loop with armed timers disarms them (their owners may be
 * freed after) and frees the heap. */
TEST(close_disarms) {
  tide_loop_t loop;
  item_t a;
  CHECK_INT(tide__loop_init(&loop, NULL), 0);
  tide__timer_init(&a.timer, on_fire);
  tide__timer_start(&loop, &a.timer, tide__loop_now(&loop) + 1000000000u);
  CHECK(tide__timer_armed(&a.timer));
  CHECK_INT(tide__loop_close(&loop), 0);
  CHECK(!tide__timer_armed(&a.timer));
  CHECK(loop.heap == NULL);
  CHECK_INT(tide__timer_start(&loop, &a.timer, 1), TIDE_ECLOSED);
}

int main(void) {
  RUN(heap_order_and_fifo_ties);
  RUN(stop_and_restart);
  RUN(fires_from_the_loop_not_early);
  RUN(many_timers);
  RUN(close_disarms);
  return test_summary("test_timer");
}
