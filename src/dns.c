/* Name resolution through libuv's thread pool (getaddrinfo, getnameinfo).
 * No Lua here.
 *
 * A lookup is a tide__dns_t whose future completes when the answer is in,
 * when its timeout fires, or when its waiter is cancelled. A lookup already
 * running in the thread pool cannot be stopped: its callback still comes
 * and frees the request, so it is reference counted (the callback, the
 * continuation). While a lookup is in flight it counts as a handle: the
 * runtime's close waits for it, and specs see it in tide.stats(). */
#include <stdlib.h>
#include <string.h>

#include "tide_net.h"

static void dns_unref(tide__dns_t *d) {
  if (--d->refs == 0) {
    if (d->res != NULL) uv_freeaddrinfo(d->res);
    free(d);
  }
}

static void dns_end(tide__dns_t *d, int status) {
  if (d->fut.state != TIDE__PENDING) return;
  tide__timer_stop(d->loop, &d->timer);
  d->status = status;
  tide__future_complete(&d->fut, TIDE__DONE);
}

static void dns_on_timer(tide__timer_t *t) {
  tide__dns_t *d = TIDE__CONTAINER_OF(t, tide__dns_t, timer);
  uv_cancel((uv_req_t *)&d->req); /* fails once the lookup is running */
  dns_end(d, UV_ETIMEDOUT);
}

static int dns_on_cancel(tide__future_t *f) {
  tide__dns_t *d = (tide__dns_t *)f;
  tide__timer_stop(d->loop, &d->timer);
  d->status = UV_ECANCELED;
  uv_cancel((uv_req_t *)&d->req);
  return 0;
}

static void dns_on_addrinfo(uv_getaddrinfo_t *req, int status,
                            struct addrinfo *res) {
  tide__dns_t *d = TIDE__CONTAINER_OF(req, tide__dns_t, req.ai);
  tide_loop_t *loop = d->loop;
  if (d->fut.state == TIDE__PENDING) {
    d->res = res;
    dns_end(d, status);
  } else if (res != NULL) {
    uv_freeaddrinfo(res);
  }
  dns_unref(d);
  tide__loop_handle_closed(loop);
}

static void dns_on_nameinfo(uv_getnameinfo_t *req, int status,
                            const char *host, const char *service) {
  tide__dns_t *d = TIDE__CONTAINER_OF(req, tide__dns_t, req.ni);
  tide_loop_t *loop = d->loop;
  (void)service;
  if (d->fut.state == TIDE__PENDING) {
    if (status == 0 && host != NULL)
      snprintf(d->host, sizeof(d->host), "%s", host);
    dns_end(d, status);
  }
  dns_unref(d);
  tide__loop_handle_closed(loop);
}

static tide__dns_t *dns_new(tide_loop_t *loop, uint64_t timeout_ns) {
  tide__dns_t *d = calloc(1, sizeof(*d));
  if (d == NULL) return NULL;
  tide__future_init(&d->fut, loop);
  d->fut.cancel = dns_on_cancel;
  d->loop = loop;
  d->refs = 2;
  tide__timer_init(&d->timer, dns_on_timer);
  if (timeout_ns != 0)
    tide__timer_start(loop, &d->timer, tide__loop_now(loop) + timeout_ns);
  return d;
}

/* Starts resolving host (family AF_UNSPEC, AF_INET or AF_INET6) for
 * stream sockets; *out is the lookup. */
int tide__dns_getaddrinfo(tide_loop_t *loop, const char *host, int family,
                          uint64_t timeout_ns, tide__dns_t **out) {
  struct addrinfo hints;
  tide__dns_t *d = dns_new(loop, timeout_ns);
  int err;
  if (d == NULL) return TIDE_ENOMEM;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM; /* one entry per address */
  err = uv_getaddrinfo(loop->uv, &d->req.ai, dns_on_addrinfo, host, NULL,
                       &hints);
  if (err != 0) {
    tide__timer_stop(loop, &d->timer);
    free(d);
    return err;
  }
  tide__loop_handle_open(loop);
  *out = d;
  return 0;
}

int tide__dns_getnameinfo(tide_loop_t *loop, const struct sockaddr *sa,
                          uint64_t timeout_ns, tide__dns_t **out) {
  tide__dns_t *d = dns_new(loop, timeout_ns);
  int err;
  if (d == NULL) return TIDE_ENOMEM;
  err = uv_getnameinfo(loop->uv, &d->req.ni, dns_on_nameinfo, sa,
                       NI_NAMEREQD);
  if (err != 0) {
    tide__timer_stop(loop, &d->timer);
    free(d);
    return err;
  }
  tide__loop_handle_open(loop);
  *out = d;
  return 0;
}

void tide__dns_release(tide__dns_t *d) {
  tide__timer_stop(d->loop, &d->timer);
  dns_unref(d);
}
