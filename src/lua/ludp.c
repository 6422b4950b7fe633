/* Lua binding of UDP sockets (placeholder until udp.c lands). */
#include "../tide_net.h"

void tide__lua_open_udp(lua_State *L, tide_runtime_t *rt) {
  (void)L;
  (void)rt;
}
