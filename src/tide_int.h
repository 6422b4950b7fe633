/* Internal declarations shared by the C core. Nothing here is public API:
 * names are tide__<module>_<verb>; the public surface is include/tide.h. */
#ifndef TIDE_INT_H
#define TIDE_INT_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "tide.h"

#define TIDE__CONTAINER_OF(ptr, type, field)                                   \
  ((type *)((char *)(ptr) - offsetof(type, field)))

/* ---------------------------------------------------------------- queue */

/* An intrusive doubly linked list node (circular, with a sentinel head),
 * libuv's QUEUE idea in typed form. An unlinked node points to itself. */
typedef struct tide__link_s tide__link_t;
struct tide__link_s {
  tide__link_t *next;
  tide__link_t *prev;
};

static inline void tide__link_init(tide__link_t *l) {
  l->next = l->prev = l;
}
static inline int tide__link_empty(const tide__link_t *l) {
  return l->next == l;
}
static inline void tide__link_insert_tail(tide__link_t *head, tide__link_t *l) {
  l->prev = head->prev;
  l->next = head;
  head->prev->next = l;
  head->prev = l;
}
static inline void tide__link_remove(tide__link_t *l) {
  l->prev->next = l->next;
  l->next->prev = l->prev;
  l->next = l->prev = l;
}

/* ---------------------------------------------------------------- loop */

/* One entry of the ready queue: a C callback with two words of data. */
typedef void (*tide__ready_fn)(void *data, uintptr_t arg);
typedef struct {
  tide__ready_fn fn;
  void *data;
  uintptr_t arg;
} tide__ready_t;

/* A timer of tide's own heap. Embedded in its owner (a sleep future, a
 * deadline); the owner keeps it alive while it is armed. */
typedef struct tide__timer_s tide__timer_t;
typedef void (*tide__timer_fn)(tide__timer_t *timer);
struct tide__timer_s {
  uint64_t due;         /* loop time (ns) at which it fires */
  uint64_t seq;         /* insertion order: ties fire first-in, first-out */
  size_t index;         /* position in the heap, or SIZE_MAX when disarmed */
  tide__timer_fn fn;    /* called from the loop when it fires */
};

struct tide_loop_s {
  uv_loop_t *uv;        /* the libuv loop: ours or the host's */
  uv_loop_t own_uv;     /* storage when the loop is ours */
  unsigned owns_uv : 1; /* uv == &own_uv: we init and close it */
  unsigned closing : 1; /* tide_loop_close has started */
  unsigned stopped : 1; /* tide_runtime_stop was called during a run */
  int running;          /* depth of tide_loop_run* calls (0 or 1) */
  /* Ready queue: a ring buffer; mask = capacity - 1 (power of two). */
  tide__ready_t *ready;
  size_t ready_head, ready_count, ready_mask;
  size_t drain_left;    /* entries left in the batch being drained */
  long budget_left;     /* entries this iteration may still start */
  /* Runs tide__loop_drain in a protected context (the runtime's pcall). */
  void (*protect)(tide_loop_t *loop);
  uv_check_t *check;    /* drains the ready queue after each poll */
  uv_idle_t *idle;      /* active while the queue is not empty: no blocking */
  /* Timers: a binary min-heap of pointers ordered by (due, seq). */
  tide__timer_t **heap;
  size_t heap_len, heap_cap;
  uint64_t timer_seq;
  uv_timer_t *uvtimer;  /* armed for the heap's earliest timer */
  uint64_t time_base;   /* uv_hrtime() at creation: loop time starts at 0 */
  uint64_t time_skew;   /* virtual time added by the autojump clock */
  int autojump;         /* virtual clock: jump to the next timer when idle */
  uv_prepare_t *prepare;/* autojump's hook before each poll */
  int handles;          /* tide handles not yet closed, for leak checks */
  uint64_t scope_seq;   /* the id the next cancel scope gets */
  /* Counters an operator watches (tide.stats()). */
  uint64_t iterations;      /* loop iterations (drains) */
  uint64_t bytes_in;        /* read by streams */
  uint64_t bytes_out;       /* written to streams */
  uint64_t conns_accepted;  /* connections servers accepted */
  uint64_t conns_refused;   /* ... refused for want of descriptors */
  int64_t conns_active;     /* accepted connections still open */
  /* Stream read buffers (stream.c): a stream holds one only while bytes
   * wait in it; emptied buffers of the first size come back to this pool,
   * so that the next read anywhere on the loop takes one without malloc. */
  void *rpool;              /* free list (a buffer's first bytes: the next
                               one), freed by tide__loop_close */
  int rpool_n;              /* its length; INT_MAX once closed (full) */
  int64_t rbufs;            /* read buffers streams hold now */
  int64_t rbufs_peak;       /* the most held at once in each of the last
                               two seconds (the lower): the pool keeps
                               enough for such a sustained load */
  int64_t rbufs_window;     /* the most held at once in this second */
  int64_t rbufs_last;       /* ... in the second before */
  uint64_t rpool_trim_at;   /* uv_now (ms) of the next trim */
  int64_t rbuf_bytes;       /* ... and their bytes */
  /* Called once the loop is closing and its last handle has closed: the
   * owner may free the memory that holds the loop. */
  void (*on_closed)(tide_loop_t *loop);
};

int tide__loop_init(tide_loop_t *loop, uv_loop_t *uv);
int tide__loop_run_once(tide_loop_t *loop, int nowait);
void tide__loop_drain(tide_loop_t *loop);
/* Read buffers the loop's pool keeps at least (1 MiB of TIDE__RBUF_INIT). */
#define TIDE__RPOOL_MAX 64
/* Once a second at most (the loop's check calls it while more than
 * TIDE__RPOOL_MAX buffers are or were lately held at once): the pool's
 * bound becomes the lower of the last two seconds' peaks, so a sustained
 * load of many busy streams reuses its buffers, a one-off burst (a wave of
 * new connections) leaves no pool behind, and the memory goes back when
 * the load falls (what the pool keeps beyond the bound is freed). */
void tide__loop_rpool_trim(tide_loop_t *loop);
int tide__loop_close(tide_loop_t *loop);
/* Turns the virtual clock on or off; returns its previous state. */
int tide__loop_set_autojump(tide_loop_t *loop, int on);
/* Queue fn(data, arg) to run on the next drain. Never runs it now. Returns 0
 * or TIDE_ENOMEM. */
int tide__loop_call_soon(tide_loop_t *loop, tide__ready_fn fn, void *data,
                         uintptr_t arg);
/* Counts a libuv handle tide created, so close can wait for all of them. */
void tide__loop_handle_open(tide_loop_t *loop);
void tide__loop_handle_closed(tide_loop_t *loop);
/* close callback that frees the handle and uncounts it (handle->data is the
 * tide_loop_t). */
void tide__loop_close_free_cb(uv_handle_t *handle);

/* Loop time in nanoseconds (monotonic, virtual time included). */
uint64_t tide__loop_now(const tide_loop_t *loop);
void tide__timer_init(tide__timer_t *timer, tide__timer_fn fn);
int tide__timer_start(tide_loop_t *loop, tide__timer_t *timer, uint64_t due);
void tide__timer_stop(tide_loop_t *loop, tide__timer_t *timer);
static inline int tide__timer_armed(const tide__timer_t *t) {
  return t->index != SIZE_MAX;
}
/* Fires every due timer; rearms libuv's timer for the next one. */
void tide__timers_run(tide_loop_t *loop);
void tide__timers_rearm(tide_loop_t *loop);
int tide__timers_next(const tide_loop_t *loop, uint64_t *due);
void tide__timers_free(tide_loop_t *loop);

/* ---------------------------------------------------------------- future */

enum {
  TIDE__PENDING = 0,
  TIDE__DONE,
  TIDE__FAILED,
  TIDE__CANCELLED
};

/* A registration on a future: when the future completes, fn(data, arg) is
 * queued on the ready queue. The node is owned by whoever registered it. */
typedef struct {
  tide__link_t link;
  tide__ready_fn fn;
  void *data;
  uintptr_t arg;
} tide__waiter_t;

typedef struct tide__future_s tide__future_t;

/* What a kind of future does on cancel. Returns 1 when it took the request
 * over (a task: cancellation is delivered at its next await and it completes
 * later), 0 to let the future be cancelled at once. */
typedef int (*tide__cancel_fn)(tide__future_t *f);

struct tide__future_s {
  tide_loop_t *loop;
  int state;              /* TIDE__PENDING ... TIDE__CANCELLED */
  tide__link_t waiters;   /* tide__waiter_t nodes, in registration order */
  tide__cancel_fn cancel; /* NULL: plain cancel */
};

void tide__future_init(tide__future_t *f, tide_loop_t *loop);
/* Moves a pending future to state (DONE, FAILED or CANCELLED) and queues
 * every waiter on the ready queue. Returns TIDE_EINVAL if it was not
 * pending: the values of a future are set once. */
int tide__future_complete(tide__future_t *f, int state);
/* Registers w. If f is already done, w is queued at once (it still runs from
 * the loop, never from inside this call). */
void tide__future_wait(tide__future_t *f, tide__waiter_t *w);
void tide__future_unwait(tide__waiter_t *w);
/* Requests cancellation; returns 1 if the request was taken (the future is
 * or will be cancelled), 0 if the future was already done. */
int tide__future_cancel(tide__future_t *f);
/* Makes a done future pending again, for futures reused by one owner (a
 * stream's read waiter). Waiters must already be gone. */
void tide__future_reset(tide__future_t *f);

/* ---------------------------------------------------------------- scope */

/* Cancel scopes (scope.c), level-triggered as Trio's: once a scope is
 * cancelled, every await inside it fails again, until the code leaves it.
 * A stack of scopes belongs to one task; the task itself is the outermost
 * scope (root_cancelled). */
typedef struct tide__scope_s tide__scope_t;
typedef struct tide__cstack_s tide__cstack_t;

struct tide__scope_s {
  tide__link_t link;     /* in cs->scopes while open; innermost last */
  tide__cstack_t *cs;    /* the stack it is open in; NULL once closed */
  uint64_t id;           /* names it in cancellation errors (never 0) */
  const char *reason;    /* why it cancels: "deadline", "group", ... */
  uint64_t due;          /* its deadline (loop time, ns); UINT64_MAX: none */
  tide__timer_t timer;   /* armed while the deadline is ahead */
  unsigned cancelled : 1;
  unsigned shield : 1;   /* cancellations outside it do not reach inside */
  unsigned cleanup : 1;  /* tide.cleanup's shield: a second cancellation of
                            the task ends it (as it ends <close> cleanup) */
  /* Given when it opens (the stack keeps neither: a task carries one per
   * idle connection, scopes are few): its deadline's loop, and what a
   * cancellation reaching the innermost point calls. */
  tide_loop_t *loop;
  void (*interrupt)(tide__cstack_t *cs);
};

/* A task's cancel scopes (the only kind of stack: the task is the root).
 * What a cancellation interrupts is given by the caller (the root's
 * cancel) or kept in each scope, not here: the stack is per task. */
struct tide__cstack_s {
  tide__link_t scopes;   /* open scopes, outermost first */
  int ncancelled;        /* cancelled open scopes, the root included: 0 is
                            the fast path of every await */
  unsigned root_cancelled : 1; /* task:cancel() */
};

void tide__cstack_init(tide__cstack_t *cs);
/* Cancels the root (the task); returns 1 if it was not cancelled yet.
 * interrupt is called when the cancellation reaches the innermost point
 * (no shield on the way). */
int tide__cstack_cancel_root(tide__cstack_t *cs,
                             void (*interrupt)(tide__cstack_t *cs));
/* Is a cancellation pending at the innermost point? Returns 1 and sets
 * *owner to the scope that owns it (the outermost cancelled scope met
 * before a shield; NULL: the task itself), or returns 0. */
int tide__cstack_cancelled(const tide__cstack_t *cs, tide__scope_t **owner);
/* Cancels every open cleanup scope (tide.cleanup's shields) not cancelled
 * yet: a second cancellation of the task ends its cleanup's grace period.
 * Returns how many it cancelled. */
int tide__cstack_cancel_cleanup(tide__cstack_t *cs);
/* Closes every scope still open (the task has finished). */
void tide__cstack_clear(tide__cstack_t *cs);
/* The nearest deadline of the scopes around the innermost point (up to and
 * including the first shield), or UINT64_MAX. */
uint64_t tide__cstack_deadline(const tide__cstack_t *cs);
void tide__scope_init(tide__scope_t *s, const char *reason, int shield);
/* Opens s innermost in cs, a stack on loop; interrupt is what a
 * cancellation of s reaching the innermost point calls (for a task's
 * stack: tide__task_interrupt). */
void tide__scope_open(tide__cstack_t *cs, tide__scope_t *s, tide_loop_t *loop,
                      void (*interrupt)(tide__cstack_t *cs));
/* Cancels s; returns 1 if it was not cancelled yet. Interrupts the task's
 * await if no shield inside s stands between it and the innermost point. */
int tide__scope_cancel(tide__scope_t *s);
/* Takes s off its stack and disarms its deadline (idempotent). */
void tide__scope_close(tide__scope_t *s);
/* Sets s's deadline to due (loop time, ns; UINT64_MAX: none): when it
 * passes, s is cancelled. s must be open. Returns 0 or TIDE_ENOMEM. */
int tide__scope_set_deadline(tide__scope_t *s, uint64_t due);

/* ---------------------------------------------------------------- signals */

/* signal.c: the signal of a name ("SIGTERM"), or 0; *watchable (may be
 * NULL) says whether a watcher may wait for it. */
int tide__signal_number(const char *name, int *watchable);
/* The name of a signal number, or NULL. */
const char *tide__signal_name(int num);
/* The i-th known signal's name (NULL past the end), for listings. */
const char *tide__signal_list(int i, int *watchable);

#endif
