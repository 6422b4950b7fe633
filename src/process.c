/* Child processes (uv_spawn). No Lua here.
 *
 * A process is finished once its child has exited and the pipes it
 * writes to (stdout, stderr) are drained: their streams have read the end
 * of the output (or were closed). Waiting for the exit alone could lose
 * the tail of the output still in a pipe (asyncio waits the same way). A
 * child whose output nobody reads and which writes more than a pipe and
 * the stream's read-ahead hold blocks, and so never finishes: read its
 * output while waiting (tide.process.run does both).
 *
 * Reaping: libuv reaps a child on SIGCHLD for as long as its process
 * handle is open, and the handle is only closed once the child has
 * exited (or, at the runtime's close, for a detached child, which is left
 * running). Dropping the Lua object never closes it.
 *
 * The runtime's close ends children still running: SIGTERM, then SIGKILL
 * after the grace period (5 s by default, per process), and waits for them
 * (the loop's close runs until every handle has closed). Detached children
 * are left running. */
#include <stdlib.h>
#include <string.h>

#include "tide_proc.h"

static void proc_free(tide__process_t *p) {
  int i;
  /* Our output pipes must not tell a freed process they ended. */
  for (i = 1; i < 3; i++)
    if (p->pipes[i] != NULL) p->pipes[i]->u.x->on_rend = NULL;
  free(p);
}

static void proc_unref(tide__process_t *p) {
  if (--p->refs == 0) proc_free(p);
}

static void proc_check_done(tide__process_t *p);

/* The handle is closed: once the child has exited, the process counts as
 * done only from here, so that whoever waited for it finds nothing of it
 * left open. */
static void proc_on_close(uv_handle_t *h) {
  tide__process_t *p = (tide__process_t *)h;
  tide_loop_t *loop = p->loop;
  p->closed = 1;
  if (p->refs == 2) proc_check_done(p); /* not a failed spawn, not let go */
  proc_unref(p);
  tide__loop_handle_closed(loop);
}

static void proc_close_handle(tide__process_t *p) {
  if (p->closing) return;
  p->closing = 1;
  tide__link_remove(&p->res.link);
  if (p->kill_timer != NULL) {
    p->kill_timer->data = p->loop;
    uv_close((uv_handle_t *)p->kill_timer, tide__loop_close_free_cb);
    p->kill_timer = NULL;
  }
  uv_close((uv_handle_t *)&p->handle, proc_on_close);
}

/* Exited and drained: the process is finished. */
static void proc_check_done(tide__process_t *p) {
  if (p->exited && p->closed && p->pipes[1] == NULL && p->pipes[2] == NULL &&
      p->done.state == TIDE__PENDING) {
    /* After the runtime's close (a child reaped while the host runs the
     * loop to its end) the ready queue is gone: a waiter left by a task
     * that was dropped must not be queued. */
    if (p->loop->closing) tide__link_init(&p->done.waiters);
    tide__future_complete(&p->done, TIDE__DONE);
  }
}

static void proc_on_pipe_end(tide__stream_t *s, void *data) {
  tide__process_t *p = data;
  int i;
  for (i = 1; i < 3; i++)
    if (p->pipes[i] == s) p->pipes[i] = NULL;
  proc_check_done(p);
}

static void proc_on_exit(uv_process_t *h, int64_t status, int term_signal) {
  tide__process_t *p = (tide__process_t *)h;
  p->exited = 1;
  p->status = status;
  p->term_signal = term_signal;
  proc_close_handle(p);
}

static void proc_on_kill_timer(uv_timer_t *t) {
  tide__process_t *p = t->data;
  if (!p->exited) uv_process_kill(&p->handle, SIGKILL);
}

/* The runtime is closing: end the child (see above). */
static void proc_res_close(tide__resource_t *res) {
  tide__process_t *p = TIDE__CONTAINER_OF(res, tide__process_t, res);
  tide__link_remove(&p->res.link);
  if (p->exited || p->closing) return;
  if (p->detached) {
    proc_close_handle(p);
    return;
  }
  uv_process_kill(&p->handle, SIGTERM);
  p->kill_timer = malloc(sizeof(*p->kill_timer));
  if (p->grace_ns == 0 || p->kill_timer == NULL) {
    free(p->kill_timer);
    p->kill_timer = NULL;
    uv_process_kill(&p->handle, SIGKILL);
    return;
  }
  uv_timer_init(p->loop->uv, p->kill_timer);
  tide__loop_handle_open(p->loop);
  p->kill_timer->data = p;
  uv_timer_start(p->kill_timer, proc_on_kill_timer,
                 (p->grace_ns + 999999) / 1000000, 0);
}

/* Fills libuv's description of one of the child's descriptors, making a
 * pipe (a stream, *made) if asked. */
static int proc_stdio(tide_runtime_t *rt, const tide__stdio_t *in, int fd,
                      uv_stdio_container_t *c, tide__stream_t **made) {
  int err;
  switch (in->kind) {
  case TIDE__STDIO_NULL: c->flags = UV_IGNORE; return 0; /* /dev/null */
  case TIDE__STDIO_FD:
    c->flags = UV_INHERIT_FD;
    c->data.fd = in->fd;
    return 0;
  case TIDE__STDIO_STREAM:
    c->flags = UV_INHERIT_STREAM;
    c->data.stream = &in->stream->u.stream;
    return 0;
  case TIDE__STDIO_PIPE:
    *made = tide__stream_new(rt, TIDE__PIPE, -1, &err);
    if (*made == NULL) return err;
    /* An output pipe tells the process its end (the ext's on_rend). */
    if (fd > 0 && tide__stream_ext(*made) == NULL) {
      tide__stream_close(*made);
      *made = NULL;
      return TIDE_ENOMEM;
    }
    /* Readable and writable are the child's view. */
    c->flags = UV_CREATE_PIPE |
               (fd == 0 ? UV_READABLE_PIPE : UV_WRITABLE_PIPE);
    c->data.stream = &(*made)->u.stream;
    return 0;
  default:
    c->flags = UV_INHERIT_FD;
    c->data.fd = fd;
    return 0;
  }
}

int tide__process_spawn(tide_runtime_t *rt, const tide__spawn_t *o,
                        tide__process_t **out) {
  tide__process_t *p = calloc(1, sizeof(*p));
  uv_process_options_t opts;
  uv_stdio_container_t stdio[3];
  int i, err = 0;
  if (p == NULL) return TIDE_ENOMEM;
  memset(&opts, 0, sizeof(opts));
  for (i = 0; i < 3 && err == 0; i++)
    err = proc_stdio(rt, &o->stdio[i], i, &stdio[i], &p->pipes[i]);
  if (err != 0) goto fail;
  opts.exit_cb = proc_on_exit;
  opts.file = o->file;
  opts.args = o->args;
  opts.env = o->env;
  opts.cwd = o->cwd;
  opts.stdio = stdio;
  opts.stdio_count = 3;
  if (o->detached) opts.flags |= UV_PROCESS_DETACHED;
  err = uv_spawn(rt->loop.uv, &p->handle, &opts);
  p->loop = &rt->loop;
  tide__loop_handle_open(p->loop);
  if (err != 0) {
    /* The handle was initialized all the same: close it. */
    p->refs = 1;
    p->closing = 1;
    tide__link_init(&p->res.link);
    uv_close((uv_handle_t *)&p->handle, proc_on_close);
    goto fail_pipes;
  }
  p->refs = 2;
  p->pid = p->handle.pid;
  p->detached = o->detached != 0;
  p->grace_ns = o->grace_ns;
  tide__future_init(&p->done, p->loop);
  p->res.close = proc_res_close;
  tide__link_insert_tail(&rt->resources, &p->res.link);
  for (i = 1; i < 3; i++) {
    if (p->pipes[i] == NULL) continue;
    p->pipes[i]->u.x->on_rend = proc_on_pipe_end; /* made with the pipe */
    p->pipes[i]->u.x->rend_data = p;
    tide__stream_start(p->pipes[i]); /* read ahead: small outputs never
                                        block the child */
  }
  *out = p;
  return 0;
fail:
  p->loop = &rt->loop;
fail_pipes:
  for (i = 0; i < 3; i++)
    if (p->pipes[i] != NULL) tide__stream_close(p->pipes[i]);
  memset(p->pipes, 0, sizeof(p->pipes));
  if (!p->closing) free(p);
  return err;
}

int tide__process_kill(tide__process_t *p, int signum) {
  if (p->exited || p->closing) return UV_ESRCH;
  return uv_process_kill(&p->handle, signum);
}

void tide__process_release(tide__process_t *p) {
  proc_unref(p);
}

/* ------------------------------------------------------------ waits */

static void pwait_end(tide__pwait_t *pw) {
  if (pw->fut.state != TIDE__PENDING) return;
  tide__timer_stop(pw->fut.loop, &pw->timer);
  tide__future_unwait(&pw->w);
  tide__future_complete(&pw->fut, TIDE__DONE);
}

static void pwait_on_done(void *data, uintptr_t arg) {
  (void)arg;
  pwait_end(data);
}

static void pwait_on_timer(tide__timer_t *t) {
  tide__pwait_t *pw = TIDE__CONTAINER_OF(t, tide__pwait_t, timer);
  pw->timedout = 1;
  pwait_end(pw);
}

static int pwait_on_cancel(tide__future_t *f) {
  tide__pwait_t *pw = (tide__pwait_t *)f;
  tide__timer_stop(f->loop, &pw->timer);
  tide__future_unwait(&pw->w);
  return 0;
}

int tide__process_wait(tide__process_t *p, uint64_t timeout_ns,
                       tide__pwait_t **out) {
  tide__pwait_t *pw = calloc(1, sizeof(*pw));
  if (pw == NULL) return TIDE_ENOMEM;
  tide__future_init(&pw->fut, p->loop);
  pw->fut.cancel = pwait_on_cancel;
  pw->p = p;
  pw->w.fn = pwait_on_done;
  pw->w.data = pw;
  tide__link_init(&pw->w.link);
  tide__future_wait(&p->done, &pw->w);
  tide__timer_init(&pw->timer, pwait_on_timer);
  tide__timer_start(p->loop, &pw->timer,
                    tide__loop_now(p->loop) + timeout_ns);
  *out = pw;
  return 0;
}

/* A queued wake-up of pw->w (p->done completed) always runs before the
 * waiting task's own wake-up, so once the continuation has it, nothing
 * else refers to pw. */
void tide__pwait_release(tide__pwait_t *pw) {
  tide__timer_stop(pw->fut.loop, &pw->timer);
  tide__future_unwait(&pw->w);
  free(pw);
}
