/* Tests of the HTTP/1.1 parser (src/http1.c): request and response heads,
 * whole and trickling in, each refusal the smuggling rules call for, the
 * limits, and the chunked decoder. The differential tests against llhttp
 * and h11 are in test/http1/. */
#include "../src/tide_http1.h"
#include "test.h"

#define NF 16

static tide__h1_field_t fields[NF];
static tide__h1_parser_t P;

/* Parses s (a request unless response) in one call. */
static int parse(const char *s, int response) {
  tide__h1_init(&P, response, fields, NF);
  return tide__h1_parse(&P, s, strlen(s));
}

static int req(const char *s) {
  return parse(s, 0);
}

/* Feeds s one byte more per call: the result must be INCOMPLETE until the
 * end, then the same as one call. */
static int trickle(const char *s, int response) {
  size_t n = strlen(s), i;
  int r = TIDE__H1_INCOMPLETE;
  tide__h1_init(&P, response, fields, NF);
  for (i = 1; i <= n && r == TIDE__H1_INCOMPLETE; i++)
    r = tide__h1_parse(&P, s, i);
  return r;
}

/* Does field i of the message s have this name and value? */
static int field_is(const char *s, unsigned i, const char *name,
                    const char *value) {
  const tide__h1_field_t *f = &fields[i];
  return i < P.nfields && f->name_len == strlen(name) &&
         memcmp(s + f->name, name, f->name_len) == 0 &&
         f->value_len == strlen(value) &&
         memcmp(s + f->value, value, f->value_len) == 0;
}

TEST(simple_get) {
  const char *s =
      "GET /a?b=1 HTTP/1.1\r\nHost: x\r\nUser-Agent:  t 1 \r\n\r\nrest";
  CHECK_INT(req(s), (int)strlen(s) - 4);
  CHECK(P.method_len == 3 && memcmp(s + P.method, "GET", 3) == 0);
  CHECK(P.target_len == 6 && memcmp(s + P.target, "/a?b=1", 6) == 0);
  CHECK_INT(P.minor, 1);
  CHECK_INT(P.nfields, 2);
  CHECK(field_is(s, 0, "Host", "x"));
  CHECK(field_is(s, 1, "User-Agent", "t 1"));
  CHECK_INT(P.body, TIDE__H1_BODY_NONE);
  CHECK(P.keep_alive);
  CHECK(!P.upgrade);
  CHECK_INT(P.expect, TIDE__H1_EXPECT_NONE);
}

TEST(trickling_in) {
  const char *s = "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n";
  CHECK_INT(trickle(s, 0), (int)strlen(s));
  CHECK_INT(P.body, TIDE__H1_BODY_LENGTH);
  CHECK_INT(P.content_length, 5);
  CHECK(field_is(s, 1, "Content-Length", "5"));
  /* Garbage is refused before its line ends: at once in one call, and
   * within twice its length when it trickles in (the partial line is
   * checked again each time it has doubled). */
  CHECK_INT(req("GET / HTTP/1.1\r\nHo\001st"), TIDE__H1_ENAME);
  CHECK_INT(req("G\001ET / HTTP/1.1"), TIDE__H1_EMETHOD);
  CHECK_INT(req("GET / HTTQ"), TIDE__H1_EVERSION);
  CHECK_INT(parse("HTTP/1.1 2x", 1), TIDE__H1_ESTATUS);
  CHECK_INT(trickle("G\001ET / HTTP/1.1", 0), TIDE__H1_EMETHOD);
  CHECK_INT(trickle("GET / HTTP/1.1\r\nHo\001st: a\r\n", 0), TIDE__H1_ENAME);
}

TEST(pipelined) {
  const char *s =
      "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
  int n = req(s);
  CHECK_INT(n, (int)strlen(s) / 2);
  CHECK_INT(req(s + n), n);
  CHECK(P.target_len == 2 && memcmp(s + n + P.target, "/2", 2) == 0);
}

TEST(leading_empty_lines) {
  const char *s = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
  CHECK_INT(req(s), (int)strlen(s));
  CHECK_INT(P.method, 4);
  CHECK_INT(req("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), TIDE__H1_ECRLF);
}

TEST(versions_and_keep_alive) {
  CHECK(req("GET / HTTP/1.0\r\n\r\n") > 0);
  CHECK(!P.keep_alive);
  CHECK_INT(P.minor, 0);
  CHECK(req("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n") > 0);
  CHECK(P.keep_alive);
  CHECK(req("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n") > 0);
  CHECK(!P.keep_alive);
  CHECK(req("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
            "Upgrade: websocket\r\n\r\n") > 0);
  CHECK(P.upgrade);
  CHECK(req("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n") > 0);
  CHECK(!P.upgrade);
  CHECK_INT(req("GET / HTTP/2.0\r\n\r\n"), TIDE__H1_EVERSION_NS);
  CHECK_INT(tide__h1_status(TIDE__H1_EVERSION_NS), 505);
  CHECK_INT(req("GET / HTTP/1.10\r\n\r\n"), TIDE__H1_EVERSION);
  CHECK_INT(req("GET / http/1.1\r\n\r\n"), TIDE__H1_EVERSION);
  CHECK_INT(req("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), TIDE__H1_EVERSION_NS);
}

TEST(request_line_errors) {
  CHECK_INT(req("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), TIDE__H1_ETARGET);
  CHECK_INT(req("GET /  HTTP/1.1\r\nHost: a\r\n\r\n"), TIDE__H1_EVERSION);
  CHECK_INT(req("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), TIDE__H1_EVERSION);
  CHECK_INT(req("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"), TIDE__H1_EMETHOD);
  CHECK_INT(req("G(T / HTTP/1.1\r\nHost: a\r\n\r\n"), TIDE__H1_EMETHOD);
  CHECK_INT(req("GET /a\001 HTTP/1.1\r\nHost: a\r\n\r\n"), TIDE__H1_ETARGET);
  CHECK_INT(req("GET /a#f HTTP/1.1\r\nHost: a\r\n\r\n"), TIDE__H1_ETARGET);
  CHECK_INT(req("GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n"), TIDE__H1_ETARGET);
  CHECK_INT(req("GET / HTTP/1.1\nHost: a\r\n\r\n"), TIDE__H1_ECRLF);
  CHECK_INT(req("GET / HTTP/1.1\rHost: a\r\n\r\n"), TIDE__H1_ECRLF);
  CHECK_INT(req("GET /\r\n\r\n"), TIDE__H1_EBADLINE);
  CHECK_INT(req("GET\r\n\r\n"), TIDE__H1_EBADLINE);
  /* Extension methods are tokens like any other. */
  CHECK(req("PURGE * HTTP/1.1\r\nHost: a\r\n\r\n") > 0);
}

TEST(smuggling_refusals) {
  CHECK_INT(req("GET / HTTP/1.1\r\nHost: a\r\nX: 1\n\r\n"), TIDE__H1_ECRLF);
  CHECK_INT(req("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r2\r\n\r\n"),
            TIDE__H1_ECRLF);
  CHECK_INT(req("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n"),
            TIDE__H1_EOBSFOLD);
  CHECK_INT(req("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), TIDE__H1_EOBSFOLD);
  CHECK_INT(req("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), TIDE__H1_ESPACE);
  CHECK_INT(req("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n"), TIDE__H1_ESPACE);
  CHECK_INT(req("GET / HTTP/1.1\r\n Content-Length: 5\r\nHost: a\r\n\r\n"),
            TIDE__H1_EOBSFOLD);
  CHECK_INT(req("GET / HTTP/1.1\r\nHo\"st: a\r\n\r\n"), TIDE__H1_ENAME);
  CHECK_INT(req("GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n"), TIDE__H1_ENAME);
  CHECK_INT(req("GET / HTTP/1.1\r\nHost: a\r\nX: \001\r\n\r\n"),
            TIDE__H1_EVALUE);
  tide__h1_init(&P, 0, fields, NF);
  CHECK_INT(
      tide__h1_parse(&P, "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 33),
      TIDE__H1_EVALUE);
  CHECK_INT(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                "Transfer-Encoding: chunked\r\n\r\n"),
            TIDE__H1_ETECL);
  CHECK_INT(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                "Content-Length: 5\r\n\r\n"),
            TIDE__H1_EDUPCLEN);
  CHECK_INT(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n"),
            TIDE__H1_ECLEN);
  CHECK_INT(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n"),
            TIDE__H1_ECLEN);
  CHECK_INT(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n"),
            TIDE__H1_ECLEN);
  CHECK_INT(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n"),
            TIDE__H1_ECLEN);
  CHECK_INT(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n"),
            TIDE__H1_ECLEN);
  CHECK_INT(req("POST / HTTP/1.1\r\nHost: a\r\n"
                "Content-Length: 1234567890123456\r\n\r\n"),
            TIDE__H1_ECLEN);
  CHECK(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:  007 \r\n\r\n") > 0);
  CHECK_INT(P.content_length, 7);
  CHECK_INT(req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, "
                "chunked\r\n\r\n"),
            TIDE__H1_ETE_NI);
  CHECK_INT(tide__h1_status(TIDE__H1_ETE_NI), 501);
  CHECK_INT(req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, "
                "chunked\r\n\r\n"),
            TIDE__H1_ETE);
  CHECK_INT(req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                "Transfer-Encoding: chunked\r\n\r\n"),
            TIDE__H1_ETE);
  CHECK_INT(req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
                "chunked;q=1\r\n\r\n"),
            TIDE__H1_ETE);
  CHECK_INT(req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n"),
            TIDE__H1_ETE);
  CHECK_INT(
      req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n\r\n"),
      TIDE__H1_ETE);
  CHECK_INT(
      req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked\r\n\r\n"),
      TIDE__H1_ETE);
  CHECK_INT(
      req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"),
      TIDE__H1_ETE_NI);
  CHECK_INT(req("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            TIDE__H1_ETE10);
  CHECK(req("POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding:  Chunked "
            "\r\n\r\n") > 0);
  CHECK_INT(P.body, TIDE__H1_BODY_CHUNKED);
  CHECK_INT(req("GET / HTTP/1.1\r\n\r\n"), TIDE__H1_EHOST);
  CHECK_INT(req("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"),
            TIDE__H1_EHOST);
}

TEST(limits) {
  char big[20000];
  int i;
  /* A request line over max_line: 414, before its end arrives. */
  memcpy(big, "GET /", 5);
  memset(big + 5, 'a', 9000);
  big[9005] = 0;
  CHECK_INT(req(big), TIDE__H1_ELINE);
  CHECK_INT(tide__h1_status(TIDE__H1_ELINE), 414);
  strcpy(big + 9005, " HTTP/1.1\r\nHost: a\r\n\r\n");
  CHECK_INT(req(big), TIDE__H1_ELINE);
  /* ... unless the limit allows it. */
  tide__h1_init(&P, 0, fields, NF);
  P.max_line = 10000;
  CHECK(tide__h1_parse(&P, big, strlen(big)) > 0);
  /* Header section over max_head: 431, also while it arrives. */
  strcpy(big, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
  i = (int)strlen(big);
  memset(big + i, 'b', 9000);
  big[i + 9000] = 0;
  CHECK_INT(req(big), TIDE__H1_EHEAD);
  CHECK_INT(tide__h1_status(TIDE__H1_EHEAD), 431);
  strcat(big, "\r\n\r\n");
  CHECK_INT(req(big), TIDE__H1_EHEAD);
  /* More fields than the array holds: 431. */
  strcpy(big, "GET / HTTP/1.1\r\nHost: a\r\n");
  for (i = 0; i < NF; i++)
    strcat(big, "X: y\r\n");
  strcat(big, "\r\n");
  CHECK_INT(req(big), TIDE__H1_EFIELDS);
  CHECK_INT(tide__h1_status(TIDE__H1_EFIELDS), 431);
}

TEST(expect) {
  CHECK(req("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n"
            "Content-Length: 3\r\n\r\n") > 0);
  CHECK_INT(P.expect, TIDE__H1_EXPECT_CONTINUE);
  CHECK(req("POST / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n") > 0);
  CHECK_INT(P.expect, TIDE__H1_EXPECT_OTHER);
}

TEST(responses) {
  const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
  CHECK_INT(parse(s, 1), (int)strlen(s) - 2);
  CHECK_INT(P.status, 200);
  CHECK(P.reason_len == 2 && memcmp(s + P.reason, "OK", 2) == 0);
  CHECK_INT(P.body, TIDE__H1_BODY_LENGTH);
  CHECK(P.keep_alive);
  CHECK_INT(trickle(s, 1), (int)strlen(s) - 2);
  CHECK(parse("HTTP/1.1 404 \r\n\r\n", 1) > 0);
  CHECK_INT(P.reason_len, 0);
  CHECK_INT(P.body, TIDE__H1_BODY_EOF);
  CHECK(!P.keep_alive);
  CHECK(parse("HTTP/1.1 204\r\n\r\n", 1) > 0);
  CHECK_INT(P.body, TIDE__H1_BODY_NONE);
  CHECK(parse("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n"
              "Upgrade: websocket\r\n\r\n",
              1) > 0);
  CHECK(P.upgrade);
  CHECK_INT(P.body, TIDE__H1_BODY_NONE);
  CHECK(parse("HTTP/1.0 200 OK\r\n\r\n", 1) > 0);
  CHECK(!P.keep_alive);
  CHECK(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 1) > 0);
  CHECK_INT(P.body, TIDE__H1_BODY_CHUNKED);
  tide__h1_init(&P, 1, fields, NF);
  P.head_request = 1;
  s = "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n";
  CHECK_INT(tide__h1_parse(&P, s, strlen(s)), (int)strlen(s));
  CHECK_INT(P.body, TIDE__H1_BODY_NONE);
  CHECK_INT(parse("HTTP/1.1 20 OK\r\n\r\n", 1), TIDE__H1_ESTATUS);
  CHECK_INT(parse("HTTP/1.1 2000 OK\r\n\r\n", 1), TIDE__H1_ESTATUS);
  CHECK_INT(parse("HTTP/1.1 099 OK\r\n\r\n", 1), TIDE__H1_ESTATUS);
  CHECK_INT(parse("HTTP/1.1  200 OK\r\n\r\n", 1), TIDE__H1_ESTATUS);
  CHECK_INT(parse("HTTP/1.1 200 O\001K\r\n\r\n", 1), TIDE__H1_ESTATUS);
  CHECK_INT(parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n",
                  1),
            TIDE__H1_ETECL);
  CHECK_INT(parse("ICY 200 OK\r\n\r\n", 1), TIDE__H1_EVERSION);
}

TEST(strings) {
  int e;
  for (e = TIDE__H1_INCOMPLETE; e >= TIDE__H1_ELAST; e--)
    CHECK(strcmp(tide__h1_strerror(e), "unknown error") != 0);
  CHECK_STR(tide__h1_strerror(0), "unknown error");
  CHECK(tide__h1_name_is("Content-LENGTH", 14, "content-length", 14));
  CHECK(!tide__h1_name_is("Content-Lengthx", 15, "content-length", 14));
}

/* Decodes s through the chunked decoder, step bytes per call; appends the
 * data to out. Returns the final result (bytes consumed or an error). */
static long dechunk(const char *s, size_t step, char *out, size_t *outlen) {
  tide__h1_chunked_t c;
  size_t n = strlen(s), pos = 0, avail = 0;
  tide__h1_chunked_init(&c);
  *outlen = 0;
  while (!tide__h1_chunked_done(&c)) {
    size_t off, dl;
    long r;
    if (pos == avail) {
      if (avail == n) return TIDE__H1_INCOMPLETE;
      avail = avail + step > n ? n : avail + step;
    }
    r = tide__h1_chunked(&c, s + pos, avail - pos, &off, &dl);
    if (r < 0) return r;
    memcpy(out + *outlen, s + pos + off, dl);
    *outlen += dl;
    pos += (size_t)r;
  }
  return (long)pos;
}

TEST(chunked) {
  char out[256];
  size_t len, step;
  const char *s =
      "5\r\nhello\r\n6;ext=1;x=\"q\"\r\n world\r\n0\r\nT: v\r\n\r\nNEXT";
  for (step = 1; step <= 64; step++) {
    CHECK_INT(dechunk(s, step, out, &len), (long)strlen(s) - 4);
    CHECK(len == 11 && memcmp(out, "hello world", 11) == 0);
  }
  CHECK_INT(dechunk("000A\r\n0123456789\r\n0\r\n\r\n", 3, out, &len), 23);
  CHECK_INT(len, 10);
  CHECK_INT(dechunk("0\r\n\r\n", 1, out, &len), 5);
  CHECK_INT(dechunk("x\r\n", 1, out, &len), TIDE__H1_ECHUNK);
  CHECK_INT(dechunk("-1\r\n", 1, out, &len), TIDE__H1_ECHUNK);
  CHECK_INT(dechunk("\r\n", 1, out, &len), TIDE__H1_ECHUNK);
  CHECK_INT(dechunk("5\nhello\r\n0\r\n\r\n", 1, out, &len), TIDE__H1_ECHUNK);
  CHECK_INT(dechunk("5\r\nhelloX\r\n", 1, out, &len), TIDE__H1_ECHUNKDATA);
  CHECK_INT(dechunk("5\r\nhello\n0\r\n\r\n", 1, out, &len),
            TIDE__H1_ECHUNKDATA);
  CHECK_INT(dechunk("1;a\nb\r\nx\r\n0\r\n\r\n", 1, out, &len), TIDE__H1_ECHUNK);
  CHECK_INT(dechunk("1000000000000000\r\n", 1, out, &len), TIDE__H1_ECHUNK);
  CHECK_INT(dechunk("0\r\nbad trailer\r\n\r\n", 1, out, &len),
            TIDE__H1_ETRAILER);
  CHECK_INT(dechunk("0\r\nT: v\n\r\n", 1, out, &len), TIDE__H1_ETRAILER);
  CHECK_INT(dechunk("0\r\n\n", 1, out, &len), TIDE__H1_ETRAILER);
  CHECK_INT(dechunk("5\r\nhel", 2, out, &len), TIDE__H1_INCOMPLETE);
}

int main(void) {
  RUN(simple_get);
  RUN(trickling_in);
  RUN(pipelined);
  RUN(leading_empty_lines);
  RUN(versions_and_keep_alive);
  RUN(request_line_errors);
  RUN(smuggling_refusals);
  RUN(limits);
  RUN(expect);
  RUN(responses);
  RUN(strings);
  RUN(chunked);
  return test_summary("test_http1");
}
