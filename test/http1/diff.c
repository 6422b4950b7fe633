/* Differential test of tide's HTTP/1.1 head parser (src/http1.c) against
 * llhttp 8.1.0, built from Debian's node-llhttp sources for this test
 * only (Makefile: test-http1).
 *
 *   http1_diff [--cases N] [--seed S] [--out FILE] [--show N]
 *
 * Each case is a request or response head: one of the corpus below, or a
 * corpus entry changed by a few seeded random mutations (bytes replaced,
 * inserted or deleted, lines doubled or cut, CRLF turned into LF, header
 * lines that smugglers use spliced in). Both parsers read the whole case;
 * their verdicts (complete / incomplete / refused) and, when both accept,
 * the parsed fields (method, target, version, status, header names and
 * values, body framing, keep-alive) are compared.
 *
 * Every disagreement must fall into a category documented in docs/http.md
 * (tide stricter on purpose, or llhttp's own limits); any other one fails
 * the run and is printed. The counts of each category are printed.
 *
 * Each case is also parsed by tide once more, split at a random point (the
 * prefix first, then the whole): the result must be the same as in one
 * call (the incremental path agrees with the one-shot path).
 *
 * --out writes every case with tide's verdict for test/http1/h11_diff.py,
 * which compares them with h11. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llhttp.h"
#include "tide_http1.h"

#define MAXCASE 20000
#define MAXFIELDS 100

/* ------------------------------------------------------------ corpus */

typedef struct {
  int response;
  const char *text;
} seed_t;

static const seed_t corpus[] = {
    {0, "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"},
    {0, "GET /index.html?x=1&y=%20 HTTP/1.1\r\nHost: a\r\nUser-Agent: "
        "curl/7.88.1\r\n"
        "Accept: */*\r\n\r\n"},
    {0, "POST /submit HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\n"
        "Content-Length: 5\r\n\r\n"},
    {0, "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"},
    {0, "PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: "
        "10\r\n\r\n"},
    {0, "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: "
        "Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: "
        "13\r\n\r\n"},
    {0, "GET / HTTP/1.0\r\n\r\n"},
    {0, "GET / HTTP/1.0\r\nConnection: keep-alive\r\nHost: a\r\n\r\n"},
    {0, "DELETE /r/1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"},
    {0, "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"},
    {0, "HEAD /h HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Tab:\tv\t\r\n\r\n"},
    {0, "GET http://a/b HTTP/1.1\r\nHost: a\r\nCookie: a=b; c=d\r\nCookie: "
        "e=f\r\n\r\n"},
    {0, "PATCH /p HTTP/1.1\r\nhost: a\r\ncontent-length: 0\r\nx-obs: "
        "caf\xc3\xa9\r\n\r\n"},
    {0, "\r\nGET /after-crlf HTTP/1.1\r\nHost: a\r\n\r\n"},
    {0, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
        "chunked\r\nContent-Length: 3\r\n\r\n"},
    {0, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: "
        "4\r\n\r\n"},
    {0, "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n"},
    {0, "GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 3\r\n\r\n"},
    {1, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
        "13\r\n\r\n"},
    {1,
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nServer: tide\r\n\r\n"},
    {1,
     "HTTP/1.1 204 No Content\r\nDate: Tue, 01 Dec 2026 05:00:00 GMT\r\n\r\n"},
    {1, "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n"},
    {1, "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n"},
    {1, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
        "Upgrade\r\n"
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"},
    {1, "HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: "
        "0\r\n\r\n"},
    {1, "HTTP/1.1 500 \r\nContent-Length: 2\r\n\r\n"},
    {1, "HTTP/1.1 302 Found\r\nLocation: /x\r\nSet-Cookie: a=1\r\nSet-Cookie: "
        "b=2\r\n"
        "Content-Length: 0\r\n\r\n"},
};
#define NCORPUS (sizeof(corpus) / sizeof(corpus[0]))

/* Lines spliced in by the mutator: what smuggling and fuzzing reports use. */
static const char *const splices[] = {
    "Content-Length: 5\r\n",
    "Content-Length: 0\r\n",
    "Content-Length: 5, 5\r\n",
    "Content-Length: -1\r\n",
    "Content-Length: +5\r\n",
    "Content-Length: 1e3\r\n",
    "Content-Length: 99999999999999999999\r\n",
    "Content-Length:\r\n",
    "Transfer-Encoding: chunked\r\n",
    "Transfer-Encoding: gzip, chunked\r\n",
    "Transfer-Encoding: chunked, gzip\r\n",
    "Transfer-Encoding: xchunked\r\n",
    "Transfer-Encoding: chunked\r\n",
    "Transfer-Encoding : chunked\r\n",
    " Transfer-Encoding: chunked\r\n",
    "Transfer-Encoding:\tchunked\r\n",
    "Transfer-Encoding: \x0b"
    "chunked\r\n",
    "Transfer-Encoding: identity\r\n",
    "Host: b\r\n",
    "Host:\r\n",
    "Connection: close\r\n",
    "Connection: keep-alive\r\n",
    "Connection: upgrade\r\n",
    "Upgrade: h2c\r\n",
    "Expect: 100-continue\r\n",
    "X-Long: "
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
    "X: y\r\n",
    "\r\n",
    "X\r\n",
    ":\r\n",
    "X:y\n",
    "X: a\rb\r\n",
    " folded\r\n",
    "\tfolded\r\n",
    "X: \x7f\r\n",
    "X: \x00\r\n",
    "Content-Length: 3\r\n",
};
#define NSPLICES (sizeof(splices) / sizeof(splices[0]))

static const char interesting[] =
    "\r\n\t :;,\"#/\\?=-+0159aAzZ\x7f\x80\xff\x00\x0b\x01";

/* ------------------------------------------------------------ random */

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}
static size_t below(size_t n) {
  return n ? (size_t)(next() % n) : 0;
}

/* Positions of line starts in b[0, n). */
static size_t line_starts(const char *b, size_t n, size_t *out, size_t max) {
  size_t k = 0, i;
  out[k++] = 0;
  for (i = 0; i + 1 < n && k < max; i++)
    if (b[i] == '\n') out[k++] = i + 1;
  return k;
}

static size_t insert(char *b, size_t n, size_t at, const char *s, size_t sl) {
  if (n + sl >= MAXCASE) return n;
  memmove(b + at + sl, b + at, n - at);
  memcpy(b + at, s, sl);
  return n + sl;
}

/* One random change to b[0, n); returns the new length. */
static size_t mutate(char *b, size_t n) {
  size_t starts[256], k, at, e;
  const char *s;
  char c;
  if (n == 0) return n;
  switch (below(10)) {
  case 0: /* replace a byte */
    b[below(n)] = interesting[below(sizeof(interesting) - 1)];
    return n;
  case 1: /* insert a byte */
    c = interesting[below(sizeof(interesting) - 1)];
    return insert(b, n, below(n + 1), &c, 1);
  case 2: /* delete a byte */
    at = below(n);
    memmove(b + at, b + at + 1, n - at - 1);
    return n - 1;
  case 3: /* splice a line in after the first line */
  case 4:
    k = line_starts(b, n, starts, 256);
    at = starts[k > 1 ? 1 + below(k - 1) : 0];
    s = splices[below(NSPLICES)];
    return insert(b, n, at, s, strlen(s));
  case 5: /* double a line */
    k = line_starts(b, n, starts, 256);
    at = below(k);
    e = at + 1 < k ? starts[at + 1] : n;
    at = starts[at];
    if (e <= at || n + (e - at) >= MAXCASE) return n;
    {
      char tmp[MAXCASE];
      memcpy(tmp, b + at, e - at);
      return insert(b, n, e, tmp, e - at);
    }
  case 6: /* CRLF -> LF, or CR alone */
    for (at = below(n); at + 1 < n; at++)
      if (b[at] == '\r' && b[at + 1] == '\n') {
        if (next() & 1) {
          memmove(b + at, b + at + 1, n - at - 1);
          return n - 1;
        }
        b[at + 1] = 'X';
        return n;
      }
    return n;
  case 7: /* cut the end */
    return n - below(n < 8 ? n : 8);
  case 8: /* flip the case of a letter */
    at = below(n);
    if ((b[at] | 0x20) >= 'a' && (b[at] | 0x20) <= 'z') b[at] ^= 0x20;
    return n;
  default: /* a run of one byte (long lines, long values) */
    c = (next() & 1) ? 'a' : ' ';
    at = below(n + 1);
    e = 1 + below(next() & 7 ? 32 : 9000);
    if (n + e >= MAXCASE) return n;
    memmove(b + at + e, b + at, n - at);
    memset(b + at, c, e);
    return n + e;
  }
}

/* ------------------------------------------------------------ verdicts */

enum { V_OK, V_INC, V_ERR };

typedef struct {
  int kind;
  int err; /* tide's code or llhttp's errno */
  char method[64], version[8];
  char target[MAXCASE];
  int status;
  int body; /* TIDE__H1_BODY_* */
  uint64_t clen;
  int keep_alive;
  char fields[2 * MAXCASE]; /* "name:value\n"... as sent */
  size_t flen;
} verdict_t;

static void add(char *dst, size_t *len, size_t cap, const char *s, size_t n) {
  if (*len + n + 1 > cap) n = cap - *len - 1;
  memcpy(dst + *len, s, n);
  *len += n;
  dst[*len] = 0;
}

static void verdict_clear(verdict_t *v) {
  v->kind = v->err = v->status = v->body = v->keep_alive = 0;
  v->clen = 0;
  v->method[0] = v->version[0] = v->target[0] = v->fields[0] = 0;
  v->flen = 0;
}

static void tide_verdict(const char *b, size_t n, int response,
                         tide__h1_parser_t *p, int r, verdict_t *v) {
  unsigned i;
  size_t tl = 0;
  verdict_clear(v);
  if (r == TIDE__H1_INCOMPLETE) {
    v->kind = V_INC;
    return;
  }
  if (r < 0) {
    v->kind = V_ERR;
    v->err = r;
    return;
  }
  v->kind = V_OK;
  if (!response) {
    size_t ml = p->method_len < 63 ? p->method_len : 63;
    memcpy(v->method, b + p->method, ml);
    v->method[ml] = 0;
    add(v->target, &tl, sizeof(v->target), b + p->target, p->target_len);
  } else {
    v->status = p->status;
  }
  snprintf(v->version, sizeof(v->version), "1.%d", p->minor);
  for (i = 0; i < p->nfields; i++) {
    const tide__h1_field_t *f = &p->fields[i];
    add(v->fields, &v->flen, sizeof(v->fields), b + f->name, f->name_len);
    add(v->fields, &v->flen, sizeof(v->fields), ":", 1);
    add(v->fields, &v->flen, sizeof(v->fields), b + f->value, f->value_len);
    add(v->fields, &v->flen, sizeof(v->fields), "\n", 1);
  }
  v->body = p->body;
  v->clen = p->body == TIDE__H1_BODY_LENGTH ? p->content_length : 0;
  if (v->body == TIDE__H1_BODY_LENGTH && v->clen == 0 && !response)
    v->body = TIDE__H1_BODY_NONE;
  v->keep_alive = p->keep_alive;
  (void)n;
}

/* llhttp's side: callbacks collect the spans into a verdict. */
typedef struct {
  verdict_t *v;
  size_t tl;
  int done;
  int in_value;
  size_t value_start; /* where the current value starts in v->fields */
} lctx_t;

static void value_end(lctx_t *c) {
  verdict_t *v = c->v;
  if (!c->in_value) return;
  /* llhttp keeps trailing OWS in a value: trim it as tide does. */
  while (v->flen > c->value_start &&
         (v->fields[v->flen - 1] == ' ' || v->fields[v->flen - 1] == '\t'))
    v->flen--;
  add(v->fields, &v->flen, sizeof(v->fields), "\n", 1);
  c->in_value = 0;
}

static int on_method(llhttp_t *h, const char *at, size_t n) {
  lctx_t *c = h->data;
  size_t l = strlen(c->v->method);
  if (l + n < sizeof(c->v->method)) memcpy(c->v->method + l, at, n);
  return 0;
}
static int on_url(llhttp_t *h, const char *at, size_t n) {
  lctx_t *c = h->data;
  add(c->v->target, &c->tl, sizeof(c->v->target), at, n);
  return 0;
}
static int on_field(llhttp_t *h, const char *at, size_t n) {
  lctx_t *c = h->data;
  value_end(c);
  add(c->v->fields, &c->v->flen, sizeof(c->v->fields), at, n);
  return 0;
}
static int on_field_done(llhttp_t *h) {
  lctx_t *c = h->data;
  add(c->v->fields, &c->v->flen, sizeof(c->v->fields), ":", 1);
  c->in_value = 1;
  c->value_start = c->v->flen;
  return 0;
}
static int on_value(llhttp_t *h, const char *at, size_t n) {
  lctx_t *c = h->data;
  add(c->v->fields, &c->v->flen, sizeof(c->v->fields), at, n);
  return 0;
}
static int on_headers_complete(llhttp_t *h) {
  lctx_t *c = h->data;
  verdict_t *v = c->v;
  value_end(c);
  c->done = 1;
  snprintf(v->version, sizeof(v->version), "%d.%d", h->http_major,
           h->http_minor);
  v->status = h->type == HTTP_RESPONSE ? h->status_code : 0;
  if (h->flags & F_CHUNKED)
    v->body = TIDE__H1_BODY_CHUNKED;
  else if (h->flags & F_CONTENT_LENGTH) {
    v->body = TIDE__H1_BODY_LENGTH;
    v->clen = h->content_length;
  } else if (h->type == HTTP_RESPONSE && llhttp_message_needs_eof(h))
    v->body = TIDE__H1_BODY_EOF;
  else
    v->body = TIDE__H1_BODY_NONE;
  if (v->body == TIDE__H1_BODY_LENGTH && v->clen == 0 &&
      h->type == HTTP_REQUEST)
    v->body = TIDE__H1_BODY_NONE;
  v->keep_alive = llhttp_should_keep_alive(h);
  return HPE_PAUSED;
}

static llhttp_settings_t lsettings;

static void llhttp_verdict(const char *b, size_t n, int response,
                           verdict_t *v) {
  llhttp_t h;
  lctx_t c;
  int e;
  verdict_clear(v);
  memset(&c, 0, sizeof(c));
  c.v = v;
  llhttp_init(&h, response ? HTTP_RESPONSE : HTTP_REQUEST, &lsettings);
  h.data = &c;
  e = llhttp_execute(&h, b, n);
  if (c.done) {
    v->kind = V_OK;
    if (!response)
      snprintf(v->method, sizeof(v->method), "%s",
               llhttp_method_name(h.method));
  } else if (e == HPE_OK) {
    v->kind = V_INC;
  } else {
    v->kind = V_ERR;
    v->err = e;
  }
}

/* ------------------------------------------------------------ categories */

/* The documented reasons the parsers may disagree (docs/http.md). */
enum {
  K_HOST,       /* tide requires one Host in HTTP/1.1 requests */
  K_TE,         /* tide accepts no coding but one "chunked" */
  K_TE10,       /* Transfer-Encoding in HTTP/1.0 */
  K_TARGET,     /* '#' or non-ASCII in the target */
  K_VERSION,    /* versions other than 1.0/1.1 */
  K_LIMITS,     /* tide's size limits (llhttp has none of its own) */
  K_METHOD,     /* extension methods: tokens llhttp does not know */
  K_STATUS,     /* status codes below 100 */
  K_CLEN,       /* Content-Length of more than 15 digits */
  K_VALUE,      /* bytes llhttp lets into a value (or a name) */
  K_REASON,     /* a status line without the SP after the code */
  K_EMPTYLINE,  /* empty lines before the start line */
  K_CONNECTION, /* Connection: close wins, OWS trimmed */
  K_OBSFOLD,    /* obs-fold: llhttp unfolds, tide refuses */
  K_HTTP09,     /* a request line without a version */
  K_NOBODY,     /* 1xx, 204, 304 responses never have a body */
  K_NAME,       /* an empty header name */
  K_LINEEND,    /* tide judges a field's meaning once its line ends */
  K_SPACES,     /* more than one SP between the request line's parts */
  K_TE_OWS,     /* llhttp misses "chunked" followed by OWS */
  K_CRWAIT,     /* a CR ending the data: tide waits for its LF */
  K_URL,        /* absolute-form: tide checks the scheme only */
  K_CL_OWS,     /* llhttp refuses OWS after Content-Length's digits */
  K_NCAT
};
static const char *const catnames[K_NCAT] = {
    "tide requires Host (HTTP/1.1 requests)",
    "tide accepts only a single 'chunked' transfer coding",
    "tide refuses Transfer-Encoding in HTTP/1.0",
    "tide refuses '#' and non-ASCII bytes in the target",
    "tide refuses HTTP versions other than 1.x",
    "tide's size limits (line 8 KiB, fields 8 KiB, 100 fields)",
    "tide accepts any token as a method",
    "tide refuses status codes below 100",
    "tide refuses Content-Length of more than 15 digits",
    "tide refuses control bytes llhttp lets into values",
    "tide accepts a status line without the space after the code",
    "tide skips empty lines before a request line only",
    "Connection: tide reads close over keep-alive and trims OWS (llhttp: "
    "the last token wins; close followed by a tab is missed)",
    "tide refuses obs-fold (llhttp accepts it)",
    "tide refuses HTTP/0.9 request lines (no version)",
    "tide: 1xx/204/304 responses have no body whatever their fields say",
    "tide refuses an empty header name",
    "tide judges a field's meaning once its line has ended",
    "tide requires single spaces in the request line",
    "llhttp 8.1.0 misses 'chunked' followed by whitespace (no body!)",
    "tide waits for the LF after a CR that ends the data",
    "absolute-form targets: tide checks 'scheme://' only (llhttp parses URLs)",
    "llhttp refuses whitespace after Content-Length's digits"};
static long catcount[K_NCAT];

static int has(const char *b, size_t n, const char *s) {
  return memmem(b, n, s, strlen(s)) != NULL;
}

static int first_line_has(const char *b, size_t n, const char *s) {
  const char *e;
  while (n >= 2 && b[0] == '\r' && b[1] == '\n')
    b += 2, n -= 2;
  e = memchr(b, '\n', n);
  return has(b, e ? (size_t)(e - b) : n, s);
}

/* Does b[0, n) hold s (lowercase), ignoring ASCII case? */
static int has_ci(const char *b, size_t n, const char *s) {
  size_t sl = strlen(s), i;
  for (i = 0; i + sl <= n; i++)
    if (tide__h1_name_is(b + i, sl, s, sl)) return 1;
  return 0;
}

/* Does a Content-Length field end its digits with SP or HTAB? */
static int cl_trailing_ows(const char *b, size_t n) {
  size_t i = 0;
  while (i < n) {
    const char *e = memchr(b + i, '\n', n - i);
    size_t end = e ? (size_t)(e - b) : n, j;
    if (end - i > 15 && tide__h1_name_is(b + i, 15, "content-length:", 15)) {
      for (j = end; j > i && (b[j - 1] == '\r'); j--) {
      }
      if (j > i && (b[j - 1] == ' ' || b[j - 1] == '\t')) return 1;
    }
    i = end + 1;
  }
  return 0;
}

/* Classifies a disagreement; -1 when it is not a documented one. */
static int classify(const char *b, size_t n, int response, const verdict_t *t,
                    const verdict_t *l) {
  if (t->kind == V_ERR && l->kind != V_ERR) {
    switch (t->err) {
    case TIDE__H1_EHOST:
      return K_HOST;
    case TIDE__H1_ETE:
    case TIDE__H1_ETE_NI:
      return K_TE;
    case TIDE__H1_ETE10:
      return K_TE10;
    case TIDE__H1_ETARGET:
      return K_TARGET;
    case TIDE__H1_EVERSION_NS:
      return K_VERSION;
    case TIDE__H1_ELINE:
    case TIDE__H1_EHEAD:
    case TIDE__H1_EFIELDS:
      return K_LIMITS;
    case TIDE__H1_ESTATUS:
      return K_STATUS;
    case TIDE__H1_ECLEN:
      return K_CLEN;
    case TIDE__H1_EOBSFOLD:
      return K_OBSFOLD;
    case TIDE__H1_EDUPCLEN:
      if (l->kind == V_INC) return K_LINEEND;
      break;
    case TIDE__H1_EVALUE:
    case TIDE__H1_ECRLF:
      return K_VALUE;
    }
    if (t->err == TIDE__H1_EBADLINE && response) return K_EMPTYLINE;
    if (t->err == TIDE__H1_EBADLINE &&
        (l->kind == V_INC || !strcmp(l->version, "0.9")))
      return K_HTTP09;
    if (t->err == TIDE__H1_ENAME && has(b, n, "\n:")) return K_NAME;
    if ((t->err == TIDE__H1_EVERSION || t->err == TIDE__H1_ETARGET) &&
        !response && first_line_has(b, n, "  "))
      return K_SPACES;
    return -1;
  }
  if (l->kind == V_ERR && t->kind != V_ERR) {
    if (l->err == HPE_INVALID_METHOD && !response) return K_METHOD;
    if (l->err == HPE_INVALID_VERSION && t->kind == V_INC) return K_LIMITS;
    if (t->kind == V_INC && (l->err == HPE_UNEXPECTED_CONTENT_LENGTH ||
                             l->err == HPE_INVALID_CONTENT_LENGTH ||
                             l->err == HPE_INVALID_TRANSFER_ENCODING))
      return K_LINEEND;
    if (t->kind == V_INC && n > 0 && b[n - 1] == '\r') return K_CRWAIT;
    if (l->err == HPE_INVALID_URL && !response && !first_line_has(b, n, " /"))
      return K_URL;
    if (l->err == HPE_INVALID_CONTENT_LENGTH && t->kind == V_OK &&
        cl_trailing_ows(b, n))
      return K_CL_OWS;
    if (response && (l->err == HPE_INVALID_STATUS ||
                     l->err == HPE_CR_EXPECTED || l->err == HPE_STRICT))
      return K_REASON;
    return -1;
  }
  if (t->kind == V_ERR && l->kind == V_ERR) return -2; /* both refuse */
  if (t->kind != l->kind) return -1;
  if (t->kind == V_INC) return -2;
  /* Both accept: the fields must agree. */
  if (!response && strcmp(t->method, l->method) != 0) return -1;
  if (strcmp(t->target, l->target) != 0) return -1;
  if (strcmp(t->version, l->version) != 0) return -1;
  if (t->status != l->status) return -1;
  if (strcmp(t->fields, l->fields) != 0) return -1;
  if (t->body == TIDE__H1_BODY_CHUNKED && l->body != t->body &&
      (has(b, n, "chunked\t") || has(b, n, "chunked ")))
    return K_TE_OWS;
  if (t->body != l->body || t->clen != l->clen)
    return response && (t->status < 200 || t->status == 204 || t->status == 304)
               ? K_NOBODY
               : -1;
  if (t->keep_alive != l->keep_alive)
    return has_ci(b, n, "connection:") ? K_CONNECTION : -1;
  return -2;
}

/* ------------------------------------------------------------ main */

static void show(const char *what, const char *b, size_t n) {
  size_t i;
  fprintf(stderr, "%s: \"", what);
  for (i = 0; i < n && i < 600; i++) {
    unsigned char c = (unsigned char)b[i];
    if (c == '\r')
      fputs("\\r", stderr);
    else if (c == '\n')
      fputs("\\n", stderr);
    else if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
      fprintf(stderr, "\\x%02x", c);
    else
      fputc(c, stderr);
  }
  fprintf(stderr, "%s\"\n", n > 600 ? "..." : "");
}

static void show_verdict(const char *who, const verdict_t *v) {
  if (v->kind == V_INC)
    fprintf(stderr, "  %s: incomplete\n", who);
  else if (v->kind == V_ERR)
    fprintf(stderr, "  %s: error %d (%s)\n", who, v->err,
            who[0] == 't' ? tide__h1_strerror(v->err)
                          : llhttp_errno_name((llhttp_errno_t)v->err));
  else
    fprintf(stderr,
            "  %s: ok %s %s %s %d body=%d clen=%llu ka=%d fields=[%s]\n", who,
            v->method, v->target, v->version, v->status, v->body,
            (unsigned long long)v->clen, v->keep_alive, v->fields);
}

/* Writes s[0, n) as a JSON string: bytes as latin-1 code points. */
static void json_str(FILE *f, const char *s, size_t n) {
  size_t i;
  fputc('"', f);
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

/* Writes the case and tide's verdict for h11_diff.py: a line
 * "case <response> <length>", the bytes, a newline, the verdict as one
 * line of JSON ({"v": "ok"|"inc"|"err", ...}). */
static void write_case(FILE *f, const char *b, size_t n, int response,
                       const tide__h1_parser_t *p, int r) {
  unsigned i;
  fprintf(f, "case %d %zu\n", response, n);
  fwrite(b, 1, n, f);
  fputc('\n', f);
  if (r == TIDE__H1_INCOMPLETE) {
    fputs("{\"v\": \"inc\"}\n", f);
    return;
  }
  if (r < 0) {
    fprintf(f, "{\"v\": \"err\", \"e\": %d, \"msg\": \"%s\"}\n", r,
            tide__h1_strerror(r));
    return;
  }
  fputs("{\"v\": \"ok\", \"m\": ", f);
  json_str(f, b + p->method, response ? 0 : p->method_len);
  fputs(", \"t\": ", f);
  json_str(f, b + p->target, response ? 0 : p->target_len);
  fprintf(f,
          ", \"ver\": \"1.%d\", \"s\": %d, \"b\": %d, \"cl\": %llu, \"h\": [",
          p->minor, response ? p->status : 0, p->body,
          (unsigned long long)p->content_length);
  for (i = 0; i < p->nfields; i++) {
    fputs(i ? ", [" : "[", f);
    json_str(f, b + p->fields[i].name, p->fields[i].name_len);
    fputs(", ", f);
    json_str(f, b + p->fields[i].value, p->fields[i].value_len);
    fputc(']', f);
  }
  fputs("]}\n", f);
}

int main(int argc, char **argv) {
  static char b[MAXCASE], b2[MAXCASE];
  static verdict_t tv, lv, iv;
  static tide__h1_field_t fields[MAXFIELDS], fields2[MAXFIELDS];
  long ncases = 100000, i, agree = 0, refused = 0, failures = 0, shown = 0,
       maxshow = 20;
  FILE *out = NULL;
  int a;
  for (a = 1; a < argc; a++) {
    if (!strcmp(argv[a], "--cases") && a + 1 < argc)
      ncases = atol(argv[++a]);
    else if (!strcmp(argv[a], "--seed") && a + 1 < argc)
      rng = 88172645463325252ull ^ (uint64_t)atoll(argv[++a]) * 2654435761u;
    else if (!strcmp(argv[a], "--out") && a + 1 < argc) {
      out = fopen(argv[++a], "wb");
      if (out == NULL) {
        perror(argv[a]);
        return 2;
      }
    } else if (!strcmp(argv[a], "--show") && a + 1 < argc)
      maxshow = atol(argv[++a]);
    else {
      fprintf(stderr,
              "usage: %s [--cases N] [--seed S] [--out FILE] [--show N]\n",
              argv[0]);
      return 2;
    }
  }
  llhttp_settings_init(&lsettings);
  lsettings.on_method = on_method;
  lsettings.on_url = on_url;
  lsettings.on_header_field = on_field;
  lsettings.on_header_field_complete = on_field_done;
  lsettings.on_header_value = on_value;
  lsettings.on_headers_complete = on_headers_complete;
  for (i = 0; i < ncases; i++) {
    const seed_t *s = &corpus[i % NCORPUS];
    size_t n = strlen(s->text), split;
    int r, r2, k, m, nm;
    tide__h1_parser_t p, p2;
    memcpy(b, s->text, n);
    /* The first round is the corpus as it is; then 1-4 mutations. */
    nm = i < (long)NCORPUS ? 0 : 1 + (int)(below(8) / 5);
    for (m = 0; m < nm; m++)
      n = mutate(b, n);
    tide__h1_init(&p, s->response, fields, MAXFIELDS);
    r = tide__h1_parse(&p, b, n);
    tide_verdict(b, n, s->response, &p, r, &tv);
    /* The same bytes in two calls. */
    split = below(n + 1);
    memcpy(b2, b, n);
    tide__h1_init(&p2, s->response, fields2, MAXFIELDS);
    r2 = tide__h1_parse(&p2, b2, split);
    if (r2 == TIDE__H1_INCOMPLETE) r2 = tide__h1_parse(&p2, b2, n);
    tide_verdict(b2, n, s->response, &p2, r2, &iv);
    /* The same verdict; when both refuse, the reason may differ (a line
     * checked while incomplete may break a different rule first); the
     * split may leave a refusal to a later call (the line still arriving
     * is checked again only once it has doubled). */
    if ((r2 != r && !(r2 < -1 && r < -1) && !(r2 == -1 && r < -1)) ||
        (r >= 0 && (strcmp(iv.fields, tv.fields) != 0 || iv.body != tv.body ||
                    iv.clen != tv.clen))) {
      failures++;
      if (shown++ < maxshow) {
        show("incremental parse differs", b, n);
        fprintf(stderr, "  split at %zu: %d vs one call %d\n", split, r2, r);
      }
    }
    llhttp_verdict(b, n, s->response, &lv);
    k = classify(b, n, s->response, &tv, &lv);
    if (k == -2) {
      if (tv.kind == V_ERR)
        refused++;
      else
        agree++;
    } else if (k >= 0) {
      catcount[k]++;
    } else {
      failures++;
      if (shown++ < maxshow) {
        show(s->response ? "response differs" : "request differs", b, n);
        show_verdict("tide", &tv);
        show_verdict("llhttp", &lv);
      }
    }
    if (out) write_case(out, b, n, s->response, &p, r);
  }
  if (out) fclose(out);
  printf("http1_diff: %ld cases vs llhttp %d.%d.%d: %ld agree (accepted), %ld "
         "both refused, %ld documented differences:\n",
         ncases, LLHTTP_VERSION_MAJOR, LLHTTP_VERSION_MINOR,
         LLHTTP_VERSION_PATCH, agree, refused,
         ncases - agree - refused - failures);
  for (a = 0; a < K_NCAT; a++)
    if (catcount[a]) printf("  %7ld  %s\n", catcount[a], catnames[a]);
  printf("http1_diff: %ld passed, %ld failed\n", ncases - failures, failures);
  return failures ? 1 : 0;
}
