/* Worker pools: threads that run jobs off the loop thread. No Lua here.
 *
 * The shape is libuv's own thread pool, made per pool so that CPU work
 * submitted by scripts never occupies the threads libuv needs for files
 * and DNS: a queue under a mutex, a condition variable the idle threads
 * wait on, and an async handle through which the threads hand finished
 * jobs back to the loop, where their futures complete. Threads start when
 * jobs need them, up to the pool's size, and stay for the next jobs (their
 * contexts, Lua states for tide.offload, are reused).
 *
 * Ownership: a job has two owners, the pool (from submit to its completion
 * on the loop thread) and the continuation of the task that waits for it;
 * refs counts them. Everything shared with the threads (the queue, the
 * running and done lists, job states, the interrupt flags, the stop flag)
 * is only touched under the pool's mutex.
 *
 * While jobs are in flight the async handle keeps the loop alive (a task
 * waiting for a job is not a deadlock) and each job counts as a handle of
 * the loop (the leak checks see a job left running). The async handle
 * itself is not counted by tide.stats(): a pool closed by the collector
 * finishes closing in the background, once its threads have ended. */
#include <stdlib.h>

#include "tide_work.h"

static void pool_on_async(uv_async_t *async);

int tide__pool_default_size(void) {
  unsigned n = uv_available_parallelism();
  return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

static void pool_res_close(tide__resource_t *res) {
  /* The runtime is closing: no thread may outlive it. */
  tide__pool_close(TIDE__CONTAINER_OF(res, tide__pool_t, res), 1);
}

int tide__pool_new(tide_runtime_t *rt, int size,
                   void *(*init)(tide__pool_t *), void (*fini)(void *),
                   void *ud, void (*free_ud)(void *), tide__pool_t **out) {
  tide__pool_t *p = calloc(1, sizeof(*p));
  if (p == NULL) return TIDE_ENOMEM;
  p->threads = calloc((size_t)size, sizeof(*p->threads));
  p->async = malloc(sizeof(*p->async));
  if (p->threads == NULL || p->async == NULL) goto fail_mem;
  if (uv_mutex_init(&p->mu) != 0) goto fail_mem;
  if (uv_cond_init(&p->cond) != 0) goto fail_mutex;
  if (uv_async_init(rt->loop.uv, p->async, pool_on_async) != 0)
    goto fail_cond;
  p->async->data = p;
  uv_unref((uv_handle_t *)p->async); /* referenced while jobs are in flight */
  tide__loop_handle_open(&rt->loop);
  p->loop = &rt->loop;
  p->size = size;
  rt->quiet_handles++;
  p->init = init;
  p->fini = fini;
  p->ud = ud;
  p->free_ud = free_ud;
  tide__link_init(&p->queue);
  tide__link_init(&p->running);
  tide__link_init(&p->done);
  tide__future_init(&p->closed, p->loop);
  p->res.close = pool_res_close;
  tide__link_insert_tail(&rt->resources, &p->res.link);
  *out = p;
  return 0;
fail_cond:
  uv_cond_destroy(&p->cond);
fail_mutex:
  uv_mutex_destroy(&p->mu);
fail_mem:
  free(p->threads);
  free(p->async);
  free(p);
  return TIDE_ENOMEM;
}

/* ------------------------------------------------------------ threads */

static void pool_thread(void *arg) {
  tide__pool_t *p = arg;
  void *ctx = p->init != NULL ? p->init(p) : NULL;
  uv_mutex_lock(&p->mu);
  for (;;) {
    tide__job_t *job;
    while (tide__link_empty(&p->queue) && !p->stopping) {
      p->idle++;
      uv_cond_wait(&p->cond, &p->mu);
      p->idle--;
    }
    if (tide__link_empty(&p->queue)) break; /* stopping */
    job = TIDE__CONTAINER_OF(p->queue.next, tide__job_t, link);
    tide__link_remove(&job->link);
    p->nqueued--;
    tide__link_insert_tail(&p->running, &job->link);
    job->state = TIDE__JOB_RUNNING;
    job->runner = ctx;
    uv_mutex_unlock(&p->mu);
    job->run(job, ctx);
    uv_mutex_lock(&p->mu);
    tide__link_remove(&job->link);
    job->state = TIDE__JOB_RAN;
    tide__link_insert_tail(&p->done, &job->link);
    uv_async_send(p->async);
  }
  uv_mutex_unlock(&p->mu);
  if (p->fini != NULL) p->fini(ctx);
  uv_mutex_lock(&p->mu);
  p->exited++;
  uv_async_send(p->async); /* the loop joins us once all have ended */
  uv_mutex_unlock(&p->mu);
}

int tide__job_interrupted(tide__job_t *job) {
  tide__pool_t *p = job->pool;
  int v;
  uv_mutex_lock(&p->mu);
  v = job->interrupt;
  uv_mutex_unlock(&p->mu);
  return v;
}

/* ------------------------------------------------------------ the loop side */

static void job_unref(tide__job_t *job) {
  if (--job->refs == 0) job->free(job);
}

void tide__job_release(tide__job_t *job) {
  job_unref(job);
}

/* A job leaves the pool: its future completes (unless its waiter gave up)
 * and the pool's reference goes. */
static void pool_finish_job(tide__pool_t *p, tide__job_t *job) {
  if (job->fut.state == TIDE__PENDING) tide__future_complete(&job->fut, TIDE__DONE);
  if (--p->inflight == 0 && !p->closing) uv_unref((uv_handle_t *)p->async);
  job_unref(job);
  tide__loop_handle_closed(p->loop);
}

/* Completes the jobs the threads have finished. */
static void pool_drain_done(tide__pool_t *p) {
  tide__link_t done;
  tide__link_init(&done);
  uv_mutex_lock(&p->mu);
  if (!tide__link_empty(&p->done)) {
    /* Take the whole list at once: the threads go on meanwhile. */
    done.next = p->done.next;
    done.prev = p->done.prev;
    done.next->prev = done.prev->next = &done;
    tide__link_init(&p->done);
  }
  uv_mutex_unlock(&p->mu);
  while (!tide__link_empty(&done)) {
    tide__job_t *job = TIDE__CONTAINER_OF(done.next, tide__job_t, link);
    tide__link_remove(&job->link);
    pool_finish_job(p, job);
  }
}

static void pool_free(void *data, uintptr_t arg) {
  tide__pool_t *p = data;
  (void)arg;
  uv_cond_destroy(&p->cond);
  uv_mutex_destroy(&p->mu);
  if (p->free_ud != NULL) p->free_ud(p->ud);
  free(p->threads);
  free(p);
}

/* The last step of a close: `closed` completes once nothing of the pool
 * is left open. */
static void pool_on_close(uv_handle_t *h) {
  tide__pool_t *p = h->data;
  tide_loop_t *loop = p->loop;
  free(h);
  ((tide_runtime_t *)loop)->quiet_handles--;
  if (!tide__link_empty(&p->closed.waiters)) p->woke = 1;
  tide__future_complete(&p->closed, TIDE__DONE);
  /* A task woken by `closed` refers to it until its wake-up has run. */
  if (!p->woke || loop->closing ||
      tide__loop_call_soon(loop, pool_free, p, 0) != 0)
    pool_free(p, 0);
  tide__loop_handle_closed(loop);
}

/* Joins the threads (all have ended, or block) and closes the handle. */
static void pool_join(tide__pool_t *p) {
  int i;
  for (i = 0; i < p->nthreads; i++) uv_thread_join(&p->threads[i]);
  p->joined = 1;
  pool_drain_done(p);
  uv_close((uv_handle_t *)p->async, pool_on_close);
}

static void pool_on_async(uv_async_t *async) {
  tide__pool_t *p = async->data;
  int all_ended;
  pool_drain_done(p);
  if (!p->closing || p->joined) return;
  uv_mutex_lock(&p->mu);
  all_ended = p->exited == p->nthreads;
  uv_mutex_unlock(&p->mu);
  if (all_ended) pool_join(p);
}

/* A waiting task gives up its job: a queued job is taken back at once; a
 * running one is asked to stop (tide.offload's hook raises at the job's
 * next instruction count check) and completes later, its answer dropped. */
static int job_on_cancel(tide__future_t *f) {
  tide__job_t *job = (tide__job_t *)f;
  tide__pool_t *p = job->pool;
  int queued;
  uv_mutex_lock(&p->mu);
  queued = job->state == TIDE__JOB_QUEUED;
  if (queued) {
    tide__link_remove(&job->link);
    p->nqueued--;
    job->state = TIDE__JOB_RAN;
  } else {
    job->interrupt = TIDE__JOB_CANCELLED;
    if (p->interrupt != NULL) p->interrupt(job->runner);
  }
  uv_mutex_unlock(&p->mu);
  if (queued) {
    tide__future_complete(&job->fut, TIDE__CANCELLED);
    pool_finish_job(p, job);
  }
  return 0;
}

int tide__pool_submit(tide__pool_t *p, tide__job_t *job) {
  int start = 0, err;
  if (p->closing) return TIDE_ECLOSED;
  job->pool = p;
  job->refs = 2;
  job->interrupt = 0;
  job->taken = 0;
  job->fut.cancel = job_on_cancel;
  uv_mutex_lock(&p->mu);
  job->state = TIDE__JOB_QUEUED;
  tide__link_insert_tail(&p->queue, &job->link);
  p->nqueued++;
  if (p->idle > 0) uv_cond_signal(&p->cond);
  /* A thread more when the idle ones (woken or not yet) cannot take every
   * queued job: counting idle threads alone would see a thread that was
   * just signalled as free for the next job too. */
  if (p->nqueued > p->idle && p->nthreads < p->size) start = 1;
  uv_mutex_unlock(&p->mu);
  if (start) {
    err = uv_thread_create(&p->threads[p->nthreads], pool_thread, p);
    if (err == 0) {
      p->nthreads++;
    } else if (p->nthreads == 0) {
      /* No thread at all to run it: take it back. */
      uv_mutex_lock(&p->mu);
      tide__link_remove(&job->link);
      p->nqueued--;
      uv_mutex_unlock(&p->mu);
      job->refs = 1;
      return err;
    }
  }
  if (p->inflight++ == 0) uv_ref((uv_handle_t *)p->async);
  tide__loop_handle_open(p->loop);
  return 0;
}

void tide__pool_close(tide__pool_t *p, int block) {
  tide__link_t *l;
  if (!p->closing) {
    p->closing = 1;
    if (p->slot != NULL) {
      *p->slot = NULL;
      p->slot = NULL;
    }
    tide__link_remove(&p->res.link);
    /* Keep the loop alive until the threads have ended and are joined. */
    uv_ref((uv_handle_t *)p->async);
    uv_mutex_lock(&p->mu);
    p->stopping = 1;
    /* Jobs not started never will: they complete as taken back. */
    while (!tide__link_empty(&p->queue)) {
      tide__job_t *job = TIDE__CONTAINER_OF(p->queue.next, tide__job_t, link);
      tide__link_remove(&job->link);
      job->state = TIDE__JOB_RAN;
      job->taken = 1;
      tide__link_insert_tail(&p->done, &job->link);
    }
    p->nqueued = 0;
    /* Running ones are asked to stop. */
    for (l = p->running.next; l != &p->running; l = l->next) {
      tide__job_t *job = TIDE__CONTAINER_OF(l, tide__job_t, link);
      job->interrupt = TIDE__JOB_CLOSING;
      if (p->interrupt != NULL) p->interrupt(job->runner);
    }
    uv_cond_broadcast(&p->cond);
    uv_mutex_unlock(&p->mu);
    pool_drain_done(p);
    if (p->nthreads == 0) {
      pool_join(p);
      return;
    }
  }
  if (block && !p->joined) pool_join(p);
}
