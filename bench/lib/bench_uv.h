/* Shared by the C floor programs of bench/: a minimal ready queue on a libuv
 * loop (the honest equivalent of a runtime's "call this soon": a FIFO of
 * callbacks drained from an idle handle, each drain running only what was
 * queued before it began, like tide's ready queue), a monotonic clock and the
 * process's peak/current RSS. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#pragma GCC diagnostic ignored "-Wunused-function"

typedef struct job_s job_t;
typedef void (*job_fn)(job_t *);
struct job_s {
  job_t *next;
  job_fn fn;
};

static job_t *rq_head, *rq_tail;
static uv_idle_t rq_idle;
static int rq_started;

static void rq_drain(uv_idle_t *h) {
  job_t *j = rq_head, *last = rq_tail;
  rq_head = rq_tail = NULL;
  while (j != NULL) {
    job_t *next = j->next;
    int end = (j == last);
    j->fn(j);
    if (end) break;
    j = next;
  }
  if (rq_head == NULL) {
    uv_idle_stop(h);
    rq_started = 0;
  }
}

/* Queue j to run on the loop's next turn. */
static void rq_push(job_t *j, job_fn fn) {
  j->fn = fn;
  j->next = NULL;
  if (rq_tail) rq_tail->next = j; else rq_head = j;
  rq_tail = j;
  if (!rq_started) {
    rq_started = 1;
    uv_idle_start(&rq_idle, rq_drain);
  }
}

static void rq_init(uv_loop_t *loop) { uv_idle_init(loop, &rq_idle); }

static double now_s(void) { return (double)uv_hrtime() / 1e9; }

/* "VmHWM" (peak) or "VmRSS" (current) from /proc/self/status, in kB. */
static long status_kb(const char *key) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long v = -1;
  size_t n = strlen(key);
  if (!f) return -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, key, n) == 0 && line[n] == ':') { v = atol(line + n + 1); break; }
  fclose(f);
  return v;
}
