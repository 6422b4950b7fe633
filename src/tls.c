/* The TLS engine: one connection's OpenSSL state between two byte buffers,
 * the way asyncio's sslproto and uvloop drive OpenSSL with memory BIOs.
 * Ciphertext from the peer is read by libuv into the context's scratch
 * buffer, or behind a partial record in t->in (tide__tls_input_space), or
 * appended (tide__tls_feed); tide__tls_handshake and
 * tide__tls_read consume it; every OpenSSL call may append ciphertext for
 * the peer to t->out (handshake flights, alerts, session tickets, key
 * updates, and what tide__tls_write encrypts), which the caller sends and
 * clears. No libuv handles, no sockets, no Lua.
 *
 * The BIO is tide's own rather than OpenSSL's memory BIO: its buffers are
 * ours, so libuv reads into t->in without a copy, and taking t->out costs
 * nothing (a memory BIO's reset clears its whole buffer).
 *
 * OpenSSL's error queue is per thread and shared with anything else in the
 * process: each call clears it first, so that SSL_get_error sees only what
 * this call left, and every error is read into t->msg and cleared. */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tide_tls.h"

#define TLS_IN_MIN (17 * 1024) /* a whole record fits */

/* Empties this thread's OpenSSL error queue before an SSL call. Clearing
 * an empty queue is not free (ERR_clear_error walks and frees all its
 * slots: more instructions than tide spends on a message), so look first. */
static inline void tls_clear_errors(void) {
  if (ERR_peek_error() != 0) ERR_clear_error();
}

/* ------------------------------------------------------------ buffers */

/* Makes room for n more bytes in b: compacts, then grows. Returns 0 or
 * TIDE_ENOMEM. */
static int buf_reserve(tide__tls_buf_t *b, size_t n) {
  size_t used = b->len - b->start, cap;
  char *p;
  if (b->start > 0 && b->cap - b->len < n) {
    memmove(b->p, b->p + b->start, used);
    b->start = 0;
    b->len = used;
  }
  if (b->cap - b->len >= n) return 0;
  cap = b->cap ? b->cap : 1024;
  while (cap - used < n)
    cap *= 2;
  p = realloc(b->p, cap);
  if (p == NULL) return TIDE_ENOMEM;
  b->p = p;
  b->cap = cap;
  return 0;
}

/* ------------------------------------------------------------ the BIO */

static int bio_read(BIO *bio, char *buf, size_t n, size_t *got) {
  tide__tls_t *t = BIO_get_data(bio);
  size_t avail = t->in.len - t->in.start;
  BIO_clear_retry_flags(bio);
  if (t->lent != NULL && t->lent_pos < t->lent_len) {
    avail = t->lent_len - t->lent_pos;
    if (n > avail) n = avail;
    memcpy(buf, t->lent + t->lent_pos, n);
    t->lent_pos += n;
    *got = n;
    return 1;
  }
  if (avail == 0) {
    BIO_set_retry_read(bio);
    *got = 0;
    return 0;
  }
  if (n > avail) n = avail;
  memcpy(buf, t->in.p + t->in.start, n);
  t->in.start += n;
  if (t->in.start == t->in.len) t->in.start = t->in.len = 0;
  *got = n;
  return 1;
}

static int bio_write(BIO *bio, const char *p, size_t n, size_t *put) {
  tide__tls_t *t = BIO_get_data(bio);
  BIO_clear_retry_flags(bio);
  if (buf_reserve(&t->out, n) != 0) return 0; /* OpenSSL fails the call */
  memcpy(t->out.p + t->out.len, p, n);
  t->out.len += n;
  *put = n;
  return 1;
}

static long bio_ctrl(BIO *bio, int cmd, long num, void *ptr) {
  tide__tls_t *t = BIO_get_data(bio);
  (void)num;
  (void)ptr;
  switch (cmd) {
  case BIO_CTRL_FLUSH:
    return 1;
  case BIO_CTRL_PENDING:
    return (long)(t->in.len - t->in.start + t->lent_len - t->lent_pos);
  case BIO_CTRL_WPENDING:
    return (long)t->out.len;
  default:
    return 0;
  }
}

static int bio_create(BIO *bio) {
  BIO_set_init(bio, 1);
  return 1;
}

static BIO_METHOD *bio_method;

/* The method, made once per process (per load of tide: Lua unloads its C
 * modules when the state closes), freed when tide is unloaded or the
 * process ends. */
static void bio_method_init(void) {
  BIO_METHOD *m =
      BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "tide stream");
  if (m == NULL) return;
  BIO_meth_set_read_ex(m, bio_read);
  BIO_meth_set_write_ex(m, bio_write);
  BIO_meth_set_ctrl(m, bio_ctrl);
  BIO_meth_set_create(m, bio_create);
  bio_method = m;
}

__attribute__((destructor)) static void bio_method_free(void) {
  if (bio_method != NULL) BIO_meth_free(bio_method);
  bio_method = NULL;
}

/* ------------------------------------------------------------ errors */

/* Turns a failed OpenSSL call (ret, as SSL_get_error takes it) into the
 * engine's result: TIDE__TLS_WANT when it needs ciphertext, UV_EOF at the
 * peer's close_notify, or an error with t->msg (the connection is then
 * dead: t->fatal). */
static int tls_status(tide__tls_t *t, int ret) {
  int e = SSL_get_error(t->ssl, ret);
  unsigned long code;
  const char *reason;
  switch (e) {
  case SSL_ERROR_WANT_READ:
    return TIDE__TLS_WANT;
  case SSL_ERROR_ZERO_RETURN:
    t->got_close = 1;
    return UV_EOF;
  default:
    break;
  }
  t->fatal = 1;
  if (t->verr != 0) {
    const char *why = X509_verify_cert_error_string(t->verr);
    if ((t->verr == X509_V_ERR_HOSTNAME_MISMATCH ||
         t->verr == X509_V_ERR_IP_ADDRESS_MISMATCH) &&
        t->servername != NULL)
      snprintf(t->msg, sizeof(t->msg), "%s for '%s' (depth %d)", why,
               t->servername, t->vdepth);
    else
      snprintf(t->msg, sizeof(t->msg), "%s (depth %d)", why, t->vdepth);
    ERR_clear_error();
    return TIDE_ETLSVERIFY;
  }
  code = ERR_peek_last_error();
  reason = code ? ERR_reason_error_string(code) : NULL;
  if (reason != NULL)
    snprintf(t->msg, sizeof(t->msg), "%s", reason);
  else if (ERR_GET_REASON(code) == ERR_R_MALLOC_FAILURE)
    snprintf(t->msg, sizeof(t->msg), "out of memory");
  else
    snprintf(t->msg, sizeof(t->msg), "TLS failure (SSL error %d)", e);
  ERR_clear_error();
  return TIDE_ETLS;
}

/* ------------------------------------------------------------ engine */

static int is_ip(const char *s) {
  unsigned char a[16];
  return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

/* Client side of tide__tls_new: SNI, the name to check, the session to
 * resume. */
static int tls_client_setup(tide__tls_t *t, const char *name) {
  SSL *ssl = t->ssl;
  int ip = is_ip(name);
  /* RFC 6066: no IP address in SNI. */
  if (!ip && SSL_set_tlsext_host_name(ssl, name) != 1) return TIDE_ETLS;
  if (t->ctx->verify) {
    if (ip) {
      if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) != 1)
        return TIDE_ETLS;
    } else {
      SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      if (SSL_set1_host(ssl, name) != 1) return TIDE_ETLS;
    }
  }
  t->servername = strdup(name);
  if (t->servername == NULL) return TIDE_ENOMEM;
  if (t->ctx->cache_max > 0) {
    SSL_SESSION *session = tide__tls_ctx_session(t->ctx, name);
    if (session != NULL) {
      SSL_set_session(ssl, session);
      SSL_SESSION_free(session);
    }
  }
  return 0;
}

int tide__tls_new(tide__tls_ctx_t *ctx, const char *servername,
                  tide__tls_t **out) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  tide__tls_t *t;
  BIO *bio;
  int err;
  pthread_once(&once, bio_method_init);
  if (bio_method == NULL) return TIDE_ENOMEM;
  t = calloc(1, sizeof(*t));
  if (t == NULL) return TIDE_ENOMEM;
  tls_clear_errors();
  t->ssl = SSL_new(ctx->ssl_ctx);
  bio = t->ssl ? BIO_new(bio_method) : NULL;
  if (bio == NULL) {
    SSL_free(t->ssl);
    free(t);
    tls_clear_errors();
    return TIDE_ENOMEM;
  }
  BIO_set_data(bio, t);
  SSL_set_bio(t->ssl, bio, bio); /* one reference, now the SSL's */
  SSL_set_app_data(t->ssl, t);
  t->ctx = ctx;
  tide__tls_ctx_ref(ctx); /* released in tide__tls_free */
  if (ctx->server) {
    SSL_set_accept_state(t->ssl);
  } else {
    SSL_set_connect_state(t->ssl);
    if (servername != NULL && (err = tls_client_setup(t, servername)) != 0) {
      tls_clear_errors();
      tide__tls_free(t);
      return err;
    }
  }
  *out = t;
  return 0;
}

void tide__tls_free(tide__tls_t *t) {
  SSL_free(t->ssl); /* and the BIO */
  tide__tls_ctx_unref(t->ctx);
  free(t->in.p);
  free(t->out.p);
  free(t->servername);
  free(t);
}

char *tide__tls_input_space(tide__tls_t *t, size_t *len) {
  tide__tls_ctx_t *ctx = t->ctx;
  if (t->in.len == t->in.start) {
    if (ctx->scratch == NULL) ctx->scratch = malloc(TIDE__TLS_SCRATCH);
    if (ctx->scratch != NULL) {
      *len = TIDE__TLS_SCRATCH;
      return ctx->scratch;
    }
  }
  /* Behind a partial record: room for at least a whole one. */
  if (buf_reserve(&t->in, TLS_IN_MIN) != 0) {
    *len = 0;
    return NULL;
  }
  *len = t->in.cap - t->in.len;
  return t->in.p + t->in.len;
}

void tide__tls_input_done(tide__tls_t *t, char *p, size_t n) {
  if (p == t->ctx->scratch) {
    t->lent = p;
    t->lent_len = n;
    t->lent_pos = 0;
  } else {
    t->in.len += n;
  }
}

int tide__tls_input_settle(tide__tls_t *t) {
  int err = 0;
  if (t->lent != NULL) {
    err = tide__tls_feed(t, t->lent + t->lent_pos, t->lent_len - t->lent_pos);
    t->lent = NULL;
    t->lent_len = t->lent_pos = 0;
  }
  if (t->in.len == t->in.start && t->in.p != NULL) {
    free(t->in.p);
    memset(&t->in, 0, sizeof(t->in));
  }
  return err;
}

int tide__tls_feed(tide__tls_t *t, const char *p, size_t n) {
  if (n == 0) return 0;
  if (buf_reserve(&t->in, n) != 0) return TIDE_ENOMEM;
  memcpy(t->in.p + t->in.len, p, n);
  t->in.len += n;
  return 0;
}

int tide__tls_handshake(tide__tls_t *t) {
  int r;
  if (t->fatal) return TIDE_ETLS;
  if (t->done) return 0;
  tls_clear_errors();
  r = SSL_do_handshake(t->ssl);
  if (r != 1) return tls_status(t, r);
  t->done = 1;
  t->verified = t->ctx->verify && SSL_get_verify_result(t->ssl) == X509_V_OK &&
                SSL_get0_peer_certificate(t->ssl) != NULL;
  return 0;
}

int tide__tls_read(tide__tls_t *t, char *buf, size_t cap, size_t *n) {
  *n = 0;
  if (t->fatal) return TIDE_ETLS;
  if (t->got_close) return UV_EOF;
  tls_clear_errors();
  if (SSL_read_ex(t->ssl, buf, cap, n) == 1) return 0;
  return tls_status(t, 0);
}

int tide__tls_readable(tide__tls_t *t) {
  return t->lent_pos < t->lent_len || t->in.len > t->in.start ||
         SSL_has_pending(t->ssl);
}

int tide__tls_write(tide__tls_t *t, const char *p, size_t n) {
  size_t put;
  if (t->fatal) return TIDE_ETLS;
  while (n > 0) {
    tls_clear_errors();
    if (SSL_write_ex(t->ssl, p, n, &put) != 1) {
      int r = tls_status(t, 0);
      /* Our BIO never refuses a write, so a retry means OpenSSL wants to
       * read first (a renegotiation, which tide refuses): an error. */
      if (r > 0) {
        t->fatal = 1;
        snprintf(t->msg, sizeof(t->msg), "write needs a handshake first");
        return TIDE_ETLS;
      }
      return r == UV_EOF ? UV_EPIPE : r;
    }
    p += put;
    n -= put;
  }
  return 0;
}

void tide__tls_close_notify(tide__tls_t *t) {
  if (!t->done || t->fatal || t->sent_close) return;
  t->sent_close = 1;
  tls_clear_errors();
  SSL_shutdown(t->ssl); /* 0: sent; we do not wait for the peer's */
  tls_clear_errors();
}
