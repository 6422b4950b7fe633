/* Internal declarations of tide's worker pools: threads of tide's own that
 * run jobs off the loop thread (tide.offload), apart from libuv's thread
 * pool, so that CPU work never starves file I/O and DNS.
 *
 * work.c is free of lua_State: a job is a C callback run in a worker
 * thread with that thread's private context (the binding keeps a Lua state
 * there, made by the pool's init hook in the thread itself and freed by
 * its free hook before the thread ends). */
#ifndef TIDE_WORK_H
#define TIDE_WORK_H

#include "tide_lua.h"

typedef struct tide__job_s tide__job_t;
typedef struct tide__pool_s tide__pool_t;

/* Job states, guarded by the pool's mutex. */
enum { TIDE__JOB_QUEUED = 1, TIDE__JOB_RUNNING, TIDE__JOB_RAN };
/* Why a running job is asked to stop (tide__job_interrupted). */
enum { TIDE__JOB_CANCELLED = 1, TIDE__JOB_CLOSING };

struct tide__job_s {
  tide__future_t fut;       /* first; done when it has run */
  tide__link_t link;        /* in the pool's queue or done list (mutex) */
  tide__pool_t *pool;
  /* Runs in a worker thread with its context. */
  void (*run)(tide__job_t *job, void *ctx);
  /* Frees the job once both owners are done (loop thread). */
  void (*free)(tide__job_t *job);
  int refs;                 /* the pool, the continuation */
  int state;                /* TIDE__JOB_* (mutex) */
  int interrupt;            /* 0, or why it should stop soon (mutex) */
  int taken;                /* the pool closed before it ran */
  void *runner;             /* running: the context of its thread (mutex) */
};

struct tide__pool_s {
  tide_loop_t *loop;
  tide__resource_t res;     /* in rt->resources until its close starts */
  void **slot;              /* a Lua object's pointer to us, or NULL */
  uv_mutex_t mu;
  uv_cond_t cond;           /* signalled when work is queued or on stop */
  tide__link_t queue;       /* jobs waiting for a thread (mu) */
  int nqueued;              /* ... how many (mu) */
  tide__link_t running;     /* jobs being run (mu) */
  tide__link_t done;        /* jobs run, for the loop to complete (mu) */
  uv_async_t *async;        /* wakes the loop for done jobs; malloc'd */
  uv_thread_t *threads;     /* size slots, nthreads started */
  int size, nthreads;
  int idle;                 /* threads waiting for work (mu) */
  int exited;               /* threads that have ended (mu) */
  int inflight;             /* jobs submitted, not yet completed (loop) */
  int stopping;             /* threads end once the queue is empty (mu;
                               not a bit field: the bits below are the
                               loop thread's, written without the lock) */
  unsigned closing : 1;     /* close started (loop) */
  unsigned joined : 1;      /* every thread joined (loop) */
  unsigned woke : 1;        /* the close woke a waiter of closed */
  tide__future_t closed;    /* done once every thread has ended */
  /* The threads' context: made by init in each thread before its first
   * job (NULL is a valid context), freed by fini in the thread. */
  void *(*init)(tide__pool_t *pool);
  void (*fini)(void *ctx);
  void *ud;                 /* for init: the binding's data (owned by the
                               pool: freed with free_ud when it is freed) */
  void (*free_ud)(void *ud);
  /* Called (with the mutex held) when a running job is asked to stop,
   * with the context of the thread running it: a job that only checks
   * tide__job_interrupted now and then can be told at once. NULL: none. */
  void (*interrupt)(void *ctx);
};

/* Makes a pool of at most size threads (started when jobs need them) and
 * links it into rt->resources. Its async handle counts in
 * rt->quiet_handles (tide.stats() leaves it out). */
int tide__pool_new(tide_runtime_t *rt, int size,
                   void *(*init)(tide__pool_t *), void (*fini)(void *),
                   void *ud, void (*free_ud)(void *), tide__pool_t **out);
/* Queues job (its run and free set, refs 2: the pool's and the caller's
 * continuation) and starts a thread if none is idle. TIDE_ECLOSED once the
 * pool is closing. */
int tide__pool_submit(tide__pool_t *pool, tide__job_t *job);
/* For run: should the job stop (0, TIDE__JOB_CANCELLED: its waiter gave
 * up, TIDE__JOB_CLOSING: the pool is closing)? */
int tide__job_interrupted(tide__job_t *job);
/* The continuation is done with the job. */
void tide__job_release(tide__job_t *job);
/* Starts closing: queued jobs are cancelled, running ones interrupted,
 * threads end as soon as their job does; `closed` completes then and the
 * memory goes after. With block, waits here for the threads (the
 * runtime's close: no thread outlives it). Idempotent (a later call with
 * block still blocks). */
void tide__pool_close(tide__pool_t *pool, int block);
/* Threads a pool has by default: libuv's count of usable CPUs. */
int tide__pool_default_size(void);

#endif
