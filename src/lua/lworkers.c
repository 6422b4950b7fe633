/* Lua binding of the workers: tide.workers{} (the supervisor of
 * src/supervise.c, from a plain Lua script), tide.worker_id(),
 * tide.worker_count() and tide.stopping().
 *
 *   tide.workers{n =, main =, args =, grace =, command =} -> status
 *
 * runs n processes of the script main (default: this script, arg[0]) with
 * its arguments args (default: none), each started with command (default:
 * the interpreter running this script, arg's lowest index: lua5.4 or tide),
 * until SIGTERM or SIGINT has stopped them all; returns the status for the
 * process (128 + the signal). It runs a loop of its own: it refuses to run
 * inside tide.run or a task (the tide command runs scripts in a task:
 * there, `tide --workers N script.lua` does the same). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "../tide_lua.h"
#include "../tide_supervise.h"

#define MAX_ARGS 256

/* tide.worker_id() -> this worker's number (1..n), or 0 outside workers. */
static int l_worker_id(lua_State *L) {
  lua_pushinteger(L, tide__worker_id());
  return 1;
}

/* tide.worker_count() -> how many workers the supervisor runs, or 0. */
static int l_worker_count(lua_State *L) {
  lua_pushinteger(L, tide__worker_count());
  return 1;
}

/* tide.stopping() -> true once SIGTERM's graceful stop has begun: the
 * servers are closed and the connections left have the grace period to
 * finish (a keep-alive loop should end after its current request). */
static int l_stopping(lua_State *L) {
  lua_pushboolean(L, tide__interrupt_stopping(tide__runtime_from(L)));
  return 1;
}

/* core._on_stopping(owner, fn | nil): fn(owner) runs when SIGTERM's drain
 * begins (after the servers have closed, before the connections are
 * waited for); an HTTP server closes its idle keep-alive connections
 * there. Held by a weak key: a collected owner's hook goes with it. */
static int l_on_stopping(lua_State *L) {
  luaL_checkany(L, 1);
  if (!lua_isnil(L, 2)) luaL_checktype(L, 2, LUA_TFUNCTION);
  lua_settop(L, 2);
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, tide__stopping_hooks_key) !=
      LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, tide__stopping_hooks_key);
  }
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  lua_rawset(L, -3);
  return 0;
}

/* Appends t's array part (strings) to argv from *n on. */
static void push_strings(lua_State *L, int t, const char *what,
                         const char **argv, int *n) {
  lua_Integer i, len = luaL_len(L, t);
  for (i = 1; i <= len; i++) {
    if (*n >= MAX_ARGS - 1) luaL_error(L, "option '%s': too many arguments", what);
    lua_geti(L, t, i);
    if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
      luaL_error(L, "option '%s': item %d is a %s (string expected)", what,
                 (int)i, luaL_typename(L, -1));
    argv[(*n)++] = lua_tostring(L, -1);
    lua_pop(L, 1); /* the string stays alive in t */
  }
}

static int l_workers(lua_State *L) {
  static const char *const known[] = {"n", "main", "args", "grace",
                                      "command", NULL};
  tide_runtime_t *rt = tide__runtime_from(L);
  tide_supervise_opts_t o;
  const char *argv[MAX_ARGS];
  int n = 0;
  luaL_checktype(L, 1, LUA_TTABLE);
  tide__lua_check_options(L, 1, "tide.workers", known);
  if (rt->loop.running || rt->current != NULL)
    return luaL_error(L, "tide.workers: runs a loop of its own until the "
                         "workers stop: call it outside tide.run (under the "
                         "tide command, use `tide --workers N script.lua`)");
  if (tide__worker_id() > 0)
    return luaL_error(L, "tide.workers: this process is a worker already");
  memset(&o, 0, sizeof(o));
  lua_settop(L, 1);
  o.nworkers = (int)uv_available_parallelism();
  if (lua_getfield(L, 1, "n") != LUA_TNIL) {
    lua_Integer k = luaL_checkinteger(L, -1);
    luaL_argcheck(L, k >= 1 && k <= 1024, 1, "option 'n': 1..1024 expected");
    o.nworkers = (int)k;
  }
  o.grace = rt->grace_ns / 1e9;
  if (lua_getfield(L, 1, "grace") != LUA_TNIL) {
    lua_Number g = luaL_checknumber(L, -1);
    luaL_argcheck(L, g >= 0 && g <= 86400, 1, "option 'grace': 0..86400 s");
    o.grace = g;
  }
  /* The command: the interpreter running us, or the caller's. */
  if (lua_getfield(L, 1, "command") != LUA_TNIL) {
    luaL_argcheck(L, lua_istable(L, -1), 1, "option 'command': table expected");
    push_strings(L, lua_gettop(L), "command", argv, &n);
  } else if (lua_getglobal(L, "arg") == LUA_TTABLE) {
    lua_Integer i = 0;
    while (lua_geti(L, -1, i - 1) == LUA_TSTRING) {
      lua_pop(L, 1);
      i--;
    }
    lua_pop(L, 1);
    if (i < 0 && lua_geti(L, -1, i) == LUA_TSTRING) argv[n++] = lua_tostring(L, -1);
  }
  if (n == 0)
    return luaL_error(L, "tide.workers: option 'command' needed (no "
                         "interpreter found in arg)");
  if (lua_getfield(L, 1, "main") != LUA_TNIL) {
    argv[n++] = luaL_checkstring(L, -1);
  } else if (lua_getglobal(L, "arg") == LUA_TTABLE &&
             lua_geti(L, -1, 0) == LUA_TSTRING) {
    argv[n++] = lua_tostring(L, -1);
  } else {
    return luaL_error(L, "tide.workers: option 'main' needed (no script in "
                         "arg[0])");
  }
  if (lua_getfield(L, 1, "args") != LUA_TNIL) {
    luaL_argcheck(L, lua_istable(L, -1), 1, "option 'args': table expected");
    push_strings(L, lua_gettop(L), "args", argv, &n);
  }
  argv[n] = NULL; /* the strings stay on the stack until we return */
  o.argv = (char **)argv;
  o.progname = "tide.workers";
  lua_pushinteger(L, tide__supervise(&o));
  return 1;
}

static const luaL_Reg funcs[] = {{"workers", l_workers},
                                 {"worker_id", l_worker_id},
                                 {"worker_count", l_worker_count},
                                 {"stopping", l_stopping},
                                 {"_on_stopping", l_on_stopping},
                                 {NULL, NULL}};

void tide__lua_open_workers(lua_State *L, tide_runtime_t *rt) {
  (void)rt;
  lua_pushvalue(L, -2); /* box */
  luaL_setfuncs(L, funcs, 1);
}
