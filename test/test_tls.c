/* The TLS engine (src/tls.c) without sockets: two engines, a client and a
 * server, talk through their buffers in memory. Then, on real sockets, what
 * Lua cannot arrange: a peer that resets the connection in the middle of a
 * TLS record.
 *
 * Certificates come from test/tls_certs.sh in a temporary directory. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "test.h"
#include "tide_tls.h"

static char certs[64];

static const char *path(const char *name) {
  static char buf[4][128];
  static int i;
  i = (i + 1) % 4;
  snprintf(buf[i], sizeof(buf[i]), "%s/%s", certs, name);
  return buf[i];
}

static tide__tls_ctx_t *make_ctx(int server, const char *cert, const char *ca,
                                 int max_version) {
  tide__tls_config_t cfg;
  tide__tls_ctx_t *ctx = NULL;
  char msg[256], c[64], k[64];
  memset(&cfg, 0, sizeof(cfg));
  cfg.server = server;
  cfg.verify = !server;
  if (cert != NULL) {
    snprintf(c, sizeof(c), "%s.pem", cert);
    snprintf(k, sizeof(k), "%s.key", cert);
    cfg.cert = path(c);
    cfg.key = path(k);
  }
  cfg.ca = ca ? path(ca) : NULL;
  cfg.max_version = max_version;
  cfg.session_cache = -1;
  if (tide__tls_ctx_new(&cfg, &ctx, msg, sizeof(msg)) != 0)
    fprintf(stderr, "context: %s\n", msg);
  return ctx;
}

/* Moves a's output into b's input. Returns how many bytes moved. */
static size_t pass(tide__tls_t *a, tide__tls_t *b) {
  const char *p;
  size_t n = tide__tls_output(a, &p);
  if (n > 0) tide__tls_feed(b, p, n);
  tide__tls_output_done(a);
  return n;
}

/* Runs both handshakes to their end; returns the client's result (the
 * server's in *server_result). */
static int handshake(tide__tls_t *c, tide__tls_t *s, int *server_result) {
  int rc = TIDE__TLS_WANT, rs = TIDE__TLS_WANT, i;
  for (i = 0; i < 20 && (rc > 0 || rs > 0); i++) {
    if (rc > 0) rc = tide__tls_handshake(c);
    pass(c, s);
    if (rs > 0) rs = tide__tls_handshake(s);
    pass(s, c);
  }
  if (server_result) *server_result = rs;
  return rc;
}

/* Reads everything s has for us into buf (small steps: cap each). */
static size_t read_all(tide__tls_t *t, char *buf, size_t len, size_t cap,
                       int *result) {
  size_t got = 0, n;
  int r = 0;
  while (got < len) {
    size_t room = len - got < cap ? len - got : cap;
    r = tide__tls_read(t, buf + got, room, &n);
    if (r != 0) break;
    got += n;
  }
  if (result) *result = r;
  return got;
}

TEST(engines_talk_and_close) {
  tide__tls_ctx_t *sctx = make_ctx(1, "server", NULL, 0);
  tide__tls_ctx_t *cctx = make_ctx(0, NULL, "ca.pem", 0);
  tide__tls_t *c, *s;
  char buf[64];
  size_t n;
  int rs, r;
  CHECK(sctx != NULL && cctx != NULL);
  if (sctx == NULL || cctx == NULL) return;
  CHECK_INT(tide__tls_new(cctx, "localhost", &c), 0);
  CHECK_INT(tide__tls_new(sctx, NULL, &s), 0);
  /* The engines hold their contexts: drop ours. */
  tide__tls_ctx_unref(sctx);
  tide__tls_ctx_unref(cctx);
  CHECK_INT(handshake(c, s, &rs), 0);
  CHECK_INT(rs, 0);
  CHECK(c->verified);
  CHECK_STR(SSL_get_version(c->ssl), "TLSv1.3");
  /* Nothing to read yet: the session tickets only. */
  CHECK_INT(tide__tls_read(c, buf, sizeof(buf), &n), TIDE__TLS_WANT);
  CHECK_INT(tide__tls_write(c, "ping", 4), 0);
  pass(c, s);
  CHECK_INT(tide__tls_read(s, buf, sizeof(buf), &n), 0);
  CHECK_INT(n, 4);
  CHECK(memcmp(buf, "ping", 4) == 0);
  /* The server's close_notify is a clean EOF for the client, once. */
  tide__tls_close_notify(s);
  tide__tls_close_notify(s);
  CHECK(pass(s, c) > 0);
  CHECK_INT(tide__tls_read(c, buf, sizeof(buf), &n), UV_EOF);
  CHECK_INT(tide__tls_read(c, buf, sizeof(buf), &n), UV_EOF);
  CHECK(c->got_close);
  /* Half-closed: the client may still write, the server still reads. */
  CHECK_INT(tide__tls_write(c, "late", 4), 0);
  pass(c, s);
  r = tide__tls_read(s, buf, sizeof(buf), &n);
  CHECK_INT(r, 0);
  CHECK_INT(n, 4);
  tide__tls_free(c);
  tide__tls_free(s);
}

TEST(large_writes_and_small_reads) {
  tide__tls_ctx_t *sctx = make_ctx(1, "server", NULL, 0);
  tide__tls_ctx_t *cctx = make_ctx(0, NULL, "ca.pem", 0);
  tide__tls_t *c, *s;
  size_t len = 1 << 20, i, got;
  char *data = malloc(len), *back = malloc(len);
  int r;
  CHECK_INT(tide__tls_new(cctx, "127.0.0.1", &c), 0);
  CHECK_INT(tide__tls_new(sctx, NULL, &s), 0);
  tide__tls_ctx_unref(sctx);
  tide__tls_ctx_unref(cctx);
  CHECK_INT(handshake(c, s, NULL), 0);
  for (i = 0; i < len; i++)
    data[i] = (char)(i * 7 + i / 1000);
  CHECK_INT(tide__tls_write(s, data, len), 0);
  CHECK(pass(s, c) > len); /* records add their overhead */
  got = read_all(c, back, len, 1000, &r);
  CHECK_INT(got, len);
  CHECK(memcmp(data, back, len) == 0);
  /* Fed a byte at a time, records still come out whole. */
  CHECK_INT(tide__tls_write(s, data, 5000), 0);
  {
    const char *p;
    size_t n = tide__tls_output(s, &p), k;
    got = 0;
    for (k = 0; k < n; k++) {
      size_t m;
      tide__tls_feed(c, p + k, 1);
      while (tide__tls_read(c, back + got, len - got, &m) == 0)
        got += m;
    }
    tide__tls_output_done(s);
  }
  CHECK_INT(got, 5000);
  CHECK(memcmp(data, back, 5000) == 0);
  free(data);
  free(back);
  tide__tls_free(c);
  tide__tls_free(s);
}

TEST(verification_failures_carry_reasons) {
  tide__tls_ctx_t *cctx = make_ctx(0, NULL, "ca.pem", 0);
  static const struct {
    const char *cert, *name, *msg;
    int err;
  } cases[] = {
      {"server", "example.com", "hostname mismatch for 'example.com' (depth 0)",
       TIDE_ETLSVERIFY},
      {"server", "10.0.0.1", "IP address mismatch for '10.0.0.1' (depth 0)",
       TIDE_ETLSVERIFY},
      {"expired", "localhost", "certificate has expired (depth 0)",
       TIDE_ETLSVERIFY},
      {"unknown", "localhost",
       "unable to get local issuer certificate (depth 0)", TIDE_ETLSVERIFY},
  };
  size_t i;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    tide__tls_ctx_t *sctx = make_ctx(1, cases[i].cert, NULL, 0);
    tide__tls_t *c, *s;
    int rs;
    CHECK_INT(tide__tls_new(cctx, cases[i].name, &c), 0);
    CHECK_INT(tide__tls_new(sctx, NULL, &s), 0);
    tide__tls_ctx_unref(sctx);
    CHECK_INT(handshake(c, s, &rs), cases[i].err);
    CHECK_STR(c->msg, cases[i].msg);
    CHECK(c->fatal && !c->verified);
    /* The server heard the alert. */
    CHECK_INT(rs, TIDE_ETLS);
    /* A dead engine stays dead. */
    CHECK_INT(tide__tls_write(c, "x", 1), TIDE_ETLS);
    tide__tls_free(c);
    tide__tls_free(s);
  }
  tide__tls_ctx_unref(cctx);
}

/* TLS 1.2: a renegotiation the client starts is refused by tide's server
 * (and the client gives up on the connection); a renegotiation a server
 * starts is refused by tide's client, which goes on. */
TEST(renegotiation_is_refused) {
  tide__tls_ctx_t *sctx = make_ctx(1, "server", NULL, TLS1_2_VERSION);
  tide__tls_ctx_t *cctx = make_ctx(0, NULL, "ca.pem", 0);
  tide__tls_t *c, *s;
  char buf[16];
  size_t n;
  int r;
  CHECK_INT(tide__tls_new(cctx, "localhost", &c), 0);
  CHECK_INT(tide__tls_new(sctx, NULL, &s), 0);
  CHECK_INT(handshake(c, s, NULL), 0);
  CHECK_STR(SSL_get_version(c->ssl), "TLSv1.2");
  /* The client's attempt (the peer is OpenSSL without tide's options). */
  SSL_clear_options(c->ssl, SSL_OP_NO_RENEGOTIATION);
  CHECK_INT(SSL_renegotiate(c->ssl), 1);
  CHECK_INT(tide__tls_read(c, buf, sizeof(buf), &n), TIDE__TLS_WANT);
  pass(c, s);
  r = tide__tls_read(s, buf, sizeof(buf), &n);
  CHECK_INT(r, TIDE__TLS_WANT); /* refused with a warning alert */
  pass(s, c);
  r = tide__tls_read(c, buf, sizeof(buf), &n);
  CHECK_INT(r, TIDE_ETLS);
  CHECK_STR(c->msg, "no renegotiation");
  tide__tls_free(c);
  tide__tls_free(s);
  /* The server's attempt. */
  CHECK_INT(tide__tls_new(cctx, "localhost", &c), 0);
  CHECK_INT(tide__tls_new(sctx, NULL, &s), 0);
  CHECK_INT(handshake(c, s, NULL), 0);
  SSL_clear_options(s->ssl, SSL_OP_NO_RENEGOTIATION);
  CHECK_INT(SSL_renegotiate(s->ssl), 1);
  CHECK_INT(tide__tls_read(s, buf, sizeof(buf), &n), TIDE__TLS_WANT);
  pass(s, c);
  CHECK_INT(tide__tls_read(c, buf, sizeof(buf), &n), TIDE__TLS_WANT);
  CHECK(!c->fatal);
  CHECK_INT(tide__tls_write(c, "still", 5), 0);
  pass(c, s);
  r = tide__tls_read(s, buf, sizeof(buf), &n);
  if (r == 0)
    CHECK(n == 5 && memcmp(buf, "still", 5) == 0);
  else
    CHECK_INT(r, TIDE_ETLS); /* the server may give up on its own */
  tide__tls_free(c);
  tide__tls_free(s);
  tide__tls_ctx_unref(sctx);
  tide__tls_ctx_unref(cctx);
}

/* ------------------------------------------------------------ sockets */

/* A TLS server in a thread, on a blocking socket, that completes the
 * handshake, sends the first half of a record and resets the connection
 * (SO_LINGER 0: an RST, not a FIN). */
typedef struct {
  int lfd;
  SSL_CTX *ctx;
} rst_server_t;

static void *rst_server(void *arg) {
  rst_server_t *rs = arg;
  int fd = accept(rs->lfd, NULL, NULL);
  SSL *ssl;
  BIO *mem;
  char *p;
  long n;
  struct linger lg = {1, 0};
  if (fd < 0) return NULL;
  ssl = SSL_new(rs->ctx);
  SSL_set_fd(ssl, fd);
  if (SSL_accept(ssl) == 1) {
    /* Encrypt into memory, then send half of the record. */
    mem = BIO_new(BIO_s_mem());
    SSL_set0_wbio(ssl, mem);
    SSL_write(ssl, "0123456789abcdef", 16);
    n = BIO_get_mem_data(mem, &p);
    if (send(fd, p, (size_t)n / 2, 0) < 0) perror("send");
    usleep(50000); /* let it arrive before the reset */
  }
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  close(fd);
  SSL_free(ssl);
  return NULL;
}

TEST(reset_mid_record) {
  rst_server_t rs;
  pthread_t th;
  struct sockaddr_in sa;
  socklen_t salen = sizeof(sa);
  tide_runtime_t *rt;
  lua_State *L;
  char code[2048];
  int n;
  rs.lfd = socket(AF_INET, SOCK_STREAM, 0);
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(bind(rs.lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
  CHECK(listen(rs.lfd, 1) == 0);
  getsockname(rs.lfd, (struct sockaddr *)&sa, &salen);
  rs.ctx = SSL_CTX_new(TLS_server_method());
  CHECK(SSL_CTX_use_certificate_chain_file(rs.ctx, path("server.pem")) == 1);
  CHECK(SSL_CTX_use_PrivateKey_file(rs.ctx, path("server.key"),
                                    SSL_FILETYPE_PEM) == 1);
  SSL_CTX_set_num_tickets(rs.ctx, 0);
  pthread_create(&th, NULL, rst_server, &rs);
  CHECK_INT(tide_runtime_new(&rt, NULL, NULL), 0);
  L = tide_runtime_lua(rt);
  snprintf(code, sizeof(code),
           "local tide = require 'tide'\n"
           "local ctx = assert(tide.tls.context{ca = '%s'})\n"
           "local c = assert(tide.tcp.connect('127.0.0.1', %d, {tls = ctx}))\n"
           "local data, err, name, partial = c:readexactly(16)\n"
           "c:close()\n"
           "tide.sleep(0.01)\n"
           "return name, err, partial, tide.stats().handles\n",
           path("ca.pem"), ntohs(sa.sin_port));
  CHECK_INT(tide_runtime_spawn_string(rt, code, "=reset", 0), 0);
  CHECK_INT(tide_runtime_run_task(rt, -1), 0);
  n = tide_task_results(rt, -1);
  CHECK_INT(n, 4);
  if (n == 4) {
    /* The reset is reported as itself, not as a TLS truncation, and the
     * half record is no data. */
    CHECK_STR(lua_tostring(L, -4), "ECONNRESET");
    CHECK_STR(lua_tostring(L, -2), "");
    CHECK_INT(lua_tointeger(L, -1), 0);
  } else {
    fprintf(stderr, "%s\n", lua_tostring(L, -1));
  }
  lua_settop(L, 0);
  CHECK_INT(tide_runtime_close(rt), 0);
  pthread_join(th, NULL);
  SSL_CTX_free(rs.ctx);
  close(rs.lfd);
}

int main(void) {
  char cmd[128];
  int failed;
  setvbuf(stdout, NULL, _IOLBF, 0);
  snprintf(certs, sizeof(certs), "/tmp/tide-test-tls.XXXXXX");
  if (mkdtemp(certs) == NULL) return 1;
  snprintf(cmd, sizeof(cmd), "sh test/tls_certs.sh %s", certs);
  if (system(cmd) != 0) {
    fprintf(stderr, "test_tls: %s failed\n", cmd);
    return 1;
  }
  RUN(engines_talk_and_close);
  RUN(large_writes_and_small_reads);
  RUN(verification_failures_carry_reasons);
  RUN(renegotiation_is_refused);
  RUN(reset_mid_record);
  snprintf(cmd, sizeof(cmd), "rm -rf %s", certs);
  failed = system(cmd);
  (void)failed;
  return test_summary("test_tls");
}
