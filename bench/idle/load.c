/*
 * idle/load.c: the load of the idle workload (libuv): many connections that
 * each echo one line, then sit idle while a harness reads the server's RSS.
 *
 *   usage: idle_load host port n [window] [timeout_seconds]
 *
 * Opens `n` connections to host:port, at most `window` (default 128) at a
 * time still connecting or waiting for their echo, so the server's listen
 * backlog (1024 in every server of bench/idle/; somaxconn is 4096) never
 * overflows. Connection i sends "hello <i>\n" and must read back exactly
 * that line, nothing more. A connect that fails with ECONNREFUSED, EAGAIN,
 * ECONNRESET or ETIMEDOUT is retried (a fresh socket, 50 ms later) up to
 * MAX_RETRIES times.
 *
 * Once all n have echoed it prints `ready n=N` (flushed) and keeps every
 * connection open, idle, until SIGTERM or SIGINT (exit 0), or until stdin
 * closes if stdin is a pipe or a terminal (a file or /dev/null is not
 * watched). Any failure is fatal, a message on stderr and exit 1: a connect
 * that keeps failing, a wrong or extra byte, the server closing a
 * connection (before or after `ready`), or not being ready within
 * `timeout_seconds` (default 120).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#define MAX_RETRIES 20
#define RETRY_MS 50
#define LINE_SIZE 32 /* "hello " + up to 10 digits + "\n", with room */

typedef struct {
  uv_tcp_t tcp;
  uv_connect_t connect_req;
  uv_write_t write_req;
  uv_timer_t retry; /* the delay before a retried connect */
  int id;
  int tries;       /* connects attempted */
  int echoed;      /* the whole line came back */
  size_t len, got; /* the line's length, bytes of its echo received */
  char line[LINE_SIZE];
} conn_t;

static uv_loop_t *loop;
static struct sockaddr_storage addr;
static conn_t *conns;
static int n, window, next, inflight, done;
static uv_timer_t deadline;
static uv_signal_t sigterm, sigint;
static uv_pipe_t in_pipe;
static uv_tty_t in_tty;
static char read_buf[4096]; /* shared: a read's bytes are checked at once */

static void die(const conn_t *c, const char *what, int err) {
  if (c != NULL)
    fprintf(stderr, "idle_load: conn %d: %s", c->id, what);
  else
    fprintf(stderr, "idle_load: %s", what);
  if (err != 0) fprintf(stderr, ": %s", uv_strerror(err));
  fprintf(stderr, " (%d of %d echoed)\n", done, n);
  exit(1);
}

static void start_connect(conn_t *c);

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  *buf = uv_buf_init(read_buf, sizeof read_buf);
}

/* Starts connections while fewer than `window` are in flight. */
static void fill_window(void) {
  while (inflight < window && next < n) {
    inflight++;
    start_connect(&conns[next++]);
  }
}

/* Every byte read must be the next byte of the connection's own line; once
 * the line is complete, nothing more may come. */
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  conn_t *c = (conn_t *)s;
  if (nread == 0) return; /* EAGAIN */
  if (nread == UV_EOF) die(c, "the server closed the connection", 0);
  if (nread < 0) die(c, "read", (int)nread);
  if (c->echoed || c->got + (size_t)nread > c->len)
    die(c, "more bytes than the line sent", 0);
  if (memcmp(buf->base, c->line + c->got, (size_t)nread) != 0)
    die(c, "the echo differs from the line sent", 0);
  c->got += (size_t)nread;
  if (c->got < c->len) return;
  c->echoed = 1;
  inflight--;
  if (++done == n) {
    uv_timer_stop(&deadline);
    printf("ready n=%d\n", n);
    fflush(stdout);
    return;
  }
  fill_window();
}

static void on_write(uv_write_t *req, int status) {
  if (status < 0) die(req->data, "write", status);
}

static void on_retry(uv_timer_t *t) {
  start_connect(t->data);
}

static void on_retry_closed(uv_handle_t *h) {
  conn_t *c = h->data;
  uv_timer_start(&c->retry, on_retry, RETRY_MS, 0);
}

static void on_connect(uv_connect_t *req, int status) {
  conn_t *c = req->data;
  if (status == UV_ECONNREFUSED || status == UV_EAGAIN ||
      status == UV_ECONNRESET || status == UV_ETIMEDOUT) {
    if (c->tries >= MAX_RETRIES) die(c, "connect, retries exhausted", status);
    /* A fresh socket for the next try: close this one first. */
    uv_close((uv_handle_t *)&c->tcp, on_retry_closed);
    return;
  }
  if (status < 0) die(c, "connect", status);
  int r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (r < 0) die(c, "read start", r);
  uv_buf_t b = uv_buf_init(c->line, (unsigned int)c->len);
  c->write_req.data = c;
  r = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
  if (r < 0) die(c, "write", r);
}

/* Opens c's socket (its handle closed, or never opened) and starts its
 * connect; a connect refused at once with EAGAIN is retried later. */
static void start_connect(conn_t *c) {
  int r = uv_tcp_init(loop, &c->tcp);
  if (r < 0) die(c, "tcp init", r);
  c->tcp.data = c;
  c->connect_req.data = c;
  c->tries++;
  r = uv_tcp_connect(&c->connect_req, &c->tcp, (struct sockaddr *)&addr,
                     on_connect);
  if (r == UV_EAGAIN && c->tries < MAX_RETRIES) {
    uv_close((uv_handle_t *)&c->tcp, on_retry_closed);
    return;
  }
  if (r < 0) die(c, "connect", r);
}

static void on_deadline(uv_timer_t *t) {
  die(NULL, "not ready in time", 0);
}

static void on_signal(uv_signal_t *h, int signum) {
  exit(0);
}

static void in_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  static char b[256];
  *buf = uv_buf_init(b, sizeof b);
}

/* stdin's bytes are ignored; its end (or an error) ends the run. */
static void on_stdin(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  if (nread < 0) exit(0);
}

/* type: what fd 0 was before the loop opened descriptors of its own (with
 * stdin closed, one of them could become fd 0). */
static void watch_stdin(uv_handle_type type) {
  uv_stream_t *s = NULL;
  switch (type) {
  case UV_NAMED_PIPE:
    if (uv_pipe_init(loop, &in_pipe, 0) == 0 && uv_pipe_open(&in_pipe, 0) == 0)
      s = (uv_stream_t *)&in_pipe;
    break;
  case UV_TTY:
    if (uv_tty_init(loop, &in_tty, 0, 1) == 0) s = (uv_stream_t *)&in_tty;
    break;
  default:
    break; /* a file, /dev/null or closed: signals only */
  }
  if (s != NULL) uv_read_start(s, in_alloc, on_stdin);
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr,
            "usage: idle_load host port n [window] [timeout_seconds]\n");
    return 2;
  }
  n = atoi(argv[3]);
  window = argc > 4 ? atoi(argv[4]) : 128;
  double timeout = argc > 5 ? atof(argv[5]) : 120;
  if (n <= 0 || window <= 0 || timeout <= 0) {
    fprintf(stderr, "idle_load: n, window and timeout must be positive\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  uv_handle_type in_type = uv_guess_handle(0);
  loop = uv_default_loop();
  int r = uv_ip4_addr(argv[1], atoi(argv[2]), (struct sockaddr_in *)&addr);
  if (r < 0) die(NULL, "address", r);
  conns = calloc((size_t)n, sizeof *conns);
  if (conns == NULL) die(NULL, "out of memory", 0);
  for (int i = 0; i < n; i++) {
    conn_t *c = &conns[i];
    c->id = i;
    c->len = (size_t)snprintf(c->line, sizeof c->line, "hello %d\n", i);
    uv_timer_init(loop, &c->retry);
    c->retry.data = c;
  }
  uv_signal_init(loop, &sigterm);
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  uv_signal_init(loop, &sigint);
  uv_signal_start(&sigint, on_signal, SIGINT);
  uv_timer_init(loop, &deadline);
  uv_timer_start(&deadline, on_deadline, (uint64_t)(timeout * 1000), 0);
  watch_stdin(in_type);
  fill_window();
  uv_run(loop, UV_RUN_DEFAULT);
  return 0;
}
