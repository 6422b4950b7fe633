/* Worker pools (src/work.c) from C, and tide.offload through a runtime:
 * many jobs, thread contexts made once per thread, cancelling queued and
 * running jobs, closing a pool with jobs in it. `make helgrind` runs this
 * file under helgrind: everything the threads share goes through the
 * pool's mutex. */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "tide_work.h"

typedef struct {
  tide__job_t job; /* first */
  int x, result;
  int spins;       /* for run_until_stopped: checks made */
  int why;         /* ... and why it stopped */
} cjob_t;

static int frees, inits, finis; /* loop thread / under the pool's threads'
                                   init-fini (counted under a mutex) */
static uv_mutex_t count_mu;

static void cjob_free(tide__job_t *job) {
  frees++;
  free(job);
}

static void run_square(tide__job_t *job, void *ctx) {
  cjob_t *j = (cjob_t *)job;
  int *uses = ctx;
  (*uses)++; /* the thread's own context: no lock needed */
  j->result = j->x * j->x;
}

/* Runs until its waiter gives up or the pool closes. */
static void run_until_stopped(tide__job_t *job, void *ctx) {
  cjob_t *j = (cjob_t *)job;
  (void)ctx;
  while ((j->why = tide__job_interrupted(job)) == 0) {
    j->spins++;
    uv_sleep(1);
  }
}

static void *ctx_init(tide__pool_t *pool) {
  (void)pool;
  uv_mutex_lock(&count_mu);
  inits++;
  uv_mutex_unlock(&count_mu);
  return calloc(1, sizeof(int));
}

static void ctx_fini(void *ctx) {
  uv_mutex_lock(&count_mu);
  finis++;
  uv_mutex_unlock(&count_mu);
  free(ctx);
}

static cjob_t *cjob_new(tide_runtime_t *rt, int x,
                        void (*run)(tide__job_t *, void *)) {
  cjob_t *j = calloc(1, sizeof(*j));
  j->x = x;
  j->job.run = run;
  j->job.free = cjob_free;
  tide__future_init(&j->job.fut, &rt->loop);
  return j;
}

static void run_until(tide_runtime_t *rt, tide__future_t *f) {
  while (f->state == TIDE__PENDING) tide__loop_run_once(&rt->loop, 0);
}

#define NJOBS 2000

TEST(many_jobs_few_threads) {
  tide_runtime_t *rt;
  tide__pool_t *pool;
  static cjob_t *jobs[NJOBS];
  int i, ok = 1;
  frees = inits = finis = 0;
  CHECK_INT(tide_runtime_new(&rt, NULL, NULL), 0);
  CHECK_INT(tide__pool_new(rt, 3, ctx_init, ctx_fini, NULL, NULL, &pool), 0);
  for (i = 0; i < NJOBS; i++) {
    jobs[i] = cjob_new(rt, i, run_square);
    CHECK_INT(tide__pool_submit(pool, &jobs[i]->job), 0);
  }
  CHECK(pool->nthreads >= 1 && pool->nthreads <= 3);
  for (i = 0; i < NJOBS; i++) {
    run_until(rt, &jobs[i]->job.fut);
    if (jobs[i]->job.fut.state != TIDE__DONE ||
        jobs[i]->result != i * i)
      ok = 0;
    tide__job_release(&jobs[i]->job);
  }
  CHECK(ok);
  CHECK_INT(frees, NJOBS);
  CHECK_INT(pool->inflight, 0);
  tide__pool_close(pool, 1);
  /* One context per thread, made and freed in it. */
  uv_mutex_lock(&count_mu);
  CHECK(inits >= 1 && inits <= 3);
  CHECK_INT(finis, inits);
  uv_mutex_unlock(&count_mu);
  CHECK_INT(tide_runtime_close(rt), 0);
}

TEST(cancel_queued_and_running) {
  tide_runtime_t *rt;
  tide__pool_t *pool;
  cjob_t *running, *queued;
  frees = 0;
  CHECK_INT(tide_runtime_new(&rt, NULL, NULL), 0);
  CHECK_INT(tide__pool_new(rt, 1, NULL, NULL, NULL, NULL, &pool), 0);
  running = cjob_new(rt, 0, run_until_stopped);
  queued = cjob_new(rt, 3, run_square);
  CHECK_INT(tide__pool_submit(pool, &running->job), 0);
  CHECK_INT(tide__pool_submit(pool, &queued->job), 0);
  /* Let the thread take the first job. */
  for (;;) {
    int state;
    uv_mutex_lock(&pool->mu);
    state = running->job.state;
    uv_mutex_unlock(&pool->mu);
    if (state == TIDE__JOB_RUNNING) break;
    uv_sleep(1);
  }
  /* The queued job is taken back at once and never runs. */
  CHECK_INT(tide__future_cancel(&queued->job.fut), 1);
  CHECK_INT(queued->job.fut.state, TIDE__CANCELLED);
  CHECK_INT(queued->result, 0);
  tide__job_release(&queued->job);
  CHECK_INT(frees, 1);
  /* The running one is asked to stop, and does. */
  CHECK_INT(tide__future_cancel(&running->job.fut), 1);
  CHECK_INT(running->job.fut.state, TIDE__CANCELLED);
  while (pool->inflight > 0) tide__loop_run_once(&rt->loop, 0);
  CHECK_INT(running->why, TIDE__JOB_CANCELLED);
  tide__job_release(&running->job);
  CHECK_INT(frees, 2);
  CHECK_INT(tide_runtime_close(rt), 0); /* closes the pool too */
}

TEST(close_takes_queued_and_interrupts_running) {
  tide_runtime_t *rt;
  tide__pool_t *pool;
  cjob_t *running, *queued, *late;
  CHECK_INT(tide_runtime_new(&rt, NULL, NULL), 0);
  CHECK_INT(tide__pool_new(rt, 1, NULL, NULL, NULL, NULL, &pool), 0);
  running = cjob_new(rt, 0, run_until_stopped);
  queued = cjob_new(rt, 2, run_square);
  CHECK_INT(tide__pool_submit(pool, &running->job), 0);
  CHECK_INT(tide__pool_submit(pool, &queued->job), 0);
  uv_sleep(20);
  tide__pool_close(pool, 1);
  CHECK_INT(running->job.fut.state, TIDE__DONE);
  CHECK_INT(running->why, TIDE__JOB_CLOSING);
  CHECK_INT(queued->job.fut.state, TIDE__DONE);
  CHECK(queued->job.taken);
  CHECK_INT(queued->result, 0);
  late = cjob_new(rt, 1, run_square);
  CHECK_INT(tide__pool_submit(pool, &late->job), TIDE_ECLOSED);
  free(late);
  tide__job_release(&running->job);
  tide__job_release(&queued->job);
  CHECK_INT(tide_runtime_close(rt), 0);
}

/* tide.offload through a runtime: results, errors, a cancelled running
 * job, 1000 jobs, a pool closed by the runtime with a job running. */
static const char *script =
    "local tide = require 'tide'\n"
    "local function fib(n) if n < 2 then return n end\n"
    "  return fib(n - 1) + fib(n - 2) end\n"
    "assert(tide.offload(fib, 15) == 610)\n"
    "local t = {1, {2}}; t.t = t\n"
    "local r = tide.offload(function(x) return x end, t)\n"
    "assert(r.t == r and r[2][1] == 2)\n"
    "assert(not pcall(tide.offload, function() error('x') end))\n"
    "local spin = tide.spawn(tide.offload, function() while true do end end)\n"
    "tide.sleep(0.01)\n"
    "spin:cancel()\n"
    "assert(not pcall(spin.await, spin))\n"
    "local tasks = {}\n"
    "for i = 1, 1000 do\n"
    "  tasks[i] = tide.spawn(tide.offload, function(x) return x + 1 end, i)\n"
    "end\n"
    "for i = 1, 1000 do assert(tasks[i]:await() == i + 1) end\n"
    "local pool = tide.worker_pool{size = 2}\n"
    "tide.spawn(pool.offload, pool, function() while true do end end)\n"
    "tide.sleep(0.01)\n"
    "return 'ok'\n";

TEST(offload_from_lua) {
  tide_runtime_t *rt;
  lua_State *L;
  CHECK_INT(tide_runtime_new(&rt, NULL, NULL), 0);
  L = tide_runtime_lua(rt);
  CHECK_INT(tide_runtime_spawn_string(rt, script, "=script", 0), 0);
  CHECK_INT(tide_runtime_run_task(rt, -1), 0);
  if (tide_task_results(rt, -1) == 1) CHECK_STR(lua_tostring(L, -1), "ok");
  else fprintf(stderr, "%s\n", lua_tostring(L, -2));
  lua_settop(L, 0);
  /* The pool's job still spins: the close interrupts it and joins. */
  CHECK_INT(tide_runtime_close(rt), 0);
}

int main(void) {
  uv_mutex_init(&count_mu);
  RUN(many_jobs_few_threads);
  RUN(cancel_queued_and_running);
  RUN(close_takes_queued_and_interrupts_running);
  RUN(offload_from_lua);
  uv_mutex_destroy(&count_mu);
  return test_summary("test_work");
}
