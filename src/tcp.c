/* Connecting and accepting, for TCP and Unix sockets alike (the Unix
 * specific parts are in pipe.c), and numeric socket addresses. No Lua here.
 *
 * A connect attempt is a tide__connect_t: its future completes when the
 * attempt is over (connected, failed, timed out or cancelled). A cancel or
 * timeout closes the connecting handle at once, so a waiting task never
 * lingers; libuv still calls the connect callback (with UV_ECANCELED) before
 * the handle's close callback, which is why the attempt is reference
 * counted. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tide_net.h"

/* ------------------------------------------------------------ addresses */

int tide__addr_parse(const char *host, int port, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof(*ss));
  if (port < 0 || port > 65535) return UV_EINVAL;
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0) return 0;
  if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0) return 0;
  return UV_EINVAL;
}

int tide__addr_name(const struct sockaddr *sa, char *buf, size_t len) {
  buf[0] = '\0';
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    uv_ip4_name(in, buf, len);
    return ntohs(in->sin_port);
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    uv_ip6_name(in6, buf, len);
    return ntohs(in6->sin6_port);
  }
  return -1;
}

/* ------------------------------------------------------------ connect */

static void connect_free_maybe(tide__connect_t *c) {
  if (--c->refs == 0) free(c);
}

/* Ends the attempt with status (unless it has ended already): a failed
 * attempt closes its stream. */
static void connect_end(tide__connect_t *c, int status) {
  if (c->fut.state != TIDE__PENDING) return;
  tide__timer_stop(c->fut.loop, &c->timer);
  c->status = status;
  if (status != 0 && c->s != NULL) {
    tide__stream_close(c->s);
    c->s = NULL;
  }
  tide__future_complete(&c->fut, TIDE__DONE);
}

void tide__connect_on_connect(uv_connect_t *req, int status) {
  tide__connect_t *c = req->data;
  if (status == 0 && c->s != NULL) status = tide__stream_start(c->s);
  connect_end(c, status);
  connect_free_maybe(c);
}

static void connect_on_timer(tide__timer_t *t) {
  connect_end(TIDE__CONTAINER_OF(t, tide__connect_t, timer), UV_ETIMEDOUT);
}

/* Cancelling the waiter abandons the attempt: its handle closes now. */
static int connect_on_cancel(tide__future_t *f) {
  tide__connect_t *c = (tide__connect_t *)f;
  tide__timer_stop(f->loop, &c->timer);
  c->status = UV_ECANCELED;
  if (c->s != NULL) {
    tide__stream_close(c->s);
    c->s = NULL;
  }
  return 0;
}

/* Makes a stream of kind and the attempt object for it; the caller issues
 * the connect request next, with creq.data = the attempt (refs: callback +
 * continuation). Returns NULL with *err set on failure. */
tide__connect_t *tide__connect_new(tide_runtime_t *rt, int kind,
                                   uint64_t timeout_ns, int *err) {
  tide__stream_t *s = tide__stream_new(rt, kind, -1, err);
  tide__connect_t *c;
  if (s == NULL) return NULL;
  c = calloc(1, sizeof(*c));
  if (c == NULL || tide__stream_ext(s) == NULL) {
    free(c);
    tide__stream_close(s);
    *err = TIDE_ENOMEM;
    return NULL;
  }
  tide__future_init(&c->fut, tide__stream_loop(s));
  c->fut.cancel = connect_on_cancel;
  c->s = s;
  c->refs = 2;
  s->u.x->creq.data = c;
  tide__timer_init(&c->timer, connect_on_timer);
  if (timeout_ns != 0)
    tide__timer_start(tide__stream_loop(s), &c->timer,
                      tide__loop_now(tide__stream_loop(s)) + timeout_ns);
  return c;
}

void tide__connect_release(tide__connect_t *c) {
  tide__timer_stop(c->fut.loop, &c->timer);
  connect_free_maybe(c);
}

int tide__tcp_connect(tide_runtime_t *rt, const struct sockaddr *sa,
                      uint64_t timeout_ns, tide__connect_t **out) {
  int err;
  tide__connect_t *c = tide__connect_new(rt, TIDE__TCP, timeout_ns, &err);
  if (c == NULL) return err;
  err = uv_tcp_connect(&c->s->u.x->creq, &c->s->u.tcp, sa,
                       tide__connect_on_connect);
  if (err != 0) {
    c->refs = 1; /* no callback will come */
    connect_end(c, err);
  }
  *out = c;
  return 0;
}

/* ------------------------------------------------------------ servers */

/* Accepts at most this many connections per readiness event, so that a
 * flood of them cannot starve the rest of the loop. */
#define TIDE__ACCEPT_BATCH 128

static void server_res_close(tide__resource_t *res) {
  tide__server_close(TIDE__CONTAINER_OF(res, tide__server_t, res));
}

tide__server_t *tide__server_new(tide_runtime_t *rt, int kind, int *err) {
  tide__server_t *srv = calloc(1, sizeof(*srv));
  if (srv == NULL) {
    *err = TIDE_ENOMEM;
    return NULL;
  }
  srv->fd = -1;
  srv->rt = rt;
  srv->kind = kind;
  srv->ref = LUA_NOREF;
  srv->res.close = server_res_close;
  srv->res.server = 1;
  tide__link_insert_tail(&rt->resources, &srv->res.link);
  *err = 0;
  return srv;
}

int tide__server_bind(tide__server_t *srv, const struct sockaddr *sa,
                      int flags) {
  int fd, on = 1;
  socklen_t len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                            : sizeof(struct sockaddr_in);
  fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return uv_translate_sys_error(errno);
  srv->fd = fd;
  /* As libuv's uv_tcp_bind: a restarted server can bind at once. */
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0)
    return uv_translate_sys_error(errno);
  if ((flags & TIDE__BIND_REUSEPORT) &&
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0)
    return uv_translate_sys_error(errno);
  if (sa->sa_family == AF_INET6) {
    int only = (flags & TIDE__BIND_IPV6ONLY) != 0;
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &only, sizeof(only)) != 0)
      return uv_translate_sys_error(errno);
  }
  if (bind(fd, sa, len) != 0) return uv_translate_sys_error(errno);
  return 0;
}

int tide__server_open(tide__server_t *srv, int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) {
    int err = uv_translate_sys_error(errno);
    close(fd);
    return err;
  }
  srv->fd = fd;
  return 0;
}

int tide__server_sockname(tide__server_t *srv, struct sockaddr_storage *ss) {
  socklen_t len = sizeof(*ss);
  memset(ss, 0, sizeof(*ss));
  if (srv->fd < 0) return UV_EBADF;
  if (getsockname(srv->fd, (struct sockaddr *)ss, &len) != 0)
    return uv_translate_sys_error(errno);
  return 0;
}

/* Out of descriptors: the connections waiting in the backlog cannot be
 * accepted, and would make the socket readable forever. Give the
 * runtime's reserve descriptor back for a moment, accept them and close
 * them at once (the peer sees a reset, not a hang), then take the reserve
 * again: libuv's trick, done here so that tide can count what it refused.
 * Returns how many were refused. */
static int server_refuse_all(tide__server_t *srv) {
  tide_runtime_t *rt = srv->rt;
  int n = 0, fd;
  if (rt->reserve_fd >= 0) {
    close(rt->reserve_fd);
    rt->reserve_fd = -1;
  }
  for (;;) {
    fd = accept4(srv->fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd >= 0) {
      close(fd);
      n++;
      continue;
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    break;
  }
  rt->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  return n > 0 ? n : 1;
}

/* Makes a stream of an accepted descriptor (closed on failure). */
static tide__stream_t *server_adopt(tide__server_t *srv, int fd, int *err) {
  tide__stream_t *s = tide__stream_new(srv->rt, srv->kind, -1, err);
  if (s == NULL) {
    close(fd);
    return NULL;
  }
  *err = srv->kind == TIDE__TCP ? uv_tcp_open(&s->u.tcp, fd)
                                : uv_pipe_open(&s->u.pipe, fd);
  if (*err != 0) {
    close(fd);
    tide__stream_close(s);
    return NULL;
  }
  *err = tide__stream_start(s);
  if (*err != 0) {
    tide__stream_close(s);
    return NULL;
  }
  return s;
}

/* Connections are waiting: accept a batch of them. Each becomes a stream
 * handed to on_conn; failures are counted and handed over as (NULL, err),
 * refused connections for want of descriptors as (NULL, UV_EMFILE) with
 * their count in accept_errors. */
static void server_on_poll(uv_poll_t *h, int status, int events) {
  tide__server_t *srv = (tide__server_t *)h;
  int i, fd, err;
  (void)events;
  if (status < 0) {
    srv->accept_errors++;
    srv->on_conn(srv, NULL, status);
    return;
  }
  for (i = 0; i < TIDE__ACCEPT_BATCH && !srv->closing; i++) {
    tide__stream_t *s;
    fd = accept4(srv->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      err = uv_translate_sys_error(errno);
      if (errno == EMFILE || errno == ENFILE) {
        int n = server_refuse_all(srv);
        srv->accept_errors += n;
        srv->rt->loop.conns_refused += (uint64_t)n;
        while (n-- > 0 && !srv->closing) srv->on_conn(srv, NULL, err);
        return;
      }
      srv->accept_errors++;
      srv->on_conn(srv, NULL, err);
      return;
    }
    s = server_adopt(srv, fd, &err);
    if (s == NULL) {
      srv->accept_errors++;
      srv->on_conn(srv, NULL, err);
      continue;
    }
    s->accepted = 1;
    tide__stream_loop(s)->conns_accepted++;
    tide__stream_loop(s)->conns_active++;
    srv->on_conn(srv, s, 0);
  }
}

int tide__server_listen(tide__server_t *srv, int backlog) {
  tide_runtime_t *rt = srv->rt;
  int err;
  if (listen(srv->fd, backlog) != 0) return uv_translate_sys_error(errno);
  err = uv_poll_init_socket(rt->loop.uv, &srv->poll, srv->fd);
  if (err != 0) return err;
  srv->poll.data = srv;
  srv->polling = 1;
  tide__loop_handle_open(&rt->loop);
  return uv_poll_start(&srv->poll, UV_READABLE, server_on_poll);
}

static void server_free(tide__server_t *srv) {
  if (srv->fd >= 0) close(srv->fd);
  free(srv->path);
  free(srv);
}

static void server_on_close(uv_handle_t *h) {
  tide__server_t *srv = (tide__server_t *)h;
  tide_loop_t *loop = &srv->rt->loop;
  server_free(srv);
  tide__loop_handle_closed(loop);
}

int tide__server_close_all(tide_runtime_t *rt) {
  tide__link_t *l = rt->resources.next, *next;
  int n = 0;
  for (; l != &rt->resources; l = next) {
    tide__resource_t *res = TIDE__CONTAINER_OF(l, tide__resource_t, link);
    next = l->next; /* closing unlinks it */
    if (res->server) {
      res->close(res);
      n++;
    }
  }
  return n;
}

void tide__server_close(tide__server_t *srv) {
  if (srv->closing) return;
  srv->closing = 1;
  if (srv->slot != NULL) {
    *srv->slot = NULL;
    srv->slot = NULL;
  }
  tide__link_remove(&srv->res.link);
  if (srv->path != NULL) remove(srv->path);
  if (srv->polling) {
    /* Closing the poll handle takes the socket out of epoll at once, so it
     * can be closed now: the port is free when close() returns, as
     * uv_close makes it for libuv's own servers. */
    uv_close((uv_handle_t *)&srv->poll, server_on_close);
    close(srv->fd);
    srv->fd = -1;
  } else {
    server_free(srv);
  }
}
