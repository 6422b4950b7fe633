/*
 * idle/c.c: line echo server on plain libuv, the C row of the idle workload.
 *
 *   usage: idle_c [port]     (0 or none: the kernel picks; prints "port N")
 *
 * Each connection gets a read buffer of its own (4 KiB, inside the
 * connection's struct), as a typical C server keeps one: a line may arrive
 * in pieces, so the bytes of an unfinished line must stay somewhere until
 * the rest comes. (bench/echo_uv.c shares one buffer between all
 * connections because it echoes bytes as they come and keeps nothing; a
 * server that parses lines or requests cannot.) Every complete line is
 * written back, uv_try_write first, the unsent tail copied into a write
 * request. A line longer than the buffer closes the connection. Exits 0 on
 * SIGTERM or SIGINT.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#define BUF_SIZE 4096

typedef struct {
  uv_tcp_t tcp; /* first member: a uv_stream_t* is also a conn_t* */
  size_t len;   /* bytes of an unfinished line at the start of buf */
  char buf[BUF_SIZE];
} conn_t;

typedef struct {
  uv_write_t req;
  uv_buf_t buf; /* points just past this struct, at the copied tail */
} write_req_t;

static uv_loop_t *loop;
static uv_tcp_t server;
static uv_signal_t sigterm, sigint;

static void on_conn_closed(uv_handle_t *h) {
  free(h);
}

static void close_conn(uv_stream_t *s) {
  if (!uv_is_closing((uv_handle_t *)s))
    uv_close((uv_handle_t *)s, on_conn_closed);
}

/* Reads go after the unfinished line, into the rest of the buffer. */
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  conn_t *c = (conn_t *)h;
  *buf = uv_buf_init(c->buf + c->len, (unsigned int)(BUF_SIZE - c->len));
}

static void on_write(uv_write_t *req, int status) {
  if (status < 0 && status != UV_ECANCELED) close_conn(req->handle);
  free(req);
}

/* Sends len bytes at data back; data may be reused once this returns. */
static void send_back(uv_stream_t *s, const char *data, size_t len) {
  uv_buf_t b = uv_buf_init((char *)data, (unsigned int)len);
  int n = uv_try_write(s, &b, 1);
  if (n == UV_EAGAIN) n = 0;
  if (n < 0) {
    close_conn(s);
    return;
  }
  if ((size_t)n == len) return;
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
  }
}

/* Writes back every complete line in the buffer and keeps the rest. */
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  conn_t *c = (conn_t *)s;
  if (nread < 0) {
    close_conn(s);
    return;
  }
  size_t start = 0, end = c->len + (size_t)nread;
  for (size_t i = c->len; i < end; i++) {
    if (c->buf[i] != '\n') continue;
    send_back(s, c->buf + start, i + 1 - start);
    if (uv_is_closing((uv_handle_t *)s)) return;
    start = i + 1;
  }
  c->len = end - start;
  if (start > 0) memmove(c->buf, c->buf + start, c->len);
  if (c->len == BUF_SIZE) close_conn(s); /* a line longer than the buffer */
}

static void on_connection(uv_stream_t *srv, int status) {
  if (status < 0) {
    fprintf(stderr, "idle_c: accept: %s\n", uv_strerror(status));
    return;
  }
  conn_t *c = malloc(sizeof *c);
  if (c == NULL) return;
  c->len = 0;
  uv_tcp_init(loop, &c->tcp);
  c->tcp.data = c; /* marks it as a connection for close_one() */
  if (uv_accept(srv, (uv_stream_t *)&c->tcp) < 0) {
    close_conn((uv_stream_t *)&c->tcp);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void close_one(uv_handle_t *h, void *arg) {
  if (uv_is_closing(h)) return;
  uv_close(h, h->data != NULL ? on_conn_closed : NULL);
}

static void on_signal(uv_signal_t *h, int signum) {
  uv_walk(h->loop, close_one, NULL);
}

static int check(int r, const char *what) {
  if (r < 0) {
    fprintf(stderr, "idle_c: %s: %s\n", what, uv_strerror(r));
    exit(1);
  }
  return r;
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[argc - 1]) : 0;
  struct sockaddr_in addr;
  struct sockaddr_storage bound;
  int len = sizeof bound;

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
