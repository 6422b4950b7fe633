/* Byte streams: read buffering, the write queue and closing, for every kind
 * of libuv stream (TCP, Unix sockets and pipes, TTYs). No Lua here.
 *
 * Reading: a stream reads ahead into its own buffer from the moment it is
 * connected, up to rlimit bytes nobody asked for (then it stops reading:
 * the peer is held back by TCP flow control), or further while a reader
 * waits for more (readexactly(n) with a large n). A reader that finds what
 * it needs in the buffer never waits; otherwise it waits on rfut, which the
 * read callback completes as soon as the reader's need is met, so a task
 * wakes once per satisfied read, not once per chunk.
 *
 * The buffer exists only while bytes wait in it. libuv asks for memory
 * only when the socket is readable; the stream then takes a buffer from
 * the loop's pool (a bounded free list of TIDE__RBUF_INIT-byte buffers),
 * the bytes land in it, and the moment the reader has consumed them all
 * (or a read brought nothing) the buffer goes back to the pool. So an idle
 * connection holds no buffer, and the echo path (the reader takes all that
 * came) copies nothing more than before: the pool only changes whose
 * buffer libuv reads into. Bytes nobody has taken stay where they landed;
 * a buffer grown past the first size for a large reader is freed, not
 * pooled, once it empties.
 *
 * Writing: try the write at once (uv_try_write), which on a healthy
 * connection sends everything without a request or a copy; only the unsent
 * tail is copied into a uv_write request. wqueued counts the bytes in
 * requests; writers wait on wfut while it is above the high-water mark.
 *
 * Lifetime: the stream's memory (handle last) is freed in the close
 * callback, or one ready-queue turn later when the close woke a waiting
 * task: that task holds a pointer to one of the stream's futures until its
 * wake-up has run. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "tide_tls.h"

#define TIDE__RBUF_ROOM 4096 /* least free space offered to a read */

static void stream_on_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf);
static void stream_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static long stream_find_waiting(tide__stream_t *s);

static void stream_res_close(tide__resource_t *res) {
  tide__stream_close(TIDE__CONTAINER_OF(res, tide__stream_t, res));
}

/* The ext's timers know their stream through the ext's owner: the ext is
 * allocated with a pointer back to it just before. */
typedef struct {
  tide__stream_t *s;
  tide__stream_ext_t x;
} stream_extbox_t;

static tide__stream_t *stream_of_ext(tide__stream_ext_t *x) {
  return TIDE__CONTAINER_OF(x, stream_extbox_t, x)->s;
}

static void stream_on_rtimer(tide__timer_t *t) {
  tide__stream_t *s =
      stream_of_ext(TIDE__CONTAINER_OF(t, tide__stream_ext_t, rtimer));
  s->rtimedout = 1;
  tide__future_complete(&s->rfut, TIDE__DONE);
}

static void stream_finish(tide__stream_t *s);

static void stream_on_wtimer(tide__timer_t *t) {
  tide__stream_ext_t *x = TIDE__CONTAINER_OF(t, tide__stream_ext_t, wtimer);
  tide__stream_t *s = stream_of_ext(x);
  if (s->lingering) {
    /* The peer has not taken the last bytes in time: give up on them. */
    if (!s->closing) stream_finish(s);
    return;
  }
  x->wtimedout = x->wepoch;
  tide__future_complete(&x->wfut, TIDE__DONE);
}

/* Stops the reader's timer, if it has one. */
static void stream_stop_rtimer(tide__stream_t *s) {
  if (s->u.x != NULL) tide__timer_stop(tide__stream_loop(s), &s->u.x->rtimer);
}

/* Cancelling a reader: stop its timer; the future is then cancelled. The
 * buffer is untouched, so the next read sees every byte. */
static int stream_on_rcancel(tide__future_t *f) {
  stream_stop_rtimer(TIDE__CONTAINER_OF(f, tide__stream_t, rfut));
  return 0;
}

tide__stream_ext_t *tide__stream_ext(tide__stream_t *s) {
  stream_extbox_t *box;
  tide__stream_ext_t *x;
  if (s->u.x != NULL) return s->u.x;
  box = calloc(1, sizeof(*box));
  if (box == NULL) return NULL;
  box->s = s;
  x = &box->x;
  /* The futures rest in the done state: pending means someone waits. */
  tide__future_init(&x->wfut, tide__stream_loop(s));
  tide__future_init(&x->sfut, tide__stream_loop(s));
  x->wfut.state = x->sfut.state = TIDE__DONE;
  tide__timer_init(&x->rtimer, stream_on_rtimer);
  tide__timer_init(&x->wtimer, stream_on_wtimer);
  x->rlimit = TIDE__READ_LIMIT;
  x->max_line = TIDE__MAX_LINE;
  x->high = TIDE__HIGH_WATER;
  x->low = TIDE__LOW_WATER;
  s->u.x = x;
  return x;
}

static void stream_ext_free(tide__stream_t *s) {
  if (s->u.x != NULL) free(TIDE__CONTAINER_OF(s->u.x, stream_extbox_t, x));
  s->u.x = NULL;
}

/* ------------------------------------------------------------ buffers */

/* Gives the empty stream a read buffer of TIDE__RBUF_INIT bytes, from the
 * loop's pool or new. Returns 0 or TIDE_ENOMEM. */
static inline int stream_rbuf_take(tide__stream_t *s) {
  tide_loop_t *loop = tide__stream_loop(s);
  char *p = loop->rpool;
  if (p != NULL) {
    loop->rpool = *(void **)p;
    loop->rpool_n--;
  } else if ((p = malloc(TIDE__RBUF_INIT)) == NULL) {
    return TIDE_ENOMEM;
  }
  s->rbuf = p;
  s->rcapl = 1; /* TIDE__RBUF_INIT */
  if (++loop->rbufs > loop->rbufs_window) loop->rbufs_window = loop->rbufs;
  loop->rbuf_bytes += TIDE__RBUF_INIT;
  return 0;
}

/* The buffer holds nothing: the stream lets go of it. One of the first
 * size goes back to the pool (unless the pool is full, as it says it is
 * once the loop has closed it); a larger one, grown for a large reader, is
 * freed. The pool keeps TIDE__RPOOL_MAX, or as many as a sustained peak
 * needs (tide__loop_rpool_trim): libuv reads every ready socket of a poll
 * before any task consumes its bytes, so a loop serving 100 busy
 * connections takes 100 buffers per iteration and gives them all back;
 * freeing the ones over a fixed bound made malloc and free (and glibc's
 * heap trimming, page faults) part of every iteration. */
static inline void stream_rbuf_release(tide__stream_t *s) {
  tide_loop_t *loop = tide__stream_loop(s);
  char *p = s->rbuf;
  s->rstart = s->rend = 0;
  if (p == NULL) return;
  s->rbuf = NULL;
  loop->rbufs--;
  loop->rbuf_bytes -= (int64_t)tide__stream_rcap(s);
  if (s->rcapl == 1 && (loop->rpool_n < TIDE__RPOOL_MAX ||
                        loop->rpool_n + loop->rbufs < loop->rbufs_peak)) {
    *(void **)p = loop->rpool;
    loop->rpool = p;
    loop->rpool_n++;
  } else {
    free(p);
  }
  s->rcapl = 0;
}

void tide__stream_settle(tide__stream_t *s) {
  if (s->rbuf != NULL && s->rstart == s->rend) stream_rbuf_release(s);
}

tide__stream_t *tide__stream_new(tide_runtime_t *rt, int kind, int fd,
                                 int *err) {
  size_t hsize = kind == TIDE__TCP    ? sizeof(uv_tcp_t)
                 : kind == TIDE__PIPE ? sizeof(uv_pipe_t)
                                      : sizeof(uv_tty_t);
  tide__stream_t *s = calloc(1, offsetof(tide__stream_t, u) + hsize);
  tide_loop_t *loop = &rt->loop;
  if (s == NULL) {
    *err = TIDE_ENOMEM;
    return NULL;
  }
  switch (kind) {
  case TIDE__TCP: *err = uv_tcp_init(loop->uv, &s->u.tcp); break;
  case TIDE__PIPE: *err = uv_pipe_init(loop->uv, &s->u.pipe, 0); break;
  default: *err = uv_tty_init(loop->uv, &s->u.tty, fd, 0); break;
  }
  if (*err != 0) {
    free(s);
    return NULL;
  }
  s->u.x = NULL; /* the handle's data pointer: see tide__stream_of */
  s->kind = kind;
  /* The future rests in the done state: pending means someone waits. */
  tide__future_init(&s->rfut, loop);
  s->rfut.state = TIDE__DONE;
  s->rfut.cancel = stream_on_rcancel;
  s->res.close = stream_res_close;
  tide__link_insert_tail(&rt->resources, &s->res.link);
  tide__loop_handle_open(loop);
  return s;
}

/* ------------------------------------------------------------ reading */

/* Has the waiting reader got what it needs? */
static int stream_satisfied(tide__stream_t *s) {
  size_t n = tide__stream_buffered(s);
  if (s->rerr != 0) return 1;
  switch (s->rmode) {
  case TIDE__RANY: return n > 0;
  case TIDE__REXACT: return n >= s->rwant;
  case TIDE__RHANDSHAKE: return tide__stream_tls_ready(s);
  default:
    /* Found, or past the limit: either way the reader acts now. */
    return n >= tide__stream_max_line(s) + s->rwant ||
           stream_find_waiting(s) >= 0;
  }
}

/* The read side is over (end, error or close): tells the listener once. */
static void stream_read_over(tide__stream_t *s) {
  void (*fn)(tide__stream_t *, void *);
  if (s->u.x == NULL || (fn = s->u.x->on_rend) == NULL) return;
  s->u.x->on_rend = NULL;
  fn(s, s->u.x->rend_data);
}

/* Should more bytes come into the buffer? */
static int stream_wants_data(tide__stream_t *s) {
  if (s->rerr != 0 || s->closing) return 0;
  if (tide__stream_below_rlimit(s, tide__stream_buffered(s))) return 1;
  return s->rfut.state == TIDE__PENDING && !stream_satisfied(s);
}

int tide__stream_wants_data(tide__stream_t *s) {
  return stream_wants_data(s);
}

/* Completes the waiting reader's future if its need is met (inline: the
 * read callback's path). */
static inline void stream_wake_reader(tide__stream_t *s) {
  if (s->rfut.state == TIDE__PENDING && stream_satisfied(s)) {
    stream_stop_rtimer(s);
    tide__future_complete(&s->rfut, TIDE__DONE);
  }
}

void tide__stream_wake_reader(tide__stream_t *s) { stream_wake_reader(s); }

/* Starts or stops reading to match stream_wants_data. A TLS stream first
 * decrypts what it already holds, and reads only when that is not
 * enough. */
void tide__stream_update_reading(tide__stream_t *s) {
  int want = tide__stream_tls(s) != NULL ? tide__stream_tls_pump(s)
                                         : stream_wants_data(s);
  if (want == (int)s->reading) return;
  if (want) {
    int err = uv_read_start(&s->u.stream, stream_on_alloc, stream_on_read);
    if (err != 0) {
      s->rerr = err;
      stream_read_over(s);
      if (s->rfut.state == TIDE__PENDING) {
        stream_stop_rtimer(s);
        tide__future_complete(&s->rfut, TIDE__DONE);
      }
      return;
    }
  } else {
    uv_read_stop(&s->u.stream);
  }
  s->reading = want;
}

/* Connected and accepted TCP streams get TCP_NODELAY, as asyncio does:
 * request/response protocols must not wait for delayed ACKs. */
int tide__stream_start(tide__stream_t *s) {
  if (s->kind == TIDE__TCP) uv_tcp_nodelay(&s->u.tcp, 1);
  tide__stream_update_reading(s);
  return s->rerr == UV_EOF ? 0 : s->rerr;
}

/* Makes the free end of the buffer at least TIDE__RBUF_ROOM bytes (or
 * what the reader waits for fit), compacting or growing it; returns its
 * size, 0 when out of memory. */
size_t tide__stream_reserve(tide__stream_t *s) {
  size_t n, rcap;
  /* The usual case: an empty stream (which holds no buffer) takes one
   * from the pool; nothing buffered, so the first size is the right one
   * whatever a reader waits for. */
  if (s->rbuf == NULL) return stream_rbuf_take(s) == 0 ? TIDE__RBUF_INIT : 0;
  n = tide__stream_buffered(s);
  if (n == 0) s->rstart = s->rend = 0;
  rcap = tide__stream_rcap(s);
  if (rcap - s->rend < TIDE__RBUF_ROOM) {
    size_t cap = rcap;
    if (s->rstart > 0) { /* compact first */
      memmove(s->rbuf, s->rbuf + s->rstart, n);
      s->rstart = 0;
      s->rend = n;
    }
    /* Room for the next read; a reader waiting for n bytes may have the
     * buffer grow ahead of the data, but only to twice what has arrived:
     * the size it asked for is not trusted up front (readexactly(2^40)
     * must not allocate a terabyte), the bytes that come are. */
    while (cap - n < TIDE__RBUF_ROOM ||
           (s->rmode == TIDE__REXACT && s->rfut.state == TIDE__PENDING &&
            cap < s->rwant && cap < s->rwant + TIDE__RBUF_ROOM &&
            cap < 2 * n)) {
      if (cap > SIZE_MAX / 2) return 0;
      cap *= 2;
    }
    if (cap != rcap) {
      char *p = realloc(s->rbuf, cap);
      if (p == NULL) return 0;
      tide__stream_loop(s)->rbuf_bytes += (int64_t)(cap - rcap);
      s->rbuf = p;
      while (tide__stream_rcap(s) < cap)
        s->rcapl++; /* cap doubled */
      rcap = cap;
    }
  }
  return rcap - s->rend;
}

/* Offers the free end of the buffer (a TLS stream: of its ciphertext
 * buffer). On allocation failure offers nothing: libuv then reports
 * UV_ENOBUFS to the read callback. */
static void stream_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  tide__stream_t *s = tide__stream_of(h);
  size_t room;
  (void)suggested;
  if (tide__stream_tls(s) != NULL) {
    tide__stream_tls_alloc(s, buf);
    return;
  }
  room = tide__stream_reserve(s);
  buf->base = room ? s->rbuf + s->rend : NULL;
  buf->len = room;
}

static void stream_on_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf) {
  tide__stream_t *s = tide__stream_of(h);
  if (nread > 0) {
    /* A TLS stream's: ciphertext. */
    tide__stream_loop(s)->bytes_in += (uint64_t)nread;
  } else if (nread < 0) {
    uv_read_stop(h);
    s->reading = 0;
  }
  if (tide__stream_tls(s) != NULL)
    tide__stream_tls_input(s, nread, buf);
  else if (nread > 0) s->rend += (size_t)nread;
  else if (nread < 0) s->rerr = (int)nread;
  if (nread < 0) stream_read_over(s); /* after rerr is set */
  stream_wake_reader(s);
  if (s->reading && !stream_wants_data(s)) {
    uv_read_stop(h);
    s->reading = 0;
  }
  /* A read that brought nothing (EAGAIN, the end) leaves the buffer it
   * took empty: back to the pool. (One that brought bytes leaves them
   * buffered; a TLS stream's pump settles its own.) */
  if (nread <= 0) tide__stream_settle(s);
}

void tide__stream_consume(tide__stream_t *s, size_t n) {
  s->rstart += n;
  s->rscan = 0; /* the bytes it counted have moved */
  if (s->rstart == s->rend) stream_rbuf_release(s);
  if (!s->reading) tide__stream_update_reading(s);
}

long tide__stream_find(tide__stream_t *s, const char *sep, size_t seplen) {
  size_t n = tide__stream_buffered(s);
  const char *base, *hit;
  if (seplen == 0) return 0;
  if (n < seplen) return -1; /* also: no buffer at all (rbuf NULL) */
  base = s->rbuf + s->rstart;
  hit = memmem(base, n, sep, seplen);
  return hit != NULL ? (long)(hit - base) : -1;
}

/* The waiting reader's search, resumed where the last one stopped (rscan):
 * a line that arrives in many small chunks is searched once, not once per
 * chunk. rscan belongs to this one wait (tide__stream_wait_read resets it),
 * so no other read, with another separator or after this one ended without
 * consuming, ever starts past bytes it has not searched. */
static long stream_find_waiting(tide__stream_t *s) {
  size_t n = tide__stream_buffered(s), seplen = s->rwant;
  const char *base, *hit;
  if (seplen == 0) return 0;
  if (n < seplen) return -1; /* also: no buffer at all (rbuf NULL) */
  base = s->rbuf + s->rstart;
  if (s->rscan > n - seplen) s->rscan = 0; /* defensive: never past */
  hit = memmem(base + s->rscan, n - s->rscan, s->rsep, seplen);
  if (hit != NULL) return (long)(hit - base);
  s->rscan = n - seplen + 1;
  return -1;
}

static inline void stream_wait_read(tide__stream_t *s, int mode, size_t n,
                                    const char *sep, size_t seplen,
                                    uint64_t timeout_ns) {
  tide__future_reset(&s->rfut);
  s->rmode = mode;
  s->rwant = mode == TIDE__REXACT ? n : seplen;
  s->rsep = sep;
  s->rscan = 0;
  s->rtimedout = 0;
  if (timeout_ns != 0 && s->u.x != NULL)
    tide__timer_start(tide__stream_loop(s), &s->u.x->rtimer,
                      tide__loop_now(tide__stream_loop(s)) + timeout_ns);
  if (!s->reading) tide__stream_update_reading(s);
}

void tide__stream_wait_read(tide__stream_t *s, int mode, size_t n,
                            const char *sep, size_t seplen) {
  stream_wait_read(s, mode, n, sep, seplen,
                   s->u.x != NULL ? s->u.x->rtimeout : 0);
}

void tide__stream_wait_read_for(tide__stream_t *s, int mode, size_t n,
                                const char *sep, size_t seplen,
                                uint64_t timeout_ns) {
  stream_wait_read(s, mode, n, sep, seplen, timeout_ns);
}

int tide__stream_set_rtimeout(tide__stream_t *s, uint64_t ns) {
  if (ns == 0 && s->u.x == NULL) return 0;
  if (tide__stream_ext(s) == NULL) return TIDE_ENOMEM;
  s->u.x->rtimeout = ns;
  return 0;
}

int tide__stream_set_wtimeout(tide__stream_t *s, uint64_t ns) {
  if (ns == 0 && s->u.x == NULL) return 0;
  if (tide__stream_ext(s) == NULL) return TIDE_ENOMEM;
  s->u.x->wtimeout = ns;
  return 0;
}

/* ------------------------------------------------------------ writing */

typedef struct {
  uv_write_t req;
  size_t len;
  char data[];
} stream_wreq_t;

static void stream_on_write(uv_write_t *req, int status) {
  stream_wreq_t *w = (stream_wreq_t *)req;
  tide__stream_t *s = tide__stream_of(req->handle);
  tide__stream_ext_t *x = s->u.x;
  s->wqueued -= w->len;
  free(w);
  if (status < 0 && status != UV_ECANCELED && s->werr == 0) s->werr = status;
  if (x == NULL) return; /* nobody waits, no timer runs */
  if (s->lingering && !s->closing && (s->wqueued == 0 || s->werr != 0)) {
    /* Closed by its user with bytes queued: they are out, close now. */
    tide__timer_stop(tide__stream_loop(s), &x->wtimer);
    stream_finish(s);
    return;
  }
  if (x->wfut.state == TIDE__PENDING &&
      (s->wqueued <= x->wwake || s->werr != 0)) {
    tide__timer_stop(tide__stream_loop(s), &x->wtimer);
    tide__future_complete(&x->wfut, TIDE__DONE);
  }
}

/* Sends p now as far as the socket takes it, and queues (copies) the
 * rest. */
static int stream_send(tide__stream_t *s, const char *p, size_t len) {
  stream_wreq_t *w;
  uv_buf_t buf;
  int err;
  if (len == 0) return 0;
  tide__stream_loop(s)->bytes_out += len;
  if (s->wqueued == 0) {
    buf = uv_buf_init((char *)p, (unsigned)len);
    err = uv_try_write(&s->u.stream, &buf, 1);
    if (err >= 0 && (size_t)err == len) return 0;
    if (err < 0 && err != UV_EAGAIN) return s->werr = err;
    if (err > 0) {
      p += err;
      len -= (size_t)err;
    }
  }
  w = malloc(sizeof(*w) + len);
  if (w == NULL) return TIDE_ENOMEM;
  memcpy(w->data, p, len);
  w->len = len;
  buf = uv_buf_init(w->data, (unsigned)len);
  err = uv_write(&w->req, &s->u.stream, &buf, 1, stream_on_write);
  if (err != 0) {
    free(w);
    return s->werr = err;
  }
  s->wqueued += len;
  return 0;
}

int tide__stream_send(tide__stream_t *s, const char *p, size_t len) {
  return stream_send(s, p, len);
}

int tide__stream_write(tide__stream_t *s, const char *p, size_t len) {
  if (tide__stream_tls(s) != NULL) return tide__stream_tls_write(s, p, len);
  return stream_send(s, p, len);
}

uintptr_t tide__stream_wait_write(tide__stream_t *s, size_t threshold) {
  tide__stream_ext_t *x = s->u.x;
  if (x->wfut.state != TIDE__PENDING) {
    tide__future_reset(&x->wfut);
    x->wepoch++;
    x->wwake = threshold;
    if (x->wtimeout != 0)
      tide__timer_start(tide__stream_loop(s), &x->wtimer,
                        tide__loop_now(tide__stream_loop(s)) + x->wtimeout);
  } else if (threshold < x->wwake) {
    x->wwake = threshold;
  }
  return x->wepoch;
}

static void stream_on_shutdown(uv_shutdown_t *req, int status) {
  tide__stream_ext_t *x = TIDE__CONTAINER_OF(req, tide__stream_ext_t, sreq);
  tide__stream_t *s = stream_of_ext(x);
  x->serr = status;
  s->shut_done = 1;
  tide__future_complete(&x->sfut, TIDE__DONE);
}

/* A TLS stream sends its close_notify first: the peer's TLS sees a clean
 * end before the TCP FIN (TLS 1.3 allows the reverse direction to go on). */
int tide__stream_shutdown(tide__stream_t *s) {
  int err;
  if (tide__stream_ext(s) == NULL) return TIDE_ENOMEM;
  if (tide__stream_tls(s) != NULL) tide__stream_tls_close_notify(s);
  err = uv_shutdown(&s->u.x->sreq, &s->u.stream, stream_on_shutdown);
  if (err != 0) return err;
  s->shut = 1;
  tide__future_reset(&s->u.x->sfut);
  return 0;
}

/* ------------------------------------------------------------ closing */

static void stream_free(void *data, uintptr_t arg) {
  tide__stream_t *s = data;
  (void)arg;
  if (tide__stream_tls(s) != NULL) tide__tls_free(tide__stream_tls(s));
  if (s->accepted) tide__stream_loop(s)->conns_active--;
  /* Unconsumed bytes are dropped; the buffer goes back to the pool. */
  stream_rbuf_release(s);
  stream_ext_free(s);
  free(s);
}

static void stream_on_close(uv_handle_t *h) {
  tide__stream_t *s = tide__stream_of(h);
  tide_loop_t *loop = tide__stream_loop(s);
  /* A task the close woke still points at one of our futures until its
   * wake-up runs (a task:cancel() meanwhile would read it): free after it,
   * it is ahead of us in the ready queue. Otherwise (the usual case, and
   * whenever the loop is closing) free now. */
  if (!s->woke || loop->closing ||
      tide__loop_call_soon(loop, stream_free, s, 0) != 0)
    stream_free(s, 0);
  tide__loop_handle_closed(loop);
}

/* Completes a future a waiter may sit on, remembering if one did. */
static void stream_wake(tide__stream_t *s, tide__future_t *f) {
  if (f == NULL || f->state != TIDE__PENDING) return;
  if (!tide__link_empty(&f->waiters)) s->woke = 1;
  tide__future_complete(f, TIDE__FAILED);
}

/* Closes the handle for good. */
static void stream_finish(tide__stream_t *s) {
  s->closing = 1;
  tide__link_remove(&s->res.link);
  uv_close(&s->u.handle, stream_on_close);
}

/* Closes the stream for its user: the Lua object is detached and waiting
 * tasks wake at once, but bytes already queued still go out, as they would
 * from a socket's kernel buffer: the handle closes when the last write
 * completes (or fails), or after TIDE__LINGER_NS at most. With nothing
 * queued it closes at once. A TLS stream sends its close_notify first, and
 * does not wait for the peer's (TLS 1.3 peers often never send theirs). */
void tide__stream_close_flush(tide__stream_t *s) {
  if (s->closing || s->lingering) return;
  if (tide__stream_tls(s) != NULL) tide__stream_tls_close_notify(s);
  /* Out of memory for the linger timer: the queued bytes are dropped. */
  if (s->wqueued == 0 || s->werr != 0 || tide__stream_ext(s) == NULL) {
    tide__stream_close(s);
    return;
  }
  if (s->slot != NULL) {
    *s->slot = NULL;
    s->slot = NULL;
  }
  stream_read_over(s);
  tide__timer_stop(tide__stream_loop(s), &s->u.x->rtimer);
  stream_wake(s, &s->rfut);
  stream_wake(s, &s->u.x->wfut);
  stream_wake(s, &s->u.x->sfut);
  if (s->reading) {
    uv_read_stop(&s->u.stream);
    s->reading = 0;
  }
  s->lingering = 1;
  s->res.run_scoped = 1;
  tide__timer_start(tide__stream_loop(s), &s->u.x->wtimer,
                    tide__loop_now(tide__stream_loop(s)) + TIDE__LINGER_NS);
}

/* Closes at once: bytes still queued are dropped (libuv cancels the
 * requests). For the runtime's shutdown and failed connects; a user's
 * close() goes through tide__stream_close_flush. */
void tide__stream_close(tide__stream_t *s) {
  if (s->slot != NULL) {
    *s->slot = NULL;
    s->slot = NULL;
  }
  stream_read_over(s);
  /* Every waiter wakes; its continuation finds the Lua object detached and
   * reports the stream as closed. */
  stream_wake(s, &s->rfut);
  if (s->u.x != NULL) {
    tide__timer_stop(tide__stream_loop(s), &s->u.x->rtimer);
    tide__timer_stop(tide__stream_loop(s), &s->u.x->wtimer);
    stream_wake(s, &s->u.x->wfut);
    stream_wake(s, &s->u.x->sfut);
  }
  if (!s->closing) stream_finish(s);
}
