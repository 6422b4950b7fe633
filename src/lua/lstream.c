/* Lua binding of byte streams: the methods every TCP connection, Unix
 * socket, pipe and TTY shares.
 *
 * A stream object is a userdata holding a pointer to the C stream; the
 * pointer is cleared when the stream closes (by close(), <close>, __gc or
 * the runtime's close), so a closed stream's methods answer ECLOSED and
 * never touch freed memory.
 *
 * Results: data, or nil at EOF (read, readline); I/O failures return
 * nil, "ECONNRESET: connection reset by peer", "ECONNRESET" and, where
 * some bytes had arrived, those bytes as a fourth value. Misuse raises.
 *
 * Cancelling a task that waits in a read consumes nothing: every byte
 * stays buffered for the next read. Cancelling a writer waiting for the
 * queue to drain leaves its data queued (it will be sent). The read and
 * write paths allocate nothing but the Lua strings they return. */
#include <string.h>

#include "../tide_tls.h"

typedef struct {
  tide__stream_t *s; /* NULL once closed */
} lstream_t;

/* Read operations (the continuation's context). */
enum { OP_READ, OP_EXACT, OP_LINE, OP_UNTIL };

/* ------------------------------------------------------------ helpers */

int tide__lua_fail(lua_State *L, int err, const char *msg) {
  const char *name = tide_err_name(err);
  lua_pushnil(L);
  lua_pushfstring(L, "%s: %s", name, msg ? msg : tide_strerror(err));
  lua_pushstring(L, name);
  return 3;
}

static int stream_closed(lua_State *L) {
  return tide__lua_fail(L, TIDE_ECLOSED, "stream is closed");
}

/* A failure of s: a TLS error carries the engine's reason. */
static int stream_fail(lua_State *L, tide__stream_t *s, int err) {
  return tide__lua_fail(L, err, tide__stream_errmsg(s, err));
}

/* The stream at argument 1. Methods carry the metatable as upvalue 2:
 * comparing against it is much cheaper than luaL_checkudata's registry
 * lookup by name, and this runs twice per echoed message. */
static lstream_t *stream_check(lua_State *L) {
  lstream_t *box = lua_touserdata(L, 1);
  if (box == NULL || !lua_getmetatable(L, 1)) goto bad;
  if (!lua_rawequal(L, -1, lua_upvalueindex(2))) goto bad;
  lua_pop(L, 1);
  return box;
bad:
  luaL_typeerror(L, 1, TIDE__MT_STREAM);
  return NULL;
}

uint64_t tide__lua_opt_seconds(lua_State *L, int t, const char *key) {
  lua_Number v;
  uint64_t ns = 0;
  if (lua_getfield(L, t, key) != LUA_TNIL) {
    if (!lua_isnumber(L, -1))
      luaL_error(L, "option '%s': number of seconds expected", key);
    v = lua_tonumber(L, -1);
    if (!(v >= 0)) luaL_error(L, "option '%s': must be >= 0", key);
    ns = v > 1e9 ? 0 : (uint64_t)(v * 1e9);
    if (v > 0 && ns == 0 && v <= 1e9) ns = 1;
  }
  lua_pop(L, 1);
  return ns;
}

static int opt_size(lua_State *L, int t, const char *key, size_t *out) {
  int isnum;
  lua_Integer v;
  if (lua_getfield(L, t, key) == LUA_TNIL) {
    lua_pop(L, 1);
    return 0;
  }
  v = lua_tointegerx(L, -1, &isnum);
  if (!isnum || v < 0)
    luaL_error(L, "option '%s': non-negative integer expected", key);
  *out = (size_t)v;
  lua_pop(L, 1);
  return 1;
}

void tide__lua_stream_options(lua_State *L, int idx, tide__stream_t *s) {
  size_t high = tide__stream_high(s), low = tide__stream_low(s);
  size_t max_line = tide__stream_max_line(s);
  int has_line, has_high, has_low;
  tide__stream_ext_t *x;
  if (idx == 0 || lua_isnoneornil(L, idx)) return;
  luaL_checktype(L, idx, LUA_TTABLE);
  if (lua_getfield(L, idx, "read_timeout") != LUA_TNIL &&
      tide__stream_set_rtimeout(
          s, tide__lua_opt_seconds(L, idx, "read_timeout")) != 0)
    luaL_error(L, "not enough memory");
  lua_pop(L, 1);
  if (lua_getfield(L, idx, "write_timeout") != LUA_TNIL &&
      tide__stream_set_wtimeout(
          s, tide__lua_opt_seconds(L, idx, "write_timeout")) != 0)
    luaL_error(L, "not enough memory");
  lua_pop(L, 1);
  if (lua_getfield(L, idx, "nodelay") != LUA_TNIL && s->kind == TIDE__TCP)
    uv_tcp_nodelay(&s->u.tcp, lua_toboolean(L, -1));
  lua_pop(L, 1);
  has_line = opt_size(L, idx, "max_line", &max_line);
  if (has_line && max_line == 0)
    luaL_error(L, "option 'max_line': must be > 0");
  has_high = opt_size(L, idx, "high_water", &high);
  has_low = opt_size(L, idx, "low_water", &low);
  if (!has_low && low > high) low = high / 4;
  if (low > high) luaL_error(L, "option 'low_water': above 'high_water'");
  /* A stream whose limits are the defaults keeps them without an ext (an
   * accepted connection's server options rarely set one). */
  if (!has_line && !has_high && !has_low) return;
  if ((x = tide__stream_ext(s)) == NULL) luaL_error(L, "not enough memory");
  x->max_line = max_line;
  x->high = high;
  x->low = low;
  /* Read ahead at least as much as a line may need. */
  if (x->rlimit < max_line + 64) x->rlimit = max_line + 64;
}

tide__stream_t *tide__lua_checkstream(lua_State *L, int idx) {
  lstream_t *box = luaL_checkudata(L, idx, TIDE__MT_STREAM);
  return box->s;
}

void tide__lua_pushstream(lua_State *L, tide__stream_t *s) {
  lstream_t *box = lua_newuserdatauv(L, sizeof(*box), 0);
  box->s = s;
  s->slot = &box->s;
  luaL_setmetatable(L, TIDE__MT_STREAM);
}

tide__stream_t **tide__lua_streamslot(lua_State *L, int idx) {
  lstream_t *box = luaL_checkudata(L, idx, TIDE__MT_STREAM);
  return &box->s;
}

/* Can the running code wait (a task, not across a C boundary)? */
static int stream_can_wait(lua_State *L) {
  tide_runtime_t *rt = tide__runtime_from(L);
  return rt->current != NULL && lua_isyieldable(L);
}

/* ------------------------------------------------------------ reading */

/* Pushes the failure err with the n buffered bytes as partial data
 * (consumed). */
static int read_fail_partial(lua_State *L, tide__stream_t *s, int err) {
  size_t n = tide__stream_buffered(s);
  stream_fail(L, s, err);
  lua_pushlstring(L, tide__stream_data(s), n);
  tide__stream_consume(s, n);
  return 4;
}

static int read_too_long(lua_State *L, tide__stream_t *s) {
  char msg[64];
  snprintf(msg, sizeof(msg), "line longer than %zu bytes",
           tide__stream_max_line(s));
  return tide__lua_fail(L, UV_EMSGSIZE, msg);
}

/* Serves read operation op from the buffer: returns the count of values
 * pushed, or -1 when the reader must wait. Arguments are at 2 and 3. */
static int read_try(lua_State *L, tide__stream_t *s, int op) {
  size_t n = tide__stream_buffered(s), len, seplen;
  const char *base = tide__stream_data(s), *sep;
  long pos;
  switch (op) {
  case OP_READ:
    if (n > 0) {
      lua_Integer max = luaL_optinteger(L, 2, 0);
      len = max > 0 && (size_t)max < n ? (size_t)max : n;
      lua_pushlstring(L, base, len);
      tide__stream_consume(s, len);
      return 1;
    }
    if (s->rerr == UV_EOF) {
      lua_pushnil(L);
      return 1;
    }
    if (s->rerr != 0) return stream_fail(L, s, s->rerr);
    return -1;
  case OP_EXACT:
    len = (size_t)lua_tointeger(L, 2);
    if (n >= len) {
      lua_pushlstring(L, base, len);
      tide__stream_consume(s, len);
      return 1;
    }
    if (s->rerr != 0) return read_fail_partial(L, s, s->rerr);
    return -1;
  default:
    if (op == OP_LINE) {
      sep = "\n";
      seplen = 1;
    } else {
      sep = lua_tolstring(L, 2, &seplen);
    }
    pos = tide__stream_find(s, sep, seplen);
    if (pos >= 0) {
      if ((size_t)pos > tide__stream_max_line(s)) return read_too_long(L, s);
      len = (size_t)pos;
      if (lua_toboolean(L, 3)) len += seplen; /* keep the separator */
      else if (op == OP_LINE && len > 0 && base[len - 1] == '\r') len--;
      lua_pushlstring(L, base, len);
      tide__stream_consume(s, (size_t)pos + seplen);
      return 1;
    }
    if (n >= tide__stream_max_line(s) + seplen) return read_too_long(L, s);
    if (s->rerr == UV_EOF && op == OP_LINE) {
      /* The last line may lack its newline, as with io.lines. */
      if (n == 0) {
        lua_pushnil(L);
        return 1;
      }
      if (n > tide__stream_max_line(s)) return read_too_long(L, s);
      lua_pushlstring(L, base, n);
      tide__stream_consume(s, n);
      return 1;
    }
    if (s->rerr != 0) return read_fail_partial(L, s, s->rerr);
    return -1;
  }
}

static int read_k(lua_State *L, int status, lua_KContext ctx);

/* Waits for what operation op needs. */
static int read_wait(lua_State *L, tide__stream_t *s, int op) {
  const char *sep = NULL;
  size_t seplen = 0;
  if (s->rfut.state == TIDE__PENDING)
    return luaL_error(L, "tide: another task is already reading from this "
                         "stream");
  tide__lua_await_begin(L);
  if (op == OP_LINE) {
    sep = "\n";
    seplen = 1;
  } else if (op == OP_UNTIL) {
    sep = lua_tolstring(L, 2, &seplen);
  }
  tide__stream_wait_read(s, op == OP_READ ? TIDE__RANY
                            : op == OP_EXACT ? TIDE__REXACT : TIDE__RSEP,
                         op == OP_EXACT ? (size_t)lua_tointeger(L, 2) : 0, sep,
                         seplen);
  return tide__lua_await_yield(L, &s->rfut, op, read_k);
}

static int read_k(lua_State *L, int status, lua_KContext ctx) {
  lstream_t *box = lua_touserdata(L, 1);
  tide__stream_t *s;
  int n;
  (void)status;
  tide__lua_check_wake(L);
  s = box->s;
  if (s == NULL) return stream_closed(L);
  n = read_try(L, s, (int)ctx);
  if (n >= 0) return n;
  if (s->rtimedout) {
    s->rtimedout = 0;
    return tide__lua_fail(L, UV_ETIMEDOUT, NULL);
  }
  return read_wait(L, s, (int)ctx);
}

static int read_op(lua_State *L, tide__stream_t *s, int op) {
  int n;
  if (s == NULL) return stream_closed(L);
  n = read_try(L, s, op);
  return n >= 0 ? n : read_wait(L, s, op);
}

/* s:read([max]) -> what is buffered or next arrives, at most max bytes
 * (default: all of it); nil at EOF. */
static int l_stream_read(lua_State *L) {
  lstream_t *box = stream_check(L);
  if (!lua_isnoneornil(L, 2)) luaL_checkinteger(L, 2);
  lua_settop(L, 2);
  return read_op(L, box->s, OP_READ);
}

/* s:readexactly(n) -> n bytes; at EOF or on error first: nil, err, name,
 * the partial bytes. */
static int l_stream_readexactly(lua_State *L) {
  lstream_t *box = stream_check(L);
  lua_Integer n = luaL_checkinteger(L, 2);
  luaL_argcheck(L, n >= 0, 2, "negative count");
  lua_settop(L, 2);
  return read_op(L, box->s, OP_EXACT);
}

/* s:readline([keep]) -> the next line without "\n" (nor a "\r" before it)
 * unless keep; the last line may lack its newline; nil at EOF. Lines
 * longer than the stream's max_line fail with EMSGSIZE (nothing
 * consumed). */
static int l_stream_readline(lua_State *L) {
  lstream_t *box = stream_check(L);
  lua_settop(L, 2);
  lua_pushvalue(L, 2); /* keep is argument 3, as for readuntil */
  return read_op(L, box->s, OP_LINE);
}

/* s:readuntil(sep [, keep]) -> the bytes before sep (sep consumed, and
 * included if keep). EOF first: nil, err, name, partial. */
static int l_stream_readuntil(lua_State *L) {
  lstream_t *box = stream_check(L);
  size_t seplen;
  luaL_checklstring(L, 2, &seplen);
  luaL_argcheck(L, seplen > 0, 2, "empty separator");
  lua_settop(L, 3);
  return read_op(L, box->s, OP_UNTIL);
}

/* ------------------------------------------------------------ writing */

static int write_k(lua_State *L, int status, lua_KContext epoch) {
  lstream_t *box = lua_touserdata(L, 1);
  tide__stream_t *s;
  (void)status;
  tide__lua_check_wake(L);
  s = box->s;
  if (s == NULL) return stream_closed(L);
  if (s->werr != 0) return stream_fail(L, s, s->werr);
  if (s->u.x->wtimedout == (uintptr_t)epoch && s->wqueued > s->u.x->wwake)
    return tide__lua_fail(L, UV_ETIMEDOUT, NULL);
  lua_pushboolean(L, 1);
  return 1;
}

static int write_wait(lua_State *L, tide__stream_t *s, size_t threshold) {
  uintptr_t epoch;
  if (tide__stream_ext(s) == NULL) return tide__lua_fail(L, TIDE_ENOMEM, NULL);
  tide__lua_await_begin(L);
  epoch = tide__stream_wait_write(s, threshold);
  return tide__lua_await_yield(L, &s->u.x->wfut, (lua_KContext)epoch, write_k);
}

/* s:write(data) -> true once data is sent or queued; waits while the queue
 * is above the high-water mark, until it is below the low one. */
static int l_stream_write(lua_State *L) {
  lstream_t *box = stream_check(L);
  size_t len;
  const char *p = luaL_checklstring(L, 2, &len);
  tide__stream_t *s = box->s;
  int err;
  if (s == NULL) return stream_closed(L);
  if (s->werr != 0) return stream_fail(L, s, s->werr);
  if (s->shut) return tide__lua_fail(L, UV_EPIPE, "stream was shut down");
  if (tide__stream_tls(s) != NULL && !tide__stream_tls_ready(s))
    return luaL_error(L, "tide: write during the TLS handshake");
  err = tide__stream_write(s, p, len);
  if (err != 0) return stream_fail(L, s, err);
  if (s->wqueued != 0 && s->wqueued > tide__stream_high(s) &&
      stream_can_wait(L)) {
    lua_settop(L, 1);
    return write_wait(L, s, tide__stream_low(s));
  }
  lua_pushboolean(L, 1);
  return 1;
}

/* s:drain() -> true once everything written has been handed to the
 * system. */
static int l_stream_drain(lua_State *L) {
  lstream_t *box = stream_check(L);
  tide__stream_t *s = box->s;
  if (s == NULL) return stream_closed(L);
  if (s->werr != 0) return stream_fail(L, s, s->werr);
  if (s->wqueued == 0) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_settop(L, 1);
  return write_wait(L, s, 0);
}

static int shutdown_k(lua_State *L, int status, lua_KContext ctx) {
  lstream_t *box = lua_touserdata(L, 1);
  (void)status;
  (void)ctx;
  tide__lua_check_wake(L);
  if (box->s == NULL) return stream_closed(L);
  if (box->s->u.x->serr != 0) return tide__lua_fail(L, box->s->u.x->serr, NULL);
  lua_pushboolean(L, 1);
  return 1;
}

/* s:shutdown() -> true once the queued data is sent and the write side is
 * closed (the peer reads EOF); reading goes on. */
static int l_stream_shutdown(lua_State *L) {
  lstream_t *box = stream_check(L);
  tide__stream_t *s = box->s;
  int can_wait, err;
  if (s == NULL) return stream_closed(L);
  can_wait = stream_can_wait(L);
  if (can_wait) tide__lua_await_begin(L);
  if (!s->shut) {
    err = tide__stream_shutdown(s);
    if (err != 0) return tide__lua_fail(L, err, NULL);
  }
  if (s->shut_done || !can_wait) return shutdown_k(L, 0, 0);
  lua_settop(L, 1);
  return tide__lua_await_yield(L, &s->u.x->sfut, 0, shutdown_k);
}

/* ------------------------------------------------------------ the rest */

/* s:close(): closes the stream at once for its user (idempotent): tasks
 * waiting on it wake with ECLOSED. Bytes already written but still queued
 * go out in the background before the socket closes (within 30 s; drain()
 * first to know they left). */
static int l_stream_close(lua_State *L) {
  lstream_t *box = luaL_checkudata(L, 1, TIDE__MT_STREAM);
  if (box->s != NULL) tide__stream_close_flush(box->s);
  lua_pushboolean(L, 1);
  return 1;
}

static int l_stream_closed(lua_State *L) {
  lstream_t *box = stream_check(L);
  lua_pushboolean(L, box->s == NULL);
  return 1;
}

/* Pushes host, port of a TCP address, or the path of a Unix socket. */
static int stream_name(lua_State *L, int peer) {
  lstream_t *box = stream_check(L);
  tide__stream_t *s = box->s;
  struct sockaddr_storage ss;
  char buf[512];
  size_t len = sizeof(buf);
  int err, port, sslen = sizeof(ss);
  if (s == NULL) return stream_closed(L);
  if (s->kind == TIDE__TCP) {
    err = peer ? uv_tcp_getpeername(&s->u.tcp, (struct sockaddr *)&ss, &sslen)
               : uv_tcp_getsockname(&s->u.tcp, (struct sockaddr *)&ss, &sslen);
    if (err != 0) return tide__lua_fail(L, err, NULL);
    port = tide__addr_name((struct sockaddr *)&ss, buf, sizeof(buf));
    lua_pushstring(L, buf);
    lua_pushinteger(L, port);
    return 2;
  }
  if (s->kind != TIDE__PIPE) return tide__lua_fail(L, UV_ENOTSUP, NULL);
  err = peer ? uv_pipe_getpeername(&s->u.pipe, buf, &len)
             : uv_pipe_getsockname(&s->u.pipe, buf, &len);
  if (err != 0) return tide__lua_fail(L, err, NULL);
  lua_pushlstring(L, buf, len);
  return 1;
}

/* s:peername() -> host, port (TCP) or path (Unix socket). */
static int l_stream_peername(lua_State *L) { return stream_name(L, 1); }
/* s:sockname() -> host, port (TCP) or path (Unix socket). */
static int l_stream_sockname(lua_State *L) { return stream_name(L, 0); }

static tide__stream_t *stream_check_tcp(lua_State *L) {
  lstream_t *box = stream_check(L);
  if (box->s != NULL && box->s->kind != TIDE__TCP)
    luaL_error(L, "tide: not a TCP stream");
  return box->s;
}

static int stream_result(lua_State *L, int err) {
  if (err != 0) return tide__lua_fail(L, err, NULL);
  lua_pushboolean(L, 1);
  return 1;
}

/* s:setnodelay(on): TCP_NODELAY (on by default). */
static int l_stream_setnodelay(lua_State *L) {
  tide__stream_t *s = stream_check_tcp(L);
  luaL_checkany(L, 2);
  if (s == NULL) return stream_closed(L);
  return stream_result(L, uv_tcp_nodelay(&s->u.tcp, lua_toboolean(L, 2)));
}

/* s:setkeepalive(on [, delay]): TCP keep-alive probes after delay idle
 * seconds (default 60). */
static int l_stream_setkeepalive(lua_State *L) {
  tide__stream_t *s = stream_check_tcp(L);
  lua_Integer delay = luaL_optinteger(L, 3, 60);
  luaL_checkany(L, 2);
  luaL_argcheck(L, delay >= 1 && delay <= 0x7fffffff, 3, "delay out of range");
  if (s == NULL) return stream_closed(L);
  return stream_result(L, uv_tcp_keepalive(&s->u.tcp, lua_toboolean(L, 2),
                                           (unsigned)delay));
}

/* s:setoptions{read_timeout=, write_timeout=, max_line=, high_water=,
 * low_water=}: timeouts in seconds (0: none). */
static int l_stream_setoptions(lua_State *L) {
  static const char *const known[] = {"read_timeout", "write_timeout",
                                      "max_line",     "high_water",
                                      "low_water",    "nodelay",
                                      NULL};
  lstream_t *box = stream_check(L);
  luaL_checktype(L, 2, LUA_TTABLE);
  tide__lua_check_options(L, 2, "stream:setoptions", known);
  if (box->s == NULL) return stream_closed(L);
  tide__lua_stream_options(L, 2, box->s);
  lua_pushboolean(L, 1);
  return 1;
}

/* s:buffered() -> bytes read ahead, bytes queued for writing. */
static int l_stream_buffered(lua_State *L) {
  lstream_t *box = stream_check(L);
  if (box->s == NULL) return 0;
  lua_pushinteger(L, (lua_Integer)tide__stream_buffered(box->s));
  lua_pushinteger(L, (lua_Integer)box->s->wqueued);
  return 2;
}

static int l_stream_tostring(lua_State *L) {
  lstream_t *box = lua_touserdata(L, 1);
  static const char *const kinds[] = {"?", "tcp", "pipe", "tty"};
  if (box->s == NULL)
    lua_pushfstring(L, "tide.stream: %p (closed)", (void *)box);
  else
    lua_pushfstring(L, "tide.stream (%s%s): %p", kinds[box->s->kind],
                    tide__stream_tls(box->s) ? ", tls" : "", (void *)box);
  return 1;
}

static const luaL_Reg stream_methods[] = {
    {"read", l_stream_read},
    {"readexactly", l_stream_readexactly},
    {"readline", l_stream_readline},
    {"readuntil", l_stream_readuntil},
    {"write", l_stream_write},
    {"drain", l_stream_drain},
    {"shutdown", l_stream_shutdown},
    {"close", l_stream_close},
    {"closed", l_stream_closed},
    {"peername", l_stream_peername},
    {"sockname", l_stream_sockname},
    {"setnodelay", l_stream_setnodelay},
    {"setkeepalive", l_stream_setkeepalive},
    {"setoptions", l_stream_setoptions},
    {"buffered", l_stream_buffered},
    {NULL, NULL}};

/* Registers the stream metatable; the runtime box is at the top - 1 (the
 * module table at the top). */
void tide__lua_open_stream(lua_State *L, tide_runtime_t *rt) {
  (void)rt;
  luaL_newmetatable(L, TIDE__MT_STREAM);
  lua_newtable(L);
  lua_pushvalue(L, -4);
  lua_pushvalue(L, -3);
  luaL_setfuncs(L, stream_methods, 2); /* upvalues: box, metatable */
  lua_setfield(L, -2, "__index");
  lua_pushvalue(L, -3);
  lua_pushcclosure(L, l_stream_close, 1);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "__close");
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, l_stream_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
}
