/* The Lua-free future (src/future.c): one completion, waiters from the
 * loop, unwait, cancel hooks, reset. */
#include "test.h"
#include "tide_int.h"

static uintptr_t ran[64];
static int nran;

static void on_wake(void *data, uintptr_t arg) {
  (void)data;
  ran[nran++] = arg;
}

static void waiter_init(tide__waiter_t *w, uintptr_t arg) {
  tide__link_init(&w->link);
  w->fn = on_wake;
  w->data = NULL;
  w->arg = arg;
}

TEST(completes_once) {
  tide_loop_t loop;
  tide__future_t f;
  CHECK_INT(tide__loop_init(&loop, NULL), 0);
  tide__future_init(&f, &loop);
  CHECK_INT(f.state, TIDE__PENDING);
  CHECK_INT(tide__future_complete(&f, TIDE__DONE), 0);
  CHECK_INT(f.state, TIDE__DONE);
  CHECK_INT(tide__future_complete(&f, TIDE__FAILED), TIDE_ESTATE);
  CHECK_INT(f.state, TIDE__DONE);
  CHECK_INT(tide__future_cancel(&f), 0); /* done: nothing to cancel */
  CHECK_INT(f.state, TIDE__DONE);
  CHECK_INT(tide__loop_close(&loop), 0);
}

TEST(waiters_run_from_the_loop_in_order) {
  tide_loop_t loop;
  tide__future_t f;
  tide__waiter_t w1, w2, w3;
  nran = 0;
  CHECK_INT(tide__loop_init(&loop, NULL), 0);
  tide__future_init(&f, &loop);
  waiter_init(&w1, 1);
  waiter_init(&w2, 2);
  waiter_init(&w3, 3);
  tide__future_wait(&f, &w1);
  tide__future_wait(&f, &w2);
  tide__future_wait(&f, &w3);
  tide__future_complete(&f, TIDE__DONE);
  CHECK_INT(nran, 0); /* not inside the completing call */
  CHECK(tide__link_empty(&f.waiters));
  tide__loop_run_once(&loop, 1);
  CHECK_INT(nran, 3);
  CHECK_INT(ran[0], 1);
  CHECK_INT(ran[1], 2);
  CHECK_INT(ran[2], 3);
  /* Waiting on a done future queues at once, still never synchronously. */
  nran = 0;
  tide__future_wait(&f, &w1);
  CHECK_INT(nran, 0);
  tide__loop_run_once(&loop, 1);
  CHECK_INT(nran, 1);
  CHECK_INT(tide__loop_close(&loop), 0);
}

TEST(unwait) {
  tide_loop_t loop;
  tide__future_t f;
  tide__waiter_t w1, w2;
  nran = 0;
  CHECK_INT(tide__loop_init(&loop, NULL), 0);
  tide__future_init(&f, &loop);
  waiter_init(&w1, 1);
  waiter_init(&w2, 2);
  tide__future_wait(&f, &w1);
  tide__future_wait(&f, &w2);
  tide__future_unwait(&w1);
  CHECK(tide__link_empty(&w1.link));
  tide__future_unwait(&w1); /* twice: harmless on an unlinked node */
  tide__future_complete(&f, TIDE__FAILED);
  tide__loop_run_once(&loop, 1);
  CHECK_INT(nran, 1);
  CHECK_INT(ran[0], 2);
  CHECK_INT(tide__loop_close(&loop), 0);
}

static int hook_calls, hook_answer, hook_completes;
static int on_cancel(tide__future_t *f) {
  hook_calls++;
  if (hook_completes) tide__future_complete(f, TIDE__DONE);
  return hook_answer;
}

TEST(cancel_hook) {
  tide_loop_t loop;
  tide__future_t f;
  tide__waiter_t w;
  CHECK_INT(tide__loop_init(&loop, NULL), 0);

  /* No hook: cancelled at once, waiters told. */
  nran = 0;
  tide__future_init(&f, &loop);
  waiter_init(&w, 9);
  tide__future_wait(&f, &w);
  CHECK_INT(tide__future_cancel(&f), 1);
  CHECK_INT(f.state, TIDE__CANCELLED);
  tide__loop_run_once(&loop, 1);
  CHECK_INT(nran, 1);

  /* A hook returning 0 acts (disarms a timer, ...) then lets it cancel. */
  tide__future_init(&f, &loop);
  f.cancel = on_cancel;
  hook_calls = hook_answer = hook_completes = 0;
  CHECK_INT(tide__future_cancel(&f), 1);
  CHECK_INT(hook_calls, 1);
  CHECK_INT(f.state, TIDE__CANCELLED);

  /* A hook returning 1 takes the request over: still pending. */
  tide__future_init(&f, &loop);
  f.cancel = on_cancel;
  hook_answer = 1;
  CHECK_INT(tide__future_cancel(&f), 1);
  CHECK_INT(f.state, TIDE__PENDING);
  tide__future_complete(&f, TIDE__CANCELLED);

  /* A hook that completes the future itself wins over the cancel. */
  tide__future_init(&f, &loop);
  f.cancel = on_cancel;
  hook_answer = 0;
  hook_completes = 1;
  CHECK_INT(tide__future_cancel(&f), 1);
  CHECK_INT(f.state, TIDE__DONE);
  CHECK_INT(tide__loop_close(&loop), 0);
}

TEST(reset_makes_it_pending_again) {
  tide_loop_t loop;
  tide__future_t f;
  tide__waiter_t w;
  nran = 0;
  CHECK_INT(tide__loop_init(&loop, NULL), 0);
  tide__future_init(&f, &loop);
  tide__future_complete(&f, TIDE__DONE);
  tide__future_reset(&f);
  CHECK_INT(f.state, TIDE__PENDING);
  waiter_init(&w, 5);
  tide__future_wait(&f, &w);
  tide__loop_run_once(&loop, 1);
  CHECK_INT(nran, 0); /* pending again: the waiter waits */
  tide__future_complete(&f, TIDE__DONE);
  tide__loop_run_once(&loop, 1);
  CHECK_INT(nran, 1);
  CHECK_INT(tide__loop_close(&loop), 0);
}

int main(void) {
  RUN(completes_once);
  RUN(waiters_run_from_the_loop_in_order);
  RUN(unwait);
  RUN(cancel_hook);
  RUN(reset_makes_it_pending_again);
  return test_summary("test_future");
}
