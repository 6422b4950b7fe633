/* The "yield from" tunnel: coroutine.resume and coroutine.wrap, replaced so
 * that an await inside a script's own coroutine reaches the task.
 *
 * When the coroutine being resumed yields the await sentinel, the resumer
 * does not return it to the script: it yields the same two values to its own
 * resumer (and so on up to the task), then passes the task's wake token
 * back down when it is resumed. Every other yield returns to the immediate
 * resumer exactly as standard Lua does; the rest of the behaviour (error
 * positions, closing a failed wrapped coroutine) follows lcorolib.c. */
#include "../tide_lua.h"

static int co_drive(lua_State *L, lua_State *co, int narg, lua_KContext ctx);

/* registry[&co_awaiting] = weak-keyed set of the coroutines suspended in a
 * tide await that the tunnel passes up: only the task awaiting through
 * them may resume them (with its wake token), and nobody may close them
 * (their await's continuation must run to release what it waits on). */
static char co_awaiting[1];

/* Marks (on) or unmarks co as suspended in a tunnelled await. */
static void co_mark(lua_State *L, lua_State *co, int on) {
  luaL_checkstack(L, 3, NULL);
  lua_rawgetp(L, LUA_REGISTRYINDEX, co_awaiting);
  lua_pushthread(co);
  lua_xmove(co, L, 1);
  if (on) lua_pushboolean(L, 1);
  else lua_pushnil(L);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

static int co_is_awaiting(lua_State *L, lua_State *co) {
  int is;
  luaL_checkstack(L, 2, NULL);
  lua_rawgetp(L, LUA_REGISTRYINDEX, co_awaiting);
  if (lua_type(L, -1) != LUA_TTABLE) {
    lua_pop(L, 1);
    return 0;
  }
  lua_pushthread(co);
  lua_xmove(co, L, 1);
  is = lua_rawget(L, -2) != LUA_TNIL;
  lua_pop(L, 2);
  return is;
}

/* ctx: which function is driving. */
#define CO_RESUME 0
#define CO_WRAP 1

static lua_State *co_of(lua_State *L, lua_KContext ctx) {
  return ctx == CO_RESUME ? lua_tothread(L, 1)
                          : lua_tothread(L, lua_upvalueindex(2));
}

static int co_k(lua_State *L, int status, lua_KContext ctx) {
  lua_State *co = co_of(L, ctx);
  void *tok = lua_touserdata(L, -1);
  (void)status;
  /* Only the task's own wake-up may come here: a coroutine that waits in a
   * tunnelled await cannot be resumed by hand (co_check refuses), but a
   * host could still resume it from C. */
  if (co == NULL || lua_status(co) != LUA_YIELD ||
      lua_type(L, -1) != LUA_TLIGHTUSERDATA ||
      (tok != tide__token_wake && tok != tide__token_cancel &&
       tok != tide__token_notask))
    return luaL_error(L, "tide: a coroutine waiting in a tide await was "
                         "resumed by hand");
  co_mark(L, co, 0);
  lua_xmove(L, co, 1); /* the wake token goes down to the waiting await */
  return co_drive(L, co, 1, ctx);
}

/* Is co the coroutine of a task? A task's coroutine is driven by its task
 * only. Its bottom frame is the task body (src/task.c, or an accepted
 * connection's, src/lua/ltcp.c): found by walking
 * down its call stack, so plain coroutines pay a few steps and no lookup. */
static int co_is_task(lua_State *L, lua_State *co) {
  lua_Debug ar;
  int level, is;
  (void)L;
  if (!lua_getstack(co, 0, &ar)) return 0; /* not started, or dead */
  for (level = 1; lua_getstack(co, level, &ar); level++)
    ;
  if (!lua_getstack(co, level - 1, &ar) || !lua_checkstack(co, 1) ||
      !lua_getinfo(co, "f", &ar))
    return 0;
  is = lua_tocfunction(co, -1) == tide__task_body ||
       lua_tocfunction(co, -1) == tide__lua_conn_body;
  lua_pop(co, 1);
  return is;
}

/* Resumes co with the narg values on top of L. Returns like the standard
 * functions: for resume, true and the values or false and the error; for
 * wrap, the values, or raises the error. */
static int co_drive(lua_State *L, lua_State *co, int narg, lua_KContext ctx) {
  for (;;) {
    int nres, status = lua_resume(co, L, narg, &nres);
    if (status == LUA_YIELD && nres == 2 &&
        lua_touserdata(co, -2) == tide__sentinel) {
      if (lua_isyieldable(L)) {
        lua_xmove(co, L, 2);
        co_mark(L, co, 1);
        return lua_yieldk(L, 2, ctx, co_k);
      }
      /* Nobody above us can wait: the await inside fails. */
      lua_pop(co, 2);
      lua_pushlightuserdata(co, tide__token_notask);
      narg = 1;
      continue;
    }
    if (status == LUA_OK || status == LUA_YIELD) {
      if (!lua_checkstack(L, nres + 1)) {
        lua_pop(co, nres);
        if (ctx == CO_WRAP) return luaL_error(L, "too many results to resume");
        lua_pushboolean(L, 0);
        lua_pushliteral(L, "too many results to resume");
        return 2;
      }
      if (ctx == CO_RESUME) lua_pushboolean(L, 1);
      lua_xmove(co, L, nres);
      return nres + (ctx == CO_RESUME);
    }
    /* Error. */
    if (ctx == CO_RESUME) {
      lua_pushboolean(L, 0);
      lua_xmove(co, L, 1);
      return 2;
    }
    if (lua_resetthread(co) != LUA_OK || lua_gettop(co) > 0)
      lua_xmove(co, L, 1);
    else
      lua_pushnil(L);
    if (lua_type(L, -1) == LUA_TSTRING) {
      luaL_where(L, 1);
      lua_insert(L, -2);
      lua_concat(L, 2);
    }
    return lua_error(L);
  }
}

/* The checks of lcorolib's auxresume before a resume. Returns an error
 * message or NULL. */
static const char *co_check(lua_State *L, lua_State *co, int narg) {
  if (lua_status(co) == LUA_OK && lua_gettop(co) == 0)
    return "cannot resume dead coroutine";
  if (co_is_task(L, co)) return "tide: cannot resume a task's coroutine";
  if (lua_status(co) == LUA_YIELD && co_is_awaiting(L, co))
    return "tide: cannot resume a coroutine that waits in a tide await (the "
           "task awaiting through it resumes it)";
  if (!lua_checkstack(co, narg)) return "too many arguments to resume";
  return NULL;
}

static int l_resume(lua_State *L) {
  lua_State *co = lua_tothread(L, 1);
  int narg = lua_gettop(L) - 1;
  const char *err;
  luaL_argexpected(L, co, 1, "coroutine");
  err = co_check(L, co, narg);
  if (err != NULL) {
    lua_pushboolean(L, 0);
    lua_pushstring(L, err);
    return 2;
  }
  lua_xmove(L, co, narg);
  return co_drive(L, co, narg, CO_RESUME);
}

static int l_wrapped(lua_State *L) {
  lua_State *co = lua_tothread(L, lua_upvalueindex(2));
  int narg = lua_gettop(L);
  const char *err = co_check(L, co, narg);
  if (err != NULL) {
    luaL_where(L, 1);
    lua_pushstring(L, err);
    lua_concat(L, 2);
    return lua_error(L);
  }
  lua_xmove(L, co, narg);
  return co_drive(L, co, narg, CO_WRAP);
}

static int l_wrap(lua_State *L) {
  lua_State *co;
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_pushvalue(L, lua_upvalueindex(1));
  co = lua_newthread(L);
  lua_pushvalue(L, 1);
  lua_xmove(L, co, 1);
  lua_pushcclosure(L, l_wrapped, 2);
  return 1;
}

/* coroutine.close refuses a pending task's coroutine. */
static int l_close(lua_State *L) {
  lua_State *co = lua_tothread(L, 1);
  luaL_argexpected(L, co, 1, "coroutine");
  if (co_is_task(L, co))
    return luaL_error(L, "tide: cannot close a task's coroutine (cancel "
                         "the task instead)");
  if (lua_status(co) == LUA_YIELD && co_is_awaiting(L, co))
    return luaL_error(L, "tide: cannot close a coroutine that waits in a "
                         "tide await (cancel the task awaiting through it)");
  lua_pushvalue(L, lua_upvalueindex(2));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

/* Installs the functions into the global coroutine library (the box is at
 * the top - 1 of L, the module at the top). */
void tide__lua_open_coro(lua_State *L, tide_runtime_t *rt) {
  (void)rt;
  lua_newtable(L); /* the awaiting set, weak-keyed */
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, co_awaiting);
  if (lua_getglobal(L, "coroutine") != LUA_TTABLE) {
    lua_pop(L, 1);
    return;
  }
  lua_pushvalue(L, -3);
  lua_pushcclosure(L, l_resume, 1);
  lua_setfield(L, -2, "resume");
  lua_pushvalue(L, -3);
  lua_pushcclosure(L, l_wrap, 1);
  lua_setfield(L, -2, "wrap");
  lua_getfield(L, -1, "close");
  if (lua_iscfunction(L, -1) && lua_tocfunction(L, -1) != l_close) {
    lua_pushvalue(L, -4);
    lua_insert(L, -2);
    lua_pushcclosure(L, l_close, 2);
    lua_setfield(L, -2, "close");
  } else {
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}
