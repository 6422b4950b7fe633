/* Connecting and accepting, for TCP and Unix sockets alike (the Unix
 * specific parts are in pipe.c), and numeric socket addresses. No Lua here.
 *
 * A connect attempt is a tide__connect_t: its future completes when the
 * attempt is over (connected, failed, timed out or cancelled). A cancel or
 * timeout closes the connecting handle at once, so a waiting task never
 * lingers; libuv still calls the connect callback (with UV_ECANCELED) before
 * the handle's close callback, which is why the attempt is reference
 * counted. */
#include <stdlib.h>
#include <string.h>

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
  if (c == NULL) {
    tide__stream_close(s);
    *err = TIDE_ENOMEM;
    return NULL;
  }
  tide__future_init(&c->fut, s->loop);
  c->fut.cancel = connect_on_cancel;
  c->s = s;
  c->refs = 2;
  s->creq.data = c;
  tide__timer_init(&c->timer, connect_on_timer);
  if (timeout_ns != 0)
    tide__timer_start(s->loop, &c->timer, tide__loop_now(s->loop) + timeout_ns);
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
  err = uv_tcp_connect(&c->s->creq, &c->s->u.tcp, sa,
                       tide__connect_on_connect);
  if (err != 0) {
    c->refs = 1; /* no callback will come */
    connect_end(c, err);
  }
  *out = c;
  return 0;
}

/* ------------------------------------------------------------ servers */

static void server_res_close(tide__resource_t *res) {
  tide__server_close(TIDE__CONTAINER_OF(res, tide__server_t, res));
}

tide__server_t *tide__server_new(tide_runtime_t *rt, int kind, int *err) {
  tide__server_t *srv = calloc(1, sizeof(*srv));
  if (srv == NULL) {
    *err = TIDE_ENOMEM;
    return NULL;
  }
  *err = kind == TIDE__TCP ? uv_tcp_init(rt->loop.uv, &srv->u.tcp)
                           : uv_pipe_init(rt->loop.uv, &srv->u.pipe, 0);
  if (*err != 0) {
    free(srv);
    return NULL;
  }
  srv->u.handle.data = srv;
  srv->rt = rt;
  srv->kind = kind;
  srv->ref = LUA_NOREF;
  srv->res.close = server_res_close;
  tide__link_insert_tail(&rt->resources, &srv->res.link);
  tide__loop_handle_open(&rt->loop);
  return srv;
}

/* A connection is waiting (status 0), or accept failed. On EMFILE libuv
 * has already accepted and dropped the pending connections with its
 * reserve descriptor, so the listener does not spin; we count and go on. */
static void server_on_connection(uv_stream_t *h, int status) {
  tide__server_t *srv = (tide__server_t *)h;
  tide__stream_t *s;
  int err;
  if (status < 0) {
    srv->accept_errors++;
    srv->on_conn(srv, NULL, status);
    return;
  }
  s = tide__stream_new(srv->rt, srv->kind, -1, &err);
  if (s == NULL) {
    /* Take the connection off libuv's hands anyway, or it stops
     * accepting: a throwaway handle that is closed at once. */
    union uv_any_handle *t = malloc(sizeof(*t));
    uv_loop_t *uv = srv->rt->loop.uv;
    srv->accept_errors++;
    if (t != NULL && (srv->kind == TIDE__TCP ? uv_tcp_init(uv, &t->tcp)
                                             : uv_pipe_init(uv, &t->pipe, 0)) == 0) {
      t->handle.data = &srv->rt->loop;
      tide__loop_handle_open(&srv->rt->loop);
      uv_accept(h, &t->stream);
      uv_close(&t->handle, tide__loop_close_free_cb);
    } else {
      free(t);
    }
    return;
  }
  err = uv_accept(h, &s->u.stream);
  if (err == 0) err = tide__stream_start(s);
  if (err != 0) {
    tide__stream_close(s);
    srv->accept_errors++;
    srv->on_conn(srv, NULL, err);
    return;
  }
  srv->on_conn(srv, s, 0);
}

int tide__server_listen(tide__server_t *srv, int backlog) {
  return uv_listen(&srv->u.stream, backlog, server_on_connection);
}

static void server_on_close(uv_handle_t *h) {
  tide__server_t *srv = (tide__server_t *)h;
  tide_loop_t *loop = &srv->rt->loop;
  free(srv->path);
  free(srv);
  tide__loop_handle_closed(loop);
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
  uv_close(&srv->u.handle, server_on_close);
}
