/* spawn, C floor: N "tasks", each a malloc'd struct queued on the loop's
 * ready queue (bench_uv.h), run once (computes its result), and reported to
 * its waiter; the root then collects every result and frees the structs.
 * That is what spawning and awaiting a task is, minus the coroutine.
 *   usage: spawn_c [N] [plain|fanout]
 *   prints: result ns_per_task=... rss_kb=... check=...
 * fanout: the tasks share a counting semaphore of LIMIT (100) permits. Each
 * takes a permit (or joins the semaphore's FIFO of waiters), gives the loop
 * one turn while holding it (queues itself again), then releases it:
 * straight to the oldest waiter, which is queued to run, or back to the
 * count. */
#include "../lib/bench_uv.h"

#define LIMIT 100

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

static void task_end(task_t *t) {
  t->result = t->arg;
  t->done = 1;
  if (--pending == 0) rq_push(&root_wake, finish); /* wake the awaiting root */
}

static void task_body(job_t *j) { task_end((task_t *)j); }

/* fanout. A waiting task is on no ready queue, so the FIFO of waiters
 * links through the job's own next pointer. */
static long permits = LIMIT, inside;
static job_t *wait_head, *wait_tail;

static void after_yield(job_t *j);

/* Runs with the permit held: one loop turn before giving it back. */
static void holding(job_t *j) {
  if (++inside > LIMIT) { fprintf(stderr, "more than %d inside\n", LIMIT); exit(1); }
  rq_push(j, after_yield);
}

static void after_yield(job_t *j) {
  inside--;
  if (wait_head != NULL) { /* the permit goes to the oldest waiter */
    job_t *w = wait_head;
    wait_head = w->next;
    if (wait_head == NULL) wait_tail = NULL;
    rq_push(w, holding);
  } else {
    permits++;
  }
  task_end((task_t *)j);
}

static void fanout_body(job_t *j) {
  if (permits > 0 && wait_head == NULL) {
    permits--;
    holding(j);
    return;
  }
  j->next = NULL;
  if (wait_tail) wait_tail->next = j; else wait_head = j;
  wait_tail = j;
}

int main(int argc, char **argv) {
  n = argc > 1 ? atol(argv[1]) : 200000;
  job_fn body = argc > 2 && strcmp(argv[2], "fanout") == 0 ? fanout_body : task_body;
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
    rq_push(&t->job, body);
  }
  uv_run(loop, UV_RUN_DEFAULT);
  free(tasks);
  return 0;
}
