/* Shared by bench/tls/c.c (the C floor of the TLS workloads) and
 * bench/tls/load.c (their load generator): TLS on a libuv TCP stream with
 * OpenSSL memory BIOs, the way a competent C programmer (or asyncio's
 * sslproto, or uvloop) writes it:
 *   - ciphertext read from the socket goes into the read BIO; SSL_read
 *     decrypts into one shared plaintext buffer handed to on_plain;
 *   - SSL_write encrypts into the write BIO, which is drained into one
 *     shared buffer and sent with uv_try_write; only an unsent tail is
 *     copied into a uv_write request;
 *   - the write BIO is drained after every SSL call, SSL_read included
 *     (tickets, key updates, alerts).
 * Header-only, single-threaded (the shared buffers are reused once a
 * callback returns). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <uv.h>

#pragma GCC diagnostic ignored "-Wunused-function"

#define TLS_BUF_SIZE (64 * 1024)

typedef struct tls_conn_s tls_conn_t;
struct tls_conn_s {
  uv_tcp_t tcp; /* first: a handle pointer is a connection pointer */
  SSL *ssl;
  BIO *rbio; /* socket -> OpenSSL */
  BIO *wbio; /* OpenSSL -> socket */
  int done;  /* handshake complete */
  int closing;
  int paused; /* reading stopped for back-pressure (the user's flag) */
  void (*on_handshake)(tls_conn_t *c);
  void (*on_plain)(tls_conn_t *c, const char *p, size_t n);
  void (*on_end)(tls_conn_t *c, const char *why); /* error or EOF */
  void (*on_written)(tls_conn_t *c);              /* a queued write is out */
  void (*on_closed)(tls_conn_t *c);               /* after uv_close */
  void *data;
};

static char tls_cbuf[TLS_BUF_SIZE]; /* ciphertext in and out */
static char tls_pbuf[TLS_BUF_SIZE]; /* plaintext out of SSL_read */

typedef struct {
  uv_write_t req;
  uv_buf_t buf; /* points just past this struct */
} tls_wreq_t;

static void tls_on_closed(uv_handle_t *h) {
  tls_conn_t *c = (tls_conn_t *)h;
  SSL_free(c->ssl); /* and the BIOs */
  if (c->on_closed) c->on_closed(c);
}

static void tls_close(tls_conn_t *c) {
  if (c->closing) return;
  c->closing = 1;
  uv_close((uv_handle_t *)&c->tcp, tls_on_closed);
}

static void tls_on_write(uv_write_t *req, int status) {
  tls_conn_t *c = (tls_conn_t *)req->handle;
  free(req);
  if (status < 0 && status != UV_ECANCELED && c->on_end)
    c->on_end(c, uv_strerror(status));
  else if (status == 0 && !c->closing && c->on_written)
    c->on_written(c);
}

/* Sends what OpenSSL has written into the write BIO. */
static void tls_flush(tls_conn_t *c) {
  int n;
  while (!c->closing &&
         (n = BIO_read(c->wbio, tls_cbuf, sizeof tls_cbuf)) > 0) {
    uv_buf_t b = uv_buf_init(tls_cbuf, (unsigned)n);
    int sent = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    tls_wreq_t *w;
    if (sent == UV_EAGAIN) sent = 0;
    if (sent < 0) {
      if (c->on_end) c->on_end(c, uv_strerror(sent));
      return;
    }
    if (sent == n) continue;
    w = malloc(sizeof *w + (size_t)(n - sent));
    if (w == NULL) abort();
    memcpy(w + 1, tls_cbuf + sent, (size_t)(n - sent));
    w->buf = uv_buf_init((char *)(w + 1), (unsigned)(n - sent));
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &w->buf, 1, tls_on_write) < 0)
      free(w);
  }
}

static void tls_fail(tls_conn_t *c, int ret) {
  unsigned long e = ERR_get_error();
  char why[160];
  snprintf(why, sizeof why, "TLS error %d: %s", SSL_get_error(c->ssl, ret),
           e ? ERR_reason_error_string(e) : "?");
  ERR_clear_error();
  tls_flush(c); /* the alert */
  if (c->on_end) c->on_end(c, why);
}

/* Encrypts and sends. */
static void tls_write(tls_conn_t *c, const char *p, size_t n) {
  size_t put;
  if (SSL_write_ex(c->ssl, p, n, &put) != 1) {
    tls_fail(c, 0);
    return;
  }
  tls_flush(c);
}

/* Sends close_notify (without waiting for the peer's), then closes. */
static void tls_shutdown(tls_conn_t *c) {
  if (c->done && !c->closing) {
    SSL_shutdown(c->ssl);
    tls_flush(c);
  }
  tls_close(c);
}

static void tls_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  *buf = uv_buf_init(tls_cbuf, sizeof tls_cbuf);
}

static void tls_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  tls_conn_t *c = (tls_conn_t *)s;
  size_t n;
  int r;
  if (nread < 0) {
    if (c->on_end)
      c->on_end(c, nread == UV_EOF ? "EOF" : uv_strerror((int)nread));
    return;
  }
  if (nread == 0) return;
  BIO_write(c->rbio, buf->base, (int)nread);
  if (!c->done) {
    r = SSL_do_handshake(c->ssl);
    tls_flush(c);
    if (r != 1) {
      if (SSL_get_error(c->ssl, r) != SSL_ERROR_WANT_READ) tls_fail(c, r);
      return;
    }
    c->done = 1;
    if (c->on_handshake) c->on_handshake(c);
    if (c->closing) return;
  }
  while (!c->closing) {
    if (SSL_read_ex(c->ssl, tls_pbuf, sizeof tls_pbuf, &n) == 1) {
      c->on_plain(c, tls_pbuf, n);
      continue;
    }
    r = SSL_get_error(c->ssl, 0);
    tls_flush(c);
    if (r == SSL_ERROR_ZERO_RETURN) {
      if (c->on_end) c->on_end(c, "EOF");
    } else if (r != SSL_ERROR_WANT_READ) {
      tls_fail(c, 0);
    }
    return;
  }
}

/* Sets up c (its tcp handle already initialized) for ctx; a client starts
 * its handshake. Reading starts. */
static void tls_start(tls_conn_t *c, SSL_CTX *ctx, int server) {
  c->ssl = SSL_new(ctx);
  c->rbio = BIO_new(BIO_s_mem());
  c->wbio = BIO_new(BIO_s_mem());
  if (c->ssl == NULL || c->rbio == NULL || c->wbio == NULL) abort();
  SSL_set_bio(c->ssl, c->rbio, c->wbio);
  c->done = c->closing = 0;
  if (server) {
    SSL_set_accept_state(c->ssl);
  } else {
    SSL_set_connect_state(c->ssl);
    SSL_do_handshake(c->ssl);
    tls_flush(c);
  }
  uv_tcp_nodelay(&c->tcp, 1);
  uv_read_start((uv_stream_t *)&c->tcp, tls_on_alloc, tls_on_read);
}
