/*
 * bench/tls/c.c: TLS echo server on libuv + OpenSSL memory BIOs, the C
 * floor of the tls and tls-handshake workloads (bench/run.sh).
 *
 *   usage: BENCH_TLS_DIR=dir tls_c [port]   (port 0: the kernel picks one)
 *
 * tide's side is bench/echo_tide.lua --tls.
 *
 * The certificate and key are $BENCH_TLS_DIR/server.pem and server.key
 * (test/tls_certs.sh makes them). Listens on 127.0.0.1, prints "port N"
 * once bound, echoes every decrypted byte back encrypted, exits on SIGTERM.
 * The TLS plumbing is bench/lib/tls_uv.h; OpenSSL's defaults otherwise
 * (TLS 1.3, session tickets on), as tide's server contexts have them.
 * Back-pressure as in echo_uv.c: stop reading from a peer that does not
 * read its echoes.
 */
#include <signal.h>

#include "../lib/tls_uv.h"

#define HIGH_WATER (1024 * 1024)
#define LOW_WATER (HIGH_WATER / 4)

static uv_loop_t *loop;
static uv_tcp_t server;
static uv_signal_t sigterm, sigint;
static SSL_CTX *ctx;

static void on_conn_closed(tls_conn_t *c) {
  free(c);
}

static void on_end(tls_conn_t *c, const char *why) {
  (void)why;
  tls_shutdown(c);
}

static void on_written(tls_conn_t *c) {
  uv_stream_t *s = (uv_stream_t *)&c->tcp;
  if (c->paused && s->write_queue_size <= LOW_WATER) {
    c->paused = 0;
    uv_read_start(s, tls_on_alloc, tls_on_read);
  }
}

static void on_plain(tls_conn_t *c, const char *p, size_t n) {
  uv_stream_t *s = (uv_stream_t *)&c->tcp;
  tls_write(c, p, n);
  if (s->write_queue_size > HIGH_WATER && !c->paused) {
    c->paused = 1;
    uv_read_stop(s);
  }
}

static void on_connection(uv_stream_t *srv, int status) {
  tls_conn_t *c;
  if (status < 0) return;
  c = calloc(1, sizeof *c);
  if (c == NULL) return;
  uv_tcp_init(loop, &c->tcp);
  c->tcp.data = c; /* marks it as a connection for close_one() */
  c->on_plain = on_plain;
  c->on_end = on_end;
  c->on_written = on_written;
  c->on_closed = on_conn_closed;
  if (uv_accept(srv, (uv_stream_t *)&c->tcp) < 0) {
    uv_close((uv_handle_t *)&c->tcp, NULL);
    return;
  }
  tls_start(c, ctx, 1);
}

static void close_one(uv_handle_t *h, void *arg) {
  (void)arg;
  if (uv_is_closing(h)) return;
  if (h->data != NULL)
    tls_close(h->data);
  else
    uv_close(h, NULL);
}

static void on_signal(uv_signal_t *h, int signum) {
  (void)signum;
  uv_walk(h->loop, close_one, NULL);
}

static int check(int r, const char *what) {
  if (r < 0) {
    fprintf(stderr, "tls_c: %s: %s\n", what, uv_strerror(r));
    exit(1);
  }
  return r;
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[argc - 1]) : 0;
  const char *dir = getenv("BENCH_TLS_DIR");
  char cert[512], key[512];
  struct sockaddr_in addr;
  struct sockaddr_storage bound;
  int len = sizeof bound;

  signal(SIGPIPE, SIG_IGN);
  if (dir == NULL) {
    fprintf(stderr, "tls_c: set BENCH_TLS_DIR (test/tls_certs.sh DIR)\n");
    return 1;
  }
  snprintf(cert, sizeof cert, "%s/server.pem", dir);
  snprintf(key, sizeof key, "%s/server.key", dir);
  ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == NULL || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
    fprintf(stderr, "tls_c: cannot load %s / %s\n", cert, key);
    return 1;
  }

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
  uv_loop_close(loop);
  SSL_CTX_free(ctx);
  return 0;
}
