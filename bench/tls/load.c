/*
 * bench/tls/load.c: closed-loop load generator for TLS echo servers, the
 * TLS twin of bench/echo_load.c (same arguments, same output, so
 * bench/echo.sh drives it with --load).
 *
 *   usage: tls_load host port conns msgsize seconds [warmup_seconds]
 *
 * msgsize > 0 (the tls workload): `conns` TLS connections, each with one
 * message of msgsize bytes in flight, checked when it comes back.
 * msgsize 0 (tls-handshake): each of the `conns` slots loops over a new
 * connection, a full handshake (no session is ever resumed), a 1-byte
 * echo (so the server's side of the handshake is complete), close_notify
 * and close; "msgs" counts these connections.
 *
 * After warmup it prints "measure-start", then after `seconds`:
 *   msgs 123456 seconds 3.000 msgs_per_sec 41152.0 errors 0 cpu_seconds 2.1
 * Any error is fatal (message on stderr, exit 1). The server's certificate
 * is not verified: that is client-side work, and the server's CPU is what
 * is measured.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>

#include "../lib/tls_uv.h"

enum phase { CONNECTING, WARMUP, MEASURE, DONE };

typedef struct {
  tls_conn_t tls; /* first */
  uv_connect_t connect_req;
  int id;
  uint64_t seq;
  size_t got;
  char *out, *in;
} conn_t;

static uv_loop_t *loop;
static uv_timer_t timer;
static struct sockaddr_storage addr;
static conn_t **slots;
static SSL_CTX *ctx;
static int nconns, nconnected;
static size_t msgsize;
static int handshakes; /* msgsize 0 */
static double seconds, warmup;
static enum phase phase = CONNECTING;
static uint64_t completed, measure_base, measure_t0;
static double measure_cpu0;

static void die(int id, const char *what) {
  if (id >= 0)
    fprintf(stderr, "tls_load: conn %d: %s\n", id, what);
  else
    fprintf(stderr, "tls_load: %s\n", what);
  exit(1);
}

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void connect_slot(int id);

static void send_msg(conn_t *c) {
  c->got = 0;
  if (phase == DONE) return;
  c->seq++;
  if (msgsize >= sizeof c->seq) memcpy(c->out, &c->seq, sizeof c->seq);
  tls_write(&c->tls, c->out, handshakes ? 1 : msgsize);
}

static void on_closed(tls_conn_t *t) {
  conn_t *c = (conn_t *)t;
  int id = c->id;
  free(c->out);
  free(c->in);
  free(c);
  slots[id] = NULL;
  if (handshakes && phase != DONE) connect_slot(id);
}

static void on_end(tls_conn_t *t, const char *why) {
  conn_t *c = (conn_t *)t;
  if (phase == DONE || t->closing) return;
  die(c->id, why);
}

static void on_plain(tls_conn_t *t, const char *p, size_t n) {
  conn_t *c = (conn_t *)t;
  size_t want = handshakes ? 1 : msgsize;
  if (c->got + n > want) die(c->id, "server sent more bytes than were sent");
  if (memcmp(p, c->out + c->got, n) != 0)
    die(c->id, "echoed bytes differ from the bytes sent");
  c->got += n;
  if (c->got < want) return;
  completed++;
  if (handshakes)
    tls_shutdown(t); /* on_closed connects the next one */
  else
    send_msg(c);
}

static void on_timer(uv_timer_t *t);

static void on_handshake(tls_conn_t *t) {
  conn_t *c = (conn_t *)t;
  send_msg(c);
  /* The clock starts once every connection is up (handshake mode: after
   * as many handshakes as there are slots). */
  if (phase == CONNECTING && ++nconnected == nconns) {
    phase = WARMUP;
    uv_timer_start(&timer, on_timer, (uint64_t)(warmup * 1000), 0);
  }
}

static void on_connect(uv_connect_t *req, int status) {
  conn_t *c = req->data;
  if (status < 0) {
    if (phase == DONE) return; /* closed by us */
    die(c->id, uv_strerror(status));
  }
  tls_start(&c->tls, ctx, 0);
}

static void fill_random(char *p, size_t n, uint64_t seed) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    p[i] = (char)(x >> 24);
  }
}

static void connect_slot(int id) {
  size_t n = handshakes ? 8 : msgsize;
  conn_t *c = calloc(1, sizeof *c);
  if (c == NULL) die(id, "out of memory");
  c->id = id;
  c->out = malloc(n);
  c->in = malloc(n);
  if (c->out == NULL || c->in == NULL) die(id, "out of memory");
  fill_random(c->out, n, (uint64_t)id);
  uv_tcp_init(loop, &c->tls.tcp);
  c->tls.tcp.data = c;
  c->tls.on_handshake = on_handshake;
  c->tls.on_plain = on_plain;
  c->tls.on_end = on_end;
  c->tls.on_closed = on_closed;
  c->connect_req.data = c;
  slots[id] = c;
  if (uv_tcp_connect(&c->connect_req, &c->tls.tcp,
                     (const struct sockaddr *)&addr, on_connect) < 0)
    die(id, "connect");
}

static void on_timer(uv_timer_t *t) {
  uint64_t now = uv_hrtime();
  int i;
  switch (phase) {
  case CONNECTING:
    die(-1, "timed out connecting");
    break;
  case WARMUP:
    phase = MEASURE;
    measure_base = completed;
    measure_t0 = now;
    measure_cpu0 = cpu_seconds();
    printf("measure-start\n");
    fflush(stdout);
    uv_timer_start(t, on_timer, (uint64_t)(seconds * 1000), 0);
    break;
  case MEASURE: {
    uint64_t msgs = completed - measure_base;
    double secs = (double)(now - measure_t0) / 1e9;
    phase = DONE;
    printf("msgs %llu seconds %.3f msgs_per_sec %.1f errors 0 "
           "cpu_seconds %.3f\n",
           (unsigned long long)msgs, secs, (double)msgs / secs,
           cpu_seconds() - measure_cpu0);
    fflush(stdout);
    if (msgs == 0) die(-1, "nothing completed in the measured window");
    for (i = 0; i < nconns; i++)
      if (slots[i] != NULL) tls_close(&slots[i]->tls);
    uv_close((uv_handle_t *)t, NULL);
    break;
  }
  case DONE:
    break;
  }
}

static double parse_num(const char *s, const char *name, double min) {
  char *end;
  double v;
  errno = 0;
  v = strtod(s, &end);
  if (errno != 0 || end == s || *end != '\0' || v < min) {
    fprintf(stderr, "tls_load: bad %s: '%s'\n", name, s);
    exit(1);
  }
  return v;
}

int main(int argc, char **argv) {
  int port, i;
  if (argc != 6 && argc != 7) {
    fprintf(stderr, "usage: tls_load host port conns msgsize seconds "
                    "[warmup_seconds]\n");
    return 1;
  }
  port = (int)parse_num(argv[2], "port", 1);
  nconns = (int)parse_num(argv[3], "conns", 1);
  msgsize = (size_t)parse_num(argv[4], "msgsize", 0);
  handshakes = msgsize == 0;
  seconds = parse_num(argv[5], "seconds", 0.001);
  warmup = argc == 7 ? parse_num(argv[6], "warmup_seconds", 0) : 1.0;
  signal(SIGPIPE, SIG_IGN);
  if (uv_ip4_addr(argv[1], port, (struct sockaddr_in *)&addr) != 0 &&
      uv_ip6_addr(argv[1], port, (struct sockaddr_in6 *)&addr) != 0)
    die(-1, "bad host (numeric IPv4/IPv6 only)");
  ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == NULL) die(-1, "SSL_CTX_new");
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  /* Every handshake is a full one. */
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);

  loop = uv_default_loop();
  uv_timer_init(loop, &timer);
  uv_timer_start(&timer, on_timer, 10000, 0); /* connect watchdog */
  slots = calloc((size_t)nconns, sizeof *slots);
  if (slots == NULL) die(-1, "out of memory");
  for (i = 0; i < nconns; i++)
    connect_slot(i);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  free(slots);
  SSL_CTX_free(ctx);
  return 0;
}
