/* Internal declarations of WebSocket framing (src/ws.c): Lua-free. The
 * Lua side (src/lua/lws.c, lua/tide/websocket.lua) reads frames straight
 * from a stream's buffer with these. */
#ifndef TIDE_WS_H
#define TIDE_WS_H

#include <stddef.h>
#include <stdint.h>

/* Errors of tide__ws_parse (a close with 1002, protocol error). */
enum {
  TIDE__WS_ERSV = -1,     /* reserved bits set (no extension agreed) */
  TIDE__WS_EOPCODE = -2,  /* an opcode RFC 6455 does not define */
  TIDE__WS_ECONTROL = -3, /* a fragmented or over-long control frame */
  TIDE__WS_ELENGTH = -4   /* a length not in its shortest form, or >= 2^63 */
};

/* Opcodes. */
enum {
  TIDE__WS_CONT = 0,
  TIDE__WS_TEXT = 1,
  TIDE__WS_BINARY = 2,
  TIDE__WS_CLOSE = 8,
  TIDE__WS_PING = 9,
  TIDE__WS_PONG = 10
};

typedef struct {
  unsigned fin : 1, rsv : 3, opcode : 4, masked : 1;
  uint64_t len;          /* payload bytes */
  unsigned char mask[4]; /* when masked */
} tide__ws_frame_t;

/* Parses the frame header at b[0, n): returns its length (the payload
 * follows), 0 when more bytes are needed, or a TIDE__WS_E* error. */
int tide__ws_parse(const unsigned char *b, size_t n, tide__ws_frame_t *f);
/* XORs p[0, n) with the mask (masking and unmasking alike). */
void tide__ws_mask(unsigned char *p, size_t n, const unsigned char mask[4]);
/* Writes a frame header (at most 14 bytes) into out; mask NULL: unmasked
 * (a server's frames). Returns its length. */
size_t tide__ws_header(unsigned char *out, int fin, int opcode, uint64_t len,
                       const unsigned char *mask);
/* Sec-WebSocket-Accept for the key[0, n): 28 characters and a NUL into
 * out. Returns 0, or -1 for a key longer than any valid one. */
int tide__ws_accept(const char *key, size_t n, char out[29]);

#endif
