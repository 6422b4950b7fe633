/* offload, C floor: the round trip of a trivial job through libuv's thread
 * pool (uv_queue_work, the next job queued from the last one's after-work
 * callback), N times. No Lua: the least a hand-off to a thread and back
 * costs on libuv. (The speedup column is Lua's: tide and luv only.)
 *   usage: offload_c [N]   prints: result rt_us=... check=<jobs> */
#include "../lib/bench_uv.h"

static uv_loop_t *loop;
static long n, started, done;
static uv_work_t req;

static void work(uv_work_t *w) { w->data = (void *)((long)w->data + 1); }

static void after(uv_work_t *w, int status) {
  if (status == 0 && (long)w->data == started + 1) done++;
  if (started < n) {
    w->data = (void *)++started;
    uv_queue_work(loop, w, work, after);
  }
}

int main(int argc, char **argv) {
  double t0;
  n = argc > 1 ? atol(argv[1]) : 20000;
  loop = uv_default_loop();
  t0 = now_s();
  req.data = (void *)++started;
  uv_queue_work(loop, &req, work, after);
  uv_run(loop, UV_RUN_DEFAULT);
  printf("result rt_us=%.2f check=%ld\n", (now_s() - t0) * 1e6 / n, done);
  return 0;
}
