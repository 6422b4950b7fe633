/* Lua binding of Unix domain sockets and descriptor streams (pipes, TTYs):
 * the same stream objects as TCP, the same servers. */
#include "../tide_net.h"

/* _net.unix_connect(path [, timeout [, opts]]) -> stream | nil, err */
static int l_unix_connect(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  lua_Number t = luaL_optnumber(L, 2, 0);
  tide_runtime_t *rt = tide__runtime_from(L);
  tide__connect_t *c;
  int err;
  luaL_argcheck(L, t >= 0, 2, "timeout must be >= 0");
  if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
  tide__lua_await_begin(L);
  err = tide__pipe_connect(rt, path, t > 1e9 ? 0 : (uint64_t)(t * 1e9), &c);
  if (err != 0) return tide__lua_fail(L, err, NULL);
  return tide__lua_connect_wait(L, c, 3);
}

/* _net.unix_listen(path, runner [, opts]) -> server | nil, err. The
 * socket file is removed when the server closes. */
static int l_unix_listen(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  tide_runtime_t *rt = tide__runtime_from(L);
  lua_Integer backlog;
  tide__server_t *srv;
  int err;
  luaL_checktype(L, 2, LUA_TFUNCTION);
  if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TTABLE);
  backlog = tide__lua_opt_integer(L, 3, "backlog", "tide.unix.listen", 1,
                                  65535, 511);
  lua_settop(L, 3);
  srv = tide__server_new(rt, TIDE__PIPE, &err);
  if (srv == NULL) return tide__lua_fail(L, err, NULL);
  err = tide__pipe_bind(srv, path);
  if (err == 0) err = tide__server_listen(srv, (int)backlog);
  if (err != 0) {
    tide__server_close(srv);
    return tide__lua_fail(L, err, NULL);
  }
  return tide__lua_server_new(L, srv, 2);
}

/* _net.pipe_open(fd [, opts]) -> stream | nil, err. The stream works on a
 * duplicate of fd: closing it leaves fd open. */
static int l_pipe_open(lua_State *L) {
  lua_Integer fd = luaL_checkinteger(L, 1);
  tide_runtime_t *rt = tide__runtime_from(L);
  tide__stream_t *s;
  int err;
  luaL_argcheck(L, fd >= 0 && fd <= 0x7fffffff, 1, "bad descriptor");
  if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  err = tide__pipe_open(rt, (int)fd, &s);
  if (err == UV_ENOTSUP) {
    /* Say what is wrong, not libuv's "operation not supported on socket":
     * epoll cannot wait on regular files (stdin or stdout redirected to
     * one, say). */
    lua_pushfstring(L, "descriptor %d is a regular file: a stream needs a "
                       "pipe, a TTY or a socket (use io or tide.fs for files)",
                    (int)fd);
    return tide__lua_fail(L, err, lua_tostring(L, -1));
  }
  if (err != 0) return tide__lua_fail(L, err, NULL);
  tide__lua_pushstream(L, s);
  tide__lua_stream_options(L, 2, s);
  return 1;
}

/* _net.guess_handle(fd) -> "tty" | "pipe" | "tcp" | "udp" | "file" | "unknown" */
static int l_guess_handle(lua_State *L) {
  lua_Integer fd = luaL_checkinteger(L, 1);
  const char *name;
  switch (uv_guess_handle((int)fd)) {
  case UV_TTY: name = "tty"; break;
  case UV_NAMED_PIPE: name = "pipe"; break;
  case UV_TCP: name = "tcp"; break;
  case UV_UDP: name = "udp"; break;
  case UV_FILE: name = "file"; break;
  default: name = "unknown"; break;
  }
  lua_pushstring(L, name);
  return 1;
}

static const luaL_Reg funcs[] = {
    {"unix_connect", l_unix_connect},
    {"unix_listen", l_unix_listen},
    {"pipe_open", l_pipe_open},
    {"guess_handle", l_guess_handle},
    {NULL, NULL}};

/* Adds the functions to the _net table at the top; box at top - 1. */
void tide__lua_open_pipe(lua_State *L, tide_runtime_t *rt) {
  (void)rt;
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, funcs, 1);
}
