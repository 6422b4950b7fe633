/* Option tables: every tide function that takes a table of options raises
 * on a key it does not know, so that a misspelt or not-yet-supported
 * option ({tsl = true} for {tls = true}, {reuse_port = true}) never passes
 * silently as if it had taken effect.
 *
 * C bindings call tide__lua_check_options with a NULL-terminated list of
 * names; the Lua facades call core.check_options(opts, fname, known) with
 * a set of names. Both raise the same message:
 *   tide.tcp.connect: unknown option 'tsl' (known: family, timeout, ...) */
#include <stdlib.h>
#include <string.h>

#include "../tide_lua.h"

/* Raises for the key at the top of L (a key of the options table), naming
 * the known keys. level: where the error is reported (as error()). */
static int opts_raise(lua_State *L, const char *fname, int level) {
  const char *key;
  luaL_checkstack(L, 4, NULL);
  if (lua_type(L, -1) == LUA_TSTRING)
    key = lua_pushfstring(L, "'%s'", lua_tostring(L, -1));
  else
    key = lua_pushfstring(L, "key of type %s", luaL_typename(L, -1));
  luaL_where(L, level);
  lua_pushfstring(L, "%s: unknown option %s (known: %s)", fname, key,
                  lua_tostring(L, -4)); /* the list pushed by the caller */
  lua_concat(L, 2);
  return lua_error(L);
}

void tide__lua_check_options(lua_State *L, int idx, const char *fname,
                             const char *const known[]) {
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) != LUA_TTABLE) return;
  luaL_checkstack(L, 3, NULL);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    int i, ok = 0;
    lua_pop(L, 1); /* the value */
    if (lua_type(L, -1) == LUA_TSTRING) {
      const char *k = lua_tostring(L, -1);
      for (i = 0; known[i] != NULL && !ok; i++) ok = strcmp(k, known[i]) == 0;
    }
    if (!ok) {
      luaL_Buffer b;
      lua_pushvalue(L, -1); /* the key, kept below the list */
      luaL_buffinit(L, &b);
      for (i = 0; known[i] != NULL; i++) {
        if (i > 0) luaL_addstring(&b, ", ");
        luaL_addstring(&b, known[i]);
      }
      luaL_pushresult(&b);
      lua_insert(L, -2); /* list, key */
      opts_raise(L, fname, 1);
    }
  }
}

lua_Integer tide__lua_opt_integer(lua_State *L, int idx, const char *key,
                                  const char *fname, lua_Integer min,
                                  lua_Integer max, lua_Integer dflt) {
  lua_Integer v = dflt;
  int isint;
  if (!lua_istable(L, idx)) return dflt;
  if (lua_getfield(L, idx, key) != LUA_TNIL) {
    v = lua_tointegerx(L, -1, &isint);
    if (!isint || v < min || v > max) {
      /* No position: it would name tide's facade, not the caller. */
      lua_pushfstring(L, "%s: option '%s': integer %I..%I expected, got %s",
                      fname, key, min, max,
                      lua_type(L, -1) == LUA_TNUMBER ? lua_tostring(L, -1)
                                                     : luaL_typename(L, -1));
      lua_error(L);
    }
  }
  lua_pop(L, 1);
  return v;
}

static int opts_cmp(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Pushes the string keys of the set at index set, sorted: "a, b, c". The
 * names stay anchored in the set while they are used. */
static void opts_push_known(lua_State *L, int set) {
  const char *names[64];
  luaL_Buffer b;
  size_t n = 0, i;
  lua_pushnil(L);
  while (lua_next(L, set)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) == LUA_TSTRING && n < 64)
      names[n++] = lua_tostring(L, -1);
  }
  qsort(names, n, sizeof(names[0]), opts_cmp);
  luaL_buffinit(L, &b);
  for (i = 0; i < n; i++) {
    if (i > 0) luaL_addstring(&b, ", ");
    luaL_addstring(&b, names[i]);
  }
  luaL_pushresult(&b);
}

/* core.check_options(opts, fname, known [, level]): raises if the table
 * opts (nil is fine; anything else but a table raises) has a key that is
 * not a key of the set known. level as error()'s, counted from the caller
 * of check_options (default 2: the caller's caller, i.e. the user of a
 * facade function). Returns opts. */
static int l_check_options(lua_State *L) {
  const char *fname = luaL_checkstring(L, 2);
  int level = (int)luaL_optinteger(L, 4, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  if (lua_isnil(L, 1)) return 0;
  if (lua_type(L, 1) != LUA_TTABLE) {
    luaL_where(L, level);
    lua_pushfstring(L, "%s: options table expected, got %s", fname,
                    luaL_typename(L, 1));
    lua_concat(L, 2);
    return lua_error(L);
  }
  lua_settop(L, 3);
  lua_pushnil(L);
  while (lua_next(L, 1)) {
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    if (lua_type(L, -1) != LUA_TSTRING || lua_rawget(L, 3) == LUA_TNIL) {
      lua_pop(L, 1);
      opts_push_known(L, 3);
      lua_insert(L, -2); /* list, key */
      return opts_raise(L, fname, level);
    }
    lua_pop(L, 1);
  }
  lua_settop(L, 1);
  return 1;
}

static const luaL_Reg funcs[] = {{"check_options", l_check_options},
                                 {NULL, NULL}};

/* Registers core.check_options into the module at the top of L. */
void tide__lua_open_opts(lua_State *L, tide_runtime_t *rt) {
  (void)rt;
  luaL_setfuncs(L, funcs, 0);
}
