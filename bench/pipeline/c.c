/* pipeline, C floor: N items through 4 stages joined by bounded FIFOs of
 * QSIZE (64): a producer puts 1..N and then 0 (the end) into the first;
 * stages 1-3 each take from their FIFO and put item+1 into the next; stage
 * 4 sums. Each stage is a job on the loop's ready queue (bench_uv.h) that
 * runs until it would wait (input empty or output full), records what it
 * waits for, and is queued again by the stage that makes room or brings an
 * item: what a task blocked on a queue is, minus the coroutine.
 *   usage: pipeline_c [N]   prints: result ns_per_item=... check=<sum> */
#include "../lib/bench_uv.h"

#define QSIZE 64
#define STAGES 4

typedef struct stage_s stage_t;
typedef struct {
  long buf[QSIZE];
  unsigned head, len;
  stage_t *getter, *putter; /* the stage waiting to get / to put, if any */
} fifo_t;

struct stage_s {
  job_t job;
  int id; /* 0: the producer, 1..STAGES */
  fifo_t *in, *out;
  long next, sum;
};

static fifo_t fifos[STAGES];
static stage_t stages[STAGES + 1];
static long n;
static double t0;

static void stage_run(job_t *j);

static void wake(stage_t **slot) {
  stage_t *s = *slot;
  if (s != NULL) {
    *slot = NULL;
    rq_push(&s->job, stage_run);
  }
}

static void push(fifo_t *f, long v) {
  f->buf[(f->head + f->len++) % QSIZE] = v;
  wake(&f->getter);
}

static long pop(fifo_t *f) {
  long v = f->buf[f->head];
  f->head = (f->head + 1) % QSIZE;
  f->len--;
  wake(&f->putter);
  return v;
}

static void finish(stage_t *s) {
  double dt = now_s() - t0;
  if (s->sum != n * (n + 1) / 2 + 3 * n) { fprintf(stderr, "bad sum\n"); exit(1); }
  printf("result ns_per_item=%.1f check=%ld\n", dt * 1e9 / n, s->sum);
}

/* Runs stage s until it would wait; the end (0) passes down the line. */
static void stage_run(job_t *j) {
  stage_t *s = (stage_t *)j;
  for (;;) {
    if (s->in != NULL && s->in->len == 0) { s->in->getter = s; return; }
    if (s->out != NULL && s->out->len == QSIZE) { s->out->putter = s; return; }
    if (s->id == 0) { /* the producer */
      long v = s->next <= n ? s->next++ : 0;
      push(s->out, v);
      if (v == 0) return;
      continue;
    }
    long v = pop(s->in);
    if (s->out != NULL) {
      push(s->out, v == 0 ? 0 : v + 1);
      if (v == 0) return;
    } else if (v == 0) {
      finish(s);
      return;
    } else {
      s->sum += v;
    }
  }
}

int main(int argc, char **argv) {
  n = argc > 1 ? atol(argv[1]) : 1000000;
  uv_loop_t *loop = uv_default_loop();
  rq_init(loop);
  for (int i = 0; i <= STAGES; i++) {
    stages[i].id = i;
    stages[i].in = i > 0 ? &fifos[i - 1] : NULL;
    stages[i].out = i < STAGES ? &fifos[i] : NULL;
    stages[i].next = 1;
  }
  t0 = now_s();
  for (int i = 0; i <= STAGES; i++) rq_push(&stages[i].job, stage_run);
  uv_run(loop, UV_RUN_DEFAULT);
  return 0;
}
