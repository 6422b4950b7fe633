/* Lua binding of TCP connect and listen, and of servers (shared with Unix
 * sockets, lpipe.c). The Lua facade (lua/tide/tcp.lua) resolves host names
 * and adds the per-connection runner; these functions take numeric
 * addresses.
 *
 * A listening server is pinned in the registry until it is closed, so a
 * script may drop the object and keep serving. Each accepted connection
 * becomes a task running the server's runner function with the stream. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "../tide_net.h"
#include "../tide_supervise.h"

typedef struct {
  tide__server_t *srv; /* NULL once closed */
} lserver_t;


static uint64_t seconds_arg(lua_State *L, int idx) {
  lua_Number v = luaL_optnumber(L, idx, 0);
  luaL_argcheck(L, v >= 0, idx, "timeout must be >= 0");
  if (v > 1e9) return 0;
  return v > 0 && v * 1e9 < 1 ? 1 : (uint64_t)(v * 1e9);
}

/* ------------------------------------------------------------ connect */

static int connect_k(lua_State *L, int status, lua_KContext ctx) {
  tide__connect_t *c = (tide__connect_t *)ctx;
  tide__stream_t *s = c->s;
  int err = c->status, woken;
  (void)status;
  woken = lua_type(L, -1) == LUA_TLIGHTUSERDATA &&
          lua_touserdata(L, -1) == tide__token_wake;
  c->s = NULL;
  tide__connect_release(c);
  if (!woken) {
    /* Cancelled (possibly after it connected): nobody gets the stream. */
    if (s != NULL) tide__stream_close(s);
    tide__lua_check_wake(L); /* raises */
  }
  lua_pop(L, 1);
  if (s == NULL) return tide__lua_fail(L, err ? err : UV_ECANCELED, NULL);
  tide__lua_pushstream(L, s);
  tide__lua_stream_options(L, 1, s);
  return 1;
}

/* Waits for connect attempt c; the stream options are at index opts. The
 * caller has called tide__lua_await_begin before starting the attempt. */
int tide__lua_connect_wait(lua_State *L, tide__connect_t *c, int opts) {
  lua_pushvalue(L, opts);
  lua_replace(L, 1);
  lua_settop(L, 1);
  return tide__lua_await_yield(L, &c->fut, (lua_KContext)c, connect_k);
}

/* _net.tcp_connect(ip, port [, timeout [, opts]]) -> stream | nil, err */
static int l_tcp_connect(lua_State *L) {
  const char *host = luaL_checkstring(L, 1);
  lua_Integer port = luaL_checkinteger(L, 2);
  uint64_t timeout = seconds_arg(L, 3);
  tide_runtime_t *rt = tide__runtime_from(L);
  struct sockaddr_storage ss;
  tide__connect_t *c;
  int err;
  if (!lua_isnoneornil(L, 4)) luaL_checktype(L, 4, LUA_TTABLE);
  luaL_argcheck(L, port >= 0 && port <= 65535, 2, "port out of range");
  if (tide__addr_parse(host, (int)port, &ss) != 0)
    return luaL_argerror(L, 1, "numeric IP address expected");
  tide__lua_await_begin(L);
  err = tide__tcp_connect(rt, (struct sockaddr *)&ss, timeout, &c);
  if (err != 0) return tide__lua_fail(L, err, NULL);
  return tide__lua_connect_wait(L, c, 4);
}

/* ------------------------------------------------------------ servers */

typedef struct {
  tide__server_t *srv;
  tide__stream_t *s; /* cleared once a Lua object owns it */
} accept_ctx_t;

/* An accepted connection's task body (own_body: no tide__task_body under
 * it), made by _net.conn_runner(handler, msgh, enter, leave) for
 * lua/tide/stream.lua: enter(); handler(stream) under a yieldable pcall
 * with msgh; leave(ok, err, stream), which drains, closes, counts and
 * reports, raising only a cancellation. Returns true, or false and the
 * error leave raised, as a task body does. Waiting in the handler, the
 * coroutine holds three frames: this, the handler's and the call it waits
 * in, where a Lua runner wrapping the handler in xpcall held five (each a
 * CallInfo of 64 bytes, on every idle connection). */
static int conn_body_end(lua_State *L, int status, lua_KContext ctx) {
  (void)ctx;
  if (status == LUA_OK || status == LUA_YIELD) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushboolean(L, 0);
  lua_insert(L, -2); /* false, the error */
  return 2;
}

/* The handler has returned or failed: [stream, msgh] (+ its error). */
static int conn_body_leave(lua_State *L, int status, lua_KContext ctx) {
  int ok = status == LUA_OK || status == LUA_YIELD;
  (void)ctx;
  lua_settop(L, ok ? 2 : 3); /* 3: the error, or nil */
  lua_pushvalue(L, lua_upvalueindex(4));
  lua_pushboolean(L, ok);
  lua_pushvalue(L, 3);
  lua_pushvalue(L, 1);
  return conn_body_end(L, lua_pcallk(L, 3, 0, 0, 0, conn_body_end), 0);
}

int tide__lua_conn_body(lua_State *L) {
  lua_settop(L, 1);                      /* 1: the stream */
  lua_pushvalue(L, lua_upvalueindex(3)); /* enter() */
  lua_call(L, 0, 0);
  lua_pushvalue(L, lua_upvalueindex(2)); /* 2: msgh */
  lua_pushvalue(L, lua_upvalueindex(1)); /* the handler */
  lua_pushvalue(L, 1);
  return conn_body_leave(L, lua_pcallk(L, 1, 0, 2, 0, conn_body_leave), 0);
}

/* _net.conn_runner(handler, msgh, enter, leave) -> the runner a server
 * spawns per connection (see tide__lua_conn_body). */
static int l_conn_runner(lua_State *L) {
  int i;
  for (i = 1; i <= 4; i++) luaL_checktype(L, i, LUA_TFUNCTION);
  lua_settop(L, 4);
  lua_pushcclosure(L, tide__lua_conn_body, 4);
  return 1;
}

/* Does task t run a connection of the runner at index runner: an
 * own_body task that has started (enter() has counted it), with the
 * runner at the bottom of its coroutine? */
static int conn_task_of(lua_State *L, tide__task_t *t, int runner) {
  lua_State *co = t->co;
  lua_Debug ar;
  int level = 0, is = 0;
  if (!t->own_body || !t->started || co == NULL) return 0;
  if (!lua_getstack(co, 0, &ar)) return 0;
  while (lua_getstack(co, level + 1, &ar)) level++;
  if (!lua_getstack(co, level, &ar) || !lua_checkstack(co, 1) ||
      !lua_getinfo(co, "f", &ar))
    return 0;
  if (co != L) lua_xmove(co, L, 1);
  is = lua_rawequal(L, -1, runner);
  lua_pop(L, 1);
  return is;
}

/* _net.conn_tasks(runner [, task]) -> the pending tasks running
 * connections of runner (a list, for server:close{cancel}); with task:
 * whether it is one of them. Found by walking the runtime's pending
 * tasks: closing is rare, and a set of them kept per server would cost
 * every idle connection a table slot. */
static int l_conn_tasks(lua_State *L) {
  tide_runtime_t *rt = tide__runtime_from(L);
  tide__link_t *l;
  lua_Integer n = 0;
  luaL_checktype(L, 1, LUA_TFUNCTION);
  if (!lua_isnoneornil(L, 2)) {
    tide__task_t *t = tide__task_check(L, 2);
    lua_pushboolean(L, t->aw.fut.state == TIDE__PENDING &&
                           conn_task_of(L, t, 1));
    return 1;
  }
  lua_settop(L, 1);
  lua_newtable(L); /* 2 */
  for (l = rt->tasks.next; l != &rt->tasks; l = l->next) {
    tide__task_t *t = TIDE__CONTAINER_OF(l, tide__task_t, link);
    if (!conn_task_of(L, t, 1)) continue;
    luaL_checkstack(L, 2, NULL);
    tide__task_push(L, t);
    lua_rawseti(L, 2, ++n);
  }
  return 1;
}

/* In protected mode: runner(stream) as a new task (a runner made by
 * conn_runner is the task's body itself). */
static int server_spawn(lua_State *L) {
  accept_ctx_t *ctx = lua_touserdata(L, 1);
  tide__stream_t *s = ctx->s;
  lua_rawgeti(L, LUA_REGISTRYINDEX, ctx->srv->ref); /* 2: server */
  lua_getiuservalue(L, 2, 1);                       /* 3: runner */
  tide__lua_pushstream(L, s);                       /* 4: stream */
  ctx->s = NULL;
  lua_getiuservalue(L, 2, 2);
  tide__lua_stream_options(L, 5, s);
  lua_pop(L, 1);
  if (lua_tocfunction(L, 3) == tide__lua_conn_body)
    tide__task_new_body(L, ctx->srv->rt, 1);
  else
    tide__task_new(L, ctx->srv->rt, 1);
  return 0;
}

/* In protected mode: reports a burst of connections refused for want of
 * descriptors. */
static int server_report_emfile(lua_State *L) {
  tide_runtime_t *rt = lua_touserdata(L, 1);
  lua_pushfstring(L, "tide: %I connection(s) refused: too many open files "
                     "(EMFILE); raise the limit (ulimit -n) or lower the "
                     "load",
                  (lua_Integer)rt->emfile_refused);
  rt->emfile_refused = 0;
  tide__runtime_report(rt, L, 0);
  return 0;
}

static void server_on_conn(tide__server_t *srv, tide__stream_t *s,
                           int status) {
  tide_runtime_t *rt = srv->rt;
  accept_ctx_t ctx;
  if (status != 0 || s == NULL) {
    rt->accept_errors++;
    if (status == UV_EMFILE || status == UV_ENFILE) {
      /* libuv has accepted and closed the connection (its reserve
       * descriptor): say so, once a second at most, not once each. */
      uint64_t now = tide__loop_now(&rt->loop);
      rt->emfile_refused++;
      if (rt->emfile_said == 0 || now - rt->emfile_said >= 1000000000) {
        rt->emfile_said = now;
        if (!rt->closing) tide__runtime_pcall(rt, server_report_emfile, rt);
      }
    }
    return;
  }
  ctx.srv = srv;
  ctx.s = s;
  if (!srv->rt->closing && srv->ref != LUA_NOREF)
    tide__runtime_pcall(srv->rt, server_spawn, &ctx);
  if (ctx.s != NULL) tide__stream_close(ctx.s);
}

/* Releases the pin and closes. */
static void server_close(tide__server_t *srv) {
  if (srv->ref != LUA_NOREF && srv->rt->L != NULL)
    luaL_unref(srv->rt->L, LUA_REGISTRYINDEX, srv->ref); /* the pin's release */
  srv->ref = LUA_NOREF;
  tide__server_close(srv);
}

static void server_res_close(tide__resource_t *res) {
  server_close(TIDE__CONTAINER_OF(res, tide__server_t, res));
}

/* Wraps a listening server in a Lua object (pushed) that spawns runner (at
 * index runner) per connection, with the stream options at runner + 1. */
int tide__lua_server_new(lua_State *L, tide__server_t *srv, int runner) {
  lserver_t *box = lua_newuserdatauv(L, sizeof(*box), 2);
  box->srv = srv;
  srv->slot = (void **)&box->srv;
  luaL_setmetatable(L, TIDE__MT_SERVER);
  lua_pushvalue(L, runner);
  lua_setiuservalue(L, -2, 1);
  lua_pushvalue(L, runner + 1);
  lua_setiuservalue(L, -2, 2);
  srv->on_conn = server_on_conn;
  srv->res.close = server_res_close;
  lua_pushvalue(L, -1);
  srv->ref = luaL_ref(L, LUA_REGISTRYINDEX); /* released in server_close */
  return 1;
}

static lua_Integer opt_backlog(lua_State *L, int opts) {
  return tide__lua_opt_integer(L, opts, "backlog", "tide.tcp.listen", 1, 65535,
                               511);
}

/* _net.tcp_listen(ip, port, runner [, opts]) -> server | nil, err */
static int l_tcp_listen(lua_State *L) {
  const char *host = luaL_checkstring(L, 1);
  lua_Integer port = luaL_checkinteger(L, 2);
  tide_runtime_t *rt = tide__runtime_from(L);
  struct sockaddr_storage ss;
  tide__server_t *srv;
  lua_Integer backlog;
  int flags = 0, err;
  luaL_checktype(L, 3, LUA_TFUNCTION);
  if (!lua_isnoneornil(L, 4)) luaL_checktype(L, 4, LUA_TTABLE);
  lua_settop(L, 4);
  luaL_argcheck(L, port >= 0 && port <= 65535, 2, "port out of range");
  if (tide__addr_parse(host, (int)port, &ss) != 0)
    return luaL_argerror(L, 1, "numeric IP address expected");
  backlog = opt_backlog(L, 4);
  if (lua_istable(L, 4)) {
    lua_getfield(L, 4, "ipv6only");
    if (lua_toboolean(L, -1)) flags |= TIDE__BIND_IPV6ONLY;
    lua_pop(L, 1);
    /* Several processes (or servers) on one port, the kernel spreading the
     * connections among them (SO_REUSEPORT): workers of one server. */
    lua_getfield(L, 4, "reuseport");
    if (lua_toboolean(L, -1)) flags |= TIDE__BIND_REUSEPORT;
    lua_pop(L, 1);
  }
  srv = tide__server_new(rt, TIDE__TCP, &err);
  if (srv == NULL) return tide__lua_fail(L, err, NULL);
  if (tide__worker_id() > 0) {
    /* In a worker every listen gets its slot's socket from the supervisor
     * (src/supervise.c): the workers share the port, and a restarted or
     * reloaded worker takes over the queue of connections waiting. */
    int fd, actual;
    err = tide__worker_listen(host, (int)port, (int)backlog,
                              (flags & TIDE__BIND_IPV6ONLY) != 0, &fd, &actual);
    if (err == 0) err = tide__server_open(srv, fd);
  } else {
    err = tide__server_bind(srv, (struct sockaddr *)&ss, flags);
  }
  if (err == 0) err = tide__server_listen(srv, (int)backlog);
  if (err != 0) {
    tide__server_close(srv);
    return tide__lua_fail(L, err, NULL);
  }
  return tide__lua_server_new(L, srv, 3);
}

static lserver_t *server_check(lua_State *L) {
  return luaL_checkudata(L, 1, TIDE__MT_SERVER);
}

/* server:address() -> host, port (TCP) or path (Unix socket). */
static int l_server_address(lua_State *L) {
  lserver_t *box = server_check(L);
  struct sockaddr_storage ss;
  char buf[512];
  int err, port;
  if (box->srv == NULL) return luaL_error(L, "tide: server is closed");
  if (box->srv->kind == TIDE__PIPE) {
    lua_pushstring(L, box->srv->path != NULL ? box->srv->path : "");
    return 1;
  }
  err = tide__server_sockname(box->srv, &ss);
  if (err != 0) return tide__lua_fail(L, err, NULL);
  port = tide__addr_name((struct sockaddr *)&ss, buf, sizeof(buf));
  lua_pushstring(L, buf);
  lua_pushinteger(L, port);
  return 2;
}

/* server:_close(): stops accepting (idempotent). Running connections go on;
 * the facade's close() can wait for them. */
static int l_server_close(lua_State *L) {
  lserver_t *box = server_check(L);
  if (box->srv != NULL) server_close(box->srv);
  return 0;
}

/* server:accept_errors() -> how many accepts failed (EMFILE, ...). */
static int l_server_accept_errors(lua_State *L) {
  lserver_t *box = server_check(L);
  lua_pushinteger(L, box->srv ? box->srv->accept_errors : 0);
  return 1;
}

static int l_server_closed(lua_State *L) {
  lua_pushboolean(L, server_check(L)->srv == NULL);
  return 1;
}

static int l_server_tostring(lua_State *L) {
  lserver_t *box = lua_touserdata(L, 1);
  lua_pushfstring(L, "tide.server: %p%s", (void *)box,
                  box->srv ? "" : " (closed)");
  return 1;
}

/* ------------------------------------------------------------ misc */

/* _net.report(msg): hands msg to the runtime's error handler. */
static int l_report(lua_State *L) {
  tide_runtime_t *rt = tide__runtime_from(L);
  luaL_checkany(L, 1);
  lua_settop(L, 1);
  tide__runtime_report(rt, L, 0);
  return 0;
}

/* _net.is_ip(s) -> "inet" | "inet6" | false */
static int l_is_ip(lua_State *L) {
  const char *s = luaL_checkstring(L, 1);
  struct sockaddr_storage ss;
  if (tide__addr_parse(s, 0, &ss) != 0) lua_pushboolean(L, 0);
  else lua_pushstring(L, ss.ss_family == AF_INET ? "inet" : "inet6");
  return 1;
}

static const luaL_Reg server_methods[] = {
    {"address", l_server_address},
    {"_close", l_server_close},
    {"closed", l_server_closed},
    {"accept_errors", l_server_accept_errors},
    {NULL, NULL}};

static const luaL_Reg funcs[] = {
    {"tcp_connect", l_tcp_connect},
    {"tcp_listen", l_tcp_listen},
    {"conn_runner", l_conn_runner},
    {"conn_tasks", l_conn_tasks},
    {"report", l_report},
    {"is_ip", l_is_ip},
    {NULL, NULL}};

/* Makes libuv open its reserve descriptor for EMFILE now (it does so with
 * the first stream handle of a loop and keeps it): otherwise the first
 * socket a script opens leaks one descriptor in the eyes of a leak check. */
static void reserve_emfile_fd(tide_runtime_t *rt) {
  uv_pipe_t *p;
  if (rt->loop.uv->emfile_fd != -1) return;
  p = malloc(sizeof(*p));
  if (p == NULL || uv_pipe_init(rt->loop.uv, p, 0) != 0) {
    free(p);
    return;
  }
  p->data = &rt->loop;
  tide__loop_handle_open(&rt->loop);
  uv_close((uv_handle_t *)p, tide__loop_close_free_cb);
}

/* A write to a reset connection raises SIGPIPE, whose default action kills
 * the process: sockets report EPIPE instead (as luasocket does). A handler
 * the host installed is left alone. */
static void ignore_sigpipe(void) {
  struct sigaction sa;
  if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
  }
}

/* Registers the server metatable and the TCP functions into the _net table
 * at the top of L; the runtime box is at the top - 1. */
void tide__lua_open_tcp(lua_State *L, tide_runtime_t *rt) {
  reserve_emfile_fd(rt);
  ignore_sigpipe();
  luaL_newmetatable(L, TIDE__MT_SERVER);
  lua_newtable(L);
  lua_pushvalue(L, -4);
  luaL_setfuncs(L, server_methods, 1);
  lua_pushvalue(L, -1);
  lua_setfield(L, -4, "server_methods"); /* the facade adds close() */
  lua_setfield(L, -2, "__index");
  lua_pushvalue(L, -3);
  lua_pushcclosure(L, l_server_close, 1);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "__close");
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, l_server_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, funcs, 1);
}
