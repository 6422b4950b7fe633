/*
 * echo_load.c: closed-loop load generator for TCP echo servers (libuv).
 *
 *   usage: echo_load host port conns msgsize seconds [warmup_seconds]
 *
 * Opens `conns` connections. Each keeps exactly one message of `msgsize`
 * bytes in flight: send it, wait until all of its bytes came back, check
 * them, send the next one. Once every connection is up it runs
 * `warmup_seconds` (default 1) unmeasured, prints "measure-start" (flushed,
 * so a harness can sample the server's CPU time right then), measures for
 * `seconds`, and prints one machine-readable line:
 *
 *   msgs 123456 seconds 3.000 msgs_per_sec 41152.0 errors 0 cpu_seconds 2.1
 *
 * cpu_seconds is this process's own CPU time (user+sys) in the window, so a
 * harness can tell whether the load generator itself was the bottleneck.
 *
 * Any connection error, early EOF or wrong echoed byte is fatal: message on
 * stderr, exit 1. So `errors` is always 0 when the line is printed; it is
 * there so that parsers need not special-case it.
 *
 * Every message is distinct: per-connection pseudo-random contents (catches
 * bytes routed to the wrong connection) with the first 8 bytes replaced by
 * the message's sequence number (catches stale or duplicated echoes).
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <uv.h>

enum phase { CONNECTING, WARMUP, MEASURE, DONE };

typedef struct {
  uv_tcp_t tcp;
  uv_connect_t connect_req;
  uv_write_t write_req; /* only one write can be pending: one msg in flight */
  int id;
  int write_pending; /* write_req is in use */
  int echo_complete; /* all bytes back, next send waits for on_write */
  uint64_t seq;
  size_t got; /* bytes of the current echo received so far */
  char *out;  /* the message in flight; stays untouched until its
                 echo is complete, so uv_write can point into it */
  char *in;   /* echo receive buffer, msgsize bytes */
} conn_t;

static uv_loop_t *loop;
static uv_timer_t timer;
static struct sockaddr_storage addr;
static conn_t *conns;
static int nconns, nconnected;
static size_t msgsize;
static double seconds, warmup;
static enum phase phase = CONNECTING;
static uint64_t completed;      /* round trips completed, all phases */
static uint64_t measure_base;   /* `completed` at measure start */
static uint64_t measure_t0;     /* uv_hrtime() at measure start */
static double measure_cpu0;     /* own CPU seconds at measure start */
static char overflow_buf[4096]; /* read target once the echo is complete */

static void die(const conn_t *c, const char *what, int err) {
  if (c != NULL)
    fprintf(stderr, "echo_load: conn %d: %s", c->id, what);
  else
    fprintf(stderr, "echo_load: %s", what);
  if (err != 0) fprintf(stderr, ": %s", uv_strerror(err));
  fputc('\n', stderr);
  exit(1);
}

static void send_msg(conn_t *c);

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void on_write(uv_write_t *req, int status) {
  conn_t *c = req->data;

  c->write_pending = 0;
  if (status < 0) {
    if (phase == DONE) return; /* UV_ECANCELED from our own close */
    die(c, "write", status);
  }
  /* Rare: the echo came back before libuv ran this callback. */
  if (c->echo_complete) send_msg(c);
}

static void send_msg(conn_t *c) {
  c->echo_complete = 0;
  c->got = 0;
  if (phase == DONE) return;

  c->seq++;
  if (msgsize >= sizeof c->seq) memcpy(c->out, &c->seq, sizeof c->seq);

  /* Same pattern as a good server: try_write, uv_write only the rest. */
  uv_buf_t b = uv_buf_init(c->out, (unsigned int)msgsize);
  int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
  if (n == UV_EAGAIN) n = 0;
  if (n < 0) die(c, "try_write", n);
  if ((size_t)n == msgsize) return;

  b = uv_buf_init(c->out + n, (unsigned int)(msgsize - (size_t)n));
  c->write_pending = 1;
  int r = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
  if (r < 0) die(c, "write", r);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  conn_t *c = h->data;
  (void)suggested;
  /* Read at most the rest of the current echo, straight into place. */
  if (c->got < msgsize)
    *buf = uv_buf_init(c->in + c->got, (unsigned int)(msgsize - c->got));
  else
    *buf = uv_buf_init(overflow_buf, sizeof overflow_buf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  conn_t *c = s->data;

  if (nread < 0) {
    if (phase == DONE) return;
    die(c, nread == UV_EOF ? "server closed the connection" : "read",
        nread == UV_EOF ? 0 : (int)nread);
  }
  if (nread == 0) return;
  if (buf->base == overflow_buf) {
    if (phase == DONE) return;
    die(c, "server sent more bytes than were sent to it", 0);
  }
  if (memcmp(c->in + c->got, c->out + c->got, (size_t)nread) != 0)
    die(c, "echoed bytes differ from the bytes sent", 0);
  c->got += (size_t)nread;
  if (c->got < msgsize) return;

  completed++;
  c->echo_complete = 1;
  if (!c->write_pending) send_msg(c);
}

static void close_one(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

static void on_timer(uv_timer_t *t) {
  uint64_t now = uv_hrtime();

  switch (phase) {
  case CONNECTING:
    die(NULL, "timed out connecting", 0);
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
    phase = DONE;
    uint64_t msgs = completed - measure_base;
    double secs = (double)(now - measure_t0) / 1e9;
    /* Print before closing anything: the harness samples the server's CPU
     * time as soon as it reads this line. */
    printf("msgs %llu seconds %.3f msgs_per_sec %.1f errors 0 "
           "cpu_seconds %.3f\n",
           (unsigned long long)msgs, secs, (double)msgs / secs,
           cpu_seconds() - measure_cpu0);
    fflush(stdout);
    if (msgs == 0) die(NULL, "no message completed in the measured window", 0);
    uv_walk(loop, close_one, NULL);
    break;
  }
  case DONE:
    break;
  }
}

static void on_connect(uv_connect_t *req, int status) {
  conn_t *c = req->data;

  if (status < 0) die(c, "connect", status);
  uv_tcp_nodelay(&c->tcp, 1);
  int r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (r < 0) die(c, "read_start", r);
  send_msg(c);

  /* The clock starts once every connection is up, so connection setup is
   * never part of warmup or measurement. */
  if (++nconnected == nconns) {
    phase = WARMUP;
    uv_timer_start(&timer, on_timer, (uint64_t)(warmup * 1000), 0);
  }
}

/* xorshift64: cheap, deterministic per-connection message contents. */
static void fill_random(char *p, size_t n, uint64_t seed) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    p[i] = (char)(x >> 24);
  }
}

static double parse_num(const char *s, const char *name, double min) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno != 0 || end == s || *end != '\0' || v < min) {
    fprintf(stderr, "echo_load: bad %s: '%s'\n", name, s);
    exit(1);
  }
  return v;
}

int main(int argc, char **argv) {
  if (argc != 6 && argc != 7) {
    fprintf(stderr, "usage: echo_load host port conns msgsize seconds "
                    "[warmup_seconds]\n");
    return 1;
  }
  const char *host = argv[1];
  int port = (int)parse_num(argv[2], "port", 1);
  nconns = (int)parse_num(argv[3], "conns", 1);
  msgsize = (size_t)parse_num(argv[4], "msgsize", 1);
  seconds = parse_num(argv[5], "seconds", 0.001);
  warmup = argc == 7 ? parse_num(argv[6], "warmup_seconds", 0) : 1.0;

  /* A server that dies must give an error we report, not a silent exit. */
  signal(SIGPIPE, SIG_IGN);

  if (uv_ip4_addr(host, port, (struct sockaddr_in *)&addr) != 0 &&
      uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr) != 0) {
    fprintf(stderr, "echo_load: bad host (numeric IPv4/IPv6 only): %s\n", host);
    return 1;
  }

  loop = uv_default_loop();
  uv_timer_init(loop, &timer);
  /* Connect watchdog; replaced by the warmup timer once all are up. */
  uv_timer_start(&timer, on_timer, 10000, 0);

  conns = calloc((size_t)nconns, sizeof *conns);
  if (conns == NULL) die(NULL, "out of memory", 0);
  for (int i = 0; i < nconns; i++) {
    conn_t *c = &conns[i];
    c->id = i;
    c->out = malloc(msgsize);
    c->in = malloc(msgsize);
    if (c->out == NULL || c->in == NULL) die(NULL, "out of memory", 0);
    fill_random(c->out, msgsize, (uint64_t)i);
    uv_tcp_init(loop, &c->tcp);
    c->tcp.data = c;
    c->connect_req.data = c;
    c->write_req.data = c;
    int r = uv_tcp_connect(&c->connect_req, &c->tcp,
                           (const struct sockaddr *)&addr, on_connect);
    if (r < 0) die(c, "connect", r);
  }

  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  for (int i = 0; i < nconns; i++) {
    free(conns[i].out);
    free(conns[i].in);
  }
  free(conns);
  return 0;
}
