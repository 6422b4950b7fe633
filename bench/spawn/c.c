/* spawn, C floor: N "tasks", each a malloc'd struct queued on the loop's
 * ready queue (bench_uv.h), run once (computes its result), and reported to
 * its waiter; the root then collects every result and frees the structs.
 * That is what spawning and awaiting a task is, minus the coroutine.
 *   usage: spawn_c [N]   prints: result ns_per_task=... rss_kb=... check=... */
#include "../lib/bench_uv.h"

typedef struct {
  job_t job;
  long arg, result;
  int done;
} task_t;

static task_t **tasks;
static long n, pending;
static double t0;
static job_t root_wake;

static void finish(job_t *j) {
  long sum = 0;
  for (long i = 0; i < n; i++) {
    if (!tasks[i]->done) abort();
    sum += tasks[i]->result;
    free(tasks[i]);
  }
  double dt = now_s() - t0;
  if (sum != n * (n + 1) / 2) { fprintf(stderr, "bad sum\n"); exit(1); }
  printf("result ns_per_task=%.1f rss_kb=%ld check=%ld\n", dt * 1e9 / n, status_kb("VmHWM"), sum);
}

static void task_body(job_t *j) {
  task_t *t = (task_t *)j;
  t->result = t->arg;
  t->done = 1;
  if (--pending == 0) rq_push(&root_wake, finish); /* wake the awaiting root */
}

int main(int argc, char **argv) {
  n = argc > 1 ? atol(argv[1]) : 200000;
  uv_loop_t *loop = uv_default_loop();
  rq_init(loop);
  tasks = malloc(sizeof *tasks * n);
  t0 = now_s();
  pending = n;
  for (long i = 0; i < n; i++) {
    task_t *t = malloc(sizeof *t);
    t->arg = i + 1;
    t->done = 0;
    tasks[i] = t;
    rq_push(&t->job, task_body);
  }
  uv_run(loop, UV_RUN_DEFAULT);
  free(tasks);
  return 0;
}
