/* Lua binding of the HTTP/1.1 parser (src/http1.c) for tide.http's server
 * and client (lua/tide/http.lua): the hot path in C.
 *
 * A connection object (core._http.conn(stream, opts)) parses message heads
 * and decodes bodies straight from the stream's read buffer: no Lua-level
 * string scanning and no copy but the Lua strings it returns. It waits on
 * the stream's read future like the stream's own reads (the await protocol
 * of src/tide_lua.h), with its own timeouts: keep-alive idle time before a
 * message's first byte, one deadline for the whole head once it has begun
 * (slowloris), and a timeout per body read.
 *
 *   conn:read_head() -> msg | nil (clean EOF) | false, status, message
 *                       (a malformed head: answer status, close) |
 *                       nil, err, name (I/O failure, timeout)
 *   conn:read_body([max]) -> data | nil (end of body) | nil, err, name
 *   conn:body_state() -> "none" | "length" | "chunked" | "eof" | "broken"
 *   conn:respond(first_line, headers, body, conn),
 *   conn:flush(): responses written from C (held back while pipelined
 *                 requests are buffered)
 *   core._http.head(first_line, headers, framing, close, date [, body])
 *       -> the bytes of a head (and body), fields checked
 *
 * A message (request or response) is a table: method, target, path,
 * query, version ("1.1"), headers (lowercased names; repeated fields
 * joined with ", "; all values of a repeated field in multi[name]),
 * keep_alive, upgrade, expect ("100-continue" or another value), and for
 * responses status and reason. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tide_http1.h"
#include "../tide_net.h"
#include "../tide_lhead.h"

#define MT_CONN "tide.http.conn"

typedef struct {
  tide__h1_parser_t p;   /* the head being parsed */
  tide__h1_chunked_t ch; /* the chunked body being decoded */
  int body;              /* framing of the body being read, or -1 */
  uint64_t left;         /* BODY_LENGTH: bytes still to read */
  uint64_t body_read;    /* bytes of the body handed out so far */
  uint64_t max_body;     /* 0: no limit */
  uint64_t idle_ns;      /* before a message's first byte; 0: none */
  uint64_t header_ns;    /* the whole head, from its first byte */
  uint64_t body_ns;      /* each body read */
  uint64_t deadline;     /* loop time the head must be complete by */
  size_t max_line, max_head;
  unsigned max_fields;
  tide__stream_t **slot; /* the stream object's pointer (uservalue 1
                            anchors the object) */
  char *out;             /* responses held back (pipelining), or NULL */
  size_t olen, ocap;
  time_t date_t;             /* the second date holds */
  char date[64];             /* "Tue, 01 Dec 2026 05:00:00 GMT" */
  unsigned response : 1;     /* parse responses (the client) */
  unsigned head_request : 1; /* the response answers a HEAD request */
  unsigned started : 1;      /* bytes of the current head have arrived */
  tide__h1_field_t *fields;  /* max_fields entries (after this struct) */
} hconn_t;

/* Body states handed to Lua (index = framing; -1 = done). */
static const char *const body_names[] = {"none", "length", "chunked", "eof"};

/* The connection at argument 1. Methods carry the metatable as upvalue 2:
 * comparing against it costs far less than luaL_checkudata's lookup by
 * name (this runs for every request). */
static hconn_t *conn_check(lua_State *L) {
  hconn_t *c = lua_touserdata(L, 1);
  if (c == NULL || !lua_getmetatable(L, 1) ||
      !lua_rawequal(L, -1, lua_upvalueindex(2)))
    luaL_typeerror(L, 1, MT_CONN);
  lua_pop(L, 1);
  return c;
}

/* The stream of the connection at argument 1, or NULL once closed. */
static tide__stream_t *conn_stream(lua_State *L) {
  return *((hconn_t *)lua_touserdata(L, 1))->slot;
}

static int conn_flush(hconn_t *c, tide__stream_t *s);

/* Keys of the message table, interned once (upvalue 3: an array of them):
 * lua_setfield would hash its C string each time. */
enum {
  K_HEADERS = 1,
  K_CONN,
  K_CHUNKED,
  K_METHOD,
  K_TARGET,
  K_PATH,
  K_QUERY,
  K_STATUS,
  K_REASON,
  K_VERSION,
  K_KEEP_ALIVE,
  K_UPGRADE,
  K_EXPECT,
  K_CONTENT_LENGTH,
  K_MULTI,
  K_NKEYS
};
static const char *const key_names[K_NKEYS] = {
    NULL,      "headers", "_conn",          "_chunked", "method",  "target",
    "path",    "query",   "status",         "reason",   "version", "keep_alive",
    "upgrade", "expect",  "content_length", "multi"};

/* t[key] = the value at the top (popped); t is an absolute index. */
static void set_key(lua_State *L, int t, int key) {
  lua_rawgeti(L, lua_upvalueindex(3), key);
  lua_insert(L, -2);
  lua_rawset(L, t);
}

static uint64_t opt_uint(lua_State *L, int t, const char *key, uint64_t def,
                         uint64_t max) {
  lua_Integer v;
  int isnum;
  if (lua_getfield(L, t, key) == LUA_TNIL) {
    lua_pop(L, 1);
    return def;
  }
  v = lua_tointegerx(L, -1, &isnum);
  if (!isnum || v < 0 || (uint64_t)v > max)
    luaL_error(L, "tide.http: option '%s': integer 0-%I expected", key,
               (lua_Integer)max);
  lua_pop(L, 1);
  return (uint64_t)v;
}

static uint64_t opt_ns(lua_State *L, int t, const char *key, double def) {
  lua_Number v = def;
  if (lua_getfield(L, t, key) != LUA_TNIL) {
    if (!lua_isnumber(L, -1))
      luaL_error(L, "tide.http: option '%s': seconds expected", key);
    v = lua_tonumber(L, -1);
    if (!(v >= 0)) luaL_error(L, "tide.http: option '%s': must be >= 0", key);
  }
  lua_pop(L, 1);
  return v > 1e9 ? 0 : (uint64_t)(v * 1e9);
}

static void conn_reset_head(hconn_t *c) {
  tide__h1_init(&c->p, c->response, c->fields, c->max_fields);
  c->p.max_line = c->max_line;
  c->p.max_head = c->max_head;
  c->p.head_request = c->head_request;
  c->started = 0;
}

/* core._http.conn(stream, opts) -> conn. opts (checked by the facade):
 * response, max_line, max_head, max_fields, max_body (bytes; 0: none),
 * idle_timeout, header_timeout, body_timeout (seconds; 0: none),
 * message_mt and headers_mt (metatables given to each message and its
 * headers table, or nil). */
static int l_conn_new(lua_State *L) {
  unsigned nf;
  hconn_t *c;
  tide__lua_checkstream(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  nf = (unsigned)opt_uint(L, 2, "max_fields", TIDE__H1_MAX_FIELDS, 10000);
  if (nf == 0) nf = 1;
  c = lua_newuserdatauv(L, sizeof(*c) + nf * sizeof(tide__h1_field_t), 3);
  memset(c, 0, sizeof(*c));
  c->fields = (tide__h1_field_t *)(c + 1);
  c->max_fields = nf;
  c->max_line = (size_t)opt_uint(L, 2, "max_line", TIDE__H1_MAX_LINE, 1 << 24);
  c->max_head = (size_t)opt_uint(L, 2, "max_head", TIDE__H1_MAX_HEAD, 1 << 24);
  c->max_body = opt_uint(L, 2, "max_body", 1 << 20, (uint64_t)1 << 52);
  c->idle_ns = opt_ns(L, 2, "idle_timeout", 0);
  c->header_ns = opt_ns(L, 2, "header_timeout", 0);
  c->body_ns = opt_ns(L, 2, "body_timeout", 0);
  lua_getfield(L, 2, "response");
  c->response = lua_toboolean(L, -1);
  lua_pop(L, 1);
  c->body = -1;
  c->slot = tide__lua_streamslot(L, 1);
  conn_reset_head(c);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  lua_getfield(L, 2, "message_mt");
  lua_setiuservalue(L, -2, 2);
  lua_getfield(L, 2, "headers_mt");
  lua_setiuservalue(L, -2, 3);
  luaL_setmetatable(L, MT_CONN);
  return 1;
}

/* conn:expect_head(head_request): the next response answers a HEAD
 * request (no body whatever its fields say) or not. */
static int l_conn_expect_head(lua_State *L) {
  hconn_t *c = conn_check(L);
  c->head_request = lua_toboolean(L, 2);
  c->p.head_request = c->head_request;
  return 0;
}

/* conn:stream() -> the connection's stream object. */
static int l_conn_stream(lua_State *L) {
  conn_check(L);
  lua_getiuservalue(L, 1, 1);
  return 1;
}

/* conn:set_max_body(n): the body limit from the next read on (0: none). */
static int l_conn_set_max_body(lua_State *L) {
  hconn_t *c = conn_check(L);
  lua_Integer n = luaL_checkinteger(L, 2);
  luaL_argcheck(L, n >= 0, 2, "negative size");
  c->max_body = (uint64_t)n;
  return 0;
}

/* ------------------------------------------------------------ heads */

/* Pushes b[0, n) lowercased. */
static void push_lower(lua_State *L, const char *b, size_t n) {
  char tmp[64];
  size_t i;
  luaL_Buffer lb;
  char *d = n <= sizeof(tmp) ? tmp : luaL_buffinitsize(L, &lb, n);
  for (i = 0; i < n; i++) {
    char ch = b[i];
    d[i] = ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
  }
  if (n <= sizeof(tmp))
    lua_pushlstring(L, tmp, n);
  else
    luaL_pushresultsize(&lb, n);
}

/* Adds the fields to the table at t: headers[lower] = value, repeated ones
 * joined with ", " and listed in multi[lower] (made on demand at m). */
static void push_fields(lua_State *L, hconn_t *c, const char *b, int t) {
  unsigned i;
  int m = 0;
  luaL_checkstack(L, 8, NULL);
  for (i = 0; i < c->p.nfields; i++) {
    const tide__h1_field_t *f = &c->fields[i];
    push_lower(L, b + f->name, f->name_len);        /* name */
    lua_pushlstring(L, b + f->value, f->value_len); /* name value */
    lua_pushvalue(L, -2);
    if (lua_rawget(L, t) == LUA_TNIL) { /* name value old */
      lua_pop(L, 1);
      lua_rawset(L, t);
      continue;
    }
    if (m == 0) {
      lua_newtable(L);
      lua_pushvalue(L, -1);
      set_key(L, t - 1, K_MULTI); /* t - 1: the message table */
      lua_replace(L, t - 2);      /* the slot kept free for it */
      m = t - 2;
    }
    /* multi[name] = {old, ..., value}; headers[name] = old .. ", " .. value */
    lua_pushvalue(L, -3);
    if (lua_rawget(L, m) == LUA_TNIL) { /* n v old nil */
      lua_pop(L, 1);
      lua_createtable(L, 4, 0);
      lua_pushvalue(L, -2);
      lua_rawseti(L, -2, 1);
      lua_pushvalue(L, -4);
      lua_pushvalue(L, -2);
      lua_rawset(L, m);
    }
    lua_pushvalue(L, -3); /* n v old list v */
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    lua_pop(L, 1); /* n v old */
    lua_pushliteral(L, ", ");
    lua_pushvalue(L, -3);
    lua_concat(L, 3); /* n v joined */
    lua_remove(L, -2);
    lua_rawset(L, t);
  }
}

/* Pushes the message whose head is the first r bytes at b. */
static void push_message(lua_State *L, hconn_t *c, const char *b, int r) {
  tide__h1_parser_t *p = &c->p;
  int t, m;
  lua_pushnil(L);            /* slot for multi, filled on demand */
  lua_createtable(L, 0, 12); /* the message */
  m = lua_gettop(L);
  lua_createtable(L, 0, (int)p->nfields);
  t = lua_gettop(L);
  push_fields(L, c, b, t);
  if (lua_getiuservalue(L, 1, 3) == LUA_TTABLE)
    lua_setmetatable(L, -2);
  else
    lua_pop(L, 1);
  set_key(L, m, K_HEADERS);
  lua_pushvalue(L, 1);
  set_key(L, m, K_CONN);
  if (p->body == TIDE__H1_BODY_CHUNKED) {
    lua_pushboolean(L, 1);
    set_key(L, m, K_CHUNKED);
  }
  if (!p->response) {
    const char *tg = b + p->target, *q = memchr(tg, '?', p->target_len);
    lua_pushlstring(L, b + p->method, p->method_len);
    set_key(L, m, K_METHOD);
    lua_pushlstring(L, tg, p->target_len);
    if (q == NULL) lua_pushvalue(L, -1);
    set_key(L, m, K_TARGET);
    if (q != NULL) {
      lua_pushlstring(L, tg, (size_t)(q - tg));
      set_key(L, m, K_PATH);
      lua_pushlstring(L, q + 1, p->target_len - (size_t)(q - tg) - 1);
      set_key(L, m, K_QUERY);
    } else {
      set_key(L, m, K_PATH); /* the target's copy left on the stack */
    }
  } else {
    lua_pushinteger(L, p->status);
    set_key(L, m, K_STATUS);
    lua_pushlstring(L, b + p->reason, p->reason_len);
    set_key(L, m, K_REASON);
  }
  lua_pushstring(L, p->minor ? "1.1" : "1.0");
  set_key(L, m, K_VERSION);
  lua_pushboolean(L, p->keep_alive);
  set_key(L, m, K_KEEP_ALIVE);
  if (p->upgrade) {
    lua_pushboolean(L, 1);
    set_key(L, m, K_UPGRADE);
  }
  if (p->expect != TIDE__H1_EXPECT_NONE) {
    lua_pushstring(L, p->expect == TIDE__H1_EXPECT_CONTINUE ? "100-continue"
                                                            : "other");
    set_key(L, m, K_EXPECT);
  }
  if (p->body == TIDE__H1_BODY_LENGTH) {
    lua_pushinteger(L, (lua_Integer)p->content_length);
    set_key(L, m, K_CONTENT_LENGTH);
  }
  if (lua_getiuservalue(L, 1, 2) == LUA_TTABLE)
    lua_setmetatable(L, -2);
  else
    lua_pop(L, 1);
  lua_remove(L, -2); /* the multi slot */
  (void)r;
}

static int head_k(lua_State *L, int status, lua_KContext ctx);

/* Suspends the task until the stream has what mode/need ask for (see
 * tide__stream_wait_read), with a read timeout of timeout_ns (0: none),
 * continuing in k with the first nargs arguments kept. Shared by heads
 * and bodies. */
static int conn_wait(lua_State *L, tide__stream_t *s, int mode, size_t need,
                     uint64_t timeout_ns, int nargs, lua_KFunction k) {
  if (s->rfut.state == TIDE__PENDING)
    return luaL_error(L, "tide: another task is already reading from this "
                         "stream");
  if (timeout_ns != 0 && tide__stream_ext(s) == NULL)
    return tide__lua_fail(L, TIDE_ENOMEM, NULL);
  tide__lua_await_begin(L);
  tide__stream_wait_read_for(s, mode, need, NULL, 0, timeout_ns);
  lua_settop(L, nargs);
  return tide__lua_await_yield(L, &s->rfut, 0, k);
}

/* The start of every continuation: raises a cancellation, then returns
 * the connection's stream (NULL once it is closed). */
static tide__stream_t *conn_resume(lua_State *L) {
  tide__lua_check_wake(L);
  return conn_stream(L);
}

/* Waits for more bytes of the head (or the first one): the keep-alive
 * idle time before its first byte, what is left of the head's deadline
 * after. */
static int head_wait(lua_State *L, hconn_t *c, tide__stream_t *s) {
  uint64_t now = tide__loop_now(tide__stream_loop(s)), wait;
  int err = conn_flush(c, s); /* held responses go out before we wait */
  if (err != 0) return tide__lua_fail(L, err, NULL);
  if (!c->started)
    wait = c->idle_ns;
  else if (c->deadline == 0)
    wait = 0;
  else
    wait = c->deadline > now ? c->deadline - now : 1;
  return conn_wait(L, s, TIDE__REXACT, tide__stream_buffered(s) + 1, wait, 1,
                   head_k);
}

/* Tries to parse a head from the buffer: pushes the results and returns
 * their count, or returns -1 when it must wait. */
static int head_try(lua_State *L, hconn_t *c, tide__stream_t *s) {
  size_t n = tide__stream_buffered(s);
  const char *b = tide__stream_data(s);
  int r;
  if (c->body != -1 && c->body != TIDE__H1_BODY_NONE)
    return luaL_error(L, "tide.http: the previous message's body is unread");
  if (n > 0 && !c->started) {
    c->started = 1;
    c->deadline =
        c->header_ns ? tide__loop_now(tide__stream_loop(s)) + c->header_ns : 0;
  }
  r = n > 0 ? tide__h1_parse(&c->p, b, n) : TIDE__H1_INCOMPLETE;
  if (r >= 0) {
    push_message(L, c, b, r);
    c->body = c->p.body;
    c->left = c->p.content_length;
    c->body_read = 0;
    if (c->body == TIDE__H1_BODY_CHUNKED) tide__h1_chunked_init(&c->ch);
    if (c->body == TIDE__H1_BODY_LENGTH && c->left == 0)
      c->body = TIDE__H1_BODY_NONE;
    tide__stream_consume(s, (size_t)r);
    conn_reset_head(c);
    return 1;
  }
  if (r != TIDE__H1_INCOMPLETE) {
    lua_pushboolean(L, 0);
    lua_pushinteger(L, tide__h1_status(r));
    lua_pushstring(L, tide__h1_strerror(r));
    return 3;
  }
  if (s->rerr == UV_EOF && n == 0) {
    lua_pushnil(L);
    return 1;
  }
  if (s->rerr != 0) {
    if (s->rerr == UV_EOF)
      return tide__lua_fail(L, UV_EOF, "connection closed inside a head");
    return tide__lua_fail(L, s->rerr, NULL);
  }
  return -1;
}

static int head_k(lua_State *L, int status, lua_KContext ctx) {
  hconn_t *c = lua_touserdata(L, 1);
  tide__stream_t *s = conn_resume(L);
  int n;
  (void)status;
  (void)ctx;
  if (s == NULL) return tide__lua_fail(L, TIDE_ECLOSED, "stream is closed");
  n = head_try(L, c, s);
  if (n >= 0) return n;
  if (s->rtimedout) {
    s->rtimedout = 0;
    if (c->started && !c->response) {
      lua_pushboolean(L, 0);
      lua_pushinteger(L, 408);
      lua_pushliteral(L, "request head timeout");
      return 3;
    }
    return tide__lua_fail(L, UV_ETIMEDOUT, NULL);
  }
  return head_wait(L, c, s);
}

/* conn:read_head(): see the file's comment. Responses held back by
 * respond go out before it waits. */
static int l_conn_read_head(lua_State *L) {
  hconn_t *c = conn_check(L);
  tide__stream_t *s = conn_stream(L);
  int n;
  if (s == NULL) return tide__lua_fail(L, TIDE_ECLOSED, "stream is closed");
  n = head_try(L, c, s);
  return n >= 0 ? n : head_wait(L, c, s);
}

/* ------------------------------------------------------------ bodies */

static int body_k(lua_State *L, int status, lua_KContext ctx);

/* c->body after a failed body read: the connection cannot carry another
 * message. */
#define BODY_BROKEN (-2)

static int body_fail(lua_State *L, hconn_t *c, int err, const char *msg) {
  c->body = BODY_BROKEN;
  return tide__lua_fail(L, err, msg);
}

/* Hands out the next piece of the body from the buffer (at most max
 * bytes; 0: any): pushes it (or nil at the end) and returns the count of
 * values, or -1 to wait. */
static int body_try(lua_State *L, hconn_t *c, tide__stream_t *s, size_t max) {
  size_t n = tide__stream_buffered(s), take;
  const char *b = tide__stream_data(s);
  if (c->body == BODY_BROKEN)
    return tide__lua_fail(L, UV_EPROTO, "the body could not be read");
  if (c->body == -1 || c->body == TIDE__H1_BODY_NONE) {
    c->body = -1;
    lua_pushnil(L);
    return 1;
  }
  if (c->body == TIDE__H1_BODY_LENGTH && c->max_body &&
      c->left + c->body_read > c->max_body)
    return body_fail(L, c, UV_EMSGSIZE, "body larger than max_body");
  while (n > 0) {
    size_t off = 0;
    if (c->body == TIDE__H1_BODY_CHUNKED) {
      size_t dl;
      long r = tide__h1_chunked(&c->ch, b, n, &off, &dl);
      if (r < 0) return body_fail(L, c, UV_EPROTO, tide__h1_strerror((int)r));
      if (dl == 0) {
        tide__stream_consume(s, (size_t)r);
        if (tide__h1_chunked_done(&c->ch)) {
          c->body = -1;
          lua_pushnil(L);
          return 1;
        }
        n = tide__stream_buffered(s);
        b = tide__stream_data(s);
        continue;
      }
      take = dl;
      if (max && take > max) take = max;
      if (dl > take) tide__h1_chunked_unread(&c->ch, dl - take);
    } else {
      take = n;
      if (c->body == TIDE__H1_BODY_LENGTH && (uint64_t)take > c->left)
        take = (size_t)c->left;
      if (max && take > max) take = max;
      c->left -= take;
    }
    if (c->max_body && c->body_read + take > c->max_body)
      return body_fail(L, c, UV_EMSGSIZE, "body larger than max_body");
    c->body_read += take;
    lua_pushlstring(L, b + off, take);
    tide__stream_consume(s, off + take);
    if (c->body == TIDE__H1_BODY_LENGTH && c->left == 0)
      c->body = TIDE__H1_BODY_NONE; /* the next read answers nil */
    return 1;
  }
  if (s->rerr == UV_EOF && c->body == TIDE__H1_BODY_EOF) {
    c->body = -1;
    lua_pushnil(L);
    return 1;
  }
  if (s->rerr != 0)
    return body_fail(L, c, s->rerr,
                     s->rerr == UV_EOF ? "connection closed inside a body"
                                       : NULL);
  return -1;
}

static int body_wait(lua_State *L, hconn_t *c, tide__stream_t *s) {
  return conn_wait(L, s, TIDE__RANY, 0, c->body_ns, 2, body_k);
}

static int body_k(lua_State *L, int status, lua_KContext ctx) {
  hconn_t *c = lua_touserdata(L, 1);
  tide__stream_t *s = conn_resume(L);
  int n;
  (void)status;
  (void)ctx;
  if (s == NULL) return tide__lua_fail(L, TIDE_ECLOSED, "stream is closed");
  n = body_try(L, c, s, (size_t)lua_tointeger(L, 2));
  if (n >= 0) return n;
  if (s->rtimedout) {
    s->rtimedout = 0;
    return body_fail(L, c, UV_ETIMEDOUT, "body read timed out");
  }
  return body_wait(L, c, s);
}

/* conn:read_body([max]) -> the next piece of the body (chunked framing
 * removed), nil at its end; nil, err, name on failure (EMSGSIZE past
 * max_body, EPROTO for a malformed chunked body, ETIMEDOUT). */
static int l_conn_read_body(lua_State *L) {
  hconn_t *c = conn_check(L);
  lua_Integer max = luaL_optinteger(L, 2, 0);
  tide__stream_t *s = conn_stream(L);
  int n;
  luaL_argcheck(L, max >= 0, 2, "negative size");
  if (s == NULL) return tide__lua_fail(L, TIDE_ECLOSED, "stream is closed");
  lua_settop(L, 2);
  n = body_try(L, c, s, (size_t)max);
  return n >= 0 ? n : body_wait(L, c, s);
}

/* conn:body_state() -> what is left of the current body: "none" (read to
 * its end, or there was none), "length", "chunked", "eof", or "broken" (a
 * read failed: the connection cannot go on); and the bytes handed out so
 * far. */
static int l_conn_body_state(lua_State *L) {
  hconn_t *c = conn_check(L);
  lua_pushstring(L, c->body == BODY_BROKEN ? "broken"
                    : c->body < 0          ? "none"
                                           : body_names[c->body]);
  lua_pushinteger(L, (lua_Integer)c->body_read);
  return 2;
}

/* ------------------------------------------------------------ responses */

/* Responses held back while more requests are buffered go out once this
 * much is held. */
#define HOLD_MAX (64 * 1024)

/* Sends what the connection held back. Returns 0 or an error. */
static int conn_flush(hconn_t *c, tide__stream_t *s) {
  int err = 0;
  if (c->olen == 0) return 0;
  if (s != NULL) err = tide__stream_write(s, c->out, c->olen);
  c->olen = 0;
  if (c->ocap > HOLD_MAX) { /* a burst's buffer is given back */
    free(c->out);
    c->out = NULL;
    c->ocap = 0;
  }
  return err;
}

/* The IMF-fixdate of now (RFC 9110 5.6.7), made once per second per
 * connection, without strftime (whose names follow the locale). */
static const char *conn_date(hconn_t *c) {
  static const char days[] = "SunMonTueWedThuFriSat";
  static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  time_t now = time(NULL);
  struct tm tm;
  if (now == c->date_t && c->date[0] != 0) return c->date;
  gmtime_r(&now, &tm);
  snprintf(c->date, sizeof(c->date), "%.3s, %02d %.3s %04d %02d:%02d:%02d GMT",
           days + 3 * tm.tm_wday, tm.tm_mday, months + 3 * tm.tm_mon,
           tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  c->date_t = now;
  return c->date;
}

/* conn:respond(first_line, headers, body, conn) -> true, drain |
 * false, message | nil, err, name: a whole response with
 * Content-Length: #body and a Date field (headers and conn as
 * core._http.head takes them; a headers value that is not a table or a
 * body that is not a string answer false, message; a bad field raises).
 * While the next request is already buffered (pipelining) and the
 * connection stays open, it is held back, to go out in one write with the
 * next responses (at the latest when read_head would wait, or when 64 KiB
 * are held); otherwise it is written at once with whatever was held.
 * drain: the write queue is above its high-water mark (the caller should
 * s:drain()). No Lua string is made of the response. */
static int l_conn_respond(lua_State *L) {
  hconn_t *c = conn_check(L);
  tide__stream_t *s = conn_stream(L);
  size_t bl = 0;
  tide__lua_head_t h;
  int err;
  lua_settop(L, 5);
  if (s == NULL) return tide__lua_fail(L, TIDE_ECLOSED, "stream is closed");
  if (!lua_isnil(L, 3) && !lua_istable(L, 3)) {
    lua_pushboolean(L, 0);
    lua_pushliteral(L, "the handler returned headers that are not a table");
    return 2;
  }
  if (!lua_isnil(L, 4) && lua_type(L, 4) != LUA_TSTRING) {
    lua_pushboolean(L, 0);
    lua_pushliteral(L, "the handler returned a body that is not a string");
    return 2;
  }
  if (!lua_isnil(L, 4)) lua_tolstring(L, 4, &bl);
  tide__lua_head_prepare(L, &h, 2, 3, 5, conn_date(c), TIDE__H1_BODY_LENGTH, bl,
                         4);
  if (c->olen + h.total > c->ocap) {
    size_t cap = c->ocap ? c->ocap : 4096;
    char *p;
    while (cap < c->olen + h.total)
      cap *= 2;
    p = realloc(c->out, cap);
    if (p == NULL) return tide__lua_fail(L, TIDE_ENOMEM, NULL);
    c->out = p;
    c->ocap = cap;
  }
  tide__lua_head_write(L, &h, c->out + c->olen);
  c->olen += h.total;
  /* Held only while another request is here and the connection stays. */
  if (tide__stream_buffered(s) == 0 ||
      (lua_type(L, 5) == LUA_TBOOLEAN && lua_toboolean(L, 5)) ||
      c->olen >= HOLD_MAX) {
    err = conn_flush(c, s);
    if (err != 0) return tide__lua_fail(L, err, NULL);
  }
  lua_pushboolean(L, 1);
  lua_pushboolean(L, s->wqueued > tide__stream_high(s));
  return 2;
}

/* conn:flush() -> true | nil, err, name: sends what respond held back
 * (before any other write of the connection, and before it closes). */
static int l_conn_flush(lua_State *L) {
  hconn_t *c = conn_check(L);
  int err = conn_flush(c, conn_stream(L));
  if (err != 0) return tide__lua_fail(L, err, NULL);
  lua_pushboolean(L, 1);
  return 1;
}

static int l_conn_gc(lua_State *L) {
  hconn_t *c = lua_touserdata(L, 1);
  free(c->out);
  c->out = NULL;
  c->olen = c->ocap = 0;
  return 0;
}

static const luaL_Reg conn_methods[] = {{"read_head", l_conn_read_head},
                                        {"read_body", l_conn_read_body},
                                        {"body_state", l_conn_body_state},
                                        {"expect_head", l_conn_expect_head},
                                        {"set_max_body", l_conn_set_max_body},
                                        {"respond", l_conn_respond},
                                        {"stream", l_conn_stream},
                                        {"flush", l_conn_flush},
                                        {NULL, NULL}};

static const luaL_Reg funcs[] = {{"conn", l_conn_new}, {NULL, NULL}};

/* Adds module._http to the module table at the top of L; the runtime box
 * is at the top - 1. */
void tide__lua_open_http(lua_State *L, tide_runtime_t *rt) {
  int i;
  (void)rt;
  luaL_newmetatable(L, MT_CONN);  /* box, module, mt */
  lua_newtable(L);                /* methods */
  lua_pushvalue(L, -4);           /* upvalue 1: the runtime box */
  lua_pushvalue(L, -3);           /* upvalue 2: the metatable */
  lua_createtable(L, K_NKEYS, 0); /* upvalue 3: the message keys */
  for (i = 1; i < K_NKEYS; i++) {
    lua_pushstring(L, key_names[i]);
    lua_rawseti(L, -2, i);
  }
  luaL_setfuncs(L, conn_methods, 3);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_conn_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  lua_newtable(L);
  lua_pushvalue(L, -3);
  luaL_setfuncs(L, funcs, 1);
  tide__lua_open_http_head(L); /* head(), chunk(): lhead.c */
  lua_setfield(L, -2, "_http");
}
