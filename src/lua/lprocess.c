/* Lua binding of child processes: _proc.spawn(args, opts) behind
 * tide.process.spawn and tide.process.run (lua/tide/process.lua).
 *
 * A process object is a userdata holding the C process (process.c) and,
 * in user values 1 to 3, the streams of the pipes made for its stdin,
 * stdout and stderr. Fields: p.pid, p.stdin, p.stdout, p.stderr (nil
 * unless "pipe"). Methods: wait([timeout]), kill([sig]), poll(), close(),
 * await(); awaiting the object (tide.await(p), combinators) waits for it.
 *
 * wait() returns code, signal: the exit status and nil, or 128 + the
 * signal's number and its name ("SIGKILL") when a signal ended the child,
 * as a shell reports it. It returns once the child has exited and its
 * output pipes are drained. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "../tide_fs.h"
#include "../tide_proc.h"

#define TIDE__MT_PROCESS "tide.process"

extern char **environ;

typedef struct {
  tide__process_t *p; /* NULL once let go */
  int pid;
} lproc_t;

static lproc_t *proc_check(lua_State *L) {
  return luaL_checkudata(L, 1, TIDE__MT_PROCESS);
}

/* A signal given by name ("SIGTERM") or number. */
static int proc_signal_arg(lua_State *L, int idx, int dflt) {
  int isnum, sig;
  lua_Integer n;
  if (lua_isnoneornil(L, idx)) return dflt;
  n = lua_tointegerx(L, idx, &isnum);
  if (isnum) {
    luaL_argcheck(L, n > 0 && n < 65, idx, "signal number out of range");
    return (int)n;
  }
  sig = tide__signal_number(luaL_checkstring(L, idx), NULL);
  if (sig == 0)
    return luaL_argerror(L, idx, lua_pushfstring(L, "unknown signal '%s'",
                                                 lua_tostring(L, idx)));
  return sig;
}

/* ------------------------------------------------------------ spawn */

/* The stdio option key of the table at opts into *io (default: inherit). */
static void proc_stdio_arg(lua_State *L, int opts, const char *key,
                           tide__stdio_t *io) {
  int t = lua_getfield(L, opts, key);
  io->kind = TIDE__STDIO_INHERIT;
  if (t == LUA_TNIL) {
  } else if (t == LUA_TSTRING) {
    const char *s = lua_tostring(L, -1);
    if (strcmp(s, "pipe") == 0) io->kind = TIDE__STDIO_PIPE;
    else if (strcmp(s, "null") == 0) io->kind = TIDE__STDIO_NULL;
    else if (strcmp(s, "inherit") != 0)
      luaL_error(L, "option '%s': \"pipe\", \"inherit\", \"null\", a stream, "
                    "a file or a descriptor expected, got '%s'", key, s);
  } else if (lua_isinteger(L, -1)) {
    lua_Integer fd = lua_tointeger(L, -1);
    if (fd < 0 || fd > 0x7fffffff)
      luaL_error(L, "option '%s': bad descriptor", key);
    io->kind = TIDE__STDIO_FD;
    io->fd = (int)fd;
  } else if (luaL_testudata(L, -1, TIDE__MT_STREAM)) {
    io->stream = tide__lua_checkstream(L, -1);
    if (io->stream == NULL) luaL_error(L, "option '%s': stream is closed", key);
    io->kind = TIDE__STDIO_STREAM;
  } else if ((io->fd = tide__lua_file_fd(L, -1)) >= 0) {
    io->kind = TIDE__STDIO_FD;
  } else {
    luaL_error(L, "option '%s': \"pipe\", \"inherit\", \"null\", a stream, a "
                  "file or a descriptor expected, got %s", key,
               luaL_typename(L, -1));
  }
  lua_pop(L, 1);
}

/* Pushes a userdata holding the NULL-terminated array of the n strings at
 * the top of the stack (which stay there, anchoring them). */
static char **proc_strv(lua_State *L, int n) {
  char **v = lua_newuserdatauv(L, sizeof(char *) * ((size_t)n + 1), 0);
  int i;
  for (i = 0; i < n; i++) v[i] = (char *)lua_tostring(L, -(n + 1) + i);
  v[n] = NULL;
  return v;
}

/* The child's environment: ours (unless clear_env) with the env table's
 * entries added or replaced (a false value removes the variable). Pushes
 * the strings and the array; returns the array, or NULL for ours as is. */
static char **proc_env(lua_State *L, int opts) {
  int clear, has_env, n = 0, env;
  char **e;
  lua_getfield(L, opts, "clear_env");
  clear = lua_toboolean(L, -1);
  lua_pop(L, 1);
  has_env = lua_getfield(L, opts, "env") != LUA_TNIL;
  if (has_env) luaL_checktype(L, -1, LUA_TTABLE);
  if (!has_env && !clear) {
    lua_pop(L, 1);
    return NULL;
  }
  env = lua_gettop(L);
  if (!clear) {
    for (e = environ; *e != NULL; e++) {
      const char *eq = strchr(*e, '=');
      if (eq == NULL) continue;
      if (has_env) {
        lua_pushlstring(L, *e, (size_t)(eq - *e));
        if (lua_rawget(L, env) != LUA_TNIL) { /* replaced or removed */
          lua_pop(L, 1);
          continue;
        }
        lua_pop(L, 1);
      }
      luaL_checkstack(L, 2, "environment too large");
      lua_pushstring(L, *e);
      n++;
    }
  }
  if (has_env) {
    lua_pushnil(L);
    while (lua_next(L, env)) {
      if (lua_type(L, -2) != LUA_TSTRING)
        luaL_error(L, "option 'env': names must be strings");
      if (lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
        lua_pop(L, 1);
        continue;
      }
      if (!lua_isstring(L, -1))
        luaL_error(L, "option 'env': '%s' must be a string, a number or "
                      "false", lua_tostring(L, -2));
      luaL_checkstack(L, 3, "environment too large");
      lua_pushfstring(L, "%s=%s", lua_tostring(L, -2), lua_tostring(L, -1));
      lua_insert(L, -3); /* below key and value */
      lua_pop(L, 1);
      n++;
    }
  }
  return proc_strv(L, n);
}

static int proc_push(lua_State *L, tide__process_t *p) {
  lproc_t *box = lua_newuserdatauv(L, sizeof(*box), 3);
  int i;
  box->p = p;
  box->pid = p->pid;
  luaL_setmetatable(L, TIDE__MT_PROCESS);
  for (i = 0; i < 3; i++) {
    if (p->pipes[i] == NULL) continue;
    tide__lua_pushstream(L, p->pipes[i]);
    lua_setiuservalue(L, -2, i + 1);
    if (i == 0) p->pipes[0] = NULL; /* the process never looks at stdin */
  }
  return 1;
}

/* _proc.spawn(args, opts) -> process | nil, err, name. args: a list of
 * strings (args[1] is the program, looked up in PATH without a slash).
 * opts: cwd, env, clear_env, stdin, stdout, stderr, detached,
 * kill_on_cancel, grace. */
static int l_spawn(lua_State *L) {
  static const char *const known[] = {
      "cwd", "env", "clear_env", "stdin", "stdout", "stderr", "detached",
      "kill_on_cancel", "grace", NULL};
  static const char *const stdio_keys[] = {"stdin", "stdout", "stderr"};
  tide_runtime_t *rt = tide__runtime_from(L);
  tide__spawn_t o;
  tide__process_t *p;
  int n, i, err, top, kill_sig = 0;
  lua_Number grace;
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, 2, LUA_TTABLE);
  tide__lua_check_options(L, 2, "tide.process.spawn", known);
  memset(&o, 0, sizeof(o));
  n = (int)luaL_len(L, 1);
  if (n < 1) return luaL_error(L, "tide.process.spawn: no program given");
  luaL_checkstack(L, n + 8, "too many arguments");
  for (i = 1; i <= n; i++) {
    lua_geti(L, 1, i);
    if (!lua_isstring(L, -1))
      return luaL_error(L, "tide.process.spawn: argument %d must be a "
                           "string, got %s", i, luaL_typename(L, -1));
    lua_tostring(L, -1); /* numbers become strings in place */
  }
  o.args = proc_strv(L, n);
  o.file = o.args[0];
  if (lua_getfield(L, 2, "cwd") != LUA_TNIL) {
    if (lua_type(L, -1) != LUA_TSTRING)
      return luaL_error(L, "option 'cwd': string expected");
    o.cwd = lua_tostring(L, -1);
  }
  o.env = proc_env(L, 2);
  for (i = 0; i < 3; i++) proc_stdio_arg(L, 2, stdio_keys[i], &o.stdio[i]);
  lua_getfield(L, 2, "detached");
  o.detached = lua_toboolean(L, -1);
  /* Checked before the spawn: a bad option must not leave a child behind. */
  if (lua_getfield(L, 2, "kill_on_cancel") != LUA_TNIL &&
      lua_toboolean(L, -1)) {
    if (lua_isboolean(L, -1)) kill_sig = SIGKILL;
    else if (lua_type(L, -1) == LUA_TSTRING)
      kill_sig = tide__signal_number(lua_tostring(L, -1), NULL);
    else if (lua_isinteger(L, -1) && lua_tointeger(L, -1) > 0 &&
             lua_tointeger(L, -1) < 65)
      kill_sig = (int)lua_tointeger(L, -1);
    if (kill_sig == 0)
      return luaL_error(L, "option 'kill_on_cancel': true or a signal "
                           "expected");
  }
  o.grace_ns = TIDE__PROC_GRACE_NS;
  if (lua_getfield(L, 2, "grace") != LUA_TNIL) {
    grace = luaL_checknumber(L, -1);
    if (!(grace >= 0 && grace <= 1e6))
      return luaL_error(L, "option 'grace': seconds from 0 to 1e6 expected");
    o.grace_ns = (uint64_t)(grace * 1e9);
  }
  top = lua_gettop(L);
  err = tide__process_spawn(rt, &o, &p);
  if (err != 0) {
    const char *what = lua_pushfstring(L, "%s: %s", tide_strerror(err),
                                       o.file);
    return tide__lua_fail(L, err, what);
  }
  lua_settop(L, top);
  p->kill_on_cancel = kill_sig;
  return proc_push(L, p);
}

/* ------------------------------------------------------------ waiting */

/* Pushes code, signal name of an exited child. */
static int proc_push_status(lua_State *L, tide__process_t *p) {
  if (p->term_signal != 0) {
    const char *name = tide__signal_name(p->term_signal);
    lua_pushinteger(L, 128 + p->term_signal);
    if (name != NULL) lua_pushstring(L, name);
    else lua_pushfstring(L, "SIG%d", p->term_signal);
  } else {
    lua_pushinteger(L, (lua_Integer)p->status);
    lua_pushnil(L);
  }
  return 2;
}

static int proc_gone(lua_State *L) {
  return tide__lua_fail(L, TIDE_ECLOSED, "process object is closed");
}

/* Takes the wake token; on a cancellation, kills the child if the process
 * was made with kill_on_cancel, then raises. */
static void wait_token(lua_State *L, tide__pwait_t *pw) {
  lproc_t *box = lua_touserdata(L, 1);
  if (lua_type(L, -1) == LUA_TLIGHTUSERDATA &&
      lua_touserdata(L, -1) == tide__token_wake) {
    lua_pop(L, 1);
    return;
  }
  if (pw != NULL) tide__pwait_release(pw);
  if (box->p != NULL && box->p->kill_on_cancel != 0)
    tide__process_kill(box->p, box->p->kill_on_cancel);
  tide__lua_check_wake(L); /* raises */
}

static int wait_k(lua_State *L, int status, lua_KContext ctx) {
  tide__pwait_t *pw = (tide__pwait_t *)ctx;
  lproc_t *box = lua_touserdata(L, 1);
  int timedout;
  (void)status;
  wait_token(L, pw);
  timedout = pw != NULL && pw->timedout;
  if (pw != NULL) tide__pwait_release(pw);
  if (box->p == NULL) return proc_gone(L);
  if (box->p->done.state == TIDE__PENDING && timedout)
    return tide__lua_fail(L, UV_ETIMEDOUT, "the process is still running");
  return proc_push_status(L, box->p);
}

/* p:wait([timeout]) -> code, signal | nil, "ETIMEDOUT: ...", "ETIMEDOUT":
 * once the child has exited and its output pipes are drained. Cancelling
 * the waiting task leaves the child running, unless it was spawned with
 * kill_on_cancel. */
static int l_proc_wait(lua_State *L) {
  lproc_t *box = proc_check(L);
  tide__pwait_t *pw = NULL;
  uint64_t ns = 0;
  int err;
  if (!lua_isnoneornil(L, 2)) {
    lua_Number t = luaL_checknumber(L, 2);
    luaL_argcheck(L, t >= 0, 2, "timeout must be >= 0");
    ns = t > 1e9 ? 0 : (uint64_t)(t * 1e9);
    if (t > 0 && ns == 0 && t <= 1e9) ns = 1;
    if (t == 0) ns = 1;
  }
  lua_settop(L, 1);
  if (box->p == NULL) return proc_gone(L);
  if (box->p->done.state != TIDE__PENDING) return proc_push_status(L, box->p);
  tide__lua_await_begin(L);
  if (ns == 0)
    return tide__lua_await_yield(L, &box->p->done, 0, wait_k);
  err = tide__process_wait(box->p, ns, &pw);
  if (err != 0) return luaL_error(L, "tide: %s", tide_strerror(err));
  return tide__lua_await_yield(L, &pw->fut, (lua_KContext)pw, wait_k);
}

/* p:await(), tide.await(p): wait() without a timeout. */
static int l_proc_await(lua_State *L) {
  proc_check(L);
  lua_settop(L, 1);
  return l_proc_wait(L);
}

/* p:poll() -> code, signal once the child has exited (its pipes may still
 * hold output), nil while it runs. */
static int l_proc_poll(lua_State *L) {
  lproc_t *box = proc_check(L);
  if (box->p == NULL) return proc_gone(L);
  if (!box->p->exited) {
    lua_pushnil(L);
    return 1;
  }
  return proc_push_status(L, box->p);
}

/* p:kill([sig]) -> true | nil, "ESRCH: ...", "ESRCH": sends sig (a name
 * or a number; default "SIGTERM"). */
static int l_proc_kill(lua_State *L) {
  lproc_t *box = proc_check(L);
  int sig = proc_signal_arg(L, 2, SIGTERM), err;
  if (box->p == NULL) return proc_gone(L);
  err = tide__process_kill(box->p, sig);
  if (err == UV_ESRCH) return tide__lua_fail(L, err, "the process has exited");
  if (err != 0) return tide__lua_fail(L, err, NULL);
  lua_pushboolean(L, 1);
  return 1;
}

/* Lets go of the C process (the child is still reaped when it exits). */
static void proc_let_go(lproc_t *box) {
  if (box->p == NULL) return;
  tide__process_release(box->p);
  box->p = NULL;
}

/* p:close(), <close>: closes the pipes made for it (the child sees the
 * end of its input; what was written to it still goes) and lets go of
 * the child: it runs on and is reaped when it exits. p:kill() first to end
 * it. Closing twice is fine. */
static int l_proc_close(lua_State *L) {
  lproc_t *box = proc_check(L);
  int i;
  for (i = 1; i <= 3; i++) {
    if (lua_getiuservalue(L, 1, i) == LUA_TUSERDATA) {
      tide__stream_t *s = tide__lua_checkstream(L, -1);
      if (s != NULL) tide__stream_close_flush(s);
    }
    lua_pop(L, 1);
  }
  proc_let_go(box);
  lua_pushboolean(L, 1);
  return 1;
}

/* __gc: lets go (the pipes are objects of their own, collected apart). */
static int l_proc_gc(lua_State *L) {
  lproc_t *box = lua_touserdata(L, 1);
  proc_let_go(box);
  return 0;
}

/* __index: pid, stdin, stdout, stderr, then the methods (upvalue 1). */
static int l_proc_index(lua_State *L) {
  static const char *const fields[] = {"stdin", "stdout", "stderr", NULL};
  lproc_t *box = lua_touserdata(L, 1);
  const char *k = lua_tostring(L, 2);
  int i;
  if (k != NULL) {
    if (strcmp(k, "pid") == 0) {
      lua_pushinteger(L, box->pid);
      return 1;
    }
    for (i = 0; fields[i] != NULL; i++) {
      if (strcmp(k, fields[i]) == 0) {
        lua_getiuservalue(L, 1, i + 1);
        return 1;
      }
    }
  }
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1));
  return 1;
}

static int l_proc_tostring(lua_State *L) {
  lproc_t *box = lua_touserdata(L, 1);
  const char *state = box->p == NULL    ? "closed"
                      : box->p->exited  ? "exited"
                                        : "running";
  lua_pushfstring(L, "tide.process (pid %d, %s): %p", box->pid, state,
                  (void *)box);
  return 1;
}

/* _proc.kill(pid, sig) -> true | nil, err, name: sends a signal to any
 * process (uv_kill). */
static int l_kill_pid(lua_State *L) {
  lua_Integer pid = luaL_checkinteger(L, 1);
  int sig = proc_signal_arg(L, 2, SIGTERM), err;
  luaL_argcheck(L, pid > 0 && pid <= 0x7fffffff, 1, "pid out of range");
  err = uv_kill((int)pid, sig);
  if (err != 0) return tide__lua_fail(L, err, NULL);
  lua_pushboolean(L, 1);
  return 1;
}

/* _proc.signals() -> {name = number, ...} of every signal tide knows, and
 * {name = true} of those a watcher can wait for. */
static int l_signals(lua_State *L) {
  const char *name;
  int i, watch;
  lua_newtable(L);
  lua_newtable(L);
  for (i = 0; (name = tide__signal_list(i, &watch)) != NULL; i++) {
    lua_pushinteger(L, tide__signal_number(name, NULL));
    lua_setfield(L, -3, name);
    if (watch) {
      lua_pushboolean(L, 1);
      lua_setfield(L, -2, name);
    }
  }
  return 2;
}

static const luaL_Reg proc_methods[] = {
    {"wait", l_proc_wait},
    {"await", l_proc_await},
    {"poll", l_proc_poll},
    {"kill", l_proc_kill},
    {"close", l_proc_close},
    {NULL, NULL}};

static const luaL_Reg funcs[] = {
    {"spawn", l_spawn},
    {"kill", l_kill_pid},
    {"signals", l_signals},
    {NULL, NULL}};

/* Registers the process metatable and adds module._proc to the module at
 * the top of L; the runtime box is at the top - 1. */
void tide__lua_open_process(lua_State *L, tide_runtime_t *rt) {
  (void)rt;
  luaL_newmetatable(L, TIDE__MT_PROCESS);
  lua_newtable(L); /* methods */
  lua_pushvalue(L, -4);
  luaL_setfuncs(L, proc_methods, 1);
  lua_pushcclosure(L, l_proc_index, 1);
  lua_setfield(L, -2, "__index");
  lua_pushvalue(L, -3);
  lua_pushcclosure(L, l_proc_await, 1);
  lua_setfield(L, -2, "__await");
  lua_pushvalue(L, -3);
  lua_pushcclosure(L, l_proc_close, 1);
  lua_setfield(L, -2, "__close");
  lua_pushcfunction(L, l_proc_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, l_proc_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  lua_pushvalue(L, -2);
  lua_newtable(L);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, funcs, 1);
  lua_pushinteger(L, uv_os_getpid());
  lua_setfield(L, -2, "pid");
  lua_setfield(L, -3, "_proc");
  lua_pop(L, 1);
}
