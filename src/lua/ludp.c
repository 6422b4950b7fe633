/* Lua binding of UDP sockets (src/udp.c): tide.udp's objects.
 *
 * Addresses are numeric here (the facade, lua/tide/udp.lua, resolves names
 * for bind and connect). recvfrom()/recv() wait for one datagram; one task
 * at a time may wait. Send failures return nil, err, name; a datagram the
 * kernel cannot take at once is queued (fire and forget, as sendto is). */
#include <string.h>

#include "../tide_net.h"

#define TIDE__MT_UDP "tide.udp"

typedef struct {
  tide__udp_t *u; /* NULL once closed */
} ludp_t;

static tide__udp_t *udp_check(lua_State *L) {
  ludp_t *box = luaL_checkudata(L, 1, TIDE__MT_UDP);
  return box->u;
}

static int udp_closed(lua_State *L) {
  return tide__lua_fail(L, TIDE_ECLOSED, "socket is closed");
}

static int udp_result(lua_State *L, int err) {
  if (err != 0) return tide__lua_fail(L, err, NULL);
  lua_pushboolean(L, 1);
  return 1;
}

/* Parses host (numeric) and port at idx, idx + 1. */
static void udp_addr(lua_State *L, int idx, struct sockaddr_storage *ss) {
  const char *host = luaL_checkstring(L, idx);
  lua_Integer port = luaL_checkinteger(L, idx + 1);
  luaL_argcheck(L, port >= 0 && port <= 65535, idx + 1, "port out of range");
  if (tide__addr_parse(host, (int)port, ss) != 0)
    luaL_argerror(L, idx, "numeric IP address expected");
}

/* _net.udp_new([family]) -> socket; family 0 (decided by bind or the first
 * send), 4 or 6. */
static int l_udp_new(lua_State *L) {
  lua_Integer fam = luaL_optinteger(L, 1, 0);
  tide_runtime_t *rt = tide__runtime_from(L);
  ludp_t *box;
  tide__udp_t *u;
  int err;
  luaL_argcheck(L, fam == 0 || fam == 4 || fam == 6, 1, "family: 0, 4 or 6");
  box = lua_newuserdatauv(L, sizeof(*box), 0);
  box->u = NULL;
  luaL_setmetatable(L, TIDE__MT_UDP);
  u = tide__udp_new(rt, fam == 4 ? AF_INET : fam == 6 ? AF_INET6 : AF_UNSPEC,
                    &err);
  if (u == NULL) return tide__lua_fail(L, err, NULL);
  box->u = u;
  u->slot = (void **)&box->u;
  return 1;
}

/* sock:bind(ip, port [, reuseaddr]) */
static int l_udp_bind(lua_State *L) {
  tide__udp_t *u = udp_check(L);
  struct sockaddr_storage ss;
  udp_addr(L, 2, &ss);
  if (u == NULL) return udp_closed(L);
  return udp_result(L, uv_udp_bind(&u->handle, (struct sockaddr *)&ss,
                                   lua_toboolean(L, 4) ? UV_UDP_REUSEADDR
                                                       : 0));
}

/* sock:connect(ip, port): send() and recv() then talk to that peer only.
 * sock:connect(nil) disconnects. */
static int l_udp_connect(lua_State *L) {
  tide__udp_t *u = udp_check(L);
  struct sockaddr_storage ss;
  if (lua_isnoneornil(L, 2)) {
    if (u == NULL) return udp_closed(L);
    return udp_result(L, uv_udp_connect(&u->handle, NULL));
  }
  udp_addr(L, 2, &ss);
  if (u == NULL) return udp_closed(L);
  return udp_result(L, uv_udp_connect(&u->handle, (struct sockaddr *)&ss));
}

/* sock:sendto(data, ip, port) -> true | nil, err, name */
static int l_udp_sendto(lua_State *L) {
  tide__udp_t *u = udp_check(L);
  size_t len;
  const char *p = luaL_checklstring(L, 2, &len);
  struct sockaddr_storage ss;
  udp_addr(L, 3, &ss);
  if (u == NULL) return udp_closed(L);
  return udp_result(L, tide__udp_send(u, p, len, (struct sockaddr *)&ss));
}

/* sock:send(data): to the connected peer. */
static int l_udp_send(lua_State *L) {
  tide__udp_t *u = udp_check(L);
  size_t len;
  const char *p = luaL_checklstring(L, 2, &len);
  if (u == NULL) return udp_closed(L);
  return udp_result(L, tide__udp_send(u, p, len, NULL));
}

/* Pushes the held datagram (and its sender when from): data, ip, port. */
static int udp_take(lua_State *L, tide__udp_t *u, int from) {
  char host[INET6_ADDRSTRLEN];
  int port;
  u->held = 0;
  lua_pushlstring(L, u->buf, u->len);
  if (!from) return 1;
  port = tide__addr_name((struct sockaddr *)&u->from, host, sizeof(host));
  lua_pushstring(L, host);
  lua_pushinteger(L, port);
  return 3;
}

static int recv_k(lua_State *L, int status, lua_KContext from) {
  ludp_t *box = lua_touserdata(L, 1);
  tide__udp_t *u;
  int err;
  (void)status;
  tide__lua_check_wake(L);
  u = box->u;
  if (u == NULL) return udp_closed(L);
  if (u->held) return udp_take(L, u, (int)from);
  if (u->rerr != 0) {
    err = u->rerr;
    u->rerr = 0;
    return tide__lua_fail(L, err, NULL);
  }
  if (u->rtimedout) return tide__lua_fail(L, UV_ETIMEDOUT, NULL);
  return tide__lua_fail(L, UV_ECANCELED, NULL);
}

static int udp_recv(lua_State *L, int from) {
  tide__udp_t *u = udp_check(L);
  if (u == NULL) return udp_closed(L);
  if (u->held) return udp_take(L, u, from);
  if (u->rfut.state == TIDE__PENDING)
    return luaL_error(L, "tide: another task is already receiving on this "
                         "socket");
  tide__lua_await_begin(L);
  lua_settop(L, 1);
  tide__udp_wait_recv(u);
  return tide__lua_await_yield(L, &u->rfut, from, recv_k);
}

/* sock:recvfrom() -> data, ip, port | nil, err, name */
static int l_udp_recvfrom(lua_State *L) { return udp_recv(L, 1); }
/* sock:recv() -> data | nil, err, name (connected sockets) */
static int l_udp_recv(lua_State *L) { return udp_recv(L, 0); }

static int udp_name(lua_State *L, int peer) {
  tide__udp_t *u = udp_check(L);
  struct sockaddr_storage ss;
  char host[INET6_ADDRSTRLEN];
  int len = sizeof(ss), err, port;
  if (u == NULL) return udp_closed(L);
  err = peer ? uv_udp_getpeername(&u->handle, (struct sockaddr *)&ss, &len)
             : uv_udp_getsockname(&u->handle, (struct sockaddr *)&ss, &len);
  if (err != 0) return tide__lua_fail(L, err, NULL);
  port = tide__addr_name((struct sockaddr *)&ss, host, sizeof(host));
  lua_pushstring(L, host);
  lua_pushinteger(L, port);
  return 2;
}

/* sock:sockname() / sock:peername() -> ip, port */
static int l_udp_sockname(lua_State *L) { return udp_name(L, 0); }
static int l_udp_peername(lua_State *L) { return udp_name(L, 1); }

static int l_udp_setbroadcast(lua_State *L) {
  tide__udp_t *u = udp_check(L);
  luaL_checkany(L, 2);
  if (u == NULL) return udp_closed(L);
  return udp_result(L, uv_udp_set_broadcast(&u->handle, lua_toboolean(L, 2)));
}

static int l_udp_setttl(lua_State *L) {
  tide__udp_t *u = udp_check(L);
  lua_Integer ttl = luaL_checkinteger(L, 2);
  luaL_argcheck(L, ttl >= 1 && ttl <= 255, 2, "ttl out of range");
  if (u == NULL) return udp_closed(L);
  return udp_result(L, uv_udp_set_ttl(&u->handle, (int)ttl));
}

static int l_udp_setmulticastttl(lua_State *L) {
  tide__udp_t *u = udp_check(L);
  lua_Integer ttl = luaL_checkinteger(L, 2);
  luaL_argcheck(L, ttl >= 0 && ttl <= 255, 2, "ttl out of range");
  if (u == NULL) return udp_closed(L);
  return udp_result(L, uv_udp_set_multicast_ttl(&u->handle, (int)ttl));
}

static int l_udp_setmulticastloop(lua_State *L) {
  tide__udp_t *u = udp_check(L);
  luaL_checkany(L, 2);
  if (u == NULL) return udp_closed(L);
  return udp_result(L, uv_udp_set_multicast_loop(&u->handle,
                                                 lua_toboolean(L, 2)));
}

static int l_udp_setmulticastinterface(lua_State *L) {
  tide__udp_t *u = udp_check(L);
  const char *iface = luaL_optstring(L, 2, NULL);
  if (u == NULL) return udp_closed(L);
  return udp_result(L, uv_udp_set_multicast_interface(&u->handle, iface));
}

/* sock:join(group [, iface]) / sock:leave(group [, iface]) */
static int udp_membership(lua_State *L, uv_membership m) {
  tide__udp_t *u = udp_check(L);
  const char *group = luaL_checkstring(L, 2);
  const char *iface = luaL_optstring(L, 3, NULL);
  if (u == NULL) return udp_closed(L);
  return udp_result(L, uv_udp_set_membership(&u->handle, group, iface, m));
}
static int l_udp_join(lua_State *L) { return udp_membership(L, UV_JOIN_GROUP); }
static int l_udp_leave(lua_State *L) {
  return udp_membership(L, UV_LEAVE_GROUP);
}

/* sock:settimeout(seconds): receive timeout (nil or 0: none). */
static int l_udp_settimeout(lua_State *L) {
  tide__udp_t *u = udp_check(L);
  lua_Number t = luaL_optnumber(L, 2, 0);
  luaL_argcheck(L, t >= 0, 2, "timeout must be >= 0");
  if (u == NULL) return udp_closed(L);
  u->rtimeout = t > 1e9 ? 0 : (uint64_t)(t * 1e9);
  if (t > 0 && u->rtimeout == 0 && t <= 1e9) u->rtimeout = 1;
  lua_pushboolean(L, 1);
  return 1;
}

/* sock:close(): a waiting receiver wakes with ECLOSED. Idempotent. */
static int l_udp_close(lua_State *L) {
  tide__udp_t *u = udp_check(L);
  if (u != NULL) tide__udp_close(u);
  lua_pushboolean(L, 1);
  return 1;
}

static int l_udp_closed(lua_State *L) {
  lua_pushboolean(L, udp_check(L) == NULL);
  return 1;
}

static int l_udp_tostring(lua_State *L) {
  ludp_t *box = lua_touserdata(L, 1);
  lua_pushfstring(L, "tide.udp: %p%s", (void *)box,
                  box->u ? "" : " (closed)");
  return 1;
}

static const luaL_Reg udp_methods[] = {
    {"bind", l_udp_bind},
    {"connect", l_udp_connect},
    {"sendto", l_udp_sendto},
    {"send", l_udp_send},
    {"recvfrom", l_udp_recvfrom},
    {"recv", l_udp_recv},
    {"sockname", l_udp_sockname},
    {"peername", l_udp_peername},
    {"setbroadcast", l_udp_setbroadcast},
    {"setttl", l_udp_setttl},
    {"setmulticastttl", l_udp_setmulticastttl},
    {"setmulticastloop", l_udp_setmulticastloop},
    {"setmulticastinterface", l_udp_setmulticastinterface},
    {"join", l_udp_join},
    {"leave", l_udp_leave},
    {"settimeout", l_udp_settimeout},
    {"close", l_udp_close},
    {"closed", l_udp_closed},
    {NULL, NULL}};

/* Registers the UDP metatable and _net.udp_new into the _net table at the
 * top; the runtime box is at top - 1. */
void tide__lua_open_udp(lua_State *L, tide_runtime_t *rt) {
  (void)rt;
  luaL_newmetatable(L, TIDE__MT_UDP);
  lua_newtable(L);
  lua_pushvalue(L, -4);
  luaL_setfuncs(L, udp_methods, 1);
  lua_setfield(L, -2, "__index");
  lua_pushvalue(L, -3);
  lua_pushcclosure(L, l_udp_close, 1);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "__close");
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, l_udp_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  lua_pushvalue(L, -2);
  lua_pushcclosure(L, l_udp_new, 1);
  lua_setfield(L, -2, "udp_new");
}
