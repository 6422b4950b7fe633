/* The ready queue and the loop's life cycle (src/loop.c), without Lua. */
#include <stdlib.h>

#include "test.h"
#include "tide_int.h"

/* A log of which entries ran, in order. */
static uintptr_t ran[1024];
static int nran;

static void log_fn(void *data, uintptr_t arg) {
  (void)data;
  if (nran < 1024) ran[nran++] = arg;
}

/* Re-queues itself (up to arg 1000): each re-queue must wait for the next
 * batch. */
static void requeue_fn(void *data, uintptr_t arg) {
  tide_loop_t *loop = data;
  log_fn(NULL, arg);
  if (arg < 1000) tide__loop_call_soon(loop, requeue_fn, loop, arg + 100);
}

TEST(ready_queue_is_fifo) {
  tide_loop_t loop;
  uintptr_t i;
  nran = 0;
  CHECK_INT(tide__loop_init(&loop, NULL), 0);
  for (i = 0; i < 5; i++) CHECK_INT(tide__loop_call_soon(&loop, log_fn, 0, i), 0);
  CHECK_INT(nran, 0); /* never runs inside call_soon */
  tide__loop_run_once(&loop, 1);
  CHECK_INT(nran, 5);
  for (i = 0; i < 5; i++) CHECK_INT(ran[i], i);
  CHECK_INT(loop.ready_count, 0);
  CHECK_INT(tide__loop_close(&loop), 0);
}

/* Keeps re-queueing itself: counts every run. */
static long nforever;
static void forever_fn(void *data, uintptr_t arg) {
  tide_loop_t *loop = data;
  nforever++;
  tide__loop_call_soon(loop, forever_fn, loop, arg);
}

/* Each batch runs what was queued when it began; what those entries queue
 * runs in the next batch, after everything of theirs. One loop iteration
 * runs whole batches while its budget of 1024 entries lasts, then polls I/O
 * again. */
TEST(drain_runs_snapshots_in_batches) {
  tide_loop_t loop;
  int i;
  nran = 0;
  CHECK_INT(tide__loop_init(&loop, NULL), 0);
  tide__loop_call_soon(&loop, requeue_fn, &loop, 1);
  tide__loop_call_soon(&loop, requeue_fn, &loop, 2);
  tide__loop_run_once(&loop, 1);
  /* Batches of two: 1, 2, 101, 102, ..., 1001, 1002, in one iteration. */
  CHECK_INT(nran, 22);
  for (i = 0; i < 22; i++) CHECK_INT(ran[i], (uintptr_t)(i / 2 * 100 + 1 + i % 2));
  CHECK_INT(loop.ready_count, 0);
  /* Tasks handing work to each other forever: 1024 entries per iteration,
   * then the poll. */
  nforever = 0;
  tide__loop_call_soon(&loop, forever_fn, &loop, 0);
  tide__loop_call_soon(&loop, forever_fn, &loop, 1);
  tide__loop_run_once(&loop, 1);
  CHECK_INT(nforever, 1024);
  CHECK_INT(loop.ready_count, 2);
  tide__loop_run_once(&loop, 1);
  CHECK_INT(nforever, 2048);
  /* A batch that began always ends, even past the budget. */
  for (i = 0; i < 1500; i++) tide__loop_call_soon(&loop, log_fn, 0, 0);
  nforever = 0;
  tide__loop_run_once(&loop, 1);
  CHECK_INT(nforever, 2); /* the two forever entries, then the 1500 */
  CHECK_INT(loop.ready_count, 2);
  CHECK_INT(tide__loop_close(&loop), 0);
}

TEST(ready_queue_grows_past_64) {
  tide_loop_t loop;
  uintptr_t i;
  int ok = 1;
  nran = 0;
  CHECK_INT(tide__loop_init(&loop, NULL), 0);
  for (i = 0; i < 300; i++) tide__loop_call_soon(&loop, log_fn, 0, i);
  CHECK(loop.ready_mask + 1 >= 300);
  tide__loop_run_once(&loop, 1);
  CHECK_INT(nran, 300);
  for (i = 0; i < 300; i++) ok &= ran[i] == i;
  CHECK(ok);
  CHECK_INT(tide__loop_close(&loop), 0);
}

/* Growing while the ring has wrapped must keep the order. */
TEST(ready_queue_grows_while_wrapped) {
  tide_loop_t loop;
  uintptr_t i;
  int ok = 1;
  CHECK_INT(tide__loop_init(&loop, NULL), 0);
  for (i = 0; i < 40; i++) tide__loop_call_soon(&loop, log_fn, 0, i);
  nran = 0;
  tide__loop_run_once(&loop, 1);
  CHECK_INT(loop.ready_head, 40); /* the next entries start mid-buffer */
  nran = 0;
  for (i = 0; i < 100; i++) tide__loop_call_soon(&loop, log_fn, 0, i);
  tide__loop_run_once(&loop, 1);
  CHECK_INT(nran, 100);
  for (i = 0; i < 100; i++) ok &= ran[i] == i;
  CHECK(ok);
  CHECK_INT(tide__loop_close(&loop), 0);
}

static void on_long_timer(uv_timer_t *t) {
  (void)t;
}

/* A non-empty queue keeps poll from blocking even when a far timer would
 * otherwise make uv_run wait; an empty queue does not keep the loop alive. */
TEST(ready_entries_do_not_block_and_idle_does_not_keep_alive) {
  tide_loop_t loop;
  uv_loop_t host;
  uv_timer_t far;
  uint64_t t0;
  nran = 0;
  CHECK_INT(uv_loop_init(&host), 0);
  CHECK_INT(tide__loop_init(&loop, &host), 0);
  uv_timer_init(&host, &far);
  uv_timer_start(&far, on_long_timer, 10000, 0);
  tide__loop_call_soon(&loop, log_fn, 0, 7);
  t0 = uv_hrtime();
  tide__loop_run_once(&loop, 0); /* UV_RUN_ONCE: must not wait 10 s */
  CHECK(uv_hrtime() - t0 < 1000000000u);
  CHECK_INT(nran, 1);
  /* With nothing queued, tide's own handles keep nothing alive. */
  uv_timer_stop(&far);
  CHECK_INT(uv_loop_alive(&host), 0);
  CHECK_INT(tide__loop_run_once(&loop, 0), 0);
  uv_close((uv_handle_t *)&far, NULL);
  CHECK_INT(tide__loop_close(&loop), 0);
  /* A host's loop is the host's: it finishes tide's closes on its next run
   * and then closes cleanly. */
  CHECK(loop.handles > 0);
  uv_run(&host, UV_RUN_DEFAULT);
  CHECK_INT(loop.handles, 0);
  CHECK_INT(uv_loop_close(&host), 0);
}

static int closed_calls;
static void on_closed(tide_loop_t *loop) {
  (void)loop;
  closed_calls++;
}

TEST(close_frees_everything) {
  tide_loop_t *loop = malloc(sizeof(*loop));
  uv_loop_t host;
  CHECK_INT(uv_loop_init(&host), 0);
  CHECK_INT(tide__loop_init(loop, &host), 0);
  loop->on_closed = on_closed;
  /* Queued entries, timers in the heap: all dropped, nothing run. */
  nran = 0;
  tide__loop_call_soon(loop, log_fn, 0, 1);
  CHECK_INT(tide__loop_close(loop), 0);
  CHECK_INT(tide__loop_close(loop), TIDE_ECLOSED);
  CHECK_INT(closed_calls, 0);
  uv_run(&host, UV_RUN_DEFAULT);
  CHECK_INT(closed_calls, 1); /* the owner may free the loop now */
  CHECK_INT(nran, 0);
  CHECK(loop->ready == NULL && loop->heap == NULL);
  free(loop);
  CHECK_INT(uv_loop_close(&host), 0);
}

TEST(own_loop_is_closed_by_close) {
  tide_loop_t loop;
  closed_calls = 0;
  CHECK_INT(tide__loop_init(&loop, NULL), 0);
  CHECK(loop.owns_uv);
  loop.on_closed = on_closed;
  CHECK_INT(tide__loop_close(&loop), 0);
  CHECK_INT(loop.handles, 0);
  CHECK_INT(closed_calls, 1);
}

/* The read buffer pool keeps what a sustained load holds at once (the
 * lower of the last two seconds' peaks, 64 at least) and frees the rest
 * once the load falls. */
static void pool_fill(tide_loop_t *loop, int n) {
  while (n-- > 0) {
    void *p = malloc(64); /* the loop only links and frees them */
    *(void **)p = loop->rpool;
    loop->rpool = p;
    loop->rpool_n++;
  }
}

TEST(rpool_trim_keeps_a_sustained_peak) {
  tide_loop_t loop;
  CHECK_INT(tide__loop_init(&loop, NULL), 0);
  pool_fill(&loop, 100);
  /* 100 held at once in each of the last two seconds: all 100 kept. */
  loop.rbufs_window = loop.rbufs_last = 100;
  loop.rpool_trim_at = 0;
  tide__loop_rpool_trim(&loop);
  CHECK_INT(loop.rpool_n, 100);
  CHECK_INT(loop.rbufs_peak, 100);
  /* A second with none held: the pool falls back to 64. */
  loop.rbufs_window = 0;
  loop.rpool_trim_at = 0;
  tide__loop_rpool_trim(&loop);
  CHECK_INT(loop.rbufs_peak, 0);
  CHECK_INT(loop.rpool_n, 64);
  /* Not due yet: nothing changes. */
  pool_fill(&loop, 10);
  tide__loop_rpool_trim(&loop);
  CHECK_INT(loop.rpool_n, 74);
  /* A one-off burst (one second high, the one before low) keeps nothing
   * beyond 64. */
  loop.rbufs_last = 0;
  loop.rbufs_window = 200;
  loop.rpool_trim_at = 0;
  tide__loop_rpool_trim(&loop);
  CHECK_INT(loop.rpool_n, 64);
  CHECK_INT(tide__loop_close(&loop), 0); /* frees the pool */
}

int main(void) {
  RUN(ready_queue_is_fifo);
  RUN(drain_runs_snapshots_in_batches);
  RUN(ready_queue_grows_past_64);
  RUN(ready_queue_grows_while_wrapped);
  RUN(ready_entries_do_not_block_and_idle_does_not_keep_alive);
  RUN(close_frees_everything);
  RUN(own_loop_is_closed_by_close);
  RUN(rpool_trim_keeps_a_sustained_peak);
  return test_summary("test_loop");
}
