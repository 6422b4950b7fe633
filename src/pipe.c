/* Unix domain sockets and descriptors as streams (pipes, TTYs, sockets
 * handed over by fd). No Lua here; servers and connect attempts are the
 * shared ones of tcp.c. */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tide_net.h"

int tide__pipe_connect(tide_runtime_t *rt, const char *path,
                       uint64_t timeout_ns, tide__connect_t **out) {
  int err;
  tide__connect_t *c = tide__connect_new(rt, TIDE__PIPE, timeout_ns, &err);
  if (c == NULL) return err;
  /* uv_pipe_connect reports every failure through the callback. */
  uv_pipe_connect(&c->s->u.x->creq, &c->s->u.pipe, path,
                  tide__connect_on_connect);
  *out = c;
  return 0;
}

/* Binds a Unix socket server to path; the server removes the file when it
 * closes (a stale socket file would make the next bind fail). */
int tide__pipe_bind(tide__server_t *srv, const char *path) {
  struct sockaddr_un sun;
  size_t len = strlen(path);
  int fd;
  memset(&sun, 0, sizeof(sun));
  if (len >= sizeof(sun.sun_path)) return UV_ENAMETOOLONG;
  sun.sun_family = AF_UNIX;
  memcpy(sun.sun_path, path, len);
  fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return uv_translate_sys_error(errno);
  srv->fd = fd;
  if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0)
    return uv_translate_sys_error(errno);
  srv->path = strdup(path);
  return srv->path == NULL ? TIDE_ENOMEM : 0;
}

int tide__pipe_open(tide_runtime_t *rt, int fd, tide__stream_t **out) {
  uv_handle_type type = uv_guess_handle(fd);
  tide__stream_t *s;
  int err, dupfd;
  if (type == UV_UNKNOWN_HANDLE) return UV_EBADF;
  if (type == UV_FILE) return UV_ENOTSUP; /* epoll cannot wait on files */
  dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (dupfd < 0) return uv_translate_sys_error(errno);
  if (type == UV_TTY) {
    s = tide__stream_new(rt, TIDE__TTY, dupfd, &err);
  } else {
    s = tide__stream_new(rt, TIDE__PIPE, -1, &err);
    if (s != NULL) {
      err = uv_pipe_open(&s->u.pipe, dupfd);
      if (err != 0) {
        tide__stream_close(s);
        s = NULL;
      }
    }
  }
  if (s == NULL) {
    close(dupfd);
    return err;
  }
  *out = s;
  return 0;
}
