/*
 * echo_uv.c: plain libuv TCP echo server, the C baseline for bench/echo.sh.
 *
 *   usage: echo_uv [port]        (port 0 or omitted: let the kernel choose)
 *
 * Listens on 127.0.0.1, prints "port N" on stdout once bound (so a harness
 * can use port 0 and still find us), echoes every byte back, and exits
 * cleanly on SIGTERM/SIGINT.
 *
 * This is meant to be what a competent libuv programmer writes, not a
 * strawman and not a hand-tuned special case:
 *   - one shared read buffer: the loop is single-threaded and libuv calls
 *     alloc_cb -> read -> read_cb back to back for one stream, so the buffer
 *     is free again by the time the next alloc_cb runs. Nothing is kept in it
 *     after read_cb returns (see echo()).
 *   - uv_try_write first: on loopback the whole echo almost always fits in
 *     the socket buffer, so the common path has no request, no malloc, no
 *     copy. Only the unsent tail is copied into a uv_write request.
 *   - TCP_NODELAY on accepted sockets: echo is request/response; with Nagle
 *     a split echo could wait for a delayed ACK.
 *   - back-pressure: stop reading from a peer that does not read its echoes
 *     once too much is queued, resume when the queue has drained.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#define READ_BUF_SIZE (64 * 1024)
/* Stop reading a connection once this many echo bytes wait in its write
 * queue, resume below LOW_WATER. Never reached by the benchmark (one 1 KiB
 * message in flight per connection), it only bounds memory. */
#define HIGH_WATER (1024 * 1024)
#define LOW_WATER (HIGH_WATER / 4)

typedef struct {
  uv_tcp_t tcp; /* first member: a uv_stream_t* is also a conn_t* */
  int paused;   /* reading stopped for back-pressure */
} conn_t;

typedef struct {
  uv_write_t req;
  uv_buf_t buf; /* points just past this struct, at our copy of the tail */
} write_req_t;

static uv_loop_t *loop;
static uv_tcp_t server;
static uv_signal_t sigterm, sigint;
static char read_buf[READ_BUF_SIZE];

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void on_conn_closed(uv_handle_t *h) {
  free(h);
}

static void close_conn(uv_stream_t *s) {
  if (!uv_is_closing((uv_handle_t *)s))
    uv_close((uv_handle_t *)s, on_conn_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  *buf = uv_buf_init(read_buf, sizeof read_buf);
}

static void on_write(uv_write_t *req, int status) {
  uv_stream_t *s = req->handle;
  conn_t *c = (conn_t *)s;

  free(req);
  if (status < 0) {
    /* UV_ECANCELED: the handle is already being closed. */
    if (status != UV_ECANCELED) close_conn(s);
    return;
  }
  if (c->paused && s->write_queue_size <= LOW_WATER &&
      !uv_is_closing((uv_handle_t *)s)) {
    c->paused = 0;
    uv_read_start(s, on_alloc, on_read);
  }
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  (void)status;
  close_conn(req->handle);
  free(req);
}

/* Send data back. try_write is all or partial or UV_EAGAIN; it also refuses
 * (UV_EAGAIN) while earlier uv_writes are queued, so byte order is kept. */
static void echo(uv_stream_t *s, const char *data, size_t len) {
  uv_buf_t b = uv_buf_init((char *)data, (unsigned int)len);
  int n = uv_try_write(s, &b, 1);

  if (n == UV_EAGAIN) n = 0;
  if (n < 0) {
    close_conn(s);
    return;
  }
  if ((size_t)n == len) return;

  /* The read buffer is reused after we return: copy the unsent tail. */
  size_t rest = len - (size_t)n;
  write_req_t *wr = malloc(sizeof *wr + rest);
  if (wr == NULL) {
    close_conn(s);
    return;
  }
  memcpy(wr + 1, data + n, rest);
  wr->buf = uv_buf_init((char *)(wr + 1), (unsigned int)rest);
  if (uv_write(&wr->req, s, &wr->buf, 1, on_write) < 0) {
    free(wr);
    close_conn(s);
    return;
  }
  if (s->write_queue_size > HIGH_WATER) {
    ((conn_t *)s)->paused = 1;
    uv_read_stop(s);
  }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  if (nread > 0) {
    echo(s, buf->base, (size_t)nread);
  } else if (nread == UV_EOF) {
    /* Peer is done sending: flush queued echoes, then close. */
    uv_shutdown_t *req = malloc(sizeof *req);
    if (req == NULL || uv_shutdown(req, s, on_shutdown) < 0) {
      free(req);
      close_conn(s);
    }
  } else if (nread < 0) {
    close_conn(s);
  }
  /* nread == 0 is EAGAIN: nothing to do. */
}

static void on_connection(uv_stream_t *srv, int status) {
  if (status < 0) {
    fprintf(stderr, "echo_uv: accept: %s\n", uv_strerror(status));
    return;
  }
  conn_t *c = calloc(1, sizeof *c);
  if (c == NULL) return;
  uv_tcp_init(loop, &c->tcp);
  c->tcp.data = c; /* marks it as a connection for close_all() */
  if (uv_accept(srv, (uv_stream_t *)&c->tcp) < 0) {
    close_conn((uv_stream_t *)&c->tcp);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void close_one(uv_handle_t *h, void *arg) {
  (void)arg;
  if (uv_is_closing(h)) return;
  /* Connections are malloc'ed (data set), the rest are static. */
  uv_close(h, h->data != NULL ? on_conn_closed : NULL);
}

static void on_signal(uv_signal_t *h, int signum) {
  (void)signum;
  /* Closing every handle lets uv_run() return with nothing left. */
  uv_walk(h->loop, close_one, NULL);
}

static int check(int r, const char *what) {
  if (r < 0) {
    fprintf(stderr, "echo_uv: %s: %s\n", what, uv_strerror(r));
    exit(1);
  }
  return r;
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 0;
  struct sockaddr_in addr;
  struct sockaddr_storage bound;
  int len = sizeof bound;

  /* A peer that disappears mid-write must give EPIPE, not kill us. */
  signal(SIGPIPE, SIG_IGN);

  loop = uv_default_loop();
  check(uv_ip4_addr("127.0.0.1", port, &addr), "address");
  check(uv_tcp_init(loop, &server), "tcp init");
  check(uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0), "bind");
  check(uv_listen((uv_stream_t *)&server, 1024, on_connection), "listen");
  check(uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &len),
        "getsockname");

  check(uv_signal_init(loop, &sigterm), "signal init");
  check(uv_signal_start(&sigterm, on_signal, SIGTERM), "signal start");
  check(uv_signal_init(loop, &sigint), "signal init");
  check(uv_signal_start(&sigint, on_signal, SIGINT), "signal start");

  printf("port %d\n", ntohs(((struct sockaddr_in *)&bound)->sin_port));
  fflush(stdout);

  uv_run(loop, UV_RUN_DEFAULT);
  check(uv_loop_close(loop), "loop close");
  return 0;
}
