/* procs, C floor: spawn /bin/true and wait for its exit, N times one at a
 * time, then N times with 64 children at once. uv_spawn with the three
 * descriptors inherited; the exit callback closes the handle and starts
 * the next child.
 *   usage: procs_c [N]   prints: result seq_us=... par_us=... check=<exits with 0> */
#include "../lib/bench_uv.h"

static uv_loop_t *loop;
static long n, started, ok;

static void on_closed(uv_handle_t *h) { free(h); }

static void start_one(void);

static void child_exited(uv_process_t *p, int64_t status, int term_signal) {
  if (status == 0 && term_signal == 0) ok++;
  uv_close((uv_handle_t *)p, on_closed);
  if (started < n) start_one();
}

static void start_one(void) {
  static char *args[] = {"/bin/true", NULL};
  uv_stdio_container_t stdio[3];
  uv_process_options_t o;
  uv_process_t *p = malloc(sizeof *p);
  int i;
  memset(&o, 0, sizeof o);
  for (i = 0; i < 3; i++) {
    stdio[i].flags = UV_INHERIT_FD;
    stdio[i].data.fd = i;
  }
  o.file = args[0];
  o.args = args;
  o.exit_cb = child_exited;
  o.stdio = stdio;
  o.stdio_count = 3;
  if (uv_spawn(loop, p, &o) != 0) { fprintf(stderr, "spawn failed\n"); exit(1); }
  started++;
}

/* Runs N children, at most conc at once; returns µs per child. */
static double phase(int conc) {
  double t0 = now_s();
  started = 0;
  while (started < conc && started < n) start_one();
  uv_run(loop, UV_RUN_DEFAULT);
  return (now_s() - t0) * 1e6 / n;
}

int main(int argc, char **argv) {
  double seq, par;
  n = argc > 1 ? atol(argv[1]) : 2000;
  loop = uv_default_loop();
  seq = phase(1);
  par = phase(64);
  printf("result seq_us=%.1f par_us=%.1f check=%ld\n", seq, par, ok);
  return 0;
}
