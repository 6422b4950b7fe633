/* Message heads built from Lua values, for tide.http (lhttp.c's
 * conn:respond, and core._http.head / chunk for every other head): the
 * fields of a Lua table checked (a name that is not a token, a value with
 * CR, LF or NUL raises: a caller's data cannot split a head) and written
 * in one pass into one buffer. */
#include <stdlib.h>
#include <string.h>

#include "../tide_http1.h"
#include "../tide_net.h"
#include "../tide_lhead.h"

/* Is s[0, n) free of CR, LF and NUL (a field value that cannot split the
 * head)? Names must be tokens. */
static int value_ok(const char *s, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0') return 0;
  return 1;
}

static int name_ok(const char *s, size_t n) {
  return tide__h1_is_token(s, n);
}

/* Framing fields the head writes itself: the caller's are skipped. */
static int name_reserved(const char *s, size_t n) {
  return tide__h1_name_is(s, n, "content-length", 14) ||
         tide__h1_name_is(s, n, "transfer-encoding", 17) ||
         tide__h1_name_is(s, n, "connection", 10);
}

/* One field of the headers table: the name at ki, the value at vi.
 * Checks it (raises on a bad one) and returns the bytes of its line, 0 for
 * a framing field the head writes itself; writes the line at d unless d
 * is NULL. */
static size_t field_line(lua_State *L, int ki, int vi, char *d) {
  size_t kl, vl;
  const char *k, *v;
  if (lua_type(L, ki) != LUA_TSTRING)
    luaL_error(L, "tide.http: header name must be a string");
  k = lua_tolstring(L, ki, &kl);
  if (!name_ok(k, kl)) luaL_error(L, "tide.http: invalid header name '%s'", k);
  if (name_reserved(k, kl)) return 0;
  if (lua_type(L, vi) != LUA_TSTRING && lua_type(L, vi) != LUA_TNUMBER)
    luaL_error(L, "tide.http: value of header '%s' must be a string", k);
  lua_pushvalue(L, vi);
  v = lua_tolstring(L, -1, &vl); /* a number is converted on the copy */
  if (!value_ok(v, vl))
    luaL_error(L, "tide.http: CR, LF or NUL in the value of header '%s'", k);
  if (d != NULL) {
    memcpy(d, k, kl);
    memcpy(d + kl, ": ", 2);
    memcpy(d + kl + 2, v, vl);
    memcpy(d + kl + 2 + vl, "\r\n", 2);
  }
  lua_pop(L, 1);
  return kl + vl + 4;
}

/* Walks the headers table at idx: returns the bytes of all its lines,
 * writing them at d unless d is NULL. A list value repeats the field. */
static size_t fields_walk(lua_State *L, int idx, char *d) {
  size_t total = 0;
  luaL_checkstack(L, 6, NULL);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_istable(L, -1)) {
      lua_Integer i, n = (lua_Integer)lua_rawlen(L, -1);
      for (i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        total += field_line(L, -3, -1, d ? d + total : NULL);
        lua_pop(L, 1);
      }
    } else {
      total += field_line(L, -2, -1, d ? d + total : NULL);
    }
    lua_pop(L, 1);
  }
  return total;
}

/* Writes "Content-Length: n\r\n" into out (48 bytes); returns its length
 * (snprintf costs more than the rest of a small head). */
static int content_length(char *out, uint64_t n) {
  char digits[24];
  int k = 0, len;
  do {
    digits[k++] = (char)('0' + n % 10);
    n /= 10;
  } while (n > 0);
  memcpy(out, "Content-Length: ", 16);
  for (len = 16; k > 0;)
    out[len++] = digits[--k];
  out[len++] = '\r';
  out[len++] = '\n';
  return len;
}

static char *put(char *d, const char *s, size_t n) {
  memcpy(d, s, n);
  return d + n;
}

/* Fills h with the head's parts: the first line at stack index first,
 * the headers table at hdrs (0: none), the Connection value at conn (0 or
 * nil: none; true: close; a string), date (NULL: none), the framing line
 * (TIDE__H1_BODY_LENGTH with len, TIDE__H1_BODY_CHUNKED, or NONE) and the
 * body at body (0: none). Checks every field (raises on a bad one). */
void tide__lua_head_prepare(lua_State *L, tide__lua_head_t *h, int first,
                            int hdrs, int conn, const char *date, int framing,
                            uint64_t len, int body) {
  h->first = luaL_checklstring(L, first, &h->fl);
  h->date = date;
  h->dl = date ? strlen(date) : 0;
  h->conn = h->body = NULL;
  h->cl = h->bl = h->fields = 0;
  h->nl = 0;
  h->hdrs = hdrs && !lua_isnil(L, hdrs) ? hdrs : 0;
  if (h->hdrs) luaL_checktype(L, hdrs, LUA_TTABLE);
  if (framing == TIDE__H1_BODY_LENGTH)
    h->nl = content_length(h->num, len);
  else if (framing == TIDE__H1_BODY_CHUNKED)
    h->nl = (int)strlen(strcpy(h->num, "Transfer-Encoding: chunked\r\n"));
  if (conn && lua_type(L, conn) == LUA_TSTRING)
    h->conn = lua_tolstring(L, conn, &h->cl);
  else if (conn && lua_toboolean(L, conn))
    h->conn = "close", h->cl = 5;
  if (h->conn != NULL && !value_ok(h->conn, h->cl))
    luaL_argerror(L, conn, "invalid Connection value");
  if (body && lua_type(L, body) == LUA_TSTRING)
    h->body = lua_tolstring(L, body, &h->bl);
  if (h->hdrs) h->fields = fields_walk(L, h->hdrs, NULL);
  h->total = h->fl + (h->date ? h->dl + 8 : 0) + (size_t)h->nl +
             (h->conn ? h->cl + 14 : 0) + h->fields + 2 + h->bl;
}

/* Writes the head measured by head_prepare (h->total bytes) at d. */
void tide__lua_head_write(lua_State *L, const tide__lua_head_t *h, char *d) {
  d = put(d, h->first, h->fl);
  if (h->date) {
    d = put(d, "Date: ", 6);
    d = put(d, h->date, h->dl);
    d = put(d, "\r\n", 2);
  }
  d = put(d, h->num, (size_t)h->nl);
  if (h->conn) {
    d = put(d, "Connection: ", 12);
    d = put(d, h->conn, h->cl);
    d = put(d, "\r\n", 2);
  }
  if (h->fields) fields_walk(L, h->hdrs, d);
  d += h->fields;
  d = put(d, "\r\n", 2);
  if (h->bl) put(d, h->body, h->bl);
}

/* core._http.head(first_line, headers, framing, conn, date [, body]) ->
 * the bytes of a message head, and body after it. first_line ends with
 * CRLF; headers is a table name -> value (a list of values repeats the
 * field; values may be numbers), its Content-Length, Transfer-Encoding and
 * Connection ignored: framing writes them (an integer: Content-Length;
 * "chunked"; false: none); conn adds "Connection: close" (true) or
 * "Connection: <conn>" (a string: keep-alive, upgrade); date (string or
 * nil) adds a Date field. A name that is not a token or a value with CR,
 * LF or NUL raises: a head cannot be split by its caller's data. */
static int l_head(lua_State *L) {
  luaL_Buffer b;
  tide__lua_head_t h;
  int framing = TIDE__H1_BODY_NONE;
  lua_Integer len = 0;
  lua_settop(L, 6);
  if (lua_isinteger(L, 3)) {
    len = lua_tointeger(L, 3);
    luaL_argcheck(L, len >= 0, 3, "negative length");
    framing = TIDE__H1_BODY_LENGTH;
  } else if (lua_type(L, 3) == LUA_TSTRING) {
    framing = TIDE__H1_BODY_CHUNKED;
  }
  tide__lua_head_prepare(
      L, &h, 1, 2, 4, lua_type(L, 5) == LUA_TSTRING ? lua_tostring(L, 5) : NULL,
      framing, (uint64_t)len, 6);
  tide__lua_head_write(L, &h, luaL_buffinitsize(L, &b, h.total));
  luaL_pushresultsize(&b, h.total);
  return 1;
}

/* core._http.chunk(data) -> data framed as one chunk ("" -> the last
 * chunk, "0\r\n\r\n"). */
static int l_chunk(lua_State *L) {
  size_t n;
  const char *p = luaL_checklstring(L, 1, &n);
  char hex[24];
  int hl = snprintf(hex, sizeof(hex), "%zx\r\n", n);
  luaL_Buffer b;
  char *d = luaL_buffinitsize(L, &b, (size_t)hl + n + 2);
  d = put(d, hex, (size_t)hl);
  d = put(d, p, n);
  put(d, "\r\n", 2);
  luaL_pushresultsize(&b, (size_t)hl + n + 2);
  return 1;
}

static const luaL_Reg funcs[] = {
    {"head", l_head}, {"chunk", l_chunk}, {NULL, NULL}};

void tide__lua_open_http_head(lua_State *L) {
  luaL_setfuncs(L, funcs, 0);
}
