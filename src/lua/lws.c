/* Lua binding of WebSocket framing (src/ws.c) for lua/tide/websocket.lua:
 * frames read straight from a stream's buffer, frames built for writing,
 * the handshake's accept value.
 *
 *   _ws.read_frame(stream, max_payload, masked) -> fin, opcode, payload
 *       | nil, err, name   (EPROTO: a frame RFC 6455 refuses, or masking
 *         not as `masked` says; EMSGSIZE: payload over max_payload; EOF)
 *   _ws.frame(opcode, payload, fin, mask) -> the frame's bytes (mask: a
 *       client's frame, masked with a fresh random key)
 *   _ws.accept(key) -> Sec-WebSocket-Accept
 *   _ws.key() -> a fresh Sec-WebSocket-Key */
#include <string.h>

#include "../tide_net.h"
#include "../tide_ws.h"

static int frame_k(lua_State *L, int status, lua_KContext ctx);

/* Tries to take one whole frame from the buffer: pushes the results and
 * returns their count, or -1 with *need set to the bytes it waits for. */
static int frame_try(lua_State *L, tide__stream_t *s, size_t *need) {
  size_t n = tide__stream_buffered(s);
  unsigned char *b = (unsigned char *)tide__stream_data(s);
  lua_Integer max = lua_tointeger(L, 2);
  int masked = lua_toboolean(L, 3);
  tide__ws_frame_t f;
  int h = n > 0 ? tide__ws_parse(b, n, &f) : 0;
  luaL_Buffer lb;
  char *d;
  if (h < 0) return tide__lua_fail(L, UV_EPROTO, "invalid WebSocket frame");
  if (h > 0) {
    if ((int)f.masked != masked)
      return tide__lua_fail(L, UV_EPROTO,
                            masked ? "unmasked client frame"
                                   : "masked server frame");
    if (f.len > (uint64_t)max)
      return tide__lua_fail(L, UV_EMSGSIZE, "WebSocket message too large");
    if (n - (size_t)h >= f.len) {
      lua_pushboolean(L, f.fin);
      lua_pushinteger(L, f.opcode);
      d = luaL_buffinitsize(L, &lb, (size_t)f.len);
      memcpy(d, b + h, (size_t)f.len);
      if (f.masked) tide__ws_mask((unsigned char *)d, (size_t)f.len, f.mask);
      luaL_pushresultsize(&lb, (size_t)f.len);
      tide__stream_consume(s, (size_t)h + (size_t)f.len);
      return 3;
    }
    *need = (size_t)h + (size_t)f.len;
  } else {
    *need = n + 1; /* the header is not complete yet */
  }
  if (s->rerr != 0) {
    if (s->rerr == UV_EOF)
      return tide__lua_fail(L, UV_EOF, "connection closed");
    return tide__lua_fail(L, s->rerr, NULL);
  }
  return -1;
}

static int frame_wait(lua_State *L, tide__stream_t *s, size_t need) {
  if (s->rfut.state == TIDE__PENDING)
    return luaL_error(L, "tide: another task is already reading from this "
                         "stream");
  tide__lua_await_begin(L);
  tide__stream_wait_read(s, TIDE__REXACT, need, NULL, 0);
  lua_settop(L, 3);
  return tide__lua_await_yield(L, &s->rfut, 0, frame_k);
}

static int frame_k(lua_State *L, int status, lua_KContext ctx) {
  tide__stream_t *s;
  size_t need = 0;
  int n;
  (void)status;
  (void)ctx;
  tide__lua_check_wake(L);
  s = tide__lua_checkstream(L, 1);
  if (s == NULL) return tide__lua_fail(L, TIDE_ECLOSED, "stream is closed");
  n = frame_try(L, s, &need);
  if (n >= 0) return n;
  if (s->rtimedout) {
    s->rtimedout = 0;
    return tide__lua_fail(L, UV_ETIMEDOUT, NULL);
  }
  return frame_wait(L, s, need);
}

static int l_read_frame(lua_State *L) {
  tide__stream_t *s = tide__lua_checkstream(L, 1);
  size_t need = 0;
  int n;
  luaL_checkinteger(L, 2);
  lua_settop(L, 3);
  if (s == NULL) return tide__lua_fail(L, TIDE_ECLOSED, "stream is closed");
  n = frame_try(L, s, &need);
  return n >= 0 ? n : frame_wait(L, s, need);
}

static int l_frame(lua_State *L) {
  lua_Integer op = luaL_checkinteger(L, 1);
  size_t n, h;
  const char *p = luaL_optlstring(L, 2, "", &n);
  int fin = lua_isnoneornil(L, 3) || lua_toboolean(L, 3);
  int masked = lua_toboolean(L, 4);
  unsigned char hdr[14], mask[4];
  luaL_Buffer lb;
  char *d;
  luaL_argcheck(L, op >= 0 && op <= 15, 1, "opcode 0-15 expected");
  if (masked && uv_random(NULL, NULL, mask, 4, 0, NULL) != 0)
    return luaL_error(L, "tide: no random bytes for a WebSocket mask");
  h = tide__ws_header(hdr, fin, (int)op, n, masked ? mask : NULL);
  d = luaL_buffinitsize(L, &lb, h + n);
  memcpy(d, hdr, h);
  memcpy(d + h, p, n);
  if (masked) tide__ws_mask((unsigned char *)d + h, n, mask);
  luaL_pushresultsize(&lb, h + n);
  return 1;
}

static int l_accept(lua_State *L) {
  size_t n;
  const char *key = luaL_checklstring(L, 1, &n);
  char out[29];
  if (tide__ws_accept(key, n, out) != 0)
    return luaL_argerror(L, 1, "key too long");
  lua_pushstring(L, out);
  return 1;
}

static int l_key(lua_State *L) {
  static const char b64[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  unsigned char r[16];
  char out[25];
  int i, o = 0;
  if (uv_random(NULL, NULL, r, sizeof(r), 0, NULL) != 0)
    return luaL_error(L, "tide: no random bytes for a WebSocket key");
  for (i = 0; i < 15; i += 3) {
    uint32_t v = (uint32_t)r[i] << 16 | (uint32_t)r[i + 1] << 8 | r[i + 2];
    out[o++] = b64[(v >> 18) & 63];
    out[o++] = b64[(v >> 12) & 63];
    out[o++] = b64[(v >> 6) & 63];
    out[o++] = b64[v & 63];
  }
  out[o++] = b64[r[15] >> 2];
  out[o++] = b64[(r[15] & 3) << 4];
  out[o++] = '=';
  out[o++] = '=';
  lua_pushlstring(L, out, (size_t)o);
  return 1;
}

static const luaL_Reg funcs[] = {{"read_frame", l_read_frame},
                                 {"frame", l_frame},
                                 {"accept", l_accept},
                                 {"key", l_key},
                                 {NULL, NULL}};

/* Adds module._ws to the module table at the top of L; the runtime box is
 * at the top - 1. */
void tide__lua_open_ws(lua_State *L, tide_runtime_t *rt) {
  (void)rt;
  lua_newtable(L);
  lua_pushvalue(L, -3);
  luaL_setfuncs(L, funcs, 1);
  lua_setfield(L, -2, "_ws");
}
