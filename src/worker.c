/* The worker's side of the supervisor (supervise.c): a process started by
 * `tide --workers N` or tide.workers{} finds in its environment its number
 * (TIDE_WORKER_ID), how many there are (TIDE_WORKERS), the supervisor's pid
 * (TIDE_SUPERVISOR_PID) and its control socket (TIDE_SUPERVISOR_FD).
 *
 * tide__worker_init() reads them once per process and takes them out of
 * the environment, so that a program the worker starts in turn (another
 * tide script, a child process) is not mistaken for a worker; it marks the
 * control socket close-on-exec for the same reason, and asks the kernel
 * for SIGTERM when the supervisor goes (PR_SET_PDEATHSIG): workers live in
 * their own session, out of reach of the terminal's Ctrl-C, so a
 * supervisor killed outright must not leave them running.
 *
 * Every TCP listen in a worker asks the supervisor for its slot's socket
 * (tide__worker_listen), a short blocking exchange on a local socket made
 * once per server. No Lua here. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "tide_supervise.h"

static int worker_id = -1;   /* -1: not read yet */
static int worker_count = 0;
static int worker_ctl = -1;
static double worker_grace = -1; /* TIDE_GRACE: the supervisor's --grace */
static pthread_once_t worker_once = PTHREAD_ONCE_INIT;

static int env_int(const char *name, int dflt) {
  const char *v = getenv(name);
  char *end;
  long n;
  if (v == NULL || *v == '\0') return dflt;
  n = strtol(v, &end, 10);
  return *end == '\0' && n >= 0 && n <= 1000000 ? (int)n : dflt;
}

static void worker_read_env(void) {
  int id = env_int("TIDE_WORKER_ID", 0);
  int fd = env_int("TIDE_SUPERVISOR_FD", -1);
  int ppid = env_int("TIDE_SUPERVISOR_PID", 0);
  const char *grace = getenv("TIDE_GRACE");
  worker_count = env_int("TIDE_WORKERS", 0);
  if (grace != NULL && *grace != '\0') {
    char *end;
    double g = strtod(grace, &end);
    if (*end == '\0' && g >= 0 && g <= 86400) worker_grace = g;
  }
  unsetenv("TIDE_WORKER_ID");
  unsetenv("TIDE_WORKERS");
  unsetenv("TIDE_SUPERVISOR_FD");
  unsetenv("TIDE_SUPERVISOR_PID");
  unsetenv("TIDE_GRACE");
  if (id <= 0 || fd < 0 || fcntl(fd, F_GETFD) < 0) {
    worker_id = 0;
    worker_count = 0;
    worker_grace = -1;
    return;
  }
  worker_id = id;
  worker_ctl = fd;
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  /* The supervisor may have gone before the request above took effect. */
  if (ppid != 0 && getppid() != ppid) kill(getpid(), SIGTERM);
}

void tide__worker_init(void) {
  pthread_once(&worker_once, worker_read_env);
}

int tide__worker_id(void) {
  tide__worker_init();
  return worker_id;
}

int tide__worker_count(void) {
  tide__worker_init();
  return worker_count;
}

double tide__worker_grace(void) {
  tide__worker_init();
  return worker_grace;
}

/* The errno name in the supervisor's "E\t<name>" answer, back to a code. */
static int worker_err_code(const char *name) {
  static const struct {
    const char *name;
    int code;
  } names[] = {
#define TIDE__NAME_CODE(name, msg) {#name, UV_##name},
      UV_ERRNO_MAP(TIDE__NAME_CODE)
#undef TIDE__NAME_CODE
  };
  size_t i;
  for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    if (strcmp(names[i].name, name) == 0) return names[i].code;
  return UV_EIO;
}

int tide__worker_listen(const char *host, int port, int backlog, int v6only,
                        int *fd, int *actual) {
  char req[160], reply[64];
  char cbuf[CMSG_SPACE(sizeof(int))];
  struct msghdr mh;
  struct iovec iov;
  struct cmsghdr *cm;
  struct timeval tv = {10, 0}; /* a supervisor that never answers */
  ssize_t n;
  int got = -1, len;
  *fd = -1;
  if (tide__worker_id() <= 0) return UV_ENOTSUP;
  len = snprintf(req, sizeof(req), "L\t%d\t%d\t%s\t%d", backlog, v6only ? 1 : 0,
                 host, port);
  if (len < 0 || (size_t)len >= sizeof(req)) return UV_EINVAL;
  setsockopt(worker_ctl, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (send(worker_ctl, req, (size_t)len, MSG_NOSIGNAL) != len)
    return uv_translate_sys_error(errno);
  memset(&mh, 0, sizeof(mh));
  iov.iov_base = reply;
  iov.iov_len = sizeof(reply) - 1;
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = cbuf;
  mh.msg_controllen = sizeof(cbuf);
  do
    n = recvmsg(worker_ctl, &mh, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) return errno == EAGAIN ? UV_ETIMEDOUT : uv_translate_sys_error(errno);
  if (n == 0) return UV_ECONNRESET;
  reply[n] = '\0';
  for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm))
    if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
      memcpy(&got, CMSG_DATA(cm), sizeof(int));
  if (reply[0] == 'O' && reply[1] == '\t' && got >= 0) {
    *fd = got;
    *actual = atoi(reply + 2);
    return 0;
  }
  if (got >= 0) close(got);
  return reply[0] == 'E' && reply[1] == '\t' ? worker_err_code(reply + 2)
                                             : UV_EPROTO;
}
