/* Ctrl-C for the REPL's lines that never await (lua/tide/repl.lua).
 *
 * The REPL cancels a line's task when SIGINT arrives, through a libuv
 * signal watcher (tide.on_signal): that works whenever the loop runs, which
 * is whenever the line awaits. A line that computes without awaiting
 * (`while true do end`) keeps the loop from ever running the watcher. lua.c
 * answers Ctrl-C in such code with a hook set from its signal handler, and
 * so does this file, for the line's task only: while a line runs, SIGINT
 * goes first to a handler of ours, which, if that task is the one running
 * (its coroutine executes Lua code right now), sets a count hook on the
 * task's coroutine; the hook raises "interrupted" at the next instruction,
 * as lua's REPL does. The handler then calls the handler it replaced
 * (libuv's), so the watcher still hears the signal; it asks take() whether
 * the hook already delivered it, so that one Ctrl-C does not act twice.
 *
 *   _repl.arm()      in the line's task: our handler stands in front of
 *                    libuv's until disarm
 *   _repl.disarm()   in the same task, before it ends: the handler before
 *                    ours comes back, and a hook not yet run is removed
 *   _repl.take()     -> true once per SIGINT a hook delivered since arm;
 *                    false, and a hook that has not run removed, otherwise
 *
 * One REPL per process (signal dispositions are per process): arm raises
 * if another task holds it. The runtime's close disarms (a resource). */
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "../tide_lua.h"

static struct {
  tide__resource_t res;        /* in rt->resources while armed */
  tide_runtime_t *rt;          /* the armed runtime, NULL when disarmed */
  tide__task_t *line;          /* the line's task (pending while armed: the
                                  REPL awaits it) */
  struct sigaction old;        /* SIGINT's handler before ours */
  pthread_t main;              /* the loop's thread: the only one whose
                                  coroutines the handler may hook */
  volatile sig_atomic_t fired; /* hooks run since arm, not yet taken */
} repl;

/* Runs in the line's coroutine at its next instruction after a SIGINT. */
static void repl_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  repl.fired++;
  luaL_error(L, "interrupted");
}

/* The SIGINT handler while a line runs: hooks the line's coroutine if it
 * is the one running (lua_sethook may be called from a signal handler:
 * lua.c does it), then passes the signal on. */
static void repl_on_sigint(int signum, siginfo_t *info, void *uctx) {
  tide_runtime_t *rt = repl.rt;
  if (rt != NULL && pthread_equal(pthread_self(), repl.main)) {
    tide__task_t *t = repl.line;
    if (t != NULL && rt->current == t && t->co != NULL)
      lua_sethook(t->co, repl_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT,
                  1);
  }
  if (repl.old.sa_flags & SA_SIGINFO) {
    repl.old.sa_sigaction(signum, info, uctx);
  } else if (repl.old.sa_handler != SIG_DFL && repl.old.sa_handler != SIG_IGN) {
    repl.old.sa_handler(signum);
  } else if (repl.old.sa_handler == SIG_DFL) {
    /* Nobody watched SIGINT: its default action, as without us. */
    signal(signum, SIG_DFL);
    raise(signum);
  }
}

/* Puts the old handler back and forgets the line (idempotent). */
static void repl_disarm(void) {
  if (repl.rt == NULL) return;
  sigaction(SIGINT, &repl.old, NULL);
  tide__link_remove(&repl.res.link);
  repl.rt = NULL;
  repl.line = NULL;
}

static void repl_res_close(tide__resource_t *res) {
  (void)res;
  repl_disarm();
}

/* _repl.arm(): from a task (the line's): SIGINT hooks this task while it
 * runs Lua code, until disarm. */
static int l_repl_arm(lua_State *L) {
  tide_runtime_t *rt = tide__runtime_from(L);
  struct sigaction sa;
  if (rt->current == NULL || rt->current->co != L)
    return luaL_error(L, "tide.repl: arm outside the line's task");
  if (repl.rt != NULL) return luaL_error(L, "tide.repl: another line is armed");
  memset(&sa, 0, sizeof(sa));
  sa.sa_sigaction = repl_on_sigint;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigfillset(&sa.sa_mask);
  repl.fired = 0;
  repl.main = pthread_self();
  repl.line = rt->current;
  repl.res.close = repl_res_close;
  if (sigaction(SIGINT, &sa, &repl.old) != 0)
    return luaL_error(L, "tide.repl: cannot watch SIGINT");
  tide__link_insert_tail(&rt->resources, &repl.res.link);
  repl.rt = rt;
  return 0;
}

/* _repl.disarm(): from the task that armed: the old handler is back, and
 * a hook the handler set but that has not run yet is removed (it would
 * fire in whatever task reuses the coroutine). */
static int l_repl_disarm(lua_State *L) {
  if (lua_gethook(L) == repl_hook) lua_sethook(L, NULL, 0, 0);
  repl_disarm();
  return 0;
}

/* _repl.take() -> true if a hook delivered a SIGINT not yet taken (the
 * watcher then leaves that one alone). Otherwise the watcher delivers it,
 * as a cancellation: a hook the handler set but that has not run (the
 * signal came while the line was in C code on its way to an await) is
 * removed, lest it raise later in the middle of the cleanup. Called from
 * the loop (the watcher's callback), where no task's coroutine runs. */
static int l_repl_take(lua_State *L) {
  int fired = repl.fired > 0;
  if (fired) {
    repl.fired--;
  } else if (repl.line != NULL && repl.line->co != NULL &&
             lua_gethook(repl.line->co) == repl_hook) {
    lua_sethook(repl.line->co, NULL, 0, 0);
  }
  lua_pushboolean(L, fired);
  return 1;
}

static const luaL_Reg funcs[] = {{"arm", l_repl_arm},
                                 {"disarm", l_repl_disarm},
                                 {"take", l_repl_take},
                                 {NULL, NULL}};

/* Adds the _repl table to the module table at the top of L (the runtime
 * box at top - 1). */
void tide__lua_open_repl(lua_State *L, tide_runtime_t *rt) {
  (void)rt;
  lua_newtable(L);
  lua_pushvalue(L, -3);
  luaL_setfuncs(L, funcs, 1);
  lua_setfield(L, -2, "_repl");
}
