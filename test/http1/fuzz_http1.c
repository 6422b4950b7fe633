/* libFuzzer target over tide's HTTP/1.1 parser (src/http1.c).
 *
 *   make fuzz-http1        (clang -fsanitize=fuzzer,address,undefined)
 *
 * The first byte picks what the rest is: a request head, a response head
 * (for a HEAD request or not), or a chunked body; small limits are chosen
 * from it too so that the limit paths are reached. Each input is parsed in
 * one call and again split at a point the input chooses; the two must
 * agree (both complete with the same length and fields, or both refuse, or
 * the split one still incomplete: see diff.c), every offset must lie
 * inside the input, and the chunked decoder must hand out only bytes of
 * its input and consume at most what it was given. Any violation aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tide_http1.h"

#define NF 32

static void check_head(const tide__h1_parser_t *p, size_t len, int r) {
  unsigned i;
  if (r < 0) return;
  if ((size_t)r > len) abort();
  if (!p->response && (p->method + p->method_len > (size_t)r ||
                       p->target + p->target_len > (size_t)r ||
                       p->method_len == 0 || p->target_len == 0))
    abort();
  if (p->nfields > p->max_fields) abort();
  for (i = 0; i < p->nfields; i++)
    if (p->fields[i].name + p->fields[i].name_len > (size_t)r ||
        p->fields[i].value + p->fields[i].value_len > (size_t)r ||
        p->fields[i].name_len == 0)
      abort();
  if (p->body == TIDE__H1_BODY_EOF && (!p->response || p->keep_alive)) abort();
  if (p->body == TIDE__H1_BODY_LENGTH && p->content_length > 999999999999999ull)
    abort();
}

static void fuzz_head(const char *b, size_t n, unsigned sel, size_t split) {
  static tide__h1_field_t f1[NF], f2[NF];
  tide__h1_parser_t p1, p2;
  int r1, r2;
  tide__h1_init(&p1, sel & 1, f1, (sel & 8) ? 4 : NF);
  if (sel & 16) p1.max_line = 40;
  if (sel & 32) p1.max_head = 64;
  p1.head_request = (sel & 2) != 0;
  p2 = p1;
  p2.fields = f2;
  r1 = tide__h1_parse(&p1, b, n);
  check_head(&p1, n, r1);
  if (split > n) split = n;
  r2 = tide__h1_parse(&p2, b, split);
  check_head(&p2, split, r2);
  if (r2 == TIDE__H1_INCOMPLETE) r2 = tide__h1_parse(&p2, b, n);
  check_head(&p2, n, r2);
  if (r1 >= 0 || r2 >= 0) {
    unsigned i;
    if (r1 != r2 || p1.nfields != p2.nfields || p1.body != p2.body ||
        p1.content_length != p2.content_length)
      abort();
    for (i = 0; i < p1.nfields; i++)
      if (memcmp(&f1[i], &f2[i], sizeof(f1[i])) != 0) abort();
  }
}

static void fuzz_chunked(const char *b, size_t n, size_t step) {
  tide__h1_chunked_t c;
  size_t pos = 0;
  tide__h1_chunked_init(&c);
  if (step == 0) step = 1;
  while (pos < n && !tide__h1_chunked_done(&c)) {
    size_t avail = n - pos < step ? n - pos : step, off, dl;
    long r = tide__h1_chunked(&c, b + pos, avail, &off, &dl);
    if (r < 0) return;
    if ((size_t)r > avail || off + dl > (size_t)r) abort();
    if (r == 0) abort(); /* no progress with bytes available */
    pos += (size_t)r;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  unsigned sel;
  size_t split;
  if (size < 2) return 0;
  sel = data[0];
  split = data[1] * 37u;
  data += 2;
  size -= 2;
  if ((sel & 0xc0) == 0xc0)
    fuzz_chunked((const char *)data, size, split % 17);
  else
    fuzz_head((const char *)data, size, sel, split);
  return 0;
}
