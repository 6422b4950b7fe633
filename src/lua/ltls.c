/* Lua binding of TLS: contexts (tide.tls.context), and the stream methods
 * starttls and tlsinfo. The facades (lua/tide/tls.lua, tcp.lua, unix.lua,
 * stream.lua) build connect, listen and the per-connection handshake on
 * these.
 *
 * A context is a userdata holding a reference to a tide__tls_ctx_t;
 * connections take their own reference, so dropping the object while its
 * connections live is fine.
 *
 * starttls runs the handshake in the calling task. Whatever ends it other
 * than success (failure, timeout, cancellation) closes the stream: a
 * half-negotiated stream can carry neither TLS nor plaintext. */
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "../tide_tls.h"

#define TIDE__MT_TLS_CONTEXT "tide.tls.context"

/* The handshake's default limit, as the listen and connect facades use
 * it: a peer that stalls mid-handshake must not hold a task forever. */
#define TLS_HANDSHAKE_TIMEOUT 30.0

/* The default client context, made at the first tls = true (loading the
 * system's CA store takes milliseconds: once per Lua state). */
static char default_client_key[1];

typedef struct {
  tide__tls_ctx_t *ctx; /* a reference; NULL once collected */
} ltls_ctx_t;

/* ------------------------------------------------------------ contexts */

static const char *const context_options[] = {
    "server", "cert",          "key",         "ca",      "verify",
    "alpn",   "min_version",   "max_version", "ciphers", "ciphersuites",
    "sni",    "session_cache", "password",    NULL};

/* The string option key of the options table at 1, or NULL. */
static const char *opt_string(lua_State *L, const char *key) {
  const char *v = NULL;
  int t = lua_getfield(L, 1, key);
  if (t != LUA_TNIL) {
    if (t != LUA_TSTRING)
      luaL_error(L, "tide.tls.context: option '%s': string expected, got %s",
                 key, luaL_typename(L, -1));
    v = lua_tostring(L, -1);
  }
  lua_pop(L, 1); /* still anchored in the options table */
  return v;
}

static int opt_bool(lua_State *L, const char *key, int def) {
  int t = lua_getfield(L, 1, key), v = def;
  if (t != LUA_TNIL) {
    if (t != LUA_TBOOLEAN)
      luaL_error(L, "tide.tls.context: option '%s': boolean expected, got %s",
                 key, luaL_typename(L, -1));
    v = lua_toboolean(L, -1);
  }
  lua_pop(L, 1);
  return v;
}

/* "1.2", "tls1.2", "TLSv1.2" (1.0 to 1.3) as OpenSSL's version number. */
static int opt_version(lua_State *L, const char *key) {
  static const char *const names[] = {"1.0", "1.1", "1.2", "1.3"};
  static const int versions[] = {TLS1_VERSION, TLS1_1_VERSION, TLS1_2_VERSION,
                                 TLS1_3_VERSION};
  const char *given = opt_string(L, key), *v = given;
  int i;
  if (v == NULL) return 0;
  if (strncasecmp(v, "tlsv", 4) == 0)
    v += 4;
  else if (strncasecmp(v, "tls", 3) == 0)
    v += 3;
  for (i = 0; i < 4; i++)
    if (strcmp(v, names[i]) == 0) return versions[i];
  return luaL_error(L,
                    "tide.tls.context: option '%s': \"1.2\" or \"1.3\" "
                    "expected, got '%s'",
                    key, given);
}

/* alpn = {"h2", "http/1.1"}: pushes the wire format (length-prefixed
 * names), or nothing. Returns whether it pushed. */
static int opt_alpn(lua_State *L) {
  luaL_Buffer b;
  lua_Integer i, n;
  int list;
  if (lua_getfield(L, 1, "alpn") == LUA_TNIL) {
    lua_pop(L, 1);
    return 0;
  }
  if (!lua_istable(L, -1))
    luaL_error(L, "tide.tls.context: option 'alpn': list of protocol names "
                  "expected");
  list = lua_gettop(L);
  n = (lua_Integer)lua_rawlen(L, list);
  if (n == 0) luaL_error(L, "tide.tls.context: option 'alpn': empty list");
  luaL_buffinit(L, &b);
  for (i = 1; i <= n; i++) {
    size_t len = 0;
    const char *name = NULL;
    /* The name stays anchored in the list once popped. */
    if (lua_rawgeti(L, list, i) == LUA_TSTRING)
      name = lua_tolstring(L, -1, &len);
    lua_pop(L, 1);
    if (name == NULL || len == 0 || len > 255)
      luaL_error(L, "tide.tls.context: option 'alpn': names of 1 to 255 "
                    "bytes expected");
    luaL_addchar(&b, (char)len);
    luaL_addlstring(&b, name, len);
  }
  luaL_pushresult(&b);
  lua_remove(L, list);
  return 1;
}

/* session_cache = true | false | entries. */
static int opt_session_cache(lua_State *L, int server) {
  int t = lua_getfield(L, 1, "session_cache"), n = -1;
  if (t == LUA_TBOOLEAN) {
    n = lua_toboolean(L, -1) ? (server ? -1 : 64) : 0;
  } else if (t != LUA_TNIL) {
    int isnum;
    lua_Integer v = lua_tointegerx(L, -1, &isnum);
    if (!isnum || v < 0 || v > 1000000)
      luaL_error(L, "tide.tls.context: option 'session_cache': boolean or "
                    "count of sessions expected");
    n = (int)v;
  }
  lua_pop(L, 1);
  return n;
}

static ltls_ctx_t *context_test(lua_State *L, int idx) {
  ltls_ctx_t *box = luaL_testudata(L, idx, TIDE__MT_TLS_CONTEXT);
  return box != NULL && box->ctx != NULL ? box : NULL;
}

/* sni = {["name"] = server context, ...}: adds each to ctx. */
static void context_add_sni(lua_State *L, tide__tls_ctx_t *ctx) {
  if (lua_getfield(L, 1, "sni") == LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  if (!lua_istable(L, -1))
    luaL_error(L, "tide.tls.context: option 'sni': table of names to "
                  "contexts expected");
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    ltls_ctx_t *child = context_test(L, -1);
    if (lua_type(L, -2) != LUA_TSTRING || child == NULL || !child->ctx->server)
      luaL_error(L, "tide.tls.context: option 'sni': names must map to "
                    "server contexts");
    if (tide__tls_ctx_add_sni(ctx, lua_tostring(L, -2), child->ctx) != 0)
      luaL_error(L, "tide.tls.context: %s", tide_strerror(TIDE_ENOMEM));
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* tide.tls.context{server=, cert=, key=, password=, ca=, verify=, alpn=,
 * min_version=, max_version=, ciphers=, ciphersuites=, sni=,
 * session_cache=} -> context,
 * or nil, err, name when a file cannot be read or OpenSSL rejects a
 * setting. Misuse (an unknown option, a wrong type, a server without a
 * certificate) raises. */
static int l_tls_context(lua_State *L) {
  tide__tls_config_t cfg;
  tide__tls_ctx_t *ctx;
  ltls_ctx_t *box;
  char msg[512];
  int err;
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  tide__lua_check_options(L, 1, "tide.tls.context", context_options);
  memset(&cfg, 0, sizeof(cfg));
  cfg.server = opt_bool(L, "server", 0);
  cfg.verify = opt_bool(L, "verify", !cfg.server);
  cfg.cert = opt_string(L, "cert");
  cfg.key = opt_string(L, "key");
  cfg.password = opt_string(L, "password");
  cfg.ca = opt_string(L, "ca");
  cfg.min_version = opt_version(L, "min_version");
  cfg.max_version = opt_version(L, "max_version");
  cfg.ciphers = opt_string(L, "ciphers");
  cfg.ciphersuites = opt_string(L, "ciphersuites");
  cfg.session_cache = opt_session_cache(L, cfg.server);
  if (cfg.server && (cfg.cert == NULL || cfg.key == NULL))
    return luaL_error(L, "tide.tls.context: a server context needs cert "
                         "and key");
  if ((cfg.cert == NULL) != (cfg.key == NULL))
    return luaL_error(L, "tide.tls.context: cert and key go together");
  lua_getfield(L, 1, "sni");
  if (!lua_isnil(L, -1) && !cfg.server)
    return luaL_error(L, "tide.tls.context: option 'sni' is for servers");
  lua_pop(L, 1);
  if (opt_alpn(L)) { /* 2: the wire format */
    cfg.alpn = (const unsigned char *)lua_tolstring(L, 2, &cfg.alpn_len);
  }
  box = lua_newuserdatauv(L, sizeof(*box), 0);
  box->ctx = NULL;
  luaL_setmetatable(L, TIDE__MT_TLS_CONTEXT);
  err = tide__tls_ctx_new(&cfg, &ctx, msg, sizeof(msg));
  if (err != 0) return tide__lua_fail(L, err, msg);
  box->ctx = ctx; /* the object's reference, released by __gc */
  context_add_sni(L, ctx);
  return 1;
}

static int l_context_gc(lua_State *L) {
  ltls_ctx_t *box = lua_touserdata(L, 1);
  if (box->ctx != NULL) tide__tls_ctx_unref(box->ctx);
  box->ctx = NULL;
  return 0;
}

static int l_context_tostring(lua_State *L) {
  ltls_ctx_t *box = lua_touserdata(L, 1);
  lua_pushfstring(L, "tide.tls.context (%s): %p",
                  box->ctx == NULL   ? "freed"
                  : box->ctx->server ? "server"
                                     : "client",
                  (void *)box);
  return 1;
}

/* Pushes the default client context (verification on, the system's
 * store), made at the first call; returns it, or NULL with nil, err, name
 * pushed. */
static ltls_ctx_t *default_client(lua_State *L) {
  ltls_ctx_t *box;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, default_client_key) != LUA_TNIL)
    return lua_touserdata(L, -1);
  lua_pop(L, 1);
  lua_pushcfunction(L, l_tls_context);
  lua_call(L, 0, 3);
  box = context_test(L, -3);
  if (box == NULL) return NULL;
  lua_pop(L, 2);
  lua_pushvalue(L, -1);
  /* Owned by the registry for the state's life; collected with it. */
  lua_rawsetp(L, LUA_REGISTRYINDEX, default_client_key);
  return box;
}

/* The context argument at idx: a context, or true for the default client
 * context (then replaced by it at idx). Raises on anything else. */
static tide__tls_ctx_t *context_arg(lua_State *L, int idx, const char *fname) {
  ltls_ctx_t *box;
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) == LUA_TBOOLEAN && lua_toboolean(L, idx)) {
    box = default_client(L);
    if (box == NULL) {
      lua_pop(L, 1); /* the name: the message goes up */
      lua_error(L);
    }
    lua_replace(L, idx);
    return box->ctx;
  }
  box = context_test(L, idx);
  if (box == NULL)
    luaL_error(L,
               "%s: option 'tls': a tide.tls.context or true expected, "
               "got %s",
               fname, luaL_typename(L, idx));
  return box->ctx;
}

/* _net.tls_client(tls, servername, fname) -> context: checks what connect
 * was given before it connects (raises on misuse: a server context, or no
 * name to verify the peer against). */
static int l_tls_client(lua_State *L) {
  const char *fname = luaL_checkstring(L, 3);
  tide__tls_ctx_t *ctx = context_arg(L, 1, fname);
  if (ctx->server)
    return luaL_error(L,
                      "%s: option 'tls': a client context expected "
                      "(server = false)",
                      fname);
  if (ctx->verify && lua_type(L, 2) != LUA_TSTRING)
    return luaL_error(L,
                      "%s: option 'servername': a name is needed to "
                      "verify the server (or a context with "
                      "verify = false)",
                      fname);
  lua_settop(L, 1);
  return 1;
}

/* _net.tls_server(tls, fname) -> context: listen's check. */
static int l_tls_server(lua_State *L) {
  ltls_ctx_t *box = context_test(L, 1);
  const char *fname = luaL_checkstring(L, 2);
  if (box == NULL || !box->ctx->server)
    return luaL_error(L,
                      "%s: option 'tls': a server tide.tls.context "
                      "expected, got %s",
                      fname, box ? "a client context" : luaL_typename(L, 1));
  lua_settop(L, 1);
  return 1;
}

/* ------------------------------------------------------------ handshake */

static int stream_fail(lua_State *L, tide__stream_t *s, int err) {
  return tide__lua_fail(L, err, tide__stream_errmsg(s, err));
}

static int starttls_k(lua_State *L, int status, lua_KContext kctx) {
  tide__stream_t **slot = lua_touserdata(L, 1);
  tide__stream_t *s = *slot;
  int woken = lua_type(L, -1) == LUA_TLIGHTUSERDATA &&
              lua_touserdata(L, -1) == tide__token_wake;
  (void)status;
  (void)kctx;
  if (!woken) {
    /* Cancelled mid-handshake: the stream goes with it. */
    if (s != NULL) tide__stream_close(s);
    tide__lua_check_wake(L); /* raises */
  }
  lua_pop(L, 1);
  if (s == NULL) return tide__lua_fail(L, TIDE_ECLOSED, "stream is closed");
  if (tide__stream_tls_ready(s)) {
    lua_pushboolean(L, 1);
    return 1;
  }
  if (s->rtimedout) {
    tide__lua_fail(L, UV_ETIMEDOUT, "TLS handshake timed out");
  } else {
    stream_fail(L, s, s->rerr ? s->rerr : TIDE_ETLS);
  }
  /* The alert that explains the failure, if any, is queued: it still goes
   * out. */
  tide__stream_close_flush(s);
  return 3;
}

static const char *const starttls_options[] = {"servername",
                                               "handshake_timeout", NULL};

/* s:starttls(ctx [, {servername=, handshake_timeout=}]) -> true, or nil,
 * err, name. Upgrades the stream in place: a client context connects, a
 * server context accepts; bytes read ahead already are the first TLS bytes.
 * ctx may be true (a client with verification against the system's store).
 * A client that verifies needs servername (the name or IP address the
 * certificate must carry; also sent as SNI). handshake_timeout: seconds (30;
 * 0: none). On failure, timeout or cancellation the stream is closed.
 * Raises while a read or write is pending, or on a TLS stream. */
static int l_stream_starttls(lua_State *L) {
  tide__stream_t *s = tide__lua_checkstream(L, 1);
  tide__tls_ctx_t *ctx = context_arg(L, 2, "starttls");
  const char *servername = NULL;
  uint64_t timeout = (uint64_t)(TLS_HANDSHAKE_TIMEOUT * 1e9);
  int err;
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    tide__lua_check_options(L, 3, "starttls", starttls_options);
    if (lua_getfield(L, 3, "servername") != LUA_TNIL) {
      if (lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "starttls: option 'servername': string expected");
      servername = lua_tostring(L, -1); /* anchored in the options */
    }
    lua_pop(L, 1);
    if (lua_getfield(L, 3, "handshake_timeout") != LUA_TNIL)
      timeout = tide__lua_opt_seconds(L, 3, "handshake_timeout");
    lua_pop(L, 1);
  }
  if (s == NULL) return tide__lua_fail(L, TIDE_ECLOSED, "stream is closed");
  if (tide__stream_tls(s) != NULL)
    return luaL_error(L, "starttls: the stream is TLS already");
  if (s->rfut.state == TIDE__PENDING)
    return luaL_error(L, "starttls: a read is pending on this stream");
  if (s->u.x != NULL && (s->u.x->wfut.state == TIDE__PENDING ||
                         s->u.x->sfut.state == TIDE__PENDING))
    return luaL_error(L, "starttls: a write is pending on this stream");
  if (!ctx->server && ctx->verify && servername == NULL)
    return luaL_error(L, "starttls: option 'servername': a name is needed to "
                         "verify the server (or a context with verify = "
                         "false)");
  if (s->shut) return tide__lua_fail(L, UV_EPIPE, "stream was shut down");
  if (timeout != 0 && tide__stream_ext(s) == NULL)
    return tide__lua_fail(L, TIDE_ENOMEM, NULL);
  tide__lua_await_begin(L);
  err = tide__stream_tls_start(s, ctx, ctx->server ? NULL : servername);
  if (err != 0) return tide__lua_fail(L, err, NULL);
  lua_settop(L, 2); /* the stream and the context stay anchored */
  tide__stream_wait_handshake(s, timeout);
  return tide__lua_await_yield(L, &s->rfut, 0, starttls_k);
}

/* ------------------------------------------------------------ tlsinfo */

/* Pushes an X509 name as one RFC 2253 line ("CN=localhost,O=tide"). */
static void push_name(lua_State *L, const X509_NAME *name) {
  BIO *bio = BIO_new(BIO_s_mem());
  char *p;
  long n;
  if (bio == NULL || X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) < 0) {
    BIO_free(bio);
    lua_pushnil(L);
    return;
  }
  n = BIO_get_mem_data(bio, &p);
  lua_pushlstring(L, p, n > 0 ? (size_t)n : 0);
  BIO_free(bio);
}

/* Pushes an ASN.1 time as seconds since the epoch (UTC). */
static void push_time(lua_State *L, const ASN1_TIME *t) {
  struct tm tm;
  if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
    lua_pushnil(L);
    return;
  }
  lua_pushinteger(L, (lua_Integer)timegm(&tm));
}

/* Pushes the subject alternative names: {"DNS:localhost", "IP:127.0.0.1",
 * "email:...", "URI:..."}. */
static void push_sans(lua_State *L, X509 *x) {
  GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
  int i, n = names ? sk_GENERAL_NAME_num(names) : 0, k = 0;
  lua_createtable(L, n, 0);
  for (i = 0; i < n; i++) {
    const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
    const ASN1_STRING *str = NULL;
    const char *prefix = NULL;
    char ip[INET6_ADDRSTRLEN];
    switch (g->type) {
    case GEN_DNS:
      prefix = "DNS:";
      str = g->d.dNSName;
      break;
    case GEN_EMAIL:
      prefix = "email:";
      str = g->d.rfc822Name;
      break;
    case GEN_URI:
      prefix = "URI:";
      str = g->d.uniformResourceIdentifier;
      break;
    case GEN_IPADD: {
      int len = ASN1_STRING_length(g->d.iPAddress);
      const unsigned char *b = ASN1_STRING_get0_data(g->d.iPAddress);
      if ((len == 4 && inet_ntop(AF_INET, b, ip, sizeof(ip))) ||
          (len == 16 && inet_ntop(AF_INET6, b, ip, sizeof(ip)))) {
        lua_pushfstring(L, "IP:%s", ip);
        lua_rawseti(L, -2, ++k);
      }
      continue;
    }
    default:
      continue;
    }
    lua_pushstring(L, prefix);
    lua_pushlstring(L, (const char *)ASN1_STRING_get0_data(str),
                    (size_t)ASN1_STRING_length(str));
    lua_concat(L, 2);
    lua_rawseti(L, -2, ++k);
  }
  GENERAL_NAMES_free(names);
}

/* Pushes {subject=, issuer=, not_before=, not_after=, sans=, serial=,
 * fingerprint=} for x. */
static void push_cert(lua_State *L, X509 *x) {
  unsigned char md[EVP_MAX_MD_SIZE];
  char hex[2 * EVP_MAX_MD_SIZE + 1];
  unsigned int mdlen = 0, i;
  BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
  char *serial = bn ? BN_bn2hex(bn) : NULL;
  luaL_checkstack(L, 4, NULL);
  lua_createtable(L, 0, 7);
  push_name(L, X509_get_subject_name(x));
  lua_setfield(L, -2, "subject");
  push_name(L, X509_get_issuer_name(x));
  lua_setfield(L, -2, "issuer");
  push_time(L, X509_get0_notBefore(x));
  lua_setfield(L, -2, "not_before");
  push_time(L, X509_get0_notAfter(x));
  lua_setfield(L, -2, "not_after");
  push_sans(L, x);
  lua_setfield(L, -2, "sans");
  lua_pushstring(L, serial);
  lua_setfield(L, -2, "serial");
  OPENSSL_free(serial);
  BN_free(bn);
  if (X509_digest(x, EVP_sha256(), md, &mdlen) == 1) {
    for (i = 0; i < mdlen; i++)
      snprintf(hex + 2 * i, 3, "%02x", md[i]);
    lua_pushlstring(L, hex, 2 * mdlen);
    lua_setfield(L, -2, "fingerprint");
  }
}

/* s:tlsinfo() -> {version=, cipher=, alpn=, servername=, resumed=,
 * verified=, peer_cert=} once the handshake has completed; nil on a plain
 * stream (or before). peer_cert is nil when the peer sent none (a client,
 * usually). */
static int l_stream_tlsinfo(lua_State *L) {
  tide__stream_t *s = tide__lua_checkstream(L, 1);
  const unsigned char *alpn;
  unsigned int alpnlen;
  const char *name;
  X509 *peer;
  SSL *ssl;
  if (s == NULL || !tide__stream_tls_ready(s)) return 0;
  ssl = tide__stream_tls(s)->ssl;
  lua_createtable(L, 0, 8);
  lua_pushstring(L, SSL_get_version(ssl));
  lua_setfield(L, -2, "version");
  lua_pushstring(L, SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)));
  lua_setfield(L, -2, "cipher");
  SSL_get0_alpn_selected(ssl, &alpn, &alpnlen);
  if (alpnlen > 0) {
    lua_pushlstring(L, (const char *)alpn, alpnlen);
    lua_setfield(L, -2, "alpn");
  }
  name = tide__stream_tls(s)->servername
             ? tide__stream_tls(s)->servername
             : SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name != NULL) {
    lua_pushstring(L, name);
    lua_setfield(L, -2, "servername");
  }
  lua_pushboolean(L, SSL_session_reused(ssl));
  lua_setfield(L, -2, "resumed");
  lua_pushboolean(L, tide__stream_tls(s)->verified);
  lua_setfield(L, -2, "verified");
  lua_pushboolean(L, tide__stream_tls(s)->ctx->server);
  lua_setfield(L, -2, "server");
  peer = SSL_get0_peer_certificate(ssl);
  if (peer != NULL) {
    push_cert(L, peer);
    lua_setfield(L, -2, "peer_cert");
  }
  return 1;
}

/* ------------------------------------------------------------ opening */

static const luaL_Reg net_funcs[] = {{"tls_context", l_tls_context},
                                     {"tls_client", l_tls_client},
                                     {"tls_server", l_tls_server},
                                     {NULL, NULL}};

static const luaL_Reg stream_methods[] = {{"starttls", l_stream_starttls},
                                          {"tlsinfo", l_stream_tlsinfo},
                                          {NULL, NULL}};

/* Adds the TLS functions to the _net table at the top (the runtime box at
 * top - 1), and starttls and tlsinfo to the stream methods. */
void tide__lua_open_tls(lua_State *L, tide_runtime_t *rt) {
  (void)rt;
  luaL_newmetatable(L, TIDE__MT_TLS_CONTEXT);
  lua_pushcfunction(L, l_context_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, l_context_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, net_funcs, 1);
  luaL_getmetatable(L, TIDE__MT_STREAM);
  lua_getfield(L, -1, "__index");
  lua_pushvalue(L, -4); /* box */
  lua_pushvalue(L, -3); /* the stream metatable */
  luaL_setfuncs(L, stream_methods, 2);
  lua_pop(L, 2);
}
