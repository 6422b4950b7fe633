/* The workers' supervisor: `tide --workers N script.lua` (and
 * tide.workers{} from Lua) runs N fresh tide processes of the same script,
 * one per slot, and keeps them running. No Lua here: the supervisor has a
 * libuv loop of its own and no runtime.
 *
 * Sockets are handed over, not re-made. A worker's tcp.listen{reuseport =
 * true} asks the supervisor (over the control socket each worker inherits
 * as TIDE_SUPERVISOR_FD) for its slot's listening socket: the supervisor
 * makes it once (SO_REUSEPORT, so the kernel spreads connections over the
 * slots' sockets) and passes a duplicate (SCM_RIGHTS). A worker that
 * restarts, or replaces another on reload, gets the same socket back, so
 * connections waiting in its accept queue are never reset: the known
 * pitfall of SO_REUSEPORT reloads, where a closing listener's queue is
 * dropped, cannot happen.
 *
 * Signals: SIGTERM or SIGINT stops every worker gracefully (they get
 * SIGTERM: their servers stop accepting, in-flight connections finish
 * within the grace period, then their tasks are cancelled and cleaned up
 * within another), then SIGKILL for a worker still there after both and a
 * second more; a second signal kills at once. Workers run in sessions of
 * their own, so the terminal's Ctrl-C reaches the supervisor alone. SIGHUP replaces the workers one by one: a new one starts
 * in the slot, and once it has its socket (or a few seconds passed) the
 * old one is stopped gracefully. A worker that dies is restarted, after a
 * back-off that doubles up to 5 s (and resets once a worker has run for
 * 10 s), reported on stderr.
 *
 * Control messages (SOCK_SEQPACKET, one per datagram):
 *   worker -> supervisor  "L\t<backlog>\t<ipv6only>\t<host>\t<port>"
 *   supervisor -> worker  "O\t<port>" with the socket, or "E\t<errno name>" */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tide_supervise.h"

extern char **environ;

#define MAX_SOCKETS 32          /* listening sockets per slot */
#define READY_TIMEOUT_MS 5000   /* a new worker that never listens */
#define BACKOFF_MAX_MS 5000
#define BACKOFF_RESET_MS 10000  /* uptime after which back-off starts over */

typedef struct sup_s sup_t;

typedef struct {
  char host[64];
  int port;      /* as the worker asked (0: any) */
  int actual;    /* the port it got */
  int fd;
} sup_socket_t;

typedef struct worker_s {
  uv_process_t proc;        /* first; freed in its close callback */
  uv_poll_t poll;           /* the control socket's watcher */
  uv_timer_t kill;          /* SIGKILL once a stop has taken too long */
  sup_t *sup;
  int slot;
  int ctl;                  /* our end of the control socket, or -1 */
  int exited;
  int polling;              /* poll initialised (closed with the worker) */
  int listened;             /* has received a socket: ready */
  int stopping;             /* sent SIGTERM */
  uint64_t started;         /* uv_now at spawn */
  int handles;              /* handles still open: freed at 0 */
} worker_t;

typedef struct {
  worker_t *cur;            /* the slot's worker */
  worker_t *old;            /* during a reload, the one being replaced */
  sup_socket_t socks[MAX_SOCKETS];
  int nsocks;
  int backoff_ms;
  uv_timer_t restart;       /* restarts the slot after a back-off */
} slot_t;

struct sup_s {
  uv_loop_t loop;
  const tide_supervise_opts_t *o;
  slot_t *slots;
  uv_signal_t sig[3];       /* SIGTERM, SIGINT, SIGHUP */
  uv_timer_t reload_timer;  /* a reload waiting for a new worker */
  int stopping;             /* 0, or the signal that stops us */
  int reloading;            /* the slot being replaced + 1, or 0 */
  int status;
};

static void restart_cb(uv_timer_t *t);
static void reload_next(sup_t *sup);

/* One line on stderr, after the program's name. */
static void say(sup_t *sup, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "%s: ", sup->o->progname);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  fflush(stderr);
}

/* ------------------------------------------------------------ sockets */

/* Makes a listening socket (SO_REUSEPORT) bound to host:port. */
static int sock_make(const char *host, int port, int backlog, int v6only,
                     int *actual) {
  struct sockaddr_storage ss;
  socklen_t len;
  int fd, on = 1, err;
  memset(&ss, 0, sizeof(ss));
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
      uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0)
    return UV_EINVAL;
  len = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                 : sizeof(struct sockaddr_in);
  fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return uv_translate_sys_error(errno);
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0 ||
      (ss.ss_family == AF_INET6 &&
       setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) !=
           0) ||
      bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, backlog) != 0) {
    err = uv_translate_sys_error(errno);
    close(fd);
    return err;
  }
  len = sizeof(ss);
  getsockname(fd, (struct sockaddr *)&ss, &len);
  *actual = ntohs(ss.ss_family == AF_INET6
                      ? ((struct sockaddr_in6 *)&ss)->sin6_port
                      : ((struct sockaddr_in *)&ss)->sin_port);
  return fd;
}

/* The slot's socket for host:port, made if needed. Port 0 means the port
 * any other slot got for host:0, so that the slots share it. */
static int sock_for(sup_t *sup, int slot, const char *host, int port,
                    int backlog, int v6only, int *actual) {
  slot_t *s = &sup->slots[slot];
  int i, j, want = port, fd;
  for (i = 0; i < s->nsocks; i++)
    if (s->socks[i].port == port && strcmp(s->socks[i].host, host) == 0) {
      *actual = s->socks[i].actual;
      return s->socks[i].fd;
    }
  if (s->nsocks == MAX_SOCKETS || strlen(host) >= sizeof(s->socks[0].host))
    return UV_ENOBUFS;
  if (port == 0) /* another slot may have it already */
    for (j = 0; j < sup->o->nworkers && want == 0; j++)
      for (i = 0; i < sup->slots[j].nsocks; i++)
        if (sup->slots[j].socks[i].port == 0 &&
            strcmp(sup->slots[j].socks[i].host, host) == 0) {
          want = sup->slots[j].socks[i].actual;
          break;
        }
  fd = sock_make(host, want, backlog, v6only, actual);
  if (fd < 0) return fd;
  s->socks[s->nsocks].fd = fd;
  s->socks[s->nsocks].port = port;
  s->socks[s->nsocks].actual = *actual;
  strcpy(s->socks[s->nsocks].host, host);
  s->nsocks++;
  return fd;
}

/* Answers a worker's request (msg, NUL-terminated). */
static void ctl_answer(worker_t *w, char *msg) {
  sup_t *sup = w->sup;
  char reply[64], *f[5], *p = msg;
  int n = 0, fd = -1, actual = 0;
  struct msghdr mh;
  struct iovec iov;
  char cbuf[CMSG_SPACE(sizeof(int))];
  while (n < 5 && (f[n] = strsep(&p, "\t")) != NULL) n++;
  if (n == 5 && strcmp(f[0], "L") == 0) {
    fd = sock_for(sup, w->slot, f[3], atoi(f[4]), atoi(f[1]), atoi(f[2]),
                  &actual);
  } else {
    fd = UV_EINVAL;
  }
  memset(&mh, 0, sizeof(mh));
  if (fd < 0) {
    snprintf(reply, sizeof(reply), "E\t%s", uv_err_name(fd));
  } else {
    struct cmsghdr *cm;
    snprintf(reply, sizeof(reply), "O\t%d", actual);
    mh.msg_control = cbuf;
    mh.msg_controllen = sizeof(cbuf);
    cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    w->listened = 1;
  }
  iov.iov_base = reply;
  iov.iov_len = strlen(reply);
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  sendmsg(w->ctl, &mh, MSG_NOSIGNAL);
  if (fd >= 0 && sup->reloading == w->slot + 1 &&
      w == sup->slots[w->slot].cur && sup->slots[w->slot].old != NULL &&
      !sup->slots[w->slot].old->stopping)
    reload_next(sup); /* the new worker of the slot has its socket */
}

/* ------------------------------------------------------------ workers */

static void worker_handle_closed(uv_handle_t *h) {
  worker_t *w = h->data;
  if (--w->handles == 0) free(w);
}

/* Closes what is left of a worker that has exited. */
static void worker_free(worker_t *w) {
  uv_timer_stop(&w->kill);
  uv_close((uv_handle_t *)&w->kill, worker_handle_closed);
  if (w->polling) {
    uv_poll_stop(&w->poll);
    uv_close((uv_handle_t *)&w->poll, worker_handle_closed);
  }
  if (w->ctl >= 0) close(w->ctl);
  w->ctl = -1;
  uv_close((uv_handle_t *)&w->proc, worker_handle_closed);
}

static void worker_on_ctl(uv_poll_t *h, int status, int events) {
  worker_t *w = h->data;
  char buf[512];
  ssize_t n;
  (void)events;
  if (status < 0) return;
  n = recv(w->ctl, buf, sizeof(buf) - 1, MSG_DONTWAIT);
  if (n <= 0) { /* the worker closed its end: it is going */
    if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      uv_poll_stop(&w->poll);
    }
    return;
  }
  buf[n] = '\0';
  ctl_answer(w, buf);
}

static int sup_all_gone(sup_t *sup) {
  int i;
  for (i = 0; i < sup->o->nworkers; i++)
    if (sup->slots[i].cur != NULL || sup->slots[i].old != NULL) return 0;
  return 1;
}

static void sup_finish(sup_t *sup) {
  int i, j;
  uv_timer_stop(&sup->reload_timer);
  for (i = 0; i < 3; i++) uv_signal_stop(&sup->sig[i]);
  for (i = 0; i < sup->o->nworkers; i++) {
    uv_timer_stop(&sup->slots[i].restart);
    for (j = 0; j < sup->slots[i].nsocks; j++) close(sup->slots[i].socks[j].fd);
    sup->slots[i].nsocks = 0;
  }
  uv_stop(&sup->loop);
}

static void worker_on_exit(uv_process_t *p, int64_t status, int signum) {
  worker_t *w = p->data;
  sup_t *sup = w->sup;
  slot_t *s = &sup->slots[w->slot];
  w->exited = 1;
  if (s->old == w) {
    s->old = NULL;
    if (sup->reloading == w->slot + 1) reload_next(sup);
  } else if (s->cur == w) {
    s->cur = NULL;
    if (!sup->stopping && !w->stopping) {
      uint64_t up = uv_now(&sup->loop) - w->started;
      if (up >= BACKOFF_RESET_MS) s->backoff_ms = 0;
      s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : 100;
      if (s->backoff_ms > BACKOFF_MAX_MS) s->backoff_ms = BACKOFF_MAX_MS;
      if (signum != 0)
        say(sup, "worker %d (pid %d) died of signal %d; restarting in %d ms",
            w->slot + 1, w->proc.pid, signum, s->backoff_ms);
      else
        say(sup, "worker %d (pid %d) exited with status %d; restarting in "
                 "%d ms",
            w->slot + 1, w->proc.pid, (int)status, s->backoff_ms);
      uv_timer_start(&s->restart, restart_cb, (uint64_t)s->backoff_ms, 0);
    }
  }
  worker_free(w);
  if (sup->stopping && sup_all_gone(sup)) sup_finish(sup);
}

/* Starts a worker in slot. */
static void worker_spawn(sup_t *sup, int slot) {
  const tide_supervise_opts_t *o = sup->o;
  worker_t *w = calloc(1, sizeof(*w));
  uv_process_options_t po;
  uv_stdio_container_t stdio[4];
  char idbuf[32], nbuf[32], pidbuf[48], gracebuf[48], **env;
  int sv[2], n = 0, i, err;
  if (w == NULL) return;
  w->sup = sup;
  w->slot = slot;
  w->ctl = -1;
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    free(w);
    return;
  }
  while (environ[n] != NULL) n++;
  env = calloc((size_t)n + 6, sizeof(*env));
  if (env == NULL) {
    close(sv[0]);
    close(sv[1]);
    free(w);
    return;
  }
  for (i = 0; i < n; i++)
    if (strncmp(environ[i], "TIDE_WORKER", 11) != 0 &&
        strncmp(environ[i], "TIDE_SUPERVISOR", 15) != 0 &&
        strncmp(environ[i], "TIDE_GRACE=", 11) != 0)
      env[i] = environ[i];
    else
      env[i] = "TIDE_X=";
  snprintf(idbuf, sizeof(idbuf), "TIDE_WORKER_ID=%d", slot + 1);
  snprintf(nbuf, sizeof(nbuf), "TIDE_WORKERS=%d", o->nworkers);
  env[n] = idbuf;
  env[n + 1] = nbuf;
  env[n + 2] = "TIDE_SUPERVISOR_FD=3";
  snprintf(pidbuf, sizeof(pidbuf), "TIDE_SUPERVISOR_PID=%d", (int)getpid());
  snprintf(gracebuf, sizeof(gracebuf), "TIDE_GRACE=%g", o->grace);
  env[n + 3] = pidbuf;
  env[n + 4] = gracebuf;
  memset(&po, 0, sizeof(po));
  po.file = o->file != NULL ? o->file : o->argv[0];
  po.args = o->argv;
  po.env = env;
  po.exit_cb = worker_on_exit;
  /* A session of its own: the terminal's Ctrl-C reaches the supervisor
   * only, which stops the workers gracefully (worker.c asks for SIGTERM
   * should the supervisor die). */
  po.flags = UV_PROCESS_DETACHED;
  stdio[0].flags = stdio[1].flags = stdio[2].flags = UV_INHERIT_FD;
  stdio[0].data.fd = 0;
  stdio[1].data.fd = 1;
  stdio[2].data.fd = 2;
  stdio[3].flags = UV_INHERIT_FD;
  stdio[3].data.fd = sv[1];
  po.stdio = stdio;
  po.stdio_count = 4;
  w->proc.data = w;
  err = uv_spawn(&sup->loop, &w->proc, &po);
  free(env);
  close(sv[1]);
  if (err != 0) {
    say(sup, "cannot start worker %d: %s", slot + 1, uv_strerror(err));
    close(sv[0]);
    w->handles = 1;
    uv_close((uv_handle_t *)&w->proc, worker_handle_closed);
    return;
  }
  w->handles = 2;
  uv_timer_init(&sup->loop, &w->kill);
  w->kill.data = w;
  w->ctl = sv[0];
  w->started = uv_now(&sup->loop);
  if (uv_poll_init_socket(&sup->loop, &w->poll, w->ctl) == 0) {
    w->poll.data = w;
    w->polling = 1;
    w->handles++;
    uv_poll_start(&w->poll, UV_READABLE, worker_on_ctl);
  }
  sup->slots[slot].cur = w;
}

/* A slot's restart timer: its back-off is over. */
static void restart_cb(uv_timer_t *t) {
  sup_t *sup = t->data;
  slot_t *s = (slot_t *)((char *)t - offsetof(slot_t, restart));
  if (!sup->stopping && s->cur == NULL) worker_spawn(sup, (int)(s - sup->slots));
}

static void worker_kill_cb(uv_timer_t *t) {
  worker_t *w = t->data;
  if (!w->exited) {
    say(w->sup, "worker %d (pid %d) still running after the grace period: "
                "SIGKILL",
        w->slot + 1, w->proc.pid);
    uv_process_kill(&w->proc, SIGKILL);
  }
}

/* Stops a worker gracefully: SIGTERM, then SIGKILL after its two grace
 * periods (one to drain its connections, one for its tasks' cleanup) and
 * a second more. */
static void worker_stop(worker_t *w) {
  if (w == NULL || w->exited || w->stopping) return;
  w->stopping = 1;
  uv_process_kill(&w->proc, SIGTERM);
  uv_timer_start(&w->kill, worker_kill_cb,
                 (uint64_t)(w->sup->o->grace * 2000) + 1000, 0);
}

/* ------------------------------------------------------------ signals */

/* The second SIGTERM or SIGINT: no more waiting. */
static void kill_all(sup_t *sup) {
  int i;
  for (i = 0; i < sup->o->nworkers; i++) {
    if (sup->slots[i].cur != NULL) uv_process_kill(&sup->slots[i].cur->proc, SIGKILL);
    if (sup->slots[i].old != NULL) uv_process_kill(&sup->slots[i].old->proc, SIGKILL);
  }
}

static void reload_timeout_cb(uv_timer_t *t);

/* Replaces the slots' workers one by one (SIGHUP): a new worker starts in
 * the slot; once it has its socket (or READY_TIMEOUT_MS passed) the old one
 * is stopped gracefully; once that one has exited, the next slot. */
static void reload_next(sup_t *sup) {
  slot_t *s;
  uv_timer_stop(&sup->reload_timer);
  if (sup->stopping) return;
  if (sup->reloading > 0) {
    s = &sup->slots[sup->reloading - 1];
    if (s->old != NULL) {
      worker_stop(s->old); /* the new one is ready (or took too long) */
      return;              /* the next slot once the old one has exited */
    }
  }
  if (sup->reloading == sup->o->nworkers) {
    sup->reloading = 0;
    say(sup, "reload done");
    return;
  }
  s = &sup->slots[sup->reloading++];
  s->old = s->cur;
  s->cur = NULL;
  worker_spawn(sup, sup->reloading - 1);
  if (s->old == NULL) {
    reload_next(sup);
    return;
  }
  uv_timer_start(&sup->reload_timer, reload_timeout_cb, READY_TIMEOUT_MS, 0);
}

static void reload_timeout_cb(uv_timer_t *t) {
  reload_next(t->data);
}

static void signal_cb(uv_signal_t *h, int signum) {
  sup_t *sup = h->data;
  int i;
  if (signum == SIGHUP) {
    if (sup->stopping || sup->reloading) return;
    say(sup, "reloading %d worker(s)", sup->o->nworkers);
    reload_next(sup);
    return;
  }
  if (sup->stopping) { /* the second one: no more waiting */
    kill_all(sup);
    return;
  }
  sup->stopping = signum;
  sup->status = 128 + signum;
  for (i = 0; i < sup->o->nworkers; i++) {
    uv_timer_stop(&sup->slots[i].restart);
    worker_stop(sup->slots[i].cur);
    worker_stop(sup->slots[i].old);
  }
  if (sup_all_gone(sup)) sup_finish(sup);
}

static void close_walk_cb(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

int tide__supervise(const tide_supervise_opts_t *o) {
  sup_t sup;
  static const int signums[3] = {SIGTERM, SIGINT, SIGHUP};
  struct sigaction old[3];
  int i;
  memset(&sup, 0, sizeof(sup));
  sup.o = o;
  if (o->nworkers < 1 || uv_loop_init(&sup.loop) != 0) return 1;
  sup.slots = calloc((size_t)o->nworkers, sizeof(*sup.slots));
  if (sup.slots == NULL) return 1;
  for (i = 0; i < 3; i++) {
    sigaction(signums[i], NULL, &old[i]); /* put back when we return */
    uv_signal_init(&sup.loop, &sup.sig[i]);
    sup.sig[i].data = &sup;
    uv_signal_start(&sup.sig[i], signal_cb, signums[i]);
  }
  uv_timer_init(&sup.loop, &sup.reload_timer);
  sup.reload_timer.data = &sup;
  for (i = 0; i < o->nworkers; i++) {
    uv_timer_init(&sup.loop, &sup.slots[i].restart);
    sup.slots[i].restart.data = &sup;
    worker_spawn(&sup, i);
  }
  uv_run(&sup.loop, UV_RUN_DEFAULT);
  uv_walk(&sup.loop, close_walk_cb, NULL);
  uv_run(&sup.loop, UV_RUN_DEFAULT);
  uv_loop_close(&sup.loop);
  for (i = 0; i < 3; i++) sigaction(signums[i], &old[i], NULL);
  free(sup.slots);
  return sup.status;
}
