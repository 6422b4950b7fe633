/* http, C floor: a libuv keep-alive "hello world" responder. Counts the
 * requests in what arrived (each ends at "\r\n\r\n"; no bodies: wrk sends
 * GETs) and writes one canned response per request, batched in one write.
 *   usage: http_c PORT   prints "port N", exits on SIGTERM */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define RESP "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!"
#define RESP_LEN (sizeof(RESP) - 1)

typedef struct {
  uv_tcp_t tcp;
  int match; /* how much of "\r\n\r\n" the bytes so far end with */
  char buf[65536];
} conn_t;

typedef struct {
  uv_write_t req;
  char data[];
} wreq_t;

static uv_loop_t *loop;

static void on_close(uv_handle_t *h) { free(h); }
static void on_write(uv_write_t *req, int status) { free(req); }

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  conn_t *c = (conn_t *)h;
  *b = uv_buf_init(c->buf, sizeof c->buf);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  conn_t *c = (conn_t *)s;
  if (n < 0) { uv_close((uv_handle_t *)s, on_close); return; }
  int reqs = 0;
  static const char end[] = "\r\n\r\n";
  for (ssize_t i = 0; i < n; i++) {
    char ch = b->base[i];
    if (ch == end[c->match]) {
      if (++c->match == 4) { reqs++; c->match = 0; }
    } else c->match = (ch == '\r');
  }
  if (reqs == 0) return;
  wreq_t *w = malloc(sizeof *w + RESP_LEN * reqs);
  for (int i = 0; i < reqs; i++) memcpy(w->data + i * RESP_LEN, RESP, RESP_LEN);
  uv_buf_t out = uv_buf_init(w->data, RESP_LEN * reqs);
  if (uv_write(&w->req, s, &out, 1, on_write) != 0) { free(w); uv_close((uv_handle_t *)s, on_close); }
}

static void on_conn(uv_stream_t *srv, int status) {
  if (status < 0) return;
  conn_t *c = calloc(1, sizeof *c);
  uv_tcp_init(loop, &c->tcp);
  if (uv_accept(srv, (uv_stream_t *)c) != 0) { uv_close((uv_handle_t *)c, on_close); return; }
  uv_read_start((uv_stream_t *)c, on_alloc, on_read);
}

static void on_signal(uv_signal_t *h, int sig) { exit(0); }

int main(int argc, char **argv) {
  static uv_tcp_t srv;
  static uv_signal_t sig1, sig2;
  struct sockaddr_in addr;
  loop = uv_default_loop();
  uv_ip4_addr("127.0.0.1", argc > 1 ? atoi(argv[argc - 1]) : 0, &addr);
  uv_tcp_init(loop, &srv);
  if (uv_tcp_bind(&srv, (const struct sockaddr *)&addr, 0) || uv_listen((uv_stream_t *)&srv, 1024, on_conn)) {
    fprintf(stderr, "http_c: cannot listen\n");
    return 1;
  }
  struct sockaddr_storage ss;
  int len = sizeof ss;
  uv_tcp_getsockname(&srv, (struct sockaddr *)&ss, &len);
  printf("port %d\n", ntohs(((struct sockaddr_in *)&ss)->sin_port));
  fflush(stdout);
  uv_signal_init(loop, &sig1); uv_signal_start(&sig1, on_signal, SIGTERM);
  uv_signal_init(loop, &sig2); uv_signal_start(&sig2, on_signal, SIGINT);
  return uv_run(loop, UV_RUN_DEFAULT);
}
