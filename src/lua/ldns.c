/* Lua binding of name resolution: _net.getaddrinfo and _net.getnameinfo,
 * behind tide.dns.resolve and tide.dns.reverse (lua/tide/dns.lua). */
#include <string.h>

#include "../tide_net.h"

static uint64_t timeout_arg(lua_State *L, int idx) {
  lua_Number t = luaL_optnumber(L, idx, 0);
  luaL_argcheck(L, t >= 0, idx, "timeout must be >= 0");
  return t > 1e9 ? 0 : (uint64_t)(t * 1e9);
}

/* Pushes the numeric addresses of the answer, without duplicates, in the
 * resolver's order. */
static void push_addresses(lua_State *L, struct addrinfo *res) {
  struct addrinfo *ai;
  char buf[INET6_ADDRSTRLEN];
  int n = 0;
  lua_newtable(L);
  lua_newtable(L); /* seen */
  for (ai = res; ai != NULL; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    tide__addr_name(ai->ai_addr, buf, sizeof(buf));
    if (lua_getfield(L, -1, buf) != LUA_TNIL) {
      lua_pop(L, 1);
      continue;
    }
    lua_pop(L, 1);
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, buf);
    lua_pushstring(L, buf);
    lua_rawseti(L, -3, ++n);
  }
  lua_pop(L, 1);
}

static int dns_k(lua_State *L, int status, lua_KContext ctx) {
  tide__dns_t *d = (tide__dns_t *)ctx;
  int woken = lua_type(L, -1) == LUA_TLIGHTUSERDATA &&
              lua_touserdata(L, -1) == tide__token_wake;
  int err = d->status, n = 1;
  (void)status;
  if (woken && err == 0) {
    if (lua_toboolean(L, 1)) push_addresses(L, d->res);
    else lua_pushstring(L, d->host);
  }
  tide__dns_release(d);
  if (!woken) tide__lua_check_wake(L); /* raises */
  if (err != 0) return tide__lua_fail(L, err, NULL);
  return n;
}

/* _net.getaddrinfo(host [, family [, timeout]]) -> {addr, ...} | nil, err.
 * family: 0, 4 or 6. */
static int l_getaddrinfo(lua_State *L) {
  const char *host = luaL_checkstring(L, 1);
  lua_Integer fam = luaL_optinteger(L, 2, 0);
  uint64_t timeout = timeout_arg(L, 3);
  tide_runtime_t *rt = tide__runtime_from(L);
  tide__dns_t *d;
  int err;
  luaL_argcheck(L, fam == 0 || fam == 4 || fam == 6, 2, "family: 0, 4 or 6");
  tide__lua_await_begin(L);
  err = tide__dns_getaddrinfo(&rt->loop, host,
                              fam == 4 ? AF_INET : fam == 6 ? AF_INET6
                                                            : AF_UNSPEC,
                              timeout, &d);
  if (err != 0) return tide__lua_fail(L, err, NULL);
  lua_settop(L, 0);
  lua_pushboolean(L, 1); /* 1: addresses wanted */
  return tide__lua_await_yield(L, &d->fut, (lua_KContext)d, dns_k);
}

/* _net.getnameinfo(ip [, timeout]) -> name | nil, err */
static int l_getnameinfo(lua_State *L) {
  const char *ip = luaL_checkstring(L, 1);
  uint64_t timeout = timeout_arg(L, 2);
  tide_runtime_t *rt = tide__runtime_from(L);
  struct sockaddr_storage ss;
  tide__dns_t *d;
  int err;
  if (tide__addr_parse(ip, 0, &ss) != 0)
    return luaL_argerror(L, 1, "numeric IP address expected");
  tide__lua_await_begin(L);
  err = tide__dns_getnameinfo(&rt->loop, (struct sockaddr *)&ss, timeout, &d);
  if (err != 0) return tide__lua_fail(L, err, NULL);
  lua_settop(L, 0);
  lua_pushboolean(L, 0); /* 1: a name wanted */
  return tide__lua_await_yield(L, &d->fut, (lua_KContext)d, dns_k);
}

static const luaL_Reg funcs[] = {
    {"getaddrinfo", l_getaddrinfo},
    {"getnameinfo", l_getnameinfo},
    {NULL, NULL}};

/* Adds the functions to the _net table at the top; box at top - 1. */
void tide__lua_open_dns(lua_State *L, tide_runtime_t *rt) {
  (void)rt;
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, funcs, 1);
}
