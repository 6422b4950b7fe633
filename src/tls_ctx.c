/* TLS contexts: an SSL_CTX set up the way tide's users expect (verification
 * on for clients, against the system's store by default; TLS 1.2 at least;
 * no renegotiation, no compression), with certificates and keys from files
 * or PEM text, ALPN, SNI for servers with several names, and a small
 * session cache for clients. No Lua, no libuv here.
 *
 * A context is reference counted: the Lua object holds one reference, each
 * connection made with it another (so a context dropped by the script lives
 * as long as its connections), a server context one on each SNI child. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tide_tls.h"

/* Records the first verification failure on the connection (for its error
 * message: OpenSSL's reason and the depth in the chain) and keeps
 * OpenSSL's verdict. */
static int ctx_on_verify(int ok, X509_STORE_CTX *xs) {
  SSL *ssl =
      X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
  tide__tls_t *t = ssl ? SSL_get_app_data(ssl) : NULL;
  if (!ok && t != NULL && t->verr == 0) {
    t->verr = X509_STORE_CTX_get_error(xs);
    t->vdepth = X509_STORE_CTX_get_error_depth(xs);
  }
  return ok;
}

/* Fills msg with what, and OpenSSL's reason for the latest error (cleared
 * from OpenSSL's queue). Returns TIDE_ETLS. */
static int ctx_fail(char *msg, size_t msglen, const char *what) {
  unsigned long e = ERR_peek_last_error();
  const char *reason = e ? ERR_reason_error_string(e) : NULL;
  snprintf(msg, msglen, "%s: %s", what, reason ? reason : "rejected");
  ERR_clear_error();
  return TIDE_ETLS;
}

static int is_pem(const char *s) {
  return strstr(s, "-----BEGIN") != NULL;
}

/* A path must exist before OpenSSL opens it: a missing file is reported
 * by its errno code and the path, not by OpenSSL's "system lib". */
static int ctx_check_path(const char *what, const char *path, char *msg,
                          size_t msglen, int *isdir) {
  struct stat st;
  if (stat(path, &st) != 0) {
    int err = uv_translate_sys_error(errno);
    snprintf(msg, msglen, "%s '%s': %s", what, path, uv_strerror(err));
    return err;
  }
  if (isdir != NULL) *isdir = S_ISDIR(st.st_mode);
  return 0;
}

/* OpenSSL's password callback: an encrypted key is decrypted with the
 * password option (u); without one, loading it fails. (OpenSSL's default
 * asks on the terminal: a server would hang there, its loop blocked.) */
static int ctx_on_password(char *buf, int size, int rwflag, void *u) {
  const char *password = u;
  size_t n;
  (void)rwflag;
  if (password == NULL || size <= 0) return 0;
  n = strlen(password);
  if (n > (size_t)size) n = (size_t)size;
  memcpy(buf, password, n);
  return (int)n;
}

/* The certificate chain: the first certificate is the context's own, the
 * others its chain towards the CA. */
static int ctx_use_cert(SSL_CTX *sc, const char *cert, char *msg,
                        size_t msglen) {
  BIO *bio;
  X509 *x;
  int err;
  if (!is_pem(cert)) {
    if ((err = ctx_check_path("cert", cert, msg, msglen, NULL)) != 0)
      return err;
    if (SSL_CTX_use_certificate_chain_file(sc, cert) != 1)
      return ctx_fail(msg, msglen, "cert");
    return 0;
  }
  bio = BIO_new_mem_buf(cert, -1);
  if (bio == NULL) return TIDE_ENOMEM;
  x = PEM_read_bio_X509(bio, NULL, ctx_on_password, NULL);
  if (x == NULL || SSL_CTX_use_certificate(sc, x) != 1) {
    X509_free(x);
    BIO_free(bio);
    return ctx_fail(msg, msglen, "cert");
  }
  X509_free(x);
  SSL_CTX_clear_chain_certs(sc);
  while ((x = PEM_read_bio_X509(bio, NULL, ctx_on_password, NULL)) != NULL) {
    if (SSL_CTX_add0_chain_cert(sc, x) != 1) { /* takes x on success */
      X509_free(x);
      BIO_free(bio);
      return ctx_fail(msg, msglen, "cert chain");
    }
  }
  ERR_clear_error(); /* the end of the PEM text */
  BIO_free(bio);
  return 0;
}

static int ctx_use_key(SSL_CTX *sc, const char *key, const char *password,
                       char *msg, size_t msglen) {
  BIO *bio;
  EVP_PKEY *pk;
  int err, ok;
  if (!is_pem(key)) {
    if ((err = ctx_check_path("key", key, msg, msglen, NULL)) != 0) return err;
    /* The password is the caller's: OpenSSL holds it only meanwhile. */
    SSL_CTX_set_default_passwd_cb_userdata(sc, (void *)password);
    ok = SSL_CTX_use_PrivateKey_file(sc, key, SSL_FILETYPE_PEM) == 1;
    SSL_CTX_set_default_passwd_cb_userdata(sc, NULL);
    return ok ? 0 : ctx_fail(msg, msglen, "key");
  }
  bio = BIO_new_mem_buf(key, -1);
  if (bio == NULL) return TIDE_ENOMEM;
  pk = PEM_read_bio_PrivateKey(bio, NULL, ctx_on_password, (void *)password);
  BIO_free(bio);
  ok = pk != NULL && SSL_CTX_use_PrivateKey(sc, pk) == 1;
  EVP_PKEY_free(pk);
  return ok ? 0 : ctx_fail(msg, msglen, "key");
}

/* Trusted CAs: PEM text, a file of PEM certificates, or a directory in
 * OpenSSL's hashed layout (c_rehash). A server that verifies its clients
 * also names the CAs of a file or text in its certificate request. */
static int ctx_use_ca(SSL_CTX *sc, const char *ca, int server, char *msg,
                      size_t msglen) {
  int err, isdir = 0;
  if (is_pem(ca)) {
    X509_STORE *store = SSL_CTX_get_cert_store(sc);
    BIO *bio = BIO_new_mem_buf(ca, -1);
    X509 *x;
    int n = 0;
    if (bio == NULL) return TIDE_ENOMEM;
    while ((x = PEM_read_bio_X509(bio, NULL, ctx_on_password, NULL)) != NULL) {
      int ok = X509_STORE_add_cert(store, x) == 1 &&
               (!server || SSL_CTX_add_client_CA(sc, x) == 1);
      X509_free(x);
      if (!ok) {
        BIO_free(bio);
        return ctx_fail(msg, msglen, "ca");
      }
      n++;
    }
    BIO_free(bio);
    if (n == 0) return ctx_fail(msg, msglen, "ca");
    ERR_clear_error();
    return 0;
  }
  if ((err = ctx_check_path("ca", ca, msg, msglen, &isdir)) != 0) return err;
  if (SSL_CTX_load_verify_locations(sc, isdir ? NULL : ca, isdir ? ca : NULL) !=
      1)
    return ctx_fail(msg, msglen, "ca");
  if (server && !isdir) {
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
    if (names == NULL) return ctx_fail(msg, msglen, "ca");
    SSL_CTX_set_client_CA_list(sc, names);
  }
  return 0;
}

/* Servers: the first of our protocols (in our order) that the client
 * offers; none in common: the handshake goes on without ALPN. */
static int ctx_on_alpn(SSL *ssl, const unsigned char **out,
                       unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg) {
  tide__tls_ctx_t *ctx = arg;
  unsigned char *sel;
  (void)ssl;
  if (SSL_select_next_proto(&sel, outlen, ctx->alpn, (unsigned)ctx->alpn_len,
                            in, inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = sel;
  return SSL_TLSEXT_ERR_OK;
}

/* Does name match pattern (case-insensitive; "*.example.com" matches
 * exactly one label in front of example.com)? */
static int sni_match(const char *pattern, const char *name) {
  if (pattern[0] == '*' && pattern[1] == '.') {
    const char *dot = strchr(name, '.');
    return dot != NULL && dot != name && strcasecmp(dot, pattern + 1) == 0;
  }
  return strcasecmp(pattern, name) == 0;
}

/* Servers: switches the connection to the context of the name the client
 * asked for (exact names first, then wildcards); other names keep the
 * default context. */
static int ctx_on_servername(SSL *ssl, int *alert, void *arg) {
  tide__tls_ctx_t *ctx = arg;
  const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  size_t i;
  int pass;
  (void)alert;
  if (name == NULL) return SSL_TLSEXT_ERR_NOACK;
  for (pass = 0; pass < 2; pass++) {
    for (i = 0; i < ctx->nsni; i++) {
      const char *p = ctx->sni[i].name;
      if ((p[0] == '*') != pass) continue;
      if (sni_match(p, name)) {
        SSL_set_SSL_CTX(ssl, ctx->sni[i].ctx->ssl_ctx);
        return SSL_TLSEXT_ERR_OK;
      }
    }
  }
  return SSL_TLSEXT_ERR_OK;
}

/* Clients with a session cache: OpenSSL hands over each new session (TLS
 * 1.3: the tickets that arrive after the handshake). Returns 1: we keep
 * the reference. */
static int ctx_on_new_session(SSL *ssl, SSL_SESSION *session) {
  tide__tls_t *t = SSL_get_app_data(ssl);
  if (t == NULL || t->servername == NULL) return 0;
  tide__tls_ctx_store_session(t->ctx, t->servername, session);
  return 1;
}

/* Applies the settings of cfg to sc (see tide__tls_ctx_new). */
static int ctx_setup(tide__tls_ctx_t *ctx, SSL_CTX *sc,
                     const tide__tls_config_t *cfg, char *msg, size_t msglen) {
  int err;
  SSL_CTX_set_options(sc,
                      SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                          (cfg->server ? SSL_OP_CIPHER_SERVER_PREFERENCE : 0));
  /* The engine hands OpenSSL everything that has arrived at once. */
  SSL_CTX_set_read_ahead(sc, 1);
  if (!SSL_CTX_set_min_proto_version(sc, cfg->min_version ? cfg->min_version
                                                          : TLS1_2_VERSION) ||
      !SSL_CTX_set_max_proto_version(sc, cfg->max_version))
    return ctx_fail(msg, msglen, "version");
  if (cfg->ciphers != NULL && SSL_CTX_set_cipher_list(sc, cfg->ciphers) != 1)
    return ctx_fail(msg, msglen, "ciphers");
  if (cfg->ciphersuites != NULL &&
      SSL_CTX_set_ciphersuites(sc, cfg->ciphersuites) != 1)
    return ctx_fail(msg, msglen, "ciphersuites");
  SSL_CTX_set_default_passwd_cb(sc, ctx_on_password); /* never a prompt */
  if (cfg->cert != NULL &&
      (err = ctx_use_cert(sc, cfg->cert, msg, msglen)) != 0)
    return err;
  if (cfg->key != NULL &&
      (err = ctx_use_key(sc, cfg->key, cfg->password, msg, msglen)) != 0)
    return err;
  if (cfg->cert != NULL && cfg->key != NULL &&
      SSL_CTX_check_private_key(sc) != 1)
    return ctx_fail(msg, msglen, "key does not match cert");
  if (cfg->ca != NULL) {
    if ((err = ctx_use_ca(sc, cfg->ca, cfg->server, msg, msglen)) != 0)
      return err;
  } else if (cfg->verify && SSL_CTX_set_default_verify_paths(sc) != 1) {
    return ctx_fail(msg, msglen, "the system's CA store");
  }
  if (!cfg->verify)
    SSL_CTX_set_verify(sc, SSL_VERIFY_NONE, NULL);
  else if (!cfg->server)
    SSL_CTX_set_verify(sc, SSL_VERIFY_PEER, ctx_on_verify);
  else
    SSL_CTX_set_verify(sc, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                       ctx_on_verify);
  if (cfg->alpn_len > 0) {
    if (cfg->server) {
      ctx->alpn = malloc(cfg->alpn_len);
      if (ctx->alpn == NULL) return TIDE_ENOMEM;
      memcpy(ctx->alpn, cfg->alpn, cfg->alpn_len);
      ctx->alpn_len = cfg->alpn_len;
      SSL_CTX_set_alpn_select_cb(sc, ctx_on_alpn, ctx);
    } else if (SSL_CTX_set_alpn_protos(sc, cfg->alpn,
                                       (unsigned)cfg->alpn_len) != 0) {
      return ctx_fail(msg, msglen, "alpn");
    }
  }
  if (cfg->server) {
    /* Resumed sessions must come from this kind of context. */
    SSL_CTX_set_session_id_context(sc, (const unsigned char *)"tide", 4);
    SSL_CTX_set_tlsext_servername_callback(sc, ctx_on_servername);
    SSL_CTX_set_tlsext_servername_arg(sc, ctx);
    if (cfg->session_cache == 0) {
      SSL_CTX_set_session_cache_mode(sc, SSL_SESS_CACHE_OFF);
      SSL_CTX_set_options(sc, SSL_OP_NO_TICKET);
      SSL_CTX_set_num_tickets(sc, 0);
    } else if (cfg->session_cache > 0) {
      SSL_CTX_sess_set_cache_size(sc, cfg->session_cache);
    }
  } else if (cfg->session_cache > 0) {
    ctx->cache_max = (size_t)cfg->session_cache;
    SSL_CTX_set_session_cache_mode(sc, SSL_SESS_CACHE_CLIENT |
                                           SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(sc, ctx_on_new_session);
  }
  return 0;
}

int tide__tls_ctx_new(const tide__tls_config_t *cfg, tide__tls_ctx_t **out,
                      char *msg, size_t msglen) {
  tide__tls_ctx_t *ctx = calloc(1, sizeof(*ctx));
  int err;
  msg[0] = '\0';
  if (ctx == NULL) return TIDE_ENOMEM;
  ctx->refs = 1;
  ctx->server = cfg->server != 0;
  ctx->verify = cfg->verify != 0;
  ERR_clear_error();
  ctx->ssl_ctx = SSL_CTX_new(TLS_method());
  if (ctx->ssl_ctx == NULL) {
    free(ctx);
    return ctx_fail(msg, msglen, "context");
  }
  err = ctx_setup(ctx, ctx->ssl_ctx, cfg, msg, msglen);
  if (err != 0) {
    if (msg[0] == '\0') snprintf(msg, msglen, "%s", tide_strerror(err));
    tide__tls_ctx_unref(ctx);
    return err;
  }
  *out = ctx;
  return 0;
}

int tide__tls_ctx_add_sni(tide__tls_ctx_t *ctx, const char *name,
                          tide__tls_ctx_t *child) {
  tide__tls_sni_t *p = realloc(ctx->sni, (ctx->nsni + 1) * sizeof(*p));
  char *copy;
  if (p == NULL) return TIDE_ENOMEM;
  ctx->sni = p;
  copy = strdup(name);
  if (copy == NULL) return TIDE_ENOMEM;
  p[ctx->nsni].name = copy;
  p[ctx->nsni].ctx = child;
  ctx->nsni++;
  tide__tls_ctx_ref(child); /* released in tide__tls_ctx_unref */
  return 0;
}

void tide__tls_ctx_ref(tide__tls_ctx_t *ctx) {
  ctx->refs++;
}

void tide__tls_ctx_unref(tide__tls_ctx_t *ctx) {
  size_t i;
  if (--ctx->refs > 0) return;
  for (i = 0; i < ctx->nsni; i++) {
    free(ctx->sni[i].name);
    tide__tls_ctx_unref(ctx->sni[i].ctx);
  }
  for (i = 0; i < ctx->ncache; i++) {
    free(ctx->cache[i].key);
    SSL_SESSION_free(ctx->cache[i].session);
  }
  free(ctx->sni);
  free(ctx->cache);
  free(ctx->scratch);
  free(ctx->alpn);
  SSL_CTX_free(ctx->ssl_ctx);
  free(ctx);
}

SSL_SESSION *tide__tls_ctx_session(tide__tls_ctx_t *ctx, const char *key) {
  size_t i;
  for (i = 0; i < ctx->ncache; i++) {
    if (strcmp(ctx->cache[i].key, key) == 0) {
      SSL_SESSION *s = ctx->cache[i].session;
      if (!SSL_SESSION_is_resumable(s)) return NULL;
      SSL_SESSION_up_ref(s);
      return s;
    }
  }
  return NULL;
}

/* Takes over the reference to session. A full cache drops its oldest
 * entry; a key already there gets the new session (the latest ticket is the
 * one to use). */
void tide__tls_ctx_store_session(tide__tls_ctx_t *ctx, const char *key,
                                 SSL_SESSION *session) {
  size_t i;
  char *copy;
  for (i = 0; i < ctx->ncache; i++) {
    if (strcmp(ctx->cache[i].key, key) == 0) {
      SSL_SESSION_free(ctx->cache[i].session);
      ctx->cache[i].session = session;
      return;
    }
  }
  if (ctx->cache == NULL) {
    ctx->cache = calloc(ctx->cache_max, sizeof(*ctx->cache));
    if (ctx->cache == NULL) goto drop;
  }
  if (ctx->ncache == ctx->cache_max) {
    free(ctx->cache[0].key);
    SSL_SESSION_free(ctx->cache[0].session);
    memmove(ctx->cache, ctx->cache + 1,
            (ctx->ncache - 1) * sizeof(*ctx->cache));
    ctx->ncache--;
  }
  copy = strdup(key);
  if (copy == NULL) goto drop;
  ctx->cache[ctx->ncache].key = copy;
  ctx->cache[ctx->ncache].session = session;
  ctx->ncache++;
  return;
drop:
  SSL_SESSION_free(session);
}
