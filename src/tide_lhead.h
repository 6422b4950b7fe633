/* Message heads built from Lua values (src/lua/lhead.c), shared by the
 * HTTP binding (src/lua/lhttp.c). */
#ifndef TIDE_LHEAD_H
#define TIDE_LHEAD_H

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

/* The parts of a message head, checked and measured. */
typedef struct tide__lua_head_s {
  const char *first, *date, *conn, *body;
  size_t fl, dl, cl, bl, fields, total;
  int hdrs;     /* stack index of the headers table, or 0 */
  int nl;       /* bytes of num */
  char num[48]; /* the Content-Length or Transfer-Encoding line */
} tide__lua_head_t;

/* Fills h with the head's parts: the first line at stack index first,
 * the headers table at hdrs (0: none), the Connection value at conn (0 or
 * nil: none; true: close; a string), date (NULL: none), the framing line
 * (TIDE__H1_BODY_LENGTH with len, TIDE__H1_BODY_CHUNKED, or NONE) and the
 * body at body (0: none). Checks every field (raises on a bad one). */
void tide__lua_head_prepare(lua_State *L, tide__lua_head_t *h, int first,
                            int hdrs, int conn, const char *date, int framing,
                            uint64_t len, int body);
/* Writes the head measured by tide__lua_head_prepare (h->total bytes). */
void tide__lua_head_write(lua_State *L, const tide__lua_head_t *h, char *d);
/* Adds head() and chunk() to the table at the top of L. */
void tide__lua_open_http_head(lua_State *L);

#endif
