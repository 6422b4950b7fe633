/* A strict, incremental HTTP/1.1 head parser and chunked-body decoder
 * (RFC 9110 / RFC 9112). No Lua, no allocation; see src/tide_http1.h for
 * the interface and docs/http.md for the rules and where they are
 * stricter than other parsers.
 *
 * The head is parsed line by line. A line is accepted only when its CRLF
 * has arrived; p->pos then moves past it, so a head that trickles in is
 * not parsed again from its start. The line still arriving is validated
 * too (so garbage is refused early, not after max_head bytes), but only
 * when it has doubled in length since it was last checked: a slow sender
 * cannot make the server do quadratic work.
 *
 * What request smugglers rely on is refused: bare CR or LF, obs-fold,
 * whitespace before the colon, Transfer-Encoding with Content-Length, a
 * repeated or malformed Content-Length, any transfer coding but a single
 * "chunked", non-token bytes in names and methods, control bytes in
 * values and targets. */
#include <string.h>

#include "tide_http1.h"

/* Character classes, one bit each (a constant table: no initialisation,
 * safe from any thread). */
enum {
  C_TCHAR = 1,  /* token characters (RFC 9110 5.6.2) */
  C_VALUE = 2,  /* field-value: VCHAR, obs-text, SP, HTAB */
  C_TARGET = 4, /* request-target: VCHAR except '#' */
  C_HEX = 8
};

/* One row per 16 bytes. */
/* clang-format off */
static const unsigned char cls[256] = {
     0,  0,  0,  0,  0,  0,  0,  0,  0,  2,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     2,  7,  6,  3,  7,  7,  7,  7,  6,  6,  7,  7,  6,  7,  7,  6,
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15,  6,  6,  6,  6,  6,  6,
     6, 15, 15, 15, 15, 15, 15,  7,  7,  7,  7,  7,  7,  7,  7,  7,
     7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  6,  6,  6,  7,  7,
     7, 15, 15, 15, 15, 15, 15,  7,  7,  7,  7,  7,  7,  7,  7,  7,
     7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  6,  7,  6,  7,  0,
     2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,
     2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,
     2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,
     2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,
     2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,
     2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,
     2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,
     2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,
};
/* clang-format on */

#define IS(c, k) (cls[(unsigned char)(c)] & (k))

void tide__h1_init(tide__h1_parser_t *p, int response, tide__h1_field_t *fields,
                   unsigned max_fields) {
  memset(p, 0, sizeof(*p));
  p->max_line = TIDE__H1_MAX_LINE;
  p->max_head = TIDE__H1_MAX_HEAD;
  p->max_fields = max_fields;
  p->fields = fields;
  p->response = response != 0;
}

int tide__h1_is_token(const char *s, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    if (!IS(s[i], C_TCHAR)) return 0;
  return n > 0;
}

int tide__h1_name_is(const char *name, size_t len, const char *lower,
                     size_t lower_len) {
  size_t i;
  if (len != lower_len) return 0;
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)name[i];
    if (c >= 'A' && c <= 'Z') c += 'a' - 'A';
    if (c != (unsigned char)lower[i]) return 0;
  }
  return 1;
}

#define NAME_IS(n, l, lit) tide__h1_name_is(n, l, lit, sizeof(lit) - 1)

/* ------------------------------------------------------------ lines */

/* The error for the byte c where a line's grammar wants something else: a
 * CR or LF gets the more telling ECRLF. */
static int bad_byte(char c, int err) {
  return c == '\r' || c == '\n' ? TIDE__H1_ECRLF : err;
}

/* "HTTP/" DIGIT "." DIGIT at b[0, n). Returns the minor version, or
 * INCOMPLETE (partial and a prefix of a version), or an error. */
static int parse_version(const char *b, size_t n, int partial) {
  static const char http[] = "HTTP/";
  size_t i;
  for (i = 0; i < n && i < 5; i++)
    if (b[i] != http[i]) return bad_byte(b[i], TIDE__H1_EVERSION);
  if (n < 8) {
    if (!partial) return TIDE__H1_EVERSION;
    if (n > 5 && (b[5] < '0' || b[5] > '9'))
      return bad_byte(b[5], TIDE__H1_EVERSION);
    if (n > 6 && b[6] != '.') return bad_byte(b[6], TIDE__H1_EVERSION);
    return TIDE__H1_INCOMPLETE;
  }
  if (b[5] < '0' || b[5] > '9' || b[6] != '.' || b[7] < '0' || b[7] > '9')
    return TIDE__H1_EVERSION;
  if (n > 8) return bad_byte(b[8], TIDE__H1_EVERSION);
  if (b[5] != '1' || b[7] > '1') return TIDE__H1_EVERSION_NS;
  return b[7] - '0';
}

/* Is the target one of the forms RFC 9112 3.2 allows: origin-form
 * ("/path?query"), asterisk-form ("*"), absolute-form ("scheme://..."), or
 * (CONNECT only) authority-form ("host:port")? */
static int target_form_ok(const char *m, size_t ml, const char *t, size_t n) {
  size_t i;
  if (t[0] == '/') return 1;
  if (n == 1 && t[0] == '*') return 1;
  if (ml == 7 && memcmp(m, "CONNECT", 7) == 0) return 1;
  if (!((t[0] | 0x20) >= 'a' && (t[0] | 0x20) <= 'z')) return 0;
  for (i = 1; i < n; i++) {
    char c = t[i];
    if (c == ':') return n - i > 3 && t[i + 1] == '/' && t[i + 2] == '/';
    if (!(((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c >= '0' && c <= '9') ||
          c == '+' || c == '-' || c == '.'))
      return 0;
  }
  return 0;
}

/* The request line b[0, n) (without its CRLF; partial: the line has not
 * ended yet). method SP request-target SP HTTP-version, single spaces. */
static int parse_request_line(tide__h1_parser_t *p, const char *buf,
                              size_t start, size_t n, int partial) {
  const char *b = buf + start;
  size_t i = 0, m, t;
  int minor;
  while (i < n && IS(b[i], C_TCHAR))
    i++;
  if (i == n) return partial ? TIDE__H1_INCOMPLETE : TIDE__H1_EBADLINE;
  if (b[i] != ' ' || i == 0) return bad_byte(b[i], TIDE__H1_EMETHOD);
  m = i++;
  t = i;
  while (i < n && IS(b[i], C_TARGET))
    i++;
  if (i == n) return partial ? TIDE__H1_INCOMPLETE : TIDE__H1_EBADLINE;
  if (b[i] != ' ' || i == t) return bad_byte(b[i], TIDE__H1_ETARGET);
  if (!target_form_ok(b, m, b + t, i - t)) return TIDE__H1_ETARGET;
  minor = parse_version(b + i + 1, n - i - 1, partial);
  if (minor < 0) return minor;
  p->method = (uint32_t)start;
  p->method_len = (uint32_t)m;
  p->target = (uint32_t)(start + t);
  p->target_len = (uint32_t)(i - t);
  p->minor = minor;
  return 0;
}

/* The status line: HTTP-version SP 3DIGIT [SP reason]. The reason may be
 * missing altogether (as h11 and browsers accept). */
static int parse_status_line(tide__h1_parser_t *p, const char *buf,
                             size_t start, size_t n, int partial) {
  const char *b = buf + start;
  size_t i;
  int minor;
  minor = parse_version(b, n < 8 ? n : 8, partial || n > 8);
  if (minor < 0) return minor;
  if (n < 9) return partial ? TIDE__H1_INCOMPLETE : TIDE__H1_EBADLINE;
  if (b[8] != ' ') return bad_byte(b[8], TIDE__H1_EBADLINE);
  for (i = 9; i < 12; i++) {
    if (i == n) return partial ? TIDE__H1_INCOMPLETE : TIDE__H1_ESTATUS;
    if (b[i] < '0' || b[i] > '9') return bad_byte(b[i], TIDE__H1_ESTATUS);
  }
  if (i < n && b[i] != ' ') return bad_byte(b[i], TIDE__H1_ESTATUS);
  if (i < n) i++;
  p->reason = (uint32_t)(start + i);
  for (; i < n; i++)
    if (!IS(b[i], C_VALUE)) return bad_byte(b[i], TIDE__H1_ESTATUS);
  p->reason_len = (uint32_t)(start + n - p->reason);
  p->status = (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
  if (p->status < 100) return TIDE__H1_ESTATUS;
  p->minor = minor;
  return 0;
}

/* Content-Length's value: 1*DIGIT, at most 15 digits (under 2^53, so Lua
 * numbers hold it exactly). */
static int parse_length(const char *v, size_t n, uint64_t *out) {
  uint64_t x = 0;
  size_t i;
  if (n == 0 || n > 15) return TIDE__H1_ECLEN;
  for (i = 0; i < n; i++) {
    if (v[i] < '0' || v[i] > '9') return TIDE__H1_ECLEN;
    x = x * 10 + (uint64_t)(v[i] - '0');
  }
  *out = x;
  return 0;
}

/* Calls fn(p, token, len) for each element of a comma-separated list
 * (RFC 9110 5.6.1: empty elements and OWS around them are allowed).
 * Returns the first error fn returns. */
static int each_token(tide__h1_parser_t *p, const char *v, size_t n,
                      int (*fn)(tide__h1_parser_t *, const char *, size_t)) {
  size_t i = 0, s, e;
  int err;
  while (i <= n) {
    s = i;
    while (i < n && v[i] != ',')
      i++;
    e = i;
    while (s < e && (v[s] == ' ' || v[s] == '\t'))
      s++;
    while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
      e--;
    if (e > s && (err = fn(p, v + s, e - s)) != 0) return err;
    i++;
  }
  return 0;
}

static int connection_token(tide__h1_parser_t *p, const char *t, size_t n) {
  if (NAME_IS(t, n, "close"))
    p->conn_close = 1;
  else if (NAME_IS(t, n, "keep-alive"))
    p->conn_keep = 1;
  else if (NAME_IS(t, n, "upgrade"))
    p->conn_upgrade = 1;
  return 0;
}

/* Transfer-Encoding: only a single "chunked" is accepted (no empty list
 * elements either). A list of other well-formed codings gets 501, as RFC
 * 9112 6.1 asks of a server; anything else 400. */
static int te_token(tide__h1_parser_t *p, const char *t, size_t n) {
  size_t i;
  (void)p;
  for (i = 0; i < n; i++)
    if (!IS(t[i], C_TCHAR)) return TIDE__H1_ETE;
  return NAME_IS(t, n, "chunked") ? 0 : TIDE__H1_ETE_NI;
}

static int parse_te(tide__h1_parser_t *p, const char *v, size_t n) {
  int err;
  if (NAME_IS(v, n, "chunked")) {
    p->body = TIDE__H1_BODY_CHUNKED;
    return 0;
  }
  err = each_token(p, v, n, te_token);
  return err != 0 ? err : TIDE__H1_ETE;
}

/* The semantics of one field that framing and the connection depend on. */
static int field_meaning(tide__h1_parser_t *p, const char *name, size_t nl,
                         const char *v, size_t vl) {
  switch (nl) {
  case 4:
    if (!p->response && NAME_IS(name, nl, "host")) {
      if (p->seen_host) return TIDE__H1_EHOST;
      p->seen_host = 1;
    }
    break;
  case 6:
    if (NAME_IS(name, nl, "expect")) {
      p->expect = NAME_IS(v, vl, "100-continue") ? TIDE__H1_EXPECT_CONTINUE
                                                 : TIDE__H1_EXPECT_OTHER;
    }
    break;
  case 7:
    if (NAME_IS(name, nl, "upgrade")) p->seen_upgrade = 1;
    break;
  case 10:
    if (NAME_IS(name, nl, "connection"))
      return each_token(p, v, vl, connection_token);
    break;
  case 14:
    if (NAME_IS(name, nl, "content-length")) {
      if (p->seen_cl) return TIDE__H1_EDUPCLEN;
      p->seen_cl = 1;
      return parse_length(v, vl, &p->content_length);
    }
    break;
  case 17:
    if (NAME_IS(name, nl, "transfer-encoding")) {
      if (p->seen_te) return TIDE__H1_ETE;
      p->seen_te = 1;
      return parse_te(p, v, vl);
    }
    break;
  }
  return 0;
}

/* A header field line b[0, n) (without CRLF): token ":" OWS value OWS.
 * Complete lines are recorded in p->fields. */
static int parse_field(tide__h1_parser_t *p, const char *buf, size_t start,
                       size_t n, int partial) {
  const char *b = buf + start;
  size_t i = 0, vs, ve;
  tide__h1_field_t *f;
  if (n > 0 && (b[0] == ' ' || b[0] == '\t')) return TIDE__H1_EOBSFOLD;
  while (i < n && IS(b[i], C_TCHAR))
    i++;
  if (i == n) return partial ? TIDE__H1_INCOMPLETE : TIDE__H1_ENAME;
  if (b[i] != ':') {
    if (b[i] == ' ' || b[i] == '\t') return TIDE__H1_ESPACE;
    return bad_byte(b[i], TIDE__H1_ENAME);
  }
  if (i == 0) return TIDE__H1_ENAME;
  vs = i + 1;
  for (ve = vs; ve < n; ve++)
    if (!IS(b[ve], C_VALUE)) return bad_byte(b[ve], TIDE__H1_EVALUE);
  if (partial) return TIDE__H1_INCOMPLETE;
  if (p->nfields == p->max_fields) return TIDE__H1_EFIELDS;
  while (vs < n && (b[vs] == ' ' || b[vs] == '\t'))
    vs++;
  while (ve > vs && (b[ve - 1] == ' ' || b[ve - 1] == '\t'))
    ve--;
  f = &p->fields[p->nfields++];
  f->name = (uint32_t)start;
  f->name_len = (uint32_t)i;
  f->value = (uint32_t)(start + vs);
  f->value_len = (uint32_t)(ve - vs);
  return field_meaning(p, b, i, b + vs, ve - vs);
}

/* Decides framing and keep-alive once the head is complete. */
static int head_done(tide__h1_parser_t *p) {
  if (p->seen_te && p->seen_cl) return TIDE__H1_ETECL;
  if (p->seen_te && p->minor == 0) return TIDE__H1_ETE10;
  p->upgrade = p->conn_upgrade && p->seen_upgrade;
  p->keep_alive =
      p->minor == 0 ? p->conn_keep && !p->conn_close : !p->conn_close;
  if (!p->response) {
    if (p->minor == 1 && !p->seen_host) return TIDE__H1_EHOST;
    if (p->seen_te)
      p->body = TIDE__H1_BODY_CHUNKED;
    else if (p->seen_cl)
      p->body = TIDE__H1_BODY_LENGTH;
    else
      p->body = TIDE__H1_BODY_NONE;
    return 0;
  }
  if (p->head_request || p->status < 200 || p->status == 204 ||
      p->status == 304) {
    p->body = TIDE__H1_BODY_NONE;
  } else if (p->seen_te) {
    p->body = TIDE__H1_BODY_CHUNKED;
  } else if (p->seen_cl) {
    p->body = TIDE__H1_BODY_LENGTH;
  } else {
    p->body = TIDE__H1_BODY_EOF;
    p->keep_alive = 0;
  }
  return 0;
}

/* Validates the line still arriving at buf[pos, len) (no LF yet; a CR
 * at its very end may be the first half of its CRLF). */
static int check_partial(tide__h1_parser_t *p, const char *buf, size_t len) {
  size_t n = len - p->pos;
  int err;
  if (p->state == 0) {
    if (n > p->max_line)
      return p->response ? TIDE__H1_EBADLINE : TIDE__H1_ELINE;
  } else if (len - p->fields_start > p->max_head) {
    return TIDE__H1_EHEAD;
  }
  if (n < 2 * p->checked) return TIDE__H1_INCOMPLETE;
  p->checked = n;
  if (buf[len - 1] == '\r') n--;
  if (n == 0) return TIDE__H1_INCOMPLETE;
  if (p->state == 1)
    err = parse_field(p, buf, p->pos, n, 1);
  else if (p->response)
    err = parse_status_line(p, buf, p->pos, n, 1);
  else
    err = parse_request_line(p, buf, p->pos, n, 1);
  return err == 0 ? TIDE__H1_INCOMPLETE : err;
}

int tide__h1_parse(tide__h1_parser_t *p, const char *buf, size_t len) {
  int err;
  while (p->pos < len) {
    const char *nl = memchr(buf + p->pos, '\n', len - p->pos);
    size_t s = p->pos, e, n;
    if (nl == NULL) return check_partial(p, buf, len);
    e = (size_t)(nl - buf); /* the LF */
    if (e == s || buf[e - 1] != '\r') return TIDE__H1_ECRLF;
    n = e - 1 - s; /* the line without CRLF */
    p->pos = e + 1;
    p->checked = 0;
    if (p->state == 0) {
      if (n == 0 && !p->response) { /* RFC 9112 2.2: skip empty lines */
        if (p->pos > p->max_line) return TIDE__H1_ELINE;
        continue;
      }
      if (n > p->max_line)
        return p->response ? TIDE__H1_EBADLINE : TIDE__H1_ELINE;
      err = p->response ? parse_status_line(p, buf, s, n, 0)
                        : parse_request_line(p, buf, s, n, 0);
      if (err != 0) return err == TIDE__H1_INCOMPLETE ? TIDE__H1_EBADLINE : err;
      p->line0 = s;
      p->fields_start = p->pos;
      p->state = 1;
      continue;
    }
    if (p->pos - p->fields_start > p->max_head) return TIDE__H1_EHEAD;
    if (n == 0) {
      err = head_done(p);
      if (err != 0) return err;
      p->state = 2;
      return (int)p->pos;
    }
    err = parse_field(p, buf, s, n, 0);
    if (err != 0) return err;
  }
  return TIDE__H1_INCOMPLETE;
}

int tide__h1_status(int err) {
  switch (err) {
  case TIDE__H1_ELINE:
    return 414;
  case TIDE__H1_EHEAD:
  case TIDE__H1_EFIELDS:
    return 431;
  case TIDE__H1_ETE_NI:
    return 501;
  case TIDE__H1_EVERSION_NS:
    return 505;
  default:
    return 400;
  }
}

const char *tide__h1_strerror(int err) {
  static const char *const msgs[] = {
      "incomplete message",
      "malformed request or status line",
      "invalid method",
      "invalid byte in the request target",
      "malformed HTTP version",
      "HTTP version not supported",
      "malformed status line",
      "invalid header name",
      "whitespace before the colon of a header",
      "invalid byte in a header value",
      "obsolete line folding",
      "bare CR or LF",
      "invalid Content-Length",
      "Content-Length given more than once",
      "both Transfer-Encoding and Content-Length",
      "invalid Transfer-Encoding",
      "transfer coding not implemented",
      "Transfer-Encoding in an HTTP/1.0 message",
      "missing or repeated Host header",
      "request line too long",
      "header section too large",
      "too many header fields",
      "invalid chunk size line",
      "chunk data not followed by CRLF",
      "invalid chunked trailer section"};
  if (err >= 0 || err < TIDE__H1_ELAST) return "unknown error";
  return msgs[-err - 1];
}

/* ------------------------------------------------------------ chunked */

enum {
  CH_SIZE0,    /* first hex digit of a size line */
  CH_SIZE,     /* more hex digits, or the extensions, or CR */
  CH_EXT,      /* chunk extensions, up to CR */
  CH_SIZE_LF,  /* LF after the size line */
  CH_DATA,     /* left bytes of data */
  CH_DATA_CR,  /* CR after the data */
  CH_DATA_LF,  /* LF after the data */
  CH_TR_START, /* start of a trailer line, or the final CRLF */
  CH_TR_NAME,  /* trailer field name */
  CH_TR_VALUE, /* trailer field value, up to CR */
  CH_TR_LF,    /* LF after a trailer line */
  CH_END_LF,   /* LF of the final CRLF */
  CH_DONE
};

void tide__h1_chunked_init(tide__h1_chunked_t *c) {
  memset(c, 0, sizeof(*c));
  c->max_trailer = TIDE__H1_MAX_TRAILER;
}

int tide__h1_chunked_done(const tide__h1_chunked_t *c) {
  return c->state == CH_DONE;
}

void tide__h1_chunked_unread(tide__h1_chunked_t *c, size_t n) {
  c->left += n;
  c->state = CH_DATA;
}

static int hexval(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  return ch - 'A' + 10;
}

long tide__h1_chunked(tide__h1_chunked_t *c, const char *buf, size_t len,
                      size_t *data_off, size_t *data_len) {
  size_t i = 0;
  *data_off = *data_len = 0;
  while (i < len && c->state != CH_DONE) {
    char ch = buf[i];
    switch (c->state) {
    case CH_SIZE0:
    case CH_SIZE:
      if (IS(ch, C_HEX)) {
        /* 15 hex digits at most: the size stays below 2^60. */
        if (++c->digits > 15) return TIDE__H1_ECHUNK;
        c->left = c->left * 16 + (uint64_t)hexval(ch);
        c->state = CH_SIZE;
      } else if (c->state == CH_SIZE0) {
        return TIDE__H1_ECHUNK;
      } else if (ch == '\r') {
        c->state = CH_SIZE_LF;
      } else if (ch == ';' || ch == ' ' || ch == '\t') {
        c->state = CH_EXT;
      } else {
        return TIDE__H1_ECHUNK;
      }
      if (++c->line > TIDE__H1_MAX_CHUNK_LINE) return TIDE__H1_ECHUNK;
      break;
    case CH_EXT:
      /* Extensions are ignored but must be visible text on one line. */
      if (ch == '\r')
        c->state = CH_SIZE_LF;
      else if (!IS(ch, C_VALUE))
        return TIDE__H1_ECHUNK;
      if (++c->line > TIDE__H1_MAX_CHUNK_LINE) return TIDE__H1_ECHUNK;
      break;
    case CH_SIZE_LF:
      if (ch != '\n') return TIDE__H1_ECHUNK;
      c->line = 0;
      c->digits = 0;
      c->state = c->left == 0 ? CH_TR_START : CH_DATA;
      break;
    case CH_DATA: {
      size_t n = len - i;
      if ((uint64_t)n > c->left) n = (size_t)c->left;
      c->left -= n;
      if (c->left == 0) c->state = CH_DATA_CR;
      *data_off = i;
      *data_len = n;
      return (long)(i + n);
    }
    case CH_DATA_CR:
      if (ch != '\r') return TIDE__H1_ECHUNKDATA;
      c->state = CH_DATA_LF;
      break;
    case CH_DATA_LF:
      if (ch != '\n') return TIDE__H1_ECHUNKDATA;
      c->state = CH_SIZE0;
      break;
    case CH_TR_START:
      if (ch == '\r')
        c->state = CH_END_LF;
      else if (IS(ch, C_TCHAR))
        c->state = CH_TR_NAME;
      else
        return TIDE__H1_ETRAILER;
      goto count;
    case CH_TR_NAME:
      if (ch == ':')
        c->state = CH_TR_VALUE;
      else if (!IS(ch, C_TCHAR))
        return TIDE__H1_ETRAILER;
      goto count;
    case CH_TR_VALUE:
      if (ch == '\r')
        c->state = CH_TR_LF;
      else if (!IS(ch, C_VALUE))
        return TIDE__H1_ETRAILER;
      goto count;
    case CH_TR_LF:
      if (ch != '\n') return TIDE__H1_ETRAILER;
      c->state = CH_TR_START;
      goto count;
    case CH_END_LF:
      if (ch != '\n') return TIDE__H1_ETRAILER;
      c->state = CH_DONE;
      break;
    count:
      if (++c->line > c->max_trailer) return TIDE__H1_ETRAILER;
      break;
    }
    i++;
  }
  return (long)i;
}
