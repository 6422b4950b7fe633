/* Internal declarations of tide's HTTP/1.1 parser (src/http1.c): a strict,
 * incremental parser of request and response heads, and the decoder of
 * chunked bodies. No Lua and no libuv here: the server and client bindings
 * (src/lua/lhttp.c) feed it the bytes of a stream's read buffer.
 *
 * Zero-copy: the parsed fields are offsets into the bytes the caller
 * passed (counted from the first byte of the message), so they stay valid
 * when the caller's buffer moves (a stream compacts or grows its buffer)
 * as long as the bytes themselves stay. Nothing is allocated.
 *
 * Incremental: the caller calls tide__h1_parse again with the same bytes
 * plus whatever arrived since; the parser resumes at the first line it has
 * not accepted yet, so a head that trickles in costs linear time. It
 * answers TIDE__H1_INCOMPLETE, the head's length, or an error; the error's
 * HTTP status is tide__h1_status(err). docs/http.md lists every rule. */
#ifndef TIDE_HTTP1_H
#define TIDE_HTTP1_H

#include <stddef.h>
#include <stdint.h>

/* Results: 0 or more is a length; negative values are these. */
enum {
  TIDE__H1_INCOMPLETE = -1,  /* need more bytes */
  TIDE__H1_EBADLINE = -2,    /* malformed request or status line */
  TIDE__H1_EMETHOD = -3,     /* method is not a token */
  TIDE__H1_ETARGET = -4,     /* request target has a forbidden byte */
  TIDE__H1_EVERSION = -5,    /* malformed HTTP version */
  TIDE__H1_EVERSION_NS = -6, /* well-formed version but 1.0/1.1: 505 */
  TIDE__H1_ESTATUS = -7,     /* malformed status code or reason */
  TIDE__H1_ENAME = -8,       /* header name is empty or not a token */
  TIDE__H1_ESPACE = -9,      /* whitespace between name and colon */
  TIDE__H1_EVALUE = -10,     /* forbidden byte in a header value */
  TIDE__H1_EOBSFOLD = -11,   /* a line starting with SP/HTAB (obs-fold) */
  TIDE__H1_ECRLF = -12,      /* bare CR or bare LF */
  TIDE__H1_ECLEN = -13,      /* malformed Content-Length */
  TIDE__H1_EDUPCLEN = -14,   /* Content-Length given more than once */
  TIDE__H1_ETECL = -15,      /* Transfer-Encoding and Content-Length */
  TIDE__H1_ETE = -16,        /* malformed Transfer-Encoding, or repeated */
  TIDE__H1_ETE_NI = -17,     /* a transfer coding other than chunked: 501 */
  TIDE__H1_ETE10 = -18,      /* Transfer-Encoding in an HTTP/1.0 message */
  TIDE__H1_EHOST = -19,      /* HTTP/1.1 request without Host, or two */
  TIDE__H1_ELINE = -20,      /* request line over max_line: 414 */
  TIDE__H1_EHEAD = -21,      /* header section over max_head: 431 */
  TIDE__H1_EFIELDS = -22,    /* more than max_fields fields: 431 */
  TIDE__H1_ECHUNK = -23,     /* malformed chunk size line */
  TIDE__H1_ECHUNKDATA = -24, /* chunk data not followed by CRLF */
  TIDE__H1_ETRAILER = -25,   /* malformed or oversized trailer section */
  TIDE__H1_ELAST = -25
};

/* How a message's body is delimited. */
enum {
  TIDE__H1_BODY_NONE = 0, /* no body (length 0) */
  TIDE__H1_BODY_LENGTH,   /* content_length bytes */
  TIDE__H1_BODY_CHUNKED,  /* chunked: decode with tide__h1_chunked */
  TIDE__H1_BODY_EOF       /* response only: until the connection closes */
};

/* Expect header: none, 100-continue, or something else (417). */
enum {
  TIDE__H1_EXPECT_NONE = 0,
  TIDE__H1_EXPECT_CONTINUE,
  TIDE__H1_EXPECT_OTHER
};

/* Defaults of the limits (all settable). */
#define TIDE__H1_MAX_LINE 8192       /* request line or status line, bytes */
#define TIDE__H1_MAX_HEAD 8192       /* header fields (after the first line) */
#define TIDE__H1_MAX_FIELDS 100      /* header field lines */
#define TIDE__H1_MAX_TRAILER 8192    /* chunked trailer section */
#define TIDE__H1_MAX_CHUNK_LINE 4096 /* a chunk size line with extensions */

/* One header field: offsets from the start of the message. */
typedef struct {
  uint32_t name, name_len;   /* the name as sent (not lowercased) */
  uint32_t value, value_len; /* the value without leading/trailing OWS */
} tide__h1_field_t;

typedef struct {
  /* Set by tide__h1_init (the limits may be changed before parsing). */
  size_t max_line;           /* request/status line bytes, without CRLF */
  size_t max_head;           /* header field bytes, CRLFs included */
  unsigned max_fields;       /* capacity of fields */
  tide__h1_field_t *fields;  /* the caller's array of max_fields */
  unsigned response : 1;     /* parse a status line, not a request line */
  unsigned head_request : 1; /* response: it answers a HEAD request */
  /* Results, valid once tide__h1_parse returned a length. Request: */
  uint32_t method, method_len;
  uint32_t target, target_len;
  /* Response: */
  int status;
  uint32_t reason, reason_len;
  /* Both: */
  int minor; /* HTTP/1.minor (0 or 1) */
  unsigned nfields;
  int body;                /* TIDE__H1_BODY_* */
  uint64_t content_length; /* TIDE__H1_BODY_LENGTH */
  int expect;              /* TIDE__H1_EXPECT_* */
  unsigned keep_alive : 1; /* the connection may carry another message */
  unsigned upgrade : 1;    /* Connection: upgrade with an Upgrade field */
  /* Private resume state. */
  unsigned state : 2; /* 0 start line, 1 fields, 2 done */
  unsigned seen_host : 1, seen_cl : 1, seen_te : 1, conn_close : 1,
      conn_keep : 1, conn_upgrade : 1, seen_upgrade : 1;
  size_t pos;          /* start of the first line not yet accepted */
  size_t line0;        /* where the start line begins (after CRLFs) */
  size_t fields_start; /* where the header fields begin */
  size_t checked;      /* bytes of the partial line last validated */
} tide__h1_parser_t;

/* Prepares p for a new message: a request (response == 0) or a response,
 * fields pointing at max_fields entries. Limits get their defaults. */
void tide__h1_init(tide__h1_parser_t *p, int response, tide__h1_field_t *fields,
                   unsigned max_fields);

/* Parses the head at the start of buf[0, len) (the same bytes as the
 * previous call, and possibly more). Returns the head's length (the start
 * line, the fields and the empty line; the body starts there), or
 * TIDE__H1_INCOMPLETE, or an error (TIDE__H1_E*), after which p must be
 * initialised again. */
int tide__h1_parse(tide__h1_parser_t *p, const char *buf, size_t len);

/* The HTTP status a server answers an error with (400, 414, 431, 501,
 * 505), and a short English description. */
int tide__h1_status(int err);
const char *tide__h1_strerror(int err);

/* Is s[0, n) a token (RFC 9110 5.6.2: a valid method or field name)? */
int tide__h1_is_token(const char *s, size_t n);

/* Compares a field's name (ASCII case-insensitively) to lower, a
 * lowercase name of lower_len bytes. */
int tide__h1_name_is(const char *name, size_t len, const char *lower,
                     size_t lower_len);

/* ------------------------------------------------------------ chunked */

typedef struct {
  int state;          /* private */
  uint64_t left;      /* bytes left in the current chunk */
  size_t line;        /* bytes of the current size line / trailers */
  size_t max_trailer; /* trailer section limit (default above) */
  unsigned digits;    /* hex digits of the size read so far */
} tide__h1_chunked_t;

void tide__h1_chunked_init(tide__h1_chunked_t *c);

/* Decodes the chunked body at buf[0, len). Consumes framing bytes until it
 * reaches chunk data (then *data_off, *data_len give the span of data
 * within buf, at most what buf holds, and the call returns right after
 * it), the end of the body, or the end of buf. Returns the bytes consumed
 * (data included), or an error (TIDE__H1_ECHUNK...). *data_len is 0 when
 * no data was found. */
long tide__h1_chunked(tide__h1_chunked_t *c, const char *buf, size_t len,
                      size_t *data_off, size_t *data_len);

/* Gives back the last n bytes of the data span the last call returned
 * (the caller took fewer): the next call returns them again. */
void tide__h1_chunked_unread(tide__h1_chunked_t *c, size_t n);

/* Has the decoder read the last chunk and the trailer section? */
int tide__h1_chunked_done(const tide__h1_chunked_t *c);

#endif
