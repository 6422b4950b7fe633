/* TLS inside a tide stream: the engine of tls.c between the socket and the
 * stream's buffers. No Lua here.
 *
 * Reading: libuv reads ciphertext into the context's scratch buffer (or
 * behind a partial record the engine keeps: tide__stream_tls_alloc); the
 * pump then advances the handshake or
 * decrypts into the stream's own read buffer, exactly where a plain
 * stream's socket reads land, so every read method works unchanged. The
 * pump decrypts only while the stream wants data (up to rlimit, or what the
 * waiting reader needs) and the socket is read only once the engine has
 * nothing left to decrypt, so TCP flow control holds a fast sender back
 * just as for a plain stream.
 *
 * Writing: plaintext is encrypted in chunks and each chunk's ciphertext
 * goes through the stream's try-write/queue path; wqueued (and with it the
 * water marks) counts ciphertext, a few bytes per record more than the
 * plaintext written. Whatever else the engine produces (handshake flights,
 * alerts, session tickets, key updates answered while reading) is sent
 * after every step of the pump.
 *
 * Ends: the peer's close_notify is a clean EOF (UV_EOF); a socket EOF
 * without it is TIDE_ETLSEOF, so a truncated stream is visible; a socket
 * error is reported as itself. Either is reported only after every byte
 * that arrived before it has been read. */
#include <string.h>

#include "tide_tls.h"

/* Plaintext encrypted per step of a write: bounds the engine's output
 * buffer whatever the size of the write. */
#define TLS_WRITE_CHUNK (64 * 1024)

int tide__stream_tls_start(tide__stream_t *s, tide__tls_ctx_t *ctx,
                           const char *servername) {
  size_t n = tide__stream_buffered(s);
  tide__tls_t *t;
  /* The engine's pointer lives in the ext (tide__stream_tls). */
  tide__stream_ext_t *x = tide__stream_ext(s);
  int err;
  if (x == NULL) return TIDE_ENOMEM;
  if ((err = tide__tls_new(ctx, servername, &t)) != 0) return err;
  /* What was read ahead as plaintext is the peer's first TLS bytes (a
   * STARTTLS peer may send its ClientHello right behind its command). */
  if (n > 0 && (err = tide__tls_feed(t, s->rbuf + s->rstart, n)) != 0) {
    tide__tls_free(t);
    return err;
  }
  s->rstart = s->rend = s->rscan = 0;
  tide__stream_settle(s); /* the plaintext buffer is empty now */
  if (s->rerr != 0) { /* an EOF seen already ends the handshake */
    t->neterr = s->rerr;
    s->rerr = 0;
  }
  x->tls = t;
  return 0;
}

int tide__stream_tls_ready(const tide__stream_t *s) {
  return tide__stream_tls(s) != NULL && tide__stream_tls(s)->done;
}

void tide__stream_wait_handshake(tide__stream_t *s, uint64_t timeout_ns) {
  tide__future_reset(&s->rfut);
  s->rmode = TIDE__RHANDSHAKE;
  s->rtimedout = 0;
  if (timeout_ns != 0 && s->u.x != NULL)
    tide__timer_start(tide__stream_loop(s), &s->u.x->rtimer,
                      tide__loop_now(tide__stream_loop(s)) + timeout_ns);
  tide__stream_update_reading(s); /* pumps: a client's first flight */
}

void tide__stream_tls_alloc(tide__stream_t *s, uv_buf_t *buf) {
  size_t len;
  buf->base = tide__tls_input_space(tide__stream_tls(s), &len);
  buf->len = len;
}

void tide__stream_tls_input(tide__stream_t *s, ssize_t nread,
                            const uv_buf_t *buf) {
  tide__tls_t *t = tide__stream_tls(s);
  if (nread > 0)
    tide__tls_input_done(t, buf->base, (size_t)nread);
  else if (nread < 0 && t->neterr == 0)
    t->neterr = (int)nread;
  if (nread == 0) return;
  tide__stream_tls_pump(s);
  /* What the pump left (a partial record, or records past the read-ahead
   * limit) moves out of the shared scratch buffer. */
  if (tide__tls_input_settle(t) != 0 && s->rerr == 0) {
    s->rerr = UV_ENOBUFS;
    tide__stream_wake_reader(s);
  }
}

/* Sends what the engine has produced. */
static void tls_flush(tide__stream_t *s) {
  const char *p;
  size_t n = tide__tls_output(tide__stream_tls(s), &p);
  if (n == 0) return;
  if (s->werr == 0) tide__stream_send(s, p, n); /* a failure is in werr */
  tide__tls_output_done(tide__stream_tls(s));
}

/* The socket's EOF or error, once everything before it is decrypted. */
static void tls_end(tide__stream_t *s, const char *what) {
  tide__tls_t *t = tide__stream_tls(s);
  if (t->neterr == UV_EOF) {
    s->rerr = TIDE_ETLSEOF;
    snprintf(t->msg, sizeof(t->msg), "%s", what);
  } else {
    s->rerr = t->neterr;
  }
}

int tide__stream_tls_pump(tide__stream_t *s) {
  tide__tls_t *t = tide__stream_tls(s);
  size_t room, n;
  int r;
  if (s->closing) return 0;
  if (s->rerr == 0 && !t->done) {
    r = tide__tls_handshake(t);
    if (r < 0)
      s->rerr = r;
    else if (r == TIDE__TLS_WANT && t->neterr != 0)
      tls_end(s, "connection closed during the TLS handshake");
  }
  while (t->done && tide__stream_wants_data(s)) {
    r = TIDE__TLS_WANT;
    if (tide__tls_readable(t)) {
      room = tide__stream_reserve(s);
      if (room == 0) {
        s->rerr = UV_ENOBUFS;
        break;
      }
      r = tide__tls_read(t, s->rbuf + s->rend, room, &n);
      if (r == 0) {
        s->rend += n;
        continue;
      }
    }
    if (r != TIDE__TLS_WANT)
      s->rerr = r; /* UV_EOF: close_notify */
    else if (t->neterr != 0)
      tls_end(s, "connection closed without a TLS close_notify "
                 "(truncated?)");
    break;
  }
  tls_flush(s);
  tide__stream_settle(s); /* a read of nothing took a buffer */
  /* A handshake whose flight cannot be sent will not complete. */
  if (!t->done && s->werr != 0 && s->rerr == 0) s->rerr = s->werr;
  tide__stream_wake_reader(s);
  return t->neterr == 0 && tide__stream_wants_data(s);
}

int tide__stream_tls_write(tide__stream_t *s, const char *p, size_t len) {
  int err;
  if (s->werr != 0) return s->werr;
  while (len > 0) {
    size_t n = len < TLS_WRITE_CHUNK ? len : TLS_WRITE_CHUNK;
    err = tide__tls_write(tide__stream_tls(s), p, n);
    tls_flush(s);
    if (err != 0) return s->werr = err;
    if (s->werr != 0) return s->werr;
    p += n;
    len -= n;
  }
  return 0;
}

void tide__stream_tls_close_notify(tide__stream_t *s) {
  tide__tls_close_notify(tide__stream_tls(s));
  tls_flush(s);
}

const char *tide__stream_errmsg(const tide__stream_t *s, int err) {
  if (tide__stream_tls(s) == NULL || tide__stream_tls(s)->msg[0] == '\0')
    return NULL;
  if (err != TIDE_ETLS && err != TIDE_ETLSVERIFY && err != TIDE_ETLSEOF)
    return NULL;
  return tide__stream_tls(s)->msg;
}
