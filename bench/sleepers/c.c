/* sleepers, C floor: N uv_timer_t, each armed for a random 0-1 s (the
 * program's own xorshift, seed 1), each recording how late it fired.
 *   usage: sleepers_c [N]
 *   prints: result bytes_per_task=... overshoot_ms_mean=... overshoot_ms_max=... check=N
 * bytes_per_task: VmRSS with every timer armed, minus VmRSS before, over N. */
#include "../lib/bench_uv.h"

typedef struct {
  uv_timer_t timer;
  double due;
} sleeper_t;

static long n, woke;
static double late_sum, late_max;

static uint64_t rng = 88172645463325252ull;
static double rnd(void) { /* [0, 1) */
  rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
  return (double)(rng >> 11) / 9007199254740992.0;
}

static void on_close(uv_handle_t *h) { free(h); }
static void on_timer(uv_timer_t *t) {
  sleeper_t *s = (sleeper_t *)t;
  double late = now_s() - s->due;
  if (late < 0) late = 0;
  late_sum += late;
  if (late > late_max) late_max = late;
  woke++;
  uv_close((uv_handle_t *)t, on_close);
}

int main(int argc, char **argv) {
  n = argc > 1 ? atol(argv[1]) : 100000;
  uv_loop_t *loop = uv_default_loop();
  long rss0 = status_kb("VmRSS");
  double t0 = now_s();
  for (long i = 0; i < n; i++) {
    sleeper_t *s = malloc(sizeof *s);
    double d = rnd();
    s->due = t0 + d;
    uv_timer_init(loop, &s->timer);
    uv_timer_start(&s->timer, on_timer, (uint64_t)(d * 1000), 0);
  }
  long rss1 = status_kb("VmRSS");
  uv_run(loop, UV_RUN_DEFAULT);
  if (woke != n) { fprintf(stderr, "woke %ld of %ld\n", woke, n); return 1; }
  printf("result bytes_per_task=%.0f overshoot_ms_mean=%.3f overshoot_ms_max=%.3f check=%ld\n",
         (rss1 - rss0) * 1024.0 / n, late_sum / n * 1e3, late_max * 1e3, woke);
  return 0;
}
