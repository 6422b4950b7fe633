/* Internal declarations of TLS on tide streams (OpenSSL 3).
 *
 * Three layers, bottom up:
 *  - tls_ctx.c: contexts (tide__tls_ctx_t), a reference-counted SSL_CTX with
 *    what tide adds to it: verification defaults, ALPN, SNI, a client
 *    session cache.
 *  - tls.c: the engine (tide__tls_t), one TLS connection over two memory
 *    buffers: ciphertext from the network goes in, plaintext comes out of
 *    tide__tls_read; plaintext goes into tide__tls_write, ciphertext for the
 *    network comes out of tide__tls_output. No libuv, no sockets, no Lua:
 *    two engines can talk to each other in memory (test/test_tls.c).
 *  - tlsstream.c: the engine inside a tide stream (s->tls): the socket's
 *    reads feed it and decrypt into the stream's read buffer, writes are
 *    encrypted and go out through the stream's try-write/queue path.
 *
 * This header includes no OpenSSL header: the OpenSSL types appear only as
 * pointers to their (opaque) structs. */
#ifndef TIDE_TLS_H
#define TIDE_TLS_H

#include "tide_net.h"

struct ssl_ctx_st;
struct ssl_st;
struct bio_st;
struct ssl_session_st;

/* ---------------------------------------------------------------- contexts */

/* A context's settings, as the binding read them. Strings are borrowed for
 * the duration of tide__tls_ctx_new. cert, key and ca are file paths, or PEM
 * text when they contain "-----BEGIN". */
typedef struct {
  int server;                /* 1: accepts connections; 0: connects */
  int verify;                /* verify the peer (clients: chain and name) */
  const char *cert, *key;    /* the certificate chain and its private key */
  const char *password;      /* decrypts an encrypted key, or NULL */
  const char *ca;            /* trusted CAs: PEM, file or directory; NULL:
                                the system's store */
  const unsigned char *alpn; /* ALPN protocols in wire format (length-
                                prefixed), in order of preference */
  size_t alpn_len;
  int min_version;          /* TLS1_2_VERSION ...; 0: TLS 1.2 */
  int max_version;          /* 0: the highest OpenSSL knows */
  const char *ciphers;      /* TLS 1.2 cipher list, or NULL */
  const char *ciphersuites; /* TLS 1.3 cipher suites, or NULL */
  int session_cache;        /* entries; 0: no resumption; -1: default
                               (servers: OpenSSL's cache and tickets;
                               clients: none) */
} tide__tls_config_t;

typedef struct tide__tls_ctx_s tide__tls_ctx_t;

/* One server name of a server context and the context that answers it. */
typedef struct {
  char *name;           /* "example.com" or "*.example.com" */
  tide__tls_ctx_t *ctx; /* a reference */
} tide__tls_sni_t;

/* One resumable session of a client context, by server name. */
typedef struct {
  char *key;
  struct ssl_session_st *session; /* a reference */
} tide__tls_cached_t;

struct tide__tls_ctx_s {
  struct ssl_ctx_st *ssl_ctx;
  int refs; /* the Lua object, each connection, each SNI
               parent; freed at 0 */
  unsigned server : 1;
  unsigned verify : 1;
  unsigned char *alpn; /* servers: the protocols they accept, in order
                          of preference (wire format) */
  size_t alpn_len;
  tide__tls_sni_t *sni; /* servers: other names' contexts */
  size_t nsni;
  tide__tls_cached_t *cache; /* clients: sessions to resume, oldest first */
  size_t ncache, cache_max;
  char *scratch; /* where the socket reads of its connections land
                    (TIDE__TLS_SCRATCH bytes, made on first use):
                    a connection holding no partial record needs no
                    input buffer of its own. A context serves one
                    Lua state, so one thread: reads do not overlap */
};

#define TIDE__TLS_SCRATCH (64 * 1024)

/* Makes a context. Returns 0, or an error with a message in msg (a missing
 * file: its errno code; what OpenSSL rejects: TIDE_ETLS). */
int tide__tls_ctx_new(const tide__tls_config_t *cfg, tide__tls_ctx_t **out,
                      char *msg, size_t msglen);
/* Makes child answer for name (a server's SNI); takes a reference. */
int tide__tls_ctx_add_sni(tide__tls_ctx_t *ctx, const char *name,
                          tide__tls_ctx_t *child);
void tide__tls_ctx_ref(tide__tls_ctx_t *ctx);
void tide__tls_ctx_unref(tide__tls_ctx_t *ctx);
/* Client cache: the session stored for key (a new reference, or NULL); a
 * new session for key (replaces the old one, drops the oldest when full). */
struct ssl_session_st *tide__tls_ctx_session(tide__tls_ctx_t *ctx,
                                             const char *key);
void tide__tls_ctx_store_session(tide__tls_ctx_t *ctx, const char *key,
                                 struct ssl_session_st *session);

/* ---------------------------------------------------------------- engine */

/* Engine results besides 0 and negative error codes. */
#define TIDE__TLS_WANT 1 /* needs more ciphertext from the peer */

/* A growable byte buffer: bytes are p[start, len). */
typedef struct {
  char *p;
  size_t start, len, cap;
} tide__tls_buf_t;

typedef struct tide__tls_s tide__tls_t;
struct tide__tls_s {
  struct ssl_st *ssl;
  tide__tls_ctx_t *ctx;      /* a reference: the context it was made with */
  tide__tls_buf_t in;        /* ciphertext from the peer, not yet taken; its
                                memory is freed whenever it is empty */
  const char *lent;          /* ciphertext in the context's scratch buffer,
                                taken before in (which is then empty) ... */
  size_t lent_len, lent_pos; /* ... its length and what is taken */
  tide__tls_buf_t out;       /* ciphertext for the peer, not yet sent */
  char *servername;          /* clients: the name asked for (SNI, the name
                                checked, the session cache's key), or NULL */
  int neterr;                /* tlsstream.c: the socket's EOF or error, kept
                                until the bytes before it are decrypted */
  int verr, vdepth;          /* the first verification failure, and depth */
  unsigned done : 1;         /* the handshake has completed */
  unsigned fatal : 1;        /* a fatal error: no more I/O */
  unsigned sent_close : 1;   /* our close_notify is written */
  unsigned got_close : 1;    /* the peer's close_notify has arrived */
  unsigned verified : 1;     /* the peer passed verification */
  char msg[256];             /* the message of the last error */
};

/* A connection of ctx (server or client by the context). servername:
 * clients send it (SNI, unless it is an IP address) and, when the context
 * verifies, check the peer's certificate against it; NULL: neither. */
int tide__tls_new(tide__tls_ctx_t *ctx, const char *servername,
                  tide__tls_t **out);
void tide__tls_free(tide__tls_t *t);
/* Where the next ciphertext from the peer should be read to: behind a
 * partial record the engine holds, or else the context's scratch buffer.
 * Sets *len to its size; NULL when out of memory. */
char *tide__tls_input_space(tide__tls_t *t, size_t *len);
/* n bytes have arrived at the last tide__tls_input_space. */
void tide__tls_input_done(tide__tls_t *t, char *p, size_t n);
/* Once the engine has taken what it could: keeps what is left (out of the
 * scratch buffer, which the next connection's read overwrites) and frees an
 * empty input buffer. 0 or TIDE_ENOMEM. */
int tide__tls_input_settle(tide__tls_t *t);
/* Copies n bytes of ciphertext from the peer in. */
int tide__tls_feed(tide__tls_t *t, const char *p, size_t n);
/* Advances the handshake: 0 once complete, TIDE__TLS_WANT, or an error
 * (TIDE_ETLSVERIFY, TIDE_ETLS, UV_EOF) with t->msg. */
int tide__tls_handshake(tide__tls_t *t);
/* Decrypts into buf: 0 with *n > 0 bytes, TIDE__TLS_WANT when nothing is
 * ready, UV_EOF after the peer's close_notify, or an error. */
int tide__tls_read(tide__tls_t *t, char *buf, size_t cap, size_t *n);
/* Might tide__tls_read have something to give (ciphertext not yet taken,
 * or records OpenSSL holds)? When not, the call can be saved: it would
 * only say TIDE__TLS_WANT. */
int tide__tls_readable(tide__tls_t *t);
/* Encrypts all of p into out. 0 or an error. */
int tide__tls_write(tide__tls_t *t, const char *p, size_t n);
/* Writes our close_notify into out, once (after a completed handshake and
 * no fatal error; otherwise does nothing). */
void tide__tls_close_notify(tide__tls_t *t);
/* The ciphertext waiting in out: *p and its length; take it all, then
 * tide__tls_output_done. */
static inline size_t tide__tls_output(tide__tls_t *t, const char **p) {
  *p = t->out.p;
  return t->out.len;
}
static inline void tide__tls_output_done(tide__tls_t *t) {
  t->out.len = 0;
}

/* ---------------------------------------------------------------- streams */

/* Starts TLS on s (connected, or accepted) with ctx: bytes already read
 * ahead are the peer's first TLS bytes. The handshake starts with the next
 * tide__stream_wait_handshake. */
int tide__stream_tls_start(tide__stream_t *s, tide__tls_ctx_t *ctx,
                           const char *servername);
/* Prepares rfut for a task that waits for the handshake (at most
 * timeout_ns; 0: no limit, else the caller has made the stream's ext) and
 * drives it. */
void tide__stream_wait_handshake(tide__stream_t *s, uint64_t timeout_ns);
/* Has the handshake completed? */
int tide__stream_tls_ready(const tide__stream_t *s);
/* The stream's side of libuv's read callbacks for a TLS stream. */
void tide__stream_tls_alloc(tide__stream_t *s, uv_buf_t *buf);
void tide__stream_tls_input(tide__stream_t *s, ssize_t nread,
                            const uv_buf_t *buf);
/* Decrypts what has arrived into the read buffer while the stream wants
 * data, sends what the engine produced, wakes the reader. Returns whether
 * the socket should be read. */
int tide__stream_tls_pump(tide__stream_t *s);
/* Encrypts and sends (tide__stream_write for a TLS stream). */
int tide__stream_tls_write(tide__stream_t *s, const char *p, size_t len);
/* Sends our close_notify (close, shutdown). */
void tide__stream_tls_close_notify(tide__stream_t *s);
/* The message for err on s: the TLS reason when err is the stream's TLS
 * error, else NULL (tide_strerror's). */
const char *tide__stream_errmsg(const tide__stream_t *s, int err);

#endif
