/* UDP sockets. No Lua here.
 *
 * Receiving is on demand: the socket reads only while a receiver waits,
 * and stops after one datagram, which stays in the socket's buffer until
 * the receiver's continuation takes it. Datagrams arriving meanwhile wait
 * in the kernel's socket buffer (and are dropped by it when it is full, as
 * UDP does), so memory stays bounded without a queue of our own. */
#include <stdlib.h>
#include <string.h>

#include "tide_net.h"

static void udp_res_close(tide__resource_t *res) {
  tide__udp_close(TIDE__CONTAINER_OF(res, tide__udp_t, res));
}

static void udp_stop(tide__udp_t *u) {
  if (u->receiving) {
    uv_udp_recv_stop(&u->handle);
    u->receiving = 0;
  }
}

static void udp_on_rtimer(tide__timer_t *t) {
  tide__udp_t *u = TIDE__CONTAINER_OF(t, tide__udp_t, rtimer);
  udp_stop(u);
  u->rtimedout = 1;
  tide__future_complete(&u->rfut, TIDE__DONE);
}

/* A cancelled receiver stops the reading it started. */
static int udp_on_rcancel(tide__future_t *f) {
  tide__udp_t *u = TIDE__CONTAINER_OF(f, tide__udp_t, rfut);
  tide__timer_stop(u->loop, &u->rtimer);
  udp_stop(u);
  return 0;
}

tide__udp_t *tide__udp_new(tide_runtime_t *rt, int family, int *err) {
  tide__udp_t *u = calloc(1, sizeof(*u));
  if (u == NULL) {
    *err = TIDE_ENOMEM;
    return NULL;
  }
  *err = uv_udp_init_ex(rt->loop.uv, &u->handle, (unsigned)family);
  if (*err != 0) {
    free(u);
    return NULL;
  }
  u->handle.data = u;
  u->loop = &rt->loop;
  tide__future_init(&u->rfut, u->loop);
  u->rfut.state = TIDE__DONE; /* pending means a receiver waits */
  u->rfut.cancel = udp_on_rcancel;
  tide__timer_init(&u->rtimer, udp_on_rtimer);
  u->res.close = udp_res_close;
  tide__link_insert_tail(&rt->resources, &u->res.link);
  tide__loop_handle_open(u->loop);
  return u;
}

static void udp_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  tide__udp_t *u = (tide__udp_t *)h;
  (void)suggested;
  if (u->buf == NULL) u->buf = malloc(TIDE__DGRAM_MAX);
  buf->base = u->buf;
  buf->len = u->buf != NULL ? TIDE__DGRAM_MAX : 0;
}

static void udp_on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
                        const struct sockaddr *addr, unsigned flags) {
  tide__udp_t *u = (tide__udp_t *)h;
  (void)buf;
  (void)flags;
  if (nread == 0 && addr == NULL) return; /* nothing more to read now */
  if (nread < 0) {
    u->rerr = (int)nread;
  } else {
    u->len = (size_t)nread;
    memset(&u->from, 0, sizeof(u->from));
    if (addr != NULL)
      memcpy(&u->from, addr, addr->sa_family == AF_INET6
                                 ? sizeof(struct sockaddr_in6)
                                 : sizeof(struct sockaddr_in));
    u->held = 1;
  }
  udp_stop(u); /* one datagram per wait: buf must not be overwritten */
  tide__timer_stop(u->loop, &u->rtimer);
  tide__future_complete(&u->rfut, TIDE__DONE);
}

int tide__udp_wait_recv(tide__udp_t *u) {
  int err;
  tide__future_reset(&u->rfut);
  u->rtimedout = 0;
  if (!u->receiving) {
    err = uv_udp_recv_start(&u->handle, udp_on_alloc, udp_on_recv);
    if (err != 0) {
      u->rerr = err;
      tide__future_complete(&u->rfut, TIDE__DONE);
      return 0;
    }
    u->receiving = 1;
  }
  if (u->rtimeout != 0)
    tide__timer_start(u->loop, &u->rtimer,
                      tide__loop_now(u->loop) + u->rtimeout);
  return 0;
}

typedef struct {
  uv_udp_send_t req;
  char data[];
} udp_sreq_t;

static void udp_on_send(uv_udp_send_t *req, int status) {
  (void)status; /* datagrams are fire and forget, as sendto is */
  free(req);
}

int tide__udp_send(tide__udp_t *u, const char *p, size_t len,
                   const struct sockaddr *addr) {
  uv_buf_t buf = uv_buf_init((char *)p, (unsigned)len);
  udp_sreq_t *r;
  int err = uv_udp_try_send(&u->handle, &buf, 1, addr);
  if (err >= 0) return 0;
  if (err != UV_EAGAIN) return err;
  r = malloc(sizeof(*r) + len);
  if (r == NULL) return TIDE_ENOMEM;
  memcpy(r->data, p, len);
  buf = uv_buf_init(r->data, (unsigned)len);
  err = uv_udp_send(&r->req, &u->handle, &buf, 1, addr, udp_on_send);
  if (err != 0) free(r);
  return err;
}

static void udp_free(void *data, uintptr_t arg) {
  tide__udp_t *u = data;
  (void)arg;
  free(u->buf);
  free(u);
}

static void udp_on_close(uv_handle_t *h) {
  tide__udp_t *u = (tide__udp_t *)h;
  tide_loop_t *loop = u->loop;
  /* As for streams: a woken receiver may point at rfut until it runs. */
  if (!u->woke || loop->closing ||
      tide__loop_call_soon(loop, udp_free, u, 0) != 0)
    udp_free(u, 0);
  tide__loop_handle_closed(loop);
}

void tide__udp_close(tide__udp_t *u) {
  if (u->slot != NULL) {
    *u->slot = NULL;
    u->slot = NULL;
  }
  if (u->closing) return;
  u->closing = 1;
  tide__timer_stop(u->loop, &u->rtimer);
  if (u->rfut.state == TIDE__PENDING) {
    if (!tide__link_empty(&u->rfut.waiters)) u->woke = 1;
    tide__future_complete(&u->rfut, TIDE__FAILED);
  }
  tide__link_remove(&u->res.link);
  uv_close((uv_handle_t *)&u->handle, udp_on_close);
}
