/* pingpong, C floor: two callbacks hand a counter back and forth through the
 * loop's ready queue (bench_uv.h): each hand-off queues the other side,
 * which runs on the loop's next turn (as a task woken by a queue would).
 *   usage: pingpong_c [N]   prints: result ns_per_handoff=... check=... */
#include "../lib/bench_uv.h"

static job_t ping, pong;
static long n, count;
static double t0;

static void on_pong(job_t *j);
static void on_ping(job_t *j) {
  if (count == n) {
    double dt = now_s() - t0;
    printf("result ns_per_handoff=%.1f check=%ld\n", dt * 1e9 / n, count);
    return;
  }
  count++;
  rq_push(&pong, on_pong);
}
static void on_pong(job_t *j) {
  count++;
  rq_push(&ping, on_ping);
}

int main(int argc, char **argv) {
  n = argc > 1 ? atol(argv[1]) : 1000000;
  if (n % 2) n++;
  uv_loop_t *loop = uv_default_loop();
  rq_init(loop);
  t0 = now_s();
  rq_push(&ping, on_ping);
  uv_run(loop, UV_RUN_DEFAULT);
  return 0;
}
