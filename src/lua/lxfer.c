/* Copying Lua values from one Lua state to another (the loop's state and a
 * worker's), through a byte string: tide.offload's arguments and results.
 *
 * What copies: nil, booleans, numbers (integers stay integers), strings,
 * tables of those (deeply: a table met twice is copied once and met twice
 * in the copy, so cycles and shared subtables keep their shape), and Lua
 * functions whose upvalues are only _ENV (or the global table under
 * another name) or the function itself (a recursive local function). The
 * copied function's _ENV is the globals of the state it lands in, whatever
 * it was where it came from (a sandbox's environment does not travel).
 *
 * What does not, with an error naming where it was found: userdata, light
 * userdata, coroutines, C functions, functions with other upvalues (their
 * values would silently be lost: luv drops them, tide says so), tables
 * with a metatable (their behaviour would be lost), and nesting deeper
 * than TIDE__XFER_DEPTH tables.
 *
 * The encoding (native byte order: both states live in one process):
 *   u32 count, then count values, each a tag byte and its payload:
 *   'n' nil, 't' / 'f' booleans, 'i' lua_Integer, 'd' lua_Number,
 *   's' size_t length + bytes, 'T' table: key value ... 'e',
 *   'F' function: size_t length + lua_dump bytes, u8 upvalue count, then
 *       'G' (the globals) or 'S' (itself) per upvalue,
 *   'r' u32: the id of a table or function met before (ids count from 1
 *       in the order they are first met). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../tide_lua.h"

#define TIDE__XFER_DEPTH 200

/* A growing buffer as a userdata, so that an error raised half-way frees
 * it (__gc). */
typedef struct {
  char *p;
  size_t len, cap;
} xbuf_t;

static int xbuf_gc(lua_State *L) {
  xbuf_t *b = lua_touserdata(L, 1);
  free(b->p);
  b->p = NULL;
  return 0;
}

typedef struct {
  lua_State *L;
  xbuf_t *b;
  int seen;                    /* stack index: table/function -> id */
  int nextid;
  int depth;
  int keys[TIDE__XFER_DEPTH];  /* stack index of the key at each level */
  const char *what;            /* "argument", "result", ... */
  int index;                   /* which one */
} enc_t;

static void enc_put(enc_t *e, const void *p, size_t n) {
  xbuf_t *b = e->b;
  if (b->cap - b->len < n) {
    size_t cap = b->cap ? b->cap : 256;
    char *q;
    while (cap - b->len < n) cap *= 2;
    q = realloc(b->p, cap);
    if (q == NULL) luaL_error(e->L, "tide: not enough memory to copy values");
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->len, p, n);
  b->len += n;
}

static void enc_tag(enc_t *e, char tag) {
  enc_put(e, &tag, 1);
}

/* Raises "tide: cannot copy <what> <index> (at .a.b[3]): <msg>". */
static int enc_fail(enc_t *e, const char *msg) {
  lua_State *L = e->L;
  luaL_Buffer b;
  int i;
  luaL_checkstack(L, 8, NULL);
  luaL_buffinit(L, &b);
  if (e->index >= 0)
    lua_pushfstring(L, "tide: cannot copy %s %d", e->what, e->index);
  else
    lua_pushfstring(L, "tide: cannot copy the %s", e->what);
  luaL_addvalue(&b);
  if (e->depth > 0) {
    luaL_addstring(&b, " (at ");
    for (i = 0; i < e->depth; i++) {
      int k = e->keys[i];
      if (lua_type(L, k) == LUA_TSTRING)
        lua_pushfstring(L, ".%s", lua_tostring(L, k));
      else if (lua_isinteger(L, k))
        lua_pushfstring(L, "[%I]", lua_tointeger(L, k));
      else
        lua_pushfstring(L, "[%s key]", luaL_typename(L, k));
      luaL_addvalue(&b);
    }
    luaL_addstring(&b, ")");
  }
  luaL_addstring(&b, ": ");
  luaL_addstring(&b, msg);
  luaL_pushresult(&b);
  return lua_error(L);
}

static void enc_value(enc_t *e, int idx);

/* Has the table or function at idx been met? Writes its reference and
 * returns 1; otherwise gives it the next id and returns 0. */
static int enc_seen(enc_t *e, int idx) {
  lua_State *L = e->L;
  uint32_t id;
  lua_pushvalue(L, idx);
  if (lua_rawget(L, e->seen) == LUA_TNUMBER) {
    id = (uint32_t)lua_tointeger(L, -1);
    lua_pop(L, 1);
    enc_tag(e, 'r');
    enc_put(e, &id, sizeof(id));
    return 1;
  }
  lua_pop(L, 1);
  lua_pushvalue(L, idx);
  lua_pushinteger(L, ++e->nextid);
  lua_rawset(L, e->seen);
  return 0;
}

static void enc_table(enc_t *e, int idx) {
  lua_State *L = e->L;
  if (enc_seen(e, idx)) return;
  if (lua_getmetatable(L, idx))
    enc_fail(e, "a table with a metatable (copy its fields into a plain "
                "table)");
  if (e->depth >= TIDE__XFER_DEPTH)
    enc_fail(e, "tables nested more than 200 levels deep");
  luaL_checkstack(L, 8, "tables nested too deeply");
  enc_tag(e, 'T');
  e->depth++;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    e->keys[e->depth - 1] = lua_absindex(L, -2);
    enc_value(e, -2);
    enc_value(e, -1);
    lua_pop(L, 1);
  }
  e->depth--;
  enc_tag(e, 'e');
}

static int enc_writer(lua_State *L, const void *p, size_t n, void *ud) {
  (void)L;
  enc_put(ud, p, n);
  return 0;
}

static void enc_function(enc_t *e, int idx) {
  lua_State *L = e->L;
  char kinds[256];
  const char *name;
  size_t lenpos, len;
  int i, nup = 0;
  if (lua_iscfunction(L, idx)) enc_fail(e, "a C function");
  if (enc_seen(e, idx)) return;
  luaL_checkstack(L, 4, NULL);
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
  for (i = 1; (name = lua_getupvalue(L, idx, i)) != NULL; i++) {
    if (strcmp(name, "_ENV") == 0 || lua_rawequal(L, -1, -2)) {
      /* Whatever environment it had here, there it has the globals. */
      kinds[nup++] = 'G';
    } else if (lua_rawequal(L, -1, idx)) {
      kinds[nup++] = 'S';
    } else {
      enc_fail(e, lua_pushfstring(L, "a function with the upvalue '%s' "
                                     "(only the globals and the function "
                                     "itself go with a function: pass "
                                     "other values as arguments)", name));
    }
    lua_pop(L, 1);
    if (nup == 255) enc_fail(e, "a function with more than 254 upvalues");
  }
  lua_pop(L, 1);
  enc_tag(e, 'F');
  lenpos = e->b->len;
  len = 0;
  enc_put(e, &len, sizeof(len));
  lua_pushvalue(L, idx);
  if (lua_dump(L, enc_writer, e, 0) != 0)
    enc_fail(e, "a function that cannot be dumped");
  lua_pop(L, 1);
  len = e->b->len - lenpos - sizeof(len);
  memcpy(e->b->p + lenpos, &len, sizeof(len));
  enc_tag(e, (char)nup);
  enc_put(e, kinds, (size_t)nup);
}

static void enc_value(enc_t *e, int idx) {
  lua_State *L = e->L;
  idx = lua_absindex(L, idx);
  switch (lua_type(L, idx)) {
  case LUA_TNIL: enc_tag(e, 'n'); break;
  case LUA_TBOOLEAN: enc_tag(e, lua_toboolean(L, idx) ? 't' : 'f'); break;
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx)) {
      lua_Integer i = lua_tointeger(L, idx);
      enc_tag(e, 'i');
      enc_put(e, &i, sizeof(i));
    } else {
      lua_Number d = lua_tonumber(L, idx);
      enc_tag(e, 'd');
      enc_put(e, &d, sizeof(d));
    }
    break;
  case LUA_TSTRING: {
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    enc_tag(e, 's');
    enc_put(e, &len, sizeof(len));
    enc_put(e, s, len);
    break;
  }
  case LUA_TTABLE: enc_table(e, idx); break;
  case LUA_TFUNCTION: enc_function(e, idx); break;
  default:
    enc_fail(e, lua_pushfstring(L, "a %s", luaL_typename(L, idx)));
    break;
  }
}

/* Encodes the n values at first.. of L into *out (malloc'd, the caller's;
 * *outlen bytes). Raises on a value that cannot be copied, naming it as
 * "<what> <i>" (counting from base), or "the <what>" when base < 0. */
void tide__xfer_encode(lua_State *L, int first, int n, const char *what,
                       int base, char **out, size_t *outlen) {
  enc_t e;
  uint32_t count = (uint32_t)n;
  int i;
  first = lua_absindex(L, first);
  luaL_checkstack(L, 8, NULL);
  e.L = L;
  e.b = lua_newuserdatauv(L, sizeof(xbuf_t), 0);
  memset(e.b, 0, sizeof(*e.b));
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, xbuf_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_newtable(L);
  e.seen = lua_gettop(L);
  e.nextid = 0;
  e.depth = 0;
  e.what = what;
  enc_put(&e, &count, sizeof(count));
  for (i = 0; i < n; i++) {
    e.index = base < 0 ? -1 : base + i;
    enc_value(&e, first + i);
  }
  *out = e.b->p;
  *outlen = e.b->len;
  e.b->p = NULL; /* ours now: the __gc frees nothing */
  lua_pop(L, 2);
}

/* Encodes (false, msg, traceback) without a Lua state: the answer of a
 * job whose values could not be handled. NULL when out of memory. */
char *tide__xfer_encode_error(const char *msg, const char *tb, size_t *outlen) {
  size_t l1 = strlen(msg), l2 = strlen(tb);
  size_t n = 4 + 1 + 2 * (1 + sizeof(size_t)) + l1 + l2;
  char *p = malloc(n), *q = p;
  uint32_t count = 3;
  if (p == NULL) return NULL;
  memcpy(q, &count, 4);
  q += 4;
  *q++ = 'f';
  *q++ = 's';
  memcpy(q, &l1, sizeof(l1));
  q += sizeof(l1);
  memcpy(q, msg, l1);
  q += l1;
  *q++ = 's';
  memcpy(q, &l2, sizeof(l2));
  q += sizeof(l2);
  memcpy(q, tb, l2);
  *outlen = n;
  return p;
}

/* ------------------------------------------------------------ decoding */

typedef struct {
  lua_State *L;
  const char *p, *end;
  int refs;   /* stack index: id -> value */
  int nextid;
  int depth;
} dec_t;

static void dec_get(dec_t *d, void *dst, size_t n) {
  if ((size_t)(d->end - d->p) < n) luaL_error(d->L, "tide: corrupt copy");
  memcpy(dst, d->p, n);
  d->p += n;
}

static char dec_tag(dec_t *d) {
  char c;
  dec_get(d, &c, 1);
  return c;
}

static void dec_value(dec_t *d) {
  lua_State *L = d->L;
  char tag = dec_tag(d);
  luaL_checkstack(L, 6, "tables nested too deeply");
  switch (tag) {
  case 'n': lua_pushnil(L); break;
  case 't': lua_pushboolean(L, 1); break;
  case 'f': lua_pushboolean(L, 0); break;
  case 'i': {
    lua_Integer i;
    dec_get(d, &i, sizeof(i));
    lua_pushinteger(L, i);
    break;
  }
  case 'd': {
    lua_Number n;
    dec_get(d, &n, sizeof(n));
    lua_pushnumber(L, n);
    break;
  }
  case 's': {
    size_t len;
    dec_get(d, &len, sizeof(len));
    if ((size_t)(d->end - d->p) < len) luaL_error(L, "tide: corrupt copy");
    lua_pushlstring(L, d->p, len);
    d->p += len;
    break;
  }
  case 'T':
    if (++d->depth > TIDE__XFER_DEPTH + 1) luaL_error(L, "tide: corrupt copy");
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_rawseti(L, d->refs, ++d->nextid);
    while (d->p < d->end && *d->p != 'e') {
      dec_value(d);
      dec_value(d);
      lua_rawset(L, -3);
    }
    dec_tag(d); /* 'e' */
    d->depth--;
    break;
  case 'r': {
    uint32_t id;
    dec_get(d, &id, sizeof(id));
    lua_rawgeti(L, d->refs, (lua_Integer)id);
    break;
  }
  case 'F': {
    size_t len;
    unsigned char nup;
    int i, f;
    dec_get(d, &len, sizeof(len));
    if ((size_t)(d->end - d->p) < len) luaL_error(L, "tide: corrupt copy");
    if (luaL_loadbufferx(L, d->p, len, "=(copied function)", "b") != LUA_OK)
      lua_error(L);
    d->p += len;
    f = lua_gettop(L);
    lua_pushvalue(L, f);
    lua_rawseti(L, d->refs, ++d->nextid);
    dec_get(d, &nup, 1);
    for (i = 1; i <= nup; i++) {
      if (dec_tag(d) == 'G') lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
      else lua_pushvalue(L, f);
      lua_setupvalue(L, f, i);
    }
    break;
  }
  default: luaL_error(L, "tide: corrupt copy");
  }
}

/* Pushes the values encoded in p[0, len) onto L; returns their count. */
int tide__xfer_decode(lua_State *L, const char *p, size_t len) {
  dec_t d;
  uint32_t count, i;
  d.L = L;
  d.p = p;
  d.end = p + len;
  d.nextid = 0;
  d.depth = 0;
  dec_get(&d, &count, sizeof(count));
  luaL_checkstack(L, (int)count + 8, "too many values to copy");
  lua_newtable(L);
  d.refs = lua_gettop(L);
  for (i = 0; i < count; i++) dec_value(&d);
  lua_remove(L, d.refs);
  return (int)count;
}
