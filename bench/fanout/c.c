/* fanout, C floor: N "tasks" (malloc'd structs run from the loop's ready
 * queue, bench_uv.h) share a counting semaphore of LIMIT (100) permits.
 * Each task takes a permit (or joins the semaphore's FIFO of waiters), gives
 * the loop one turn while holding it (queues itself again), then releases
 * it: straight to the oldest waiter, which is queued to run, or back to the
 * count. The root collects every result once the last task is done.
 *   usage: fanout_c [N]   prints: result ns_per_task=... rss_kb=... check=... */
#include "../lib/bench_uv.h"

#define LIMIT 100

typedef struct task_s task_t;
struct task_s {
  job_t job;
  task_t *next_waiter;
  long arg, result;
  int done;
};

static task_t **tasks;
static long n, pending, permits = LIMIT, inside;
static task_t *wait_head, *wait_tail;
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

static void after_yield(job_t *j);

/* Runs with the permit held: one loop turn before giving it back. */
static void holding(job_t *j) {
  if (++inside > LIMIT) { fprintf(stderr, "more than %d inside\n", LIMIT); exit(1); }
  rq_push(j, after_yield);
}

static void after_yield(job_t *j) {
  task_t *t = (task_t *)j;
  inside--;
  if (wait_head != NULL) { /* the permit goes to the oldest waiter */
    task_t *w = wait_head;
    wait_head = w->next_waiter;
    if (wait_head == NULL) wait_tail = NULL;
    rq_push(&w->job, holding);
  } else {
    permits++;
  }
  t->result = t->arg;
  t->done = 1;
  if (--pending == 0) rq_push(&root_wake, finish);
}

static void task_body(job_t *j) {
  task_t *t = (task_t *)j;
  if (permits > 0 && wait_head == NULL) {
    permits--;
    holding(j);
    return;
  }
  t->next_waiter = NULL;
  if (wait_tail) wait_tail->next_waiter = t; else wait_head = t;
  wait_tail = t;
}

int main(int argc, char **argv) {
  n = argc > 1 ? atol(argv[1]) : 100000;
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
