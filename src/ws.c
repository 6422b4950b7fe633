/* WebSocket framing (RFC 6455), no Lua: frame headers parsed from and
 * written into caller's buffers, payload masking, and the handshake's
 * Sec-WebSocket-Accept value (SHA-1 and base64, written here from FIPS
 * 180-4 and RFC 4648 to keep tide free of a crypto library for this one
 * hash).
 *
 * Why not libwslay: its event API pulls bytes through a recv callback and
 * pushes them through a send callback, assembling each message in buffers
 * of its own. tide's streams already own the read buffer and the write
 * queue, and a task waits on the stream, not on a callback: with wslay
 * every payload byte would be copied once more into wslay's buffers, its
 * WOULDBLOCK/want_read protocol would be emulated over a stream that never
 * blocks, and libtide would link one more library (and its rockspec and
 * pkg-config carry it) for framing that fits in this file. Here frames are
 * parsed straight from the stream buffer and only the payload is copied,
 * once, into the Lua string the task receives. */
#include <string.h>

#include "tide_ws.h"

int tide__ws_parse(const unsigned char *b, size_t n, tide__ws_frame_t *f) {
  size_t h = 2;
  uint64_t len;
  if (n < 2) return 0;
  f->fin = (b[0] >> 7) & 1;
  f->rsv = (b[0] >> 4) & 7;
  f->opcode = b[0] & 15;
  f->masked = (b[1] >> 7) & 1;
  len = b[1] & 127;
  if (f->rsv != 0) return TIDE__WS_ERSV;
  if (f->opcode >= 8) {
    if (f->opcode > 10) return TIDE__WS_EOPCODE;
    if (!f->fin || len > 125) return TIDE__WS_ECONTROL;
  } else if (f->opcode > 2) {
    return TIDE__WS_EOPCODE;
  }
  if (len == 126) {
    if (n < 4) return 0;
    len = ((uint64_t)b[2] << 8) | b[3];
    if (len < 126) return TIDE__WS_ELENGTH; /* not the shortest form */
    h = 4;
  } else if (len == 127) {
    int i;
    if (n < 10) return 0;
    if (b[2] & 0x80) return TIDE__WS_ELENGTH;
    for (len = 0, i = 2; i < 10; i++)
      len = (len << 8) | b[i];
    if (len < 65536) return TIDE__WS_ELENGTH;
    h = 10;
  }
  if (f->masked) {
    if (n < h + 4) return 0;
    memcpy(f->mask, b + h, 4);
    h += 4;
  }
  f->len = len;
  return (int)h;
}

void tide__ws_mask(unsigned char *p, size_t n, const unsigned char mask[4]) {
  size_t i;
  for (i = 0; i < n; i++)
    p[i] ^= mask[i & 3];
}

size_t tide__ws_header(unsigned char *out, int fin, int opcode, uint64_t len,
                       const unsigned char *mask) {
  size_t h = 2;
  out[0] = (unsigned char)((fin ? 0x80 : 0) | (opcode & 15));
  if (len < 126) {
    out[1] = (unsigned char)len;
  } else if (len < 65536) {
    out[1] = 126;
    out[2] = (unsigned char)(len >> 8);
    out[3] = (unsigned char)len;
    h = 4;
  } else {
    int i;
    out[1] = 127;
    for (i = 0; i < 8; i++)
      out[2 + i] = (unsigned char)(len >> (56 - 8 * i));
    h = 10;
  }
  if (mask != NULL) {
    out[1] |= 0x80;
    memcpy(out + h, mask, 4);
    h += 4;
  }
  return h;
}

/* ------------------------------------------------------------ accept */

static uint32_t rol(uint32_t x, int n) {
  return (x << n) | (x >> (32 - n));
}

/* SHA-1 of one message up to 119 bytes (two blocks): enough for a
 * Sec-WebSocket-Key and the GUID. */
static void sha1_short(const unsigned char *msg, size_t n,
                       unsigned char out[20]) {
  unsigned char buf[128];
  uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  size_t blocks = n + 9 <= 64 ? 1 : 2, b, i;
  uint64_t bits = (uint64_t)n * 8;
  memset(buf, 0, sizeof(buf));
  memcpy(buf, msg, n);
  buf[n] = 0x80;
  for (i = 0; i < 8; i++)
    buf[blocks * 64 - 1 - i] = (unsigned char)(bits >> (8 * i));
  for (b = 0; b < blocks; b++) {
    uint32_t w[80], a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4];
    const unsigned char *p = buf + 64 * b;
    for (i = 0; i < 16; i++)
      w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
             (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (i = 16; i < 80; i++)
      w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    for (i = 0; i < 80; i++) {
      uint32_t f, k, t;
      if (i < 20)
        f = (bb & c) | (~bb & d), k = 0x5A827999;
      else if (i < 40)
        f = bb ^ c ^ d, k = 0x6ED9EBA1;
      else if (i < 60)
        f = (bb & c) | (bb & d) | (c & d), k = 0x8F1BBCDC;
      else
        f = bb ^ c ^ d, k = 0xCA62C1D6;
      t = rol(a, 5) + f + e + k + w[i];
      e = d;
      d = c;
      c = rol(bb, 30);
      bb = a;
      a = t;
    }
    h[0] += a;
    h[1] += bb;
    h[2] += c;
    h[3] += d;
    h[4] += e;
  }
  for (i = 0; i < 20; i++)
    out[i] = (unsigned char)(h[i / 4] >> (24 - 8 * (i % 4)));
}

int tide__ws_accept(const char *key, size_t n, char out[29]) {
  static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  static const char b64[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  unsigned char msg[120], dig[21];
  size_t i, o = 0;
  if (n + sizeof(guid) - 1 > sizeof(msg)) return -1;
  memcpy(msg, key, n);
  memcpy(msg + n, guid, sizeof(guid) - 1);
  sha1_short(msg, n + sizeof(guid) - 1, dig);
  dig[20] = 0;
  for (i = 0; i < 21; i += 3) {
    uint32_t v = (uint32_t)dig[i] << 16 | (uint32_t)dig[i + 1] << 8 |
                 (i + 2 < 21 ? dig[i + 2] : 0);
    out[o++] = b64[(v >> 18) & 63];
    out[o++] = b64[(v >> 12) & 63];
    out[o++] = b64[(v >> 6) & 63];
    out[o++] = b64[v & 63];
  }
  /* 20 bytes -> 27 characters and one '=' of padding. */
  out[27] = '=';
  out[28] = 0;
  return 0;
}
