/* The tide.core module: opening it, and the loop-facing functions (sleep,
 * now, yield, run). Futures, tasks and the coroutine tunnel register
 * themselves from their own files. */
#include <math.h>
#include <signal.h>
#include <string.h>

#include "../tide_host.h"
#include "../tide_lua.h"


/* ------------------------------------------------------------ sleep */

static void sleep_on_timer(tide__timer_t *timer) {
  tide__taskwait_t *w = TIDE__CONTAINER_OF(timer, tide__taskwait_t, timer);
  tide__future_complete(&w->sleep, TIDE__DONE);
}

/* Cancelling a sleep disarms its timer; the future is then cancelled. */
static int sleep_on_cancel(tide__future_t *f) {
  tide__taskwait_t *w = TIDE__CONTAINER_OF(f, tide__taskwait_t, sleep);
  tide__timer_stop(f->loop, &w->timer);
  return 0;
}

static int sleep_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  tide__lua_check_wake(L);
  return 0;
}

/* tide.sleep(seconds): suspends the running task for that long (0: until
 * the loop's next turn; math.huge: until cancelled). Each task owns one
 * timer and one sleep future (made at its first sleep), so sleeping again
 * allocates nothing. */
static int l_sleep(lua_State *L) {
  lua_Number s = luaL_checknumber(L, 1);
  tide_runtime_t *rt = tide__runtime_from(L);
  tide__task_t *t;
  tide__taskwait_t *w;
  luaL_argcheck(L, s == s, 1, "duration is NaN");
  luaL_argcheck(L, s >= 0, 1, "negative duration");
  t = tide__lua_await_begin(L);
  if (s == 0) return tide__lua_await_yield(L, &rt->done_future, 0, sleep_k);
  w = tide__task_wait(L, t);
  tide__future_reset(&w->sleep);
  w->sleep.cancel = sleep_on_cancel;
  w->timer.fn = sleep_on_timer;
  if (s < 1e9) { /* about 31 years: beyond that, forever */
    uint64_t due = tide__loop_now(&rt->loop) + (uint64_t)(s * 1e9);
    if (tide__timer_start(&rt->loop, &w->timer, due) != 0)
      return luaL_error(L, "tide.sleep: %s", tide_strerror(TIDE_ENOMEM));
  }
  return tide__lua_await_yield(L, &w->sleep, 0, sleep_k);
}

/* tide.yield(): lets every other ready task run, then continues. */
static int l_yield(lua_State *L) {
  tide_runtime_t *rt = tide__runtime_from(L);
  tide__lua_await_begin(L);
  return tide__lua_await_yield(L, &rt->done_future, 0, sleep_k);
}

/* tide.now(): the loop's monotonic clock, in seconds. */
static int l_now(lua_State *L) {
  tide_runtime_t *rt = tide__runtime_from(L);
  lua_pushnumber(L, (lua_Number)tide__loop_now(&rt->loop) / 1e9);
  return 1;
}

/* ------------------------------------------------------------ run */

/* Raises the error of a run that SIGINT or SIGTERM interrupted: kind
 * "interrupted", with the signal's name and the exit status a shell
 * expects (130, 143). */
static int run_interrupted(lua_State *L, int signum) {
  const char *name = signum == SIGINT ? "SIGINT" : "SIGTERM";
  lua_pushfstring(L, "tide: interrupted by %s", name);
  tide__lua_pusherror(L, "interrupted", lua_tostring(L, -1));
  lua_pushstring(L, name);
  lua_setfield(L, -2, "signal");
  lua_pushinteger(L, 128 + signum);
  lua_setfield(L, -2, "status");
  return lua_error(L);
}

/* tide.run([opts,] fn, ...): runs fn as the root task until it finishes,
 * then cancels the tasks it left behind and waits for their cleanup (as
 * asyncio.run does). Returns fn's values or raises its error. Raises if the
 * loop is already running, or if the root task can never finish (every
 * task waits and nothing can wake them: a deadlock). opts.signals (default
 * true): SIGINT/SIGTERM cancel the root task, whose cleanup runs, and the
 * run raises an error of kind "interrupted" (.signal, .status = 128+n); a
 * second signal ends the process. */
static int l_run(lua_State *L) {
  static const char *const known[] = {"signals", NULL};
  tide_runtime_t *rt = tide__runtime_from(L);
  tide__task_t *t;
  int deadlock = 0, signals = 1, signum, round;
  if (lua_type(L, 1) == LUA_TTABLE) {
    tide__lua_check_options(L, 1, "tide.run", known);
    if (lua_getfield(L, 1, "signals") != LUA_TNIL)
      signals = lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_remove(L, 1);
  }
  luaL_checktype(L, 1, LUA_TFUNCTION);
  if (rt->loop.running || rt->current != NULL) {
    /* No position: the caller is the facade's tide.run. */
    lua_pushliteral(L, "tide.run: the loop is already running (inside a "
                       "task, use tide.spawn or tide.await)");
    return lua_error(L);
  }
  if (rt->in_run) {
    /* An error handler or a close callback run by the end of a run: a run
     * started there would report its own errors to the same handler, one
     * run deeper per error (a C stack overflow). */
    lua_pushliteral(L, "tide.run: a run is ending (called from an error "
                       "handler or callback during the end of tide.run)");
    return lua_error(L);
  }
  t = tide__task_new(L, rt, lua_gettop(L) - 1); /* stack: [task] */
  rt->in_run = 1; /* nothing below raises until it is cleared */
  if (signals && tide__interrupt_watch(rt, t) != 0) signals = 0;
  while (t->aw.fut.state == TIDE__PENDING) {
    if (!tide__loop_run_once(&rt->loop, 0) &&
        t->aw.fut.state == TIDE__PENDING) {
      if (deadlock) break; /* it ignored the cancellation too */
      deadlock = 1;
      tide__task_cancel(t, L, 0);
    }
  }
  tide__task_mark_observed(t);
  tide__runtime_cancel_all(rt);
  signum = tide__interrupt_signal(rt);
  if (signals) tide__interrupt_watch(rt, NULL);
  /* What belonged to this run ends with it (as asyncio.run closes its
   * loop): streams still flushing after their close(), callbacks not yet
   * due. The last loop turns (close callbacks, a connection accepted
   * meanwhile) and the error handler the reports call may start tasks
   * again: they end with this run too, a few rounds at most. */
  for (round = 0; round < 8; round++) {
    if (tide__runtime_close_run_scoped(rt) > 0)
      tide__loop_run_once(&rt->loop, 1); /* their close callbacks */
    tide__task_report_unobserved(rt);
    /* The error handler may also have made callbacks (call_later): the
     * next round closes them. */
    if (rt->ntasks == 0 && !tide__runtime_has_run_scoped(rt)) break;
    tide__runtime_cancel_all(rt);
  }
  rt->in_run = 0;
  if (deadlock)
    return luaL_error(L, "tide.run: deadlock: the main task waits for "
                         "something that can never happen (no task is "
                         "ready, no timer or I/O is pending)");
  if (signals && signum != 0 && t->aw.fut.state == TIDE__CANCELLED)
    return run_interrupted(L, signum);
  return t->aw.results(L, 1);
}

/* tide.set_error_handler(fn | nil): fn(err, task) receives every unhandled
 * error (a task's error nobody retrieved, a failing done-callback). nil
 * restores the default, which prints to stderr. Returns the old handler. */
static int l_set_error_handler(lua_State *L) {
  tide_runtime_t *rt = tide__runtime_from(L);
  if (!lua_isnil(L, 1)) luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_settop(L, 1);
  if (rt->errh_ref != LUA_NOREF)
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->errh_ref);
  else
    lua_pushnil(L);
  luaL_unref(L, LUA_REGISTRYINDEX, rt->errh_ref); /* the one release */
  rt->errh_ref = LUA_NOREF;
  if (!lua_isnil(L, 1)) {
    lua_pushvalue(L, 1);
    rt->errh_ref = luaL_ref(L, LUA_REGISTRYINDEX); /* owner: the runtime */
  }
  return 1;
}

/* tide.stats() -> counts for specs, introspection and operators: tasks
 * (pending), ready, timers, handles (libuv handles tide has open),
 * accept_errors (accepts that failed: EMFILE and others), conns_accepted,
 * conns_active, conns_refused (for want of descriptors), bytes_in,
 * bytes_out, read_buffers and read_buffer_bytes (what streams hold of
 * read buffers now: only a stream with bytes waiting holds one),
 * tasks_spawned, tasks_failed, iterations (of the loop), slow_steps and
 * slowest_step (seconds; tide.debug{slow_callback=}). */
static int l_stats(lua_State *L) {
  tide_runtime_t *rt = tide__runtime_from(L);
  lua_createtable(L, 0, 18);
  lua_pushinteger(L, rt->ntasks);
  lua_setfield(L, -2, "tasks");
  lua_pushinteger(L, (lua_Integer)rt->loop.ready_count);
  lua_setfield(L, -2, "ready");
  lua_pushinteger(L, (lua_Integer)rt->loop.heap_len);
  lua_setfield(L, -2, "timers");
  /* Less the runtime's own: the loop's check, idle and timer handles, the
   * virtual clock's prepare handle, the embedding hub's async handle, the
   * two signal watchers of interrupt.c and its drain timer, the worker
   * pools' async handles (quiet_handles). */
  lua_pushinteger(L, rt->loop.handles - 3 - (rt->loop.prepare != NULL) -
                         (rt->hub != NULL && rt->hub->async != NULL) -
                         tide__interrupt_handles(rt) - rt->quiet_handles);
  lua_setfield(L, -2, "handles");
  lua_pushinteger(L, (lua_Integer)rt->accept_errors);
  lua_setfield(L, -2, "accept_errors");
  /* What an operator watches. */
  lua_pushinteger(L, (lua_Integer)rt->loop.conns_accepted);
  lua_setfield(L, -2, "conns_accepted");
  lua_pushinteger(L, (lua_Integer)rt->loop.conns_active);
  lua_setfield(L, -2, "conns_active");
  lua_pushinteger(L, (lua_Integer)rt->loop.conns_refused);
  lua_setfield(L, -2, "conns_refused");
  lua_pushinteger(L, (lua_Integer)rt->loop.bytes_in);
  lua_setfield(L, -2, "bytes_in");
  lua_pushinteger(L, (lua_Integer)rt->loop.bytes_out);
  lua_setfield(L, -2, "bytes_out");
  lua_pushinteger(L, (lua_Integer)rt->loop.rbufs);
  lua_setfield(L, -2, "read_buffers");
  lua_pushinteger(L, (lua_Integer)rt->loop.rbuf_bytes);
  lua_setfield(L, -2, "read_buffer_bytes");
  lua_pushinteger(L, (lua_Integer)rt->next_task_id);
  lua_setfield(L, -2, "tasks_spawned");
  lua_pushinteger(L, (lua_Integer)rt->tasks_failed);
  lua_setfield(L, -2, "tasks_failed");
  lua_pushinteger(L, (lua_Integer)rt->loop.iterations);
  lua_setfield(L, -2, "iterations");
  lua_pushinteger(L, (lua_Integer)rt->slow_steps);
  lua_setfield(L, -2, "slow_steps");
  lua_pushnumber(L, (lua_Number)rt->slowest_ns / 1e9);
  lua_setfield(L, -2, "slowest_step");
  return 1;
}

/* tide.debug{slow_callback = seconds | false}: with a number, every task
 * step that holds the loop longer than that (no await in between) is
 * reported to the error handler, naming the task and the line it reached,
 * and tide.stats() keeps the slowest (asyncio's debug mode); false turns
 * it off. Returns the previous setting. */
static int l_debug(lua_State *L) {
  static const char *const known[] = {"slow_callback", NULL};
  tide_runtime_t *rt = tide__runtime_from(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  tide__lua_check_options(L, 1, "tide.debug", known);
  if (rt->slow_ns) lua_pushnumber(L, (lua_Number)rt->slow_ns / 1e9);
  else lua_pushboolean(L, 0);
  if (lua_getfield(L, 1, "slow_callback") == LUA_TNUMBER) {
    lua_Number s = lua_tonumber(L, -1);
    luaL_argcheck(L, s > 0, 1, "slow_callback must be > 0 seconds");
    rt->slow_ns = s >= 1e9 ? UINT64_MAX : (uint64_t)(s * 1e9);
    if (rt->slow_ns == 0) rt->slow_ns = 1;
  } else if (lua_isboolean(L, -1) && !lua_toboolean(L, -1)) {
    rt->slow_ns = 0;
  } else if (!lua_isnil(L, -1)) {
    return luaL_argerror(L, 1, "slow_callback: seconds or false expected");
  }
  lua_pop(L, 1);
  return 1;
}

/* tide.virtual_clock(on) -> was_on: with the virtual clock, loop time jumps
 * to the next timer whenever no task is ready and no I/O is in flight, so
 * sleeps and timeouts take no real time. tide.now() includes the jumps. */
static int l_virtual_clock(lua_State *L) {
  tide_runtime_t *rt = tide__runtime_from(L);
  int was;
  luaL_checktype(L, 1, LUA_TBOOLEAN);
  was = tide__loop_set_autojump(&rt->loop, lua_toboolean(L, 1));
  if (was < 0) return luaL_error(L, "tide: %s", tide_strerror(was));
  lua_pushboolean(L, was);
  return 1;
}

static const luaL_Reg funcs[] = {
    {"sleep", l_sleep},
    {"virtual_clock", l_virtual_clock},
    {"yield", l_yield},
    {"now", l_now},
    {"run", l_run},
    {"set_error_handler", l_set_error_handler},
    {"stats", l_stats},
    {"debug", l_debug},
    {NULL, NULL}};

/* Adds module._net (the networking functions, for the Lua facades) to the
 * module table at the top of L; the runtime box is at the top - 1. */
static void open_net(lua_State *L, tide_runtime_t *rt) {
  lua_pushvalue(L, -2); /* box */
  lua_newtable(L);      /* _net */
  tide__lua_open_stream(L, rt);
  tide__lua_open_tcp(L, rt);
  tide__lua_open_pipe(L, rt);
  tide__lua_open_udp(L, rt);
  tide__lua_open_dns(L, rt);
  tide__lua_open_tls(L, rt);
  lua_setfield(L, -3, "_net");
  lua_pop(L, 1);
}

/* Adds module._fs (files, directories, watchers: lfs.c, lfile.c,
 * lwatch.c; for lua/tide/fs.lua) to the module table at the top of L; the
 * runtime box is at the top - 1. */
static void open_fs(lua_State *L, tide_runtime_t *rt) {
  lua_pushvalue(L, -2); /* box */
  lua_newtable(L);      /* _fs */
  tide__lua_open_fs(L, rt);
  tide__lua_open_file(L, rt);
  tide__lua_open_watch(L, rt);
  lua_setfield(L, -3, "_fs");
  lua_pop(L, 1);
}

/* require "tide.core": the module of L's runtime, made with a loop of its
 * own unless a host made the runtime first. */
int luaopen_tide_core(lua_State *L) {
  tide_runtime_t *rt = NULL;
  void **box;
  tide__runtime_pushbox(L);
  box = lua_touserdata(L, -1);
  if (box == NULL || *box == NULL) {
    int err;
    lua_pop(L, 1);
    err = tide__runtime_create(L, NULL, 1, &rt);
    if (err != 0)
      return luaL_error(L, "tide: cannot start: %s", tide_strerror(err));
    tide__runtime_pushbox(L);
  } else {
    rt = *box;
  }
  lua_newtable(L);
  tide__lua_open_future(L, rt);
  tide__lua_open_task(L, rt);
  tide__lua_open_coro(L, rt);
  tide__lua_open_timer(L, rt);
  tide__lua_open_signal(L, rt);
  tide__lua_open_opts(L, rt);
  tide__lua_open_scope(L, rt);
  tide__lua_open_sync(L, rt);
  tide__lua_open_queue(L, rt);
  tide__lua_open_context(L, rt);
  open_net(L, rt); /* streams, tcp, unix, pipes, udp, dns, tls */
  open_fs(L, rt);            /* files, directories, watchers */
  tide__lua_open_work(L, rt); /* tide.offload, worker pools: lwork.c */
  tide__lua_open_process(L, rt); /* child processes: lprocess.c */
  tide__lua_open_workers(L, rt); /* tide.workers, worker_id: lworkers.c */
  tide__lua_open_http(L, rt); /* core._http: lhttp.c */
  tide__lua_open_ws(L, rt);   /* core._ws: lws.c */
  tide__lua_open_repl(L, rt); /* the REPL's Ctrl-C hook: lrepl.c */
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, funcs, 1);
  lua_pushliteral(L, TIDE_VERSION_STRING);
  lua_setfield(L, -2, "version");
  lua_remove(L, -2);
  return 1;
}
