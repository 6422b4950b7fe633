/* Internal declarations of child processes: spawning with pipes that are
 * tide streams, waiting for the exit, killing, and reaping in every case.
 *
 * process.c is free of lua_State. A process is malloc'd with its libuv
 * handle first and has two owners (refs): the handle, until its close
 * callback, and the Lua object. So a process object closed or collected
 * while its child runs leaves the handle open, and libuv reaps the child
 * when it exits: never a zombie. */
#ifndef TIDE_PROC_H
#define TIDE_PROC_H

#include "tide_net.h"

/* What a child's stdin, stdout or stderr is. */
enum {
  TIDE__STDIO_INHERIT = 0, /* the parent's own descriptor */
  TIDE__STDIO_NULL,        /* /dev/null */
  TIDE__STDIO_PIPE,        /* a new pipe; the parent's end is a stream */
  TIDE__STDIO_FD,          /* a descriptor of the parent's */
  TIDE__STDIO_STREAM       /* an existing stream's descriptor */
};

typedef struct {
  int kind;                /* TIDE__STDIO_* */
  int fd;                  /* TIDE__STDIO_FD */
  tide__stream_t *stream;  /* TIDE__STDIO_STREAM */
} tide__stdio_t;

typedef struct {
  const char *file;        /* looked up in PATH when it has no slash */
  char **args;             /* NULL-terminated; args[0] is the name */
  char **env;              /* NULL-terminated "K=V"; NULL: ours */
  const char *cwd;         /* NULL: ours */
  tide__stdio_t stdio[3];
  int detached;            /* its own session, left running by close */
  uint64_t grace_ns;       /* runtime close: SIGTERM, SIGKILL after this */
} tide__spawn_t;

/* Default grace period between SIGTERM and SIGKILL at the runtime's
 * close. */
#define TIDE__PROC_GRACE_NS (5 * (uint64_t)1000000000)

typedef struct tide__process_s tide__process_t;
struct tide__process_s {
  uv_process_t handle;      /* first */
  tide_loop_t *loop;
  tide__resource_t res;     /* in rt->resources while the child may run */
  tide__stream_t *pipes[3]; /* the parent's ends made for "pipe": handed to
                               the Lua objects after the spawn; stdout's
                               and stderr's are forgotten once their read
                               side is over (drained) */
  tide__future_t done;      /* done once the child has exited (and its
                               handle has closed) and its output pipes are
                               drained (asyncio's rule: no tail of output
                               is lost) */
  int refs;                 /* the handle, the Lua object */
  int pid;
  int64_t status;           /* exit status, once exited */
  int term_signal;          /* the signal that ended it, or 0 */
  int kill_on_cancel;       /* signal for a waiter cancelled, or 0 */
  uint64_t grace_ns;
  uv_timer_t *kill_timer;   /* the runtime's close: SIGKILL when it fires */
  unsigned exited : 1;
  unsigned detached : 1;
  unsigned closing : 1;     /* the handle's close has started */
  unsigned closed : 1;      /* ... and is over */
};

/* A wait with a timeout: a future completed by the process's `done` or by
 * the timer, whichever comes first. Owned by the waiting continuation. */
typedef struct {
  tide__future_t fut;       /* first: what the task waits on */
  tide__process_t *p;
  tide__waiter_t w;         /* our registration on p->done */
  tide__timer_t timer;
  unsigned timedout : 1;
} tide__pwait_t;

/* Spawns the child; *out is its process (refs: the handle and the
 * caller). The streams made for pipes are in (*out)->pipes, already
 * reading ahead for stdout and stderr. */
int tide__process_spawn(tide_runtime_t *rt, const tide__spawn_t *o,
                        tide__process_t **out);
/* Sends signum if the child has not exited; UV_ESRCH if it has. */
int tide__process_kill(tide__process_t *p, int signum);
/* The Lua object lets go (close or __gc): the child, if running, is still
 * reaped when it exits. */
void tide__process_release(tide__process_t *p);
/* Starts a wait with a timeout (ns > 0) on a process not yet done. */
int tide__process_wait(tide__process_t *p, uint64_t timeout_ns,
                       tide__pwait_t **out);
void tide__pwait_release(tide__pwait_t *pw);

#endif
