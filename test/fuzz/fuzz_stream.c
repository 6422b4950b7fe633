/* libFuzzer target over the read side of src/stream.c: the buffer that
 * libuv reads into (stream_on_alloc / stream_on_read), the separator search
 * (tide__stream_find), consumption (tide__stream_consume) and the reader's
 * wake-up condition (rfut completes exactly when the waiting reader's need
 * is met), checked after every step against a plain model: a byte string.
 *
 * The target compiles src/stream.c into itself (the #include below) so it
 * can call the two static libuv callbacks directly: no test seam in src/.
 * The stream is a real tide stream on a real libuv pipe (one end of a
 * socketpair, so uv_read_start works), but the loop never runs while the
 * input plays: the bytes of the input are handed to stream_on_alloc and
 * stream_on_read as libuv would hand them over.
 *
 * The input is a program of one-byte opcodes with their operands:
 *   APPEND n, bytes   n bytes arrive (libuv's alloc/read pair, in as many
 *                     reads as the offered buffer needs)
 *   FIND s            tide__stream_find with separator s (a table entry or
 *                     bytes of the input): same answer as memmem on the model
 *   CONSUME n         the reader takes n bytes (n <= buffered)
 *   WAIT mode         a reader starts waiting (any data / n bytes / a
 *                     separator), as lstream.c's read_wait does, if the
 *                     model says it must wait
 *   CANCEL            the waiting reader is cancelled (rfut's cancel hook)
 *   EOF               the peer closes (stream_on_read with UV_EOF)
 *   MAXLINE n         the line limit changes (while no reader waits)
 *   IDLE              an alloc followed by an empty read (EAGAIN)
 *
 * Between steps, besides the model: a stream with nothing buffered holds
 * no buffer (the pool has it back).
 *
 * Build and run: make fuzz (the Makefile's build/fuzz/fuzz_stream rule).
 * Knobs that step around known bugs, so a campaign can look for others:
 * FUZZ_STREAM_MAX_WANT=n bounds the byte count a WAIT may ask for (the
 * default lets a reader ask for up to 2^40 bytes, as readexactly may);
 * FUZZ_STREAM_AVOID_RSCAN=1 restarts the search when the separator
 * changes (see new_search). FUZZ_STREAM_TRACE=1 prints every step. */
#include "../../src/stream.c"

#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

/* The stream here is plain (s->tls is NULL): stream.c reaches the TLS
 * layer (src/tls.c) only for TLS streams, so these stand in for it at link
 * time and must never run. */
int tide__stream_tls_ready(const tide__stream_t *s) { (void)s; abort(); }
void tide__stream_tls_alloc(tide__stream_t *s, uv_buf_t *buf) {
  (void)s, (void)buf;
  abort();
}
void tide__stream_tls_input(tide__stream_t *s, ssize_t nread,
                            const uv_buf_t *buf) {
  (void)s, (void)nread, (void)buf;
  abort();
}
int tide__stream_tls_pump(tide__stream_t *s) { (void)s; abort(); }
int tide__stream_tls_write(tide__stream_t *s, const char *p, size_t len) {
  (void)s, (void)p, (void)len;
  abort();
}
void tide__stream_tls_close_notify(tide__stream_t *s) { (void)s; abort(); }
void tide__tls_free(tide__tls_t *t) { (void)t; abort(); }

#define MODEL_MAX (256u << 10) /* the model never holds more than this */

static tide_runtime_t rt;
static int ready;
static uint64_t max_want = (uint64_t)1 << 40;
static int avoid_rscan; /* FUZZ_STREAM_AVOID_RSCAN: see the header */
static int trace;       /* FUZZ_STREAM_TRACE: print each step */
static char lastsep[8];  /* the separator of the last search */
static size_t lastseplen;

/* The model: what the stream must hold, and the waiting reader. */
static char *model;
static size_t mlen;
static int waiting;   /* a WAIT is pending in the model */
static int wmode;     /* its mode */
static size_t wwant;  /* REXACT: its count */
static char wsep[8];  /* RSEP: its separator */
static size_t wseplen;
static int eof;

/* The input cursor. */
static const uint8_t *in;
static size_t inlen;

static unsigned take(void) {
  if (inlen == 0) return 0;
  inlen--;
  return *in++;
}

/* A variable-length count: mostly small, now and then large. */
static uint64_t take_count(void) {
  unsigned b = take();
  if (b < 200) return b;
  if (b < 250) return (uint64_t)take() << 8 | take();
  return ((uint64_t)take() << 32) | ((uint64_t)take() << 24) |
         ((uint64_t)take() << 16) | ((uint64_t)take() << 8) | take();
}

static const char *const SEPS[] = {"\n", "\r\n", "a", "ab", "aba", "xyz",
                                   "\n\n", "abcabd", "zz", "b\n"};

/* Reads a separator into buf (1..7 bytes); returns its length. */
static size_t take_sep(char *buf) {
  unsigned k = take();
  size_t n, i;
  if (k < 200) {
    const char *s = SEPS[k % (sizeof(SEPS) / sizeof(SEPS[0]))];
    n = strlen(s);
    memcpy(buf, s, n);
    return n;
  }
  n = 1 + k % 7;
  for (i = 0; i < n; i++) buf[i] = (char)("abxyz\n\r"[take() % 7]);
  return n;
}

#define CHECK(cond, ...)                                                     \
  do {                                                                       \
    if (!(cond)) {                                                           \
      fprintf(stderr, "fuzz_stream: check failed: %s: ", #cond);             \
      fprintf(stderr, __VA_ARGS__);                                          \
      fprintf(stderr, "\n");                                                 \
      abort();                                                               \
    }                                                                        \
  } while (0)

static long model_find(const char *sep, size_t seplen) {
  const char *hit;
  if (seplen == 0) return 0;
  if (mlen < seplen) return -1;
  hit = memmem(model, mlen, sep, seplen);
  return hit ? (long)(hit - model) : -1;
}

/* Must the model's waiting reader be woken (stream_satisfied)? */
static int model_satisfied(tide__stream_t *s) {
  if (eof) return 1;
  switch (wmode) {
  case TIDE__RANY: return mlen > 0;
  case TIDE__REXACT: return mlen >= wwant;
  default:
    return mlen >= tide__stream_max_line(s) + wseplen ||
           model_find(wsep, wseplen) >= 0;
  }
}

/* The waiting reader is woken exactly when its need is met. */
static void check_wake(tide__stream_t *s) {
  if (waiting) {
    int sat = model_satisfied(s);
    /* rfut completes in stream_on_read as soon as the need is met; until
     * then it stays pending. */
    CHECK(sat == (s->rfut.state != TIDE__PENDING),
          "reader (mode %d, want %zu) %s but rfut is %s", wmode, wwant,
          sat ? "is satisfied" : "must wait",
          s->rfut.state == TIDE__PENDING ? "pending" : "done");
    if (sat) waiting = 0;
  }
}

/* The invariants between two steps. */
static void check_state(tide__stream_t *s) {
  size_t n = tide__stream_buffered(s);
  CHECK(s->rstart <= s->rend && s->rend <= tide__stream_rcap(s),
        "rstart %zu rend %zu "
        "rcap %zu",
        s->rstart, s->rend, tide__stream_rcap(s));
  CHECK(n == mlen, "buffered %zu, model %zu", n, mlen);
  CHECK(n == 0 || memcmp(s->rbuf + s->rstart, model, n) == 0,
        "the buffered bytes differ from the model's");
  /* Issue 17: a stream with nothing buffered holds no buffer (it went
   * back to the loop's pool). */
  CHECK(n > 0 || (s->rbuf == NULL && tide__stream_rcap(s) == 0),
        "an empty stream holds a buffer of %zu bytes", tide__stream_rcap(s));
  check_wake(s);
}

/* A search for sep begins. With FUZZ_STREAM_AVOID_RSCAN, a search for
 * another separator than the last one starts from the beginning of the
 * buffer (s->rscan = 0): this steps around the known bug of rscan kept
 * across separators, so that a campaign can look for others. */
static void new_search(tide__stream_t *s, const char *sep, size_t seplen) {
  if (!avoid_rscan) return;
  if (seplen != lastseplen || memcmp(sep, lastsep, seplen) != 0) s->rscan = 0;
  memcpy(lastsep, sep, seplen);
  lastseplen = seplen;
}

/* libuv's side of one arrival of n bytes from p: offer, fill, report, as
 * many times as the offered space requires. */
static void deliver(tide__stream_t *s, const char *p, size_t n) {
  while (n > 0) {
    uv_buf_t buf;
    size_t before = tide__stream_rcap(s), chunk, want_bound;
    /* stream_on_read searches for a waiting reader's separator. */
    if (waiting && wmode == TIDE__RSEP) new_search(s, wsep, wseplen);
    stream_on_alloc(&s->u.handle, 65536, &buf);
    if (buf.base == NULL || buf.len == 0) {
      stream_on_read(&s->u.stream, UV_ENOBUFS, &buf);
      eof = 1;
      return;
    }
    CHECK(buf.base == s->rbuf + s->rend &&
              buf.len == tide__stream_rcap(s) - s->rend,
          "the offered buffer is not the free end of rbuf");
    CHECK(buf.len >= TIDE__RBUF_ROOM, "offered %zu bytes", (size_t)buf.len);
    /* A buffer grows with the data that came, never with the count a
     * reader asked for (readexactly(2^40) must not allocate a terabyte):
     * a few times what is buffered, at most. */
    want_bound = 4 * (mlen + TIDE__RBUF_ROOM);
    if (want_bound < TIDE__RBUF_INIT) want_bound = TIDE__RBUF_INIT;
    CHECK(tide__stream_rcap(s) == before || tide__stream_rcap(s) <= want_bound,
          "grew to %zu bytes for %zu buffered (a reader waits for %zu)",
          tide__stream_rcap(s), mlen,
          waiting && wmode == TIDE__REXACT ? wwant : 0);
    chunk = n < buf.len ? n : buf.len;
    memcpy(buf.base, p, chunk);
    memcpy(model + mlen, p, chunk);
    mlen += chunk;
    stream_on_read(&s->u.stream, (ssize_t)chunk, &buf);
    p += chunk;
    n -= chunk;
    check_wake(s);
  }
}

static void setup(void) {
  tide__loop_init(&rt.loop, NULL);
  tide__link_init(&rt.resources);
  model = malloc(MODEL_MAX);
  if (getenv("FUZZ_STREAM_MAX_WANT") != NULL)
    max_want = strtoull(getenv("FUZZ_STREAM_MAX_WANT"), NULL, 10);
  avoid_rscan = getenv("FUZZ_STREAM_AVOID_RSCAN") != NULL;
  trace = getenv("FUZZ_STREAM_TRACE") != NULL;
  ready = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  tide__stream_t *s;
  int err, fds[2];
  char bytes[256];
  if (!ready) setup();
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) return 0;
  s = tide__stream_new(&rt, TIDE__PIPE, 0, &err);
  if (s == NULL || uv_pipe_open(&s->u.pipe, fds[0]) != 0) abort();
  close(fds[1]);
  in = data;
  inlen = size;
  mlen = 0;
  waiting = eof = 0;
  lastseplen = 0;
  tide__stream_start(s);

  while (inlen > 0) {
    unsigned op = take() % 8;
    switch (op) {
    case 0: { /* APPEND */
      size_t n = take_count(), i;
      if (eof) break;
      if (n > MODEL_MAX - mlen) n = MODEL_MAX - mlen;
      while (n > 0) {
        size_t k = n < sizeof(bytes) ? n : sizeof(bytes);
        /* The input's bytes, mapped onto a small alphabet so separators
         * occur; past the input's end, a repeating pattern. */
        for (i = 0; i < k; i++)
          bytes[i] = "abxyz\n\r"[(inlen > 0 ? take() : i) % 7];
        deliver(s, bytes, k);
        n -= k;
      }
      break;
    }
    case 1: { /* FIND */
      char sep[8];
      size_t seplen = take_sep(sep);
      long got, want;
      new_search(s, sep, seplen);
      got = tide__stream_find(s, sep, seplen);
      want = model_find(sep, seplen);
      if (trace)
        fprintf(stderr, "find \"%.*s\" -> %ld\n", (int)seplen, sep, got);
      CHECK(got == want, "find(sep of %zu bytes) = %ld, the model finds %ld "
            "in %zu bytes", seplen, got, want, mlen);
      break;
    }
    case 2: { /* CONSUME */
      size_t n = mlen ? take_count() % (mlen + 1) : 0;
      if (waiting) break; /* a reader consumes only once woken */
      tide__stream_consume(s, n);
      memmove(model, model + n, mlen - n);
      mlen -= n;
      break;
    }
    case 3: { /* WAIT */
      if (waiting || s->rfut.state == TIDE__PENDING) break;
      wmode = (int)(take() % 3);
      wwant = 0;
      wseplen = 0;
      if (wmode == TIDE__REXACT) {
        uint64_t w = take_count();
        wwant = (size_t)(w > max_want ? max_want : w);
      } else if (wmode == TIDE__RSEP) {
        wseplen = take_sep(wsep);
        new_search(s, wsep, wseplen);
      }
      /* lstream.c serves a reader from the buffer when it can; only one
       * that cannot waits. */
      if (model_satisfied(s)) break;
      waiting = 1;
      tide__stream_wait_read(s, wmode, wwant, wsep, wseplen);
      break;
    }
    case 4: /* CANCEL */
      if (!waiting) break;
      tide__future_cancel(&s->rfut);
      CHECK(s->rfut.state == TIDE__CANCELLED, "rfut survived its cancel");
      waiting = 0;
      break;
    case 5: { /* EOF */
      uv_buf_t buf = uv_buf_init(NULL, 0);
      if (eof) break;
      eof = 1;
      stream_on_read(&s->u.stream, UV_EOF, &buf);
      break;
    }
    case 6: { /* MAXLINE (as setoptions while no reader waits: a waiting
               * reader is re-examined only when bytes arrive) */
      unsigned k = take();
      tide__stream_ext_t *x;
      if (waiting) break;
      if ((x = tide__stream_ext(s)) == NULL) abort();
      x->max_line = k < 128 ? 1 + k % 64 : TIDE__MAX_LINE;
      if (x->rlimit < x->max_line + 64) x->rlimit = x->max_line + 64;
      break;
    }
    default: { /* IDLE */
      uv_buf_t buf;
      if (waiting && wmode == TIDE__RSEP) new_search(s, wsep, wseplen);
      stream_on_alloc(&s->u.handle, 65536, &buf);
      if (buf.base != NULL) stream_on_read(&s->u.stream, 0, &buf);
      break;
    }
    }
    if (trace)
      fprintf(stderr, "step %u: buffered %zu, rscan %zu, waiting %d (mode "
              "%d, want %zu, sep of %zu), eof %d\n", op, mlen, s->rscan,
              waiting, wmode, wwant, wseplen, eof);
    check_state(s);
  }

  tide__stream_close(s);
  uv_run(rt.loop.uv, UV_RUN_NOWAIT); /* the close callback frees it */
  tide__loop_drain(&rt.loop);        /* or a ready entry does */
  return 0;
}
