/* The public embedding API (include/tide.h) on the loop thread: runtimes on
 * the host's loop and state, driving the loop, loading scripts, modules,
 * host futures, the error handler, closing with work pending, bad input.
 * Cross-thread posting is in test_post.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "test.h"
#include "tide.h"

/* ------------------------------------------------------------ helpers */

/* Spawns code as a task and runs it to the end; leaves its first result
 * (or error) on top of the runtime's stack, returns run_task's answer. */
static int run_string(tide_runtime_t *rt, const char *code) {
  lua_State *L = tide_runtime_lua(rt);
  int err = tide_runtime_spawn_string(rt, code, "=test", 0), n;
  if (err != 0) {
    fprintf(stderr, "load: %s\n", lua_tostring(L, -1));
    return err;
  }
  err = tide_runtime_run_task(rt, -1);
  n = tide_task_results(rt, -1);
  if (n < 0) {
    lua_pop(L, 1);      /* the traceback; keep the error */
    lua_remove(L, -2);  /* the task */
  } else if (n == 0) {
    lua_pop(L, 1);
    lua_pushnil(L);
  } else {
    lua_pop(L, n - 1);
    lua_remove(L, -2);
  }
  return err;
}

static const char *global_str(lua_State *L, const char *name) {
  const char *s;
  lua_getglobal(L, name);
  s = lua_tostring(L, -1);
  lua_pop(L, 1); /* the string stays alive in the global */
  return s;
}

static lua_Integer global_int(lua_State *L, const char *name) {
  lua_Integer v;
  lua_getglobal(L, name);
  v = lua_tointeger(L, -1);
  lua_pop(L, 1);
  return v;
}

/* Closes rt on the host's loop and finishes tide's handle closes. */
static void close_on_host(tide_runtime_t *rt, uv_loop_t *loop) {
  CHECK_INT(tide_runtime_close(rt), 0);
  uv_run(loop, UV_RUN_DEFAULT);
}

/* Error handler that collects messages. */
static char errors[8][2048];
static int nerrors;
static void collect_errors(tide_runtime_t *rt, const char *msg, void *ud) {
  (void)rt;
  (*(int *)ud)++;
  if (nerrors < 8) snprintf(errors[nerrors++], sizeof errors[0], "%s", msg);
}

/* ------------------------------------------------------------ runtime */

TEST(own_loop_and_state) {
  tide_runtime_t *rt;
  CHECK_INT(tide_runtime_new(&rt, NULL, NULL), 0);
  CHECK(tide_runtime_lua(rt) != NULL && tide_runtime_uv(rt) != NULL);
  CHECK_INT(run_string(rt, "local tide = require 'tide'\n"
                           "tide.sleep(0.001)\n"
                           "return 40 + 2"),
            0);
  CHECK_INT(lua_tointeger(tide_runtime_lua(rt), -1), 42);
  lua_pop(tide_runtime_lua(rt), 1);
  CHECK(tide_runtime_from_lua(tide_runtime_lua(rt)) == rt);
  tide_runtime_set_data(rt, &nerrors);
  CHECK(tide_runtime_get_data(rt) == &nerrors);
  CHECK_INT(tide_runtime_close(rt), 0);
}

TEST(bad_input) {
  tide_runtime_t *rt = (tide_runtime_t *)1;
  lua_State *plain = luaL_newstate();
  tide_future_t *f = (tide_future_t *)1;
  CHECK_INT(tide_runtime_new(NULL, NULL, NULL), TIDE_EINVAL);
  CHECK_INT(tide_runtime_close(NULL), TIDE_EINVAL);
  CHECK_INT(tide_runtime_run(NULL, TIDE_RUN_NOWAIT), TIDE_EINVAL);
  CHECK_INT(tide_runtime_spawn(NULL, 0), TIDE_EINVAL);
  CHECK_INT(tide_runtime_spawn_file(NULL, "x", 0), TIDE_EINVAL);
  CHECK_INT(tide_runtime_spawn_string(NULL, "", NULL, 0), TIDE_EINVAL);
  CHECK_INT(tide_runtime_run_task(NULL, -1), TIDE_EINVAL);
  CHECK_INT(tide_task_results(NULL, -1), TIDE_EINVAL);
  CHECK_INT(tide_task_state(NULL, -1), TIDE_EINVAL);
  CHECK_INT(tide_runtime_set_error_handler(NULL, NULL, NULL), TIDE_EINVAL);
  CHECK_INT(tide_module_add(NULL, "x", NULL), TIDE_EINVAL);
  CHECK_INT(tide_runtime_post(NULL, NULL, NULL), TIDE_EINVAL);
  CHECK(tide_runtime_lua(NULL) == NULL && tide_runtime_uv(NULL) == NULL);
  CHECK(tide_runtime_get_data(NULL) == NULL);
  tide_runtime_set_data(NULL, NULL);
  CHECK(tide_runtime_from_lua(NULL) == NULL);
  CHECK(tide_runtime_from_lua(plain) == NULL); /* a state without tide */
  CHECK_INT(tide_future_new(plain, &f), TIDE_EINVAL);
  CHECK(f == NULL);
  CHECK_INT(tide_future_new(NULL, NULL), TIDE_EINVAL);
  CHECK_INT(tide_future_resolve(NULL, NULL, 0), TIDE_EINVAL);
  CHECK_INT(tide_future_reject(NULL, NULL), TIDE_EINVAL);
  CHECK_INT(tide_future_state(NULL), TIDE_EINVAL);
  CHECK_INT(tide_future_push(NULL, NULL), TIDE_EINVAL);
  CHECK_INT(tide_future_post_integer(NULL, 1), TIDE_EINVAL);
  CHECK_INT(tide_future_post_number(NULL, 1), TIDE_EINVAL);
  CHECK_INT(tide_future_post_string(NULL, "", 0), TIDE_EINVAL);
  CHECK_INT(tide_future_post_error(NULL, "x"), TIDE_EINVAL);
  CHECK_INT(tide_future_post(NULL, NULL, NULL), TIDE_EINVAL);
  tide_future_release(NULL);
  lua_close(plain);

  CHECK_INT(tide_runtime_new(&rt, NULL, NULL), 0);
  CHECK_INT(tide_runtime_run(rt, (tide_run_mode)99), TIDE_EINVAL);
  CHECK_INT(tide_runtime_spawn(rt, -1), TIDE_EINVAL);
  lua_pushinteger(tide_runtime_lua(rt), 1); /* not a function */
  CHECK_INT(tide_runtime_spawn(rt, 0), TIDE_EINVAL);
  CHECK_INT(tide_task_state(rt, -1), TIDE_EINVAL); /* not a task */
  CHECK_INT(tide_runtime_run_task(rt, -1), TIDE_EINVAL);
  lua_settop(tide_runtime_lua(rt), 0);
  CHECK_INT(tide_runtime_close(rt), 0);
}

TEST(error_names) {
  CHECK_STR(tide_err_name(TIDE_ESTATE), "ESTATE");
  CHECK_STR(tide_err_name(TIDE_ECLOSED), "ECLOSED");
  CHECK_STR(tide_err_name(TIDE_ETHREAD), "ETHREAD");
  CHECK_STR(tide_err_name(TIDE_ERUNNING), "ERUNNING");
  CHECK_STR(tide_err_name(TIDE_ESTOPPED), "ESTOPPED");
  CHECK_STR(tide_err_name(TIDE_ELUA), "ELUA");
  CHECK_STR(tide_err_name(TIDE_EINVAL), "EINVAL");
  CHECK_STR(tide_err_name(UV_ECONNREFUSED), "ECONNREFUSED");
  CHECK_STR(tide_strerror(TIDE_ESTATE), "future already completed");
  CHECK_STR(tide_strerror(UV_ECONNREFUSED), "connection refused");
  CHECK_STR(tide_version(), TIDE_VERSION_STRING);
}

/* ------------------------------------------------------------ sharing */

static int host_ticks;
static void on_host_tick(uv_timer_t *t) {
  host_ticks++;
  if (host_ticks >= 3) uv_timer_stop(t);
}

/* The host's loop with a timer of its own and the host's Lua state: tide
 * lives beside them, the host drives with its own uv_run, and after the
 * close both are still the host's and usable. */
TEST(host_loop_and_state) {
  uv_loop_t loop;
  uv_timer_t timer;
  lua_State *L = luaL_newstate();
  tide_runtime_t *rt;
  luaL_openlibs(L);
  CHECK_INT(luaL_dostring(L, "host_value = 41"), 0);
  CHECK_INT(uv_loop_init(&loop), 0);
  uv_timer_init(&loop, &timer);
  uv_timer_start(&timer, on_host_tick, 1, 5);
  CHECK_INT(tide_runtime_new(&rt, &loop, L), 0);
  CHECK(tide_runtime_lua(rt) == L && tide_runtime_uv(rt) == &loop);
  {
    tide_runtime_t *second;
    CHECK_INT(tide_runtime_new(&second, &loop, L), TIDE_EINVAL); /* one per
                                                                    state */
    CHECK(second == NULL);
  }
  CHECK_INT(tide_runtime_spawn_string(
                rt,
                "local tide = require 'tide'\n"
                "tide.sleep(0.02)\n"
                "result = host_value + 1\n",
                NULL, 0),
            0);
  CHECK_INT(tide_task_state(rt, -1), TIDE_STATE_PENDING);
  uv_run(&loop, UV_RUN_DEFAULT); /* the host's own way */
  CHECK_INT(tide_task_state(rt, -1), TIDE_STATE_DONE);
  CHECK_INT(global_int(L, "result"), 42);
  CHECK_INT(host_ticks, 3);
  lua_settop(L, 0);
  close_on_host(rt, &loop);
  /* The host's timer still works on the host's loop. */
  uv_timer_start(&timer, on_host_tick, 1, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_INT(host_ticks, 4);
  /* The host's state still works, coroutines included, and forgot tide. */
  CHECK_INT(luaL_dostring(L,
                          "local co = coroutine.wrap(function(a)\n"
                          "  local b = coroutine.yield(a + 1)\n"
                          "  return b * 2 end)\n"
                          "assert(co(1) == 2 and co(5) == 10)\n"
                          "assert(package.loaded.tide == nil)\n"
                          "assert(package.loaded['tide.core'] == nil)\n"
                          "return host_value"),
            0);
  CHECK_INT(lua_tointeger(L, -1), 41);
  lua_settop(L, 0);
  CHECK(tide_runtime_from_lua(L) == NULL);
  /* A second runtime on the same state and loop works from scratch. */
  CHECK_INT(tide_runtime_new(&rt, &loop, L), 0);
  CHECK_INT(run_string(rt, "return require('tide').version"), 0);
  CHECK_STR(lua_tostring(L, -1), TIDE_VERSION_STRING);
  lua_settop(L, 0);
  close_on_host(rt, &loop);
  uv_close((uv_handle_t *)&timer, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_INT(uv_loop_close(&loop), 0); /* tide left nothing open */
  lua_close(L);
}

/* ------------------------------------------------------------ driving */

static int l_try_run(lua_State *L) {
  tide_runtime_t *rt = tide_runtime_from_lua(L);
  lua_pushinteger(L, tide_runtime_run(rt, TIDE_RUN_NOWAIT));
  lua_State *M = tide_runtime_lua(rt);
  lua_pushinteger(L, tide_runtime_close(rt));
  lua_pushvalue(L, 1); /* the running task, onto the runtime's stack */
  lua_xmove(L, M, 1);
  lua_pushinteger(L, tide_runtime_run_task(rt, -1));
  lua_pop(M, 1);
  return 3;
}

static const luaL_Reg try_funcs[] = {{"try_run", l_try_run}, {NULL, NULL}};

TEST(run_modes) {
  tide_runtime_t *rt;
  lua_State *L;
  uint64_t t0;
  int n;
  CHECK_INT(tide_runtime_new(&rt, NULL, NULL), 0);
  L = tide_runtime_lua(rt);
  CHECK_INT(tide_runtime_run(rt, TIDE_RUN_DEFAULT), 0); /* nothing to do */
  CHECK_INT(tide_runtime_spawn_string(rt,
                                      "local tide = require 'tide'\n"
                                      "step = 1\n"
                                      "tide.sleep(0.3)\n"
                                      "step = 2\n",
                                      NULL, 0),
            0);
  /* NOWAIT never blocks: the task starts, the sleep keeps it alive. */
  CHECK_INT(tide_runtime_run(rt, TIDE_RUN_NOWAIT), 1); /* starts it */
  t0 = uv_hrtime();
  for (n = 0; n < 3; n++) CHECK_INT(tide_runtime_run(rt, TIDE_RUN_NOWAIT), 1);
  CHECK(uv_hrtime() - t0 < 200000000u); /* far less than the sleep */
  CHECK_INT(global_int(L, "step"), 1);
  CHECK_INT(tide_runtime_run(rt, TIDE_RUN_DEFAULT), 0);
  CHECK_INT(global_int(L, "step"), 2);
  CHECK_INT(tide_task_state(rt, -1), TIDE_STATE_DONE);
  lua_settop(L, 0);
  /* From inside Lua, driving or closing the loop is refused. */
  CHECK_INT(tide_module_add(rt, "try", try_funcs), 0);
  CHECK_INT(run_string(rt, "local a, b, c = require('try').try_run("
                           "require('tide').current_task())\n"
                           "return a .. ' ' .. b .. ' ' .. c"),
            0);
  {
    char want[64];
    snprintf(want, sizeof want, "%d %d %d", TIDE_ERUNNING, TIDE_ERUNNING,
             TIDE_ERUNNING);
    CHECK_STR(lua_tostring(L, -1), want);
  }
  lua_settop(L, 0);
  CHECK_INT(tide_runtime_close(rt), 0); /* own loop: rt is freed now */
}

TEST(spawn_file_and_load_errors) {
  tide_runtime_t *rt;
  lua_State *L;
  char path[] = "/tmp/tide_test_XXXXXX";
  int fd = mkstemp(path);
  const char *src = "local a, b = ...\nreturn a .. b\n";
  CHECK(fd >= 0);
  CHECK_INT(write(fd, src, strlen(src)), (long long)strlen(src));
  close(fd);
  CHECK_INT(tide_runtime_new(&rt, NULL, NULL), 0);
  L = tide_runtime_lua(rt);
  lua_pushstring(L, "x");
  lua_pushstring(L, "y");
  CHECK_INT(tide_runtime_spawn_file(rt, path, 2), 0);
  CHECK_INT(lua_gettop(L), 1);
  CHECK_INT(tide_runtime_run_task(rt, -1), 0);
  CHECK_INT(tide_task_results(rt, -1), 1);
  CHECK_STR(lua_tostring(L, -1), "xy");
  lua_settop(L, 0);
  lua_pushstring(L, "arg");
  CHECK_INT(tide_runtime_spawn_file(rt, "/nonexistent/x.lua", 1), TIDE_ELUA);
  CHECK_INT(lua_gettop(L), 1);
  CHECK(strstr(lua_tostring(L, -1), "/nonexistent/x.lua") != NULL);
  lua_settop(L, 0);
  CHECK_INT(tide_runtime_spawn_string(rt, "return +", "=bad", 0), TIDE_ELUA);
  CHECK(strstr(lua_tostring(L, -1), "bad:1:") != NULL);
  lua_settop(L, 0);
  /* A failing script: ELUA, with its error and traceback. */
  CHECK_INT(tide_runtime_spawn_string(rt, "error('boom')", "=s", 0), 0);
  CHECK_INT(tide_runtime_run_task(rt, -1), TIDE_ELUA);
  CHECK_INT(tide_task_state(rt, -1), TIDE_STATE_FAILED);
  CHECK_INT(tide_task_results(rt, -1), -1);
  CHECK(strstr(lua_tostring(L, -2), "boom") != NULL);
  CHECK(strstr(lua_tostring(L, -1), "traceback") != NULL);
  lua_settop(L, 0);
  CHECK_INT(tide_runtime_close(rt), 0);
  unlink(path);
}

TEST(error_handler) {
  tide_runtime_t *rt;
  lua_State *L;
  int calls = 0;
  nerrors = 0;
  CHECK_INT(tide_runtime_new(&rt, NULL, NULL), 0);
  L = tide_runtime_lua(rt);
  CHECK_INT(tide_runtime_set_error_handler(rt, collect_errors, &calls), 0);
  /* A failed task nobody looks at: reported at the latest on close. */
  CHECK_INT(tide_runtime_spawn_string(rt,
                                      "local tide = require 'tide'\n"
                                      "tide.spawn(function()\n"
                                      "  error('lost error')\n"
                                      "end)\n"
                                      "tide.sleep(0.001)\n",
                                      "=main", 0),
            0);
  CHECK_INT(tide_runtime_run_task(rt, -1), 0);
  lua_settop(L, 0);
  CHECK_INT(tide_runtime_close(rt), 0);
  CHECK_INT(calls, 1);
  CHECK(strstr(errors[0], "lost error") != NULL);
  CHECK(strstr(errors[0], "traceback") != NULL);
  /* NULL restores the default (stderr), which never exits. */
  CHECK_INT(tide_runtime_new(&rt, NULL, NULL), 0);
  CHECK_INT(tide_runtime_set_error_handler(rt, collect_errors, &calls), 0);
  CHECK_INT(tide_runtime_set_error_handler(rt, NULL, NULL), 0);
  L = tide_runtime_lua(rt);
  CHECK_INT(tide_runtime_spawn_string(rt,
                                      "require('tide').spawn(function()\n"
                                      "  error('printed on stderr by the "
                                      "default handler (expected)')\n"
                                      "end)",
                                      "=main", 0),
            0);
  CHECK_INT(tide_runtime_run_task(rt, -1), 0);
  lua_settop(L, 0);
  CHECK_INT(tide_runtime_close(rt), 0);
  CHECK_INT(calls, 1);
}

/* ------------------------------------------------------------ futures */

static tide_future_t *saved;

/* host.get(): a future the test completes; awaited inside the function. */
static int l_get(lua_State *L) {
  int err = tide_future_new(L, &saved);
  if (err != 0) return luaL_error(L, "%s", tide_strerror(err));
  return tide_await(L, -1);
}

/* host.make(): returns the future itself. */
static int l_make(lua_State *L) {
  int err = tide_future_new(L, &saved);
  if (err != 0) return luaL_error(L, "%s", tide_strerror(err));
  return 1;
}

/* host.work(): a future with a cancel callback, awaited: the host's
 * "work" that a cancellation of the awaiting task must stop. */
static int ncancelled;
static tide_future_t *cancelled_seen;
static void on_cancel(tide_future_t *f, void *data) {
  ncancelled++;
  cancelled_seen = f;
  CHECK(data == &ncancelled);
}
static int l_work(lua_State *L) {
  int err = tide_future_new(L, &saved);
  if (err != 0) return luaL_error(L, "%s", tide_strerror(err));
  CHECK_INT(tide_future_on_cancel(saved, on_cancel, &ncancelled), 0);
  return tide_await(L, -1);
}

static int l_bad_await(lua_State *L) {
  lua_pushinteger(L, 1);
  return tide_await(L, -1);
}

static const luaL_Reg host_funcs[] = {{"get", l_get},
                                       {"work", l_work},
                                      {"make", l_make},
                                      {"bad_await", l_bad_await},
                                      {NULL, NULL}};

/* Runs NOWAIT iterations until the global "waiting" is true. */
static void run_until_waiting(tide_runtime_t *rt) {
  lua_State *L = tide_runtime_lua(rt);
  int i;
  for (i = 0; i < 100; i++) {
    lua_getglobal(L, "waiting");
    if (lua_toboolean(L, -1)) {
      lua_pop(L, 1);
      return;
    }
    lua_pop(L, 1);
    tide_runtime_run(rt, TIDE_RUN_NOWAIT);
  }
}

TEST(future_resolve_from_c) {
  tide_runtime_t *rt;
  lua_State *L;
  CHECK_INT(tide_runtime_new(&rt, NULL, NULL), 0);
  L = tide_runtime_lua(rt);
  CHECK_INT(tide_module_add(rt, "host", host_funcs), 0);
  CHECK_INT(tide_runtime_spawn_string(rt,
                                      "local host = require 'host'\n"
                                      "waiting = true\n"
                                      "local a, b = host.get()\n"
                                      "after = true\n"
                                      "return a, b\n",
                                      "=main", 0),
            0);
  run_until_waiting(rt);
  CHECK(saved != NULL);
  CHECK_INT(tide_future_state(saved), TIDE_STATE_PENDING);
  lua_pushinteger(L, 7);
  lua_pushstring(L, "seven");
  CHECK_INT(tide_future_resolve(saved, NULL, 2), 0);
  CHECK_INT(lua_gettop(L), 1); /* values popped; the task remains */
  CHECK_INT(tide_future_state(saved), TIDE_STATE_DONE);
  /* Awaiters wake from the loop, never inside resolve. */
  lua_getglobal(L, "after");
  CHECK(lua_isnil(L, -1));
  lua_pop(L, 1);
  /* Twice: TIDE_ESTATE, values popped. */
  lua_pushinteger(L, 8);
  CHECK_INT(tide_future_resolve(saved, NULL, 1), TIDE_ESTATE);
  lua_pushstring(L, "x");
  CHECK_INT(tide_future_reject(saved, L), TIDE_ESTATE);
  CHECK_INT(tide_future_post_integer(saved, 1), TIDE_ESTATE);
  CHECK_INT(lua_gettop(L), 1);
  CHECK_INT(tide_runtime_run_task(rt, -1), 0);
  CHECK_INT(tide_task_results(rt, -1), 2);
  CHECK_INT(lua_tointeger(L, -2), 7);
  CHECK_STR(lua_tostring(L, -1), "seven");
  lua_settop(L, 0);
  /* push: the same Lua future again. */
  CHECK_INT(tide_future_push(saved, L), 0);
  CHECK_INT(luaL_callmeta(L, -1, "__tostring"), 1);
  CHECK(strstr(lua_tostring(L, -1), "done") != NULL);
  lua_settop(L, 0);
  tide_future_release(saved);
  CHECK_INT(tide_runtime_close(rt), 0);
}

TEST(future_reject_and_returned_future) {
  tide_runtime_t *rt;
  lua_State *L;
  CHECK_INT(tide_runtime_new(&rt, NULL, NULL), 0);
  L = tide_runtime_lua(rt);
  CHECK_INT(tide_module_add(rt, "host", host_funcs), 0);
  CHECK_INT(tide_runtime_spawn_string(
                rt,
                "local host = require 'host'\n"
                "local f = host.make()\n"
                "waiting = true\n"
                "local ok, err = pcall(f.await, f)\n"
                "assert(not ok and f:state() == 'failed')\n"
                "return err\n",
                "=main", 0),
            0);
  run_until_waiting(rt);
  lua_pushstring(L, "host failure");
  CHECK_INT(tide_future_reject(saved, NULL), 0);
  CHECK_INT(tide_future_state(saved), TIDE_STATE_FAILED);
  CHECK_INT(tide_runtime_run_task(rt, -1), 0);
  CHECK_INT(tide_task_results(rt, -1), 1);
  CHECK_STR(lua_tostring(L, -1), "host failure");
  lua_settop(L, 0);
  tide_future_release(saved);
  /* Lua completing or cancelling a host future first: ESTATE for the host. */
  CHECK_INT(run_string(rt, "local f = require('host').make()\n"
                           "f:set_result('lua was first')"),
            0);
  lua_settop(L, 0);
  lua_pushinteger(L, 1);
  CHECK_INT(tide_future_resolve(saved, L, 1), TIDE_ESTATE);
  CHECK_INT(lua_gettop(L), 0);
  tide_future_release(saved);
  CHECK_INT(run_string(rt, "require('host').make():cancel()"), 0);
  lua_settop(L, 0);
  CHECK_INT(tide_future_state(saved), TIDE_STATE_CANCELLED);
  /* Lua cancelled it: a post answers ESTATE at once (the header says so). */
  CHECK_INT(tide_future_post_number(saved, 1.5), TIDE_ESTATE);
  tide_runtime_run(rt, TIDE_RUN_NOWAIT);
  CHECK_INT(tide_future_state(saved), TIDE_STATE_CANCELLED);
  tide_future_release(saved);
  /* tide_await on something else, or outside a task: a Lua error. */
  CHECK_INT(run_string(rt, "return select(2, pcall(require('host')"
                           ".bad_await))"),
            0);
  CHECK(strstr(lua_tostring(L, -1), "future or task expected") != NULL);
  lua_settop(L, 0);
  CHECK_INT(luaL_dostring(L, "return pcall(require('host').get)"), 0);
  CHECK(!lua_toboolean(L, -2));
  CHECK(strstr(lua_tostring(L, -1), "outside a task") != NULL);
  lua_settop(L, 0);
  tide_future_release(saved); /* made before the failing await: pending */
  /* L of another state is refused without touching either stack. */
  {
    lua_State *other = luaL_newstate();
    tide_future_t *f;
    CHECK_INT(tide_future_new(L, &f), 0);
    lua_pushinteger(other, 1);
    CHECK_INT(tide_future_resolve(f, other, 1), TIDE_EINVAL);
    CHECK_INT(tide_future_push(f, other), TIDE_EINVAL);
    CHECK_INT(lua_gettop(other), 1);
    lua_close(other);
    CHECK_INT(tide_future_resolve(f, L, 0), 0);
    tide_future_release(f);
    lua_settop(L, 0);
  }
  CHECK_INT(tide_runtime_close(rt), 0);
}

/* Releasing a pending future fails it, so nothing waits forever. */
TEST(release_pending_future) {
  tide_runtime_t *rt;
  lua_State *L;
  CHECK_INT(tide_runtime_new(&rt, NULL, NULL), 0);
  L = tide_runtime_lua(rt);
  CHECK_INT(tide_module_add(rt, "host", host_funcs), 0);
  CHECK_INT(tide_runtime_spawn_string(rt,
                                      "waiting = true\n"
                                      "return pcall(require('host').get)\n",
                                      "=main", 0),
            0);
  run_until_waiting(rt);
  tide_future_release(saved);
  CHECK_INT(tide_runtime_run_task(rt, -1), 0);
  CHECK_INT(tide_task_results(rt, -1), 2);
  CHECK(!lua_toboolean(L, -2));
  CHECK(strstr(lua_tostring(L, -1), "released") != NULL);
  lua_settop(L, 0);
  CHECK_INT(tide_runtime_close(rt), 0);
}

/* A pending host future keeps the loop alive; completing it lets go. */
TEST(pending_future_keeps_loop_alive) {
  tide_runtime_t *rt;
  lua_State *L;
  tide_future_t *f;
  CHECK_INT(tide_runtime_new(&rt, NULL, NULL), 0);
  L = tide_runtime_lua(rt);
  CHECK_INT(tide_runtime_run(rt, TIDE_RUN_NOWAIT), 0);
  CHECK_INT(tide_future_new(L, &f), 0);
  lua_pop(L, 1);
  CHECK_INT(tide_runtime_run(rt, TIDE_RUN_NOWAIT), 1);
  CHECK_INT(tide_future_resolve(f, NULL, 0), 0);
  CHECK_INT(tide_runtime_run(rt, TIDE_RUN_NOWAIT), 0);
  tide_future_release(f);
  CHECK_INT(tide_future_new(L, &f), 0);
  lua_pop(L, 1);
  tide_future_release(f); /* released: no longer counted */
  CHECK_INT(tide_runtime_run(rt, TIDE_RUN_NOWAIT), 0);
  CHECK_INT(tide_runtime_close(rt), 0);
}

/* ------------------------------------------------------------ close */

/* Closing with tasks pending: they are cancelled, their <close> variables
 * and pcall cleanups run, host futures answer ECLOSED and are freed by
 * release, and the host's loop closes clean. */
TEST(close_with_pending_work) {
  uv_loop_t loop;
  lua_State *L = luaL_newstate();
  tide_runtime_t *rt;
  tide_future_t *f, *g;
  luaL_openlibs(L);
  CHECK_INT(uv_loop_init(&loop), 0);
  CHECK_INT(tide_runtime_new(&rt, &loop, L), 0);
  CHECK_INT(tide_module_add(rt, "host", host_funcs), 0);
  CHECK_INT(tide_runtime_spawn_string(
                rt,
                "local tide = require 'tide'\n"
                "local host = require 'host'\n"
                "log = ''\n"
                "tide.spawn(function()\n"
                "  local c <close> = setmetatable({}, {__close = function()\n"
                "    tide.sleep(0.01)\n" /* cleanup that awaits */
                "    log = log .. 'closed;' end})\n"
                "  tide.sleep(3600)\n"
                "end)\n"
                "tide.spawn(function()\n"
                "  local ok, err = pcall(host.get)\n"
                "  log = log .. (tide.is_cancelled(err) and 'cancelled;' or "
                "'?;')\n"
                "  tide.cleanup(tide.sleep, 0)\n" /* cleanup may still await */
                "  log = log .. 'cleanup done;'\n"
                "end)\n"
                "tide.sleep(3600)\n",
                "=main", 0),
            0);
  lua_pop(L, 1);
  uv_run(&loop, UV_RUN_NOWAIT);
  uv_run(&loop, UV_RUN_NOWAIT);
  f = saved;
  CHECK(f != NULL);
  CHECK_INT(tide_future_new(L, &g), 0); /* never handed to Lua */
  lua_pop(L, 1);
  CHECK_INT(tide_future_state(f), TIDE_STATE_PENDING);
  close_on_host(rt, &loop);
  CHECK(strstr(global_str(L, "log"), "closed;") != NULL);
  CHECK(strstr(global_str(L, "log"), "cancelled;cleanup done;") != NULL);
  /* The runtime is gone: the handles answer ECLOSED and do nothing. */
  lua_pushinteger(L, 1);
  CHECK_INT(tide_future_resolve(f, L, 1), TIDE_ECLOSED);
  CHECK_INT(lua_gettop(L), 0);
  CHECK_INT(tide_future_resolve(f, NULL, 0), TIDE_ECLOSED);
  CHECK_INT(tide_future_reject(f, NULL), TIDE_ECLOSED);
  CHECK_INT(tide_future_state(f), TIDE_ECLOSED);
  CHECK_INT(tide_future_push(f, L), TIDE_ECLOSED);
  CHECK_INT(tide_future_post_integer(f, 1), TIDE_ECLOSED);
  CHECK_INT(tide_future_post_error(g, "x"), TIDE_ECLOSED);
  CHECK_INT(tide_future_new(L, &f), TIDE_EINVAL); /* no runtime any more */
  tide_future_release(saved);
  tide_future_release(g);
  CHECK_INT(uv_loop_close(&loop), 0);
  lua_close(L);
}

static int posted_calls;
static void on_posted(tide_runtime_t *rt, void *arg) {
  CHECK(rt != NULL);
  posted_calls += *(int *)arg;
}

/* Callbacks posted before the close run, at the latest during it. */
TEST(posts_queued_at_close_run) {
  tide_runtime_t *rt;
  int one = 1;
  posted_calls = 0;
  CHECK_INT(tide_runtime_new(&rt, NULL, NULL), 0);
  CHECK_INT(tide_runtime_post(rt, on_posted, &one), 0);
  CHECK_INT(tide_runtime_post(rt, on_posted, &one), 0);
  CHECK_INT(tide_runtime_close(rt), 0);
  CHECK_INT(posted_calls, 2);
}

/* A runtime made by require "tide.core" in a plain state (a C module using
 * the host API from a lua5.4 script): the hub is made on first use and
 * closed with the state. */
TEST(host_api_in_a_required_runtime) {
  lua_State *L = luaL_newstate();
  tide_future_t *f, *g;
  tide_runtime_t *rt;
  int one = 1;
  luaL_openlibs(L);
  luaL_requiref(L, "tide.core", luaopen_tide_core, 0);
  lua_pop(L, 1);
  rt = tide_runtime_from_lua(L);
  CHECK(rt != NULL);
  CHECK_INT(tide_future_new(L, &f), 0);
  CHECK_INT(tide_future_new(L, &g), 0);
  lua_settop(L, 0);
  CHECK_INT(tide_future_post_integer(f, 3), 0); /* applied during the close */
  CHECK_INT(tide_runtime_post(rt, on_posted, &one), 0);
  posted_calls = 0;
  lua_close(L); /* closes the runtime, its loop and its hub */
  CHECK_INT(posted_calls, 1);
  CHECK_INT(tide_future_post_integer(g, 1), TIDE_ECLOSED);
  tide_future_release(f);
  tide_future_release(g);
}

/* stop(): a C function a task calls to end the host's run early. */
static int l_stop(lua_State *L) {
  lua_pushinteger(L, tide_runtime_stop(tide_runtime_from_lua(L)));
  return 1;
}
static const luaL_Reg stop_funcs[] = {{"stop", l_stop}, {NULL, NULL}};

TEST(stop_ends_a_run_early) {
  tide_runtime_t *rt;
  lua_State *L;
  CHECK_INT(tide_runtime_stop(NULL), TIDE_EINVAL);
  CHECK_INT(tide_runtime_new(&rt, NULL, NULL), 0);
  L = tide_runtime_lua(rt);
  CHECK_INT(tide_module_add(rt, "ctl", stop_funcs), 0);
  CHECK_INT(tide_runtime_spawn_string(rt,
                                      "local tide = require 'tide'\n"
                                      "step = 1\n"
                                      "require('ctl').stop()\n"
                                      "tide.sleep(0.01)\n"
                                      "step = 2\n",
                                      NULL, 0),
            0);
  /* The run returns after the iteration that asked, the task pending. */
  CHECK_INT(tide_runtime_run(rt, TIDE_RUN_DEFAULT), 1);
  CHECK_INT(global_int(L, "step"), 1);
  CHECK_INT(tide_task_state(rt, -1), TIDE_STATE_PENDING);
  /* A later run goes on normally. */
  CHECK_INT(tide_runtime_run_task(rt, -1), 0);
  CHECK_INT(global_int(L, "step"), 2);
  lua_settop(L, 0);
  CHECK_INT(tide_runtime_close(rt), 0);
  /* run_task stops the same way. */
  CHECK_INT(tide_runtime_new(&rt, NULL, NULL), 0);
  L = tide_runtime_lua(rt);
  CHECK_INT(tide_module_add(rt, "ctl", stop_funcs), 0);
  CHECK_INT(tide_runtime_spawn_string(rt,
                                      "require('ctl').stop()\n"
                                      "require('tide').sleep(0.01)\n",
                                      NULL, 0),
            0);
  CHECK_INT(tide_runtime_run_task(rt, -1), TIDE_ESTOPPED);
  CHECK_INT(tide_runtime_run_task(rt, -1), 0);
  lua_settop(L, 0);
  CHECK_INT(tide_runtime_close(rt), 0);
}

/* tide_runtime_close waits for cleanup that awaits, but no longer than the
 * grace period the host set: a handler that would sleep an hour is cut
 * short (its await fails), and the close returns. */
TEST(close_bounded_by_grace) {
  lua_State *L = luaL_newstate();
  tide_runtime_t *rt;
  uint64_t t0;
  luaL_openlibs(L);
  CHECK_INT(tide_runtime_new(&rt, NULL, L), 0);
  CHECK_INT(tide_runtime_set_grace(rt, -1), TIDE_EINVAL);
  CHECK_INT(tide_runtime_set_grace(rt, 0.05), 0);
  CHECK_INT(tide_runtime_spawn_string(
                rt,
                "local tide = require 'tide'\n"
                "log = ''\n"
                "tide.spawn(function()\n"
                "  local c <close> = setmetatable({}, {__close = function()\n"
                "    tide.sleep(0.001)\n" /* within the grace period */
                "    local ok = pcall(tide.sleep, 3600)\n"
                "    log = log .. (ok and 'slept;' or 'cut short;') end})\n"
                "  tide.sleep(3600)\n"
                "end)\n",
                "=main", 0),
            0);
  CHECK_INT(tide_runtime_run_task(rt, -1), 0);
  lua_pop(L, 1);
  t0 = uv_hrtime();
  CHECK_INT(tide_runtime_close(rt), 0);
  CHECK(uv_hrtime() - t0 < (uint64_t)30e9); /* not the hour */
  CHECK_STR(global_str(L, "log"), "cut short;");
  lua_close(L);
}

/* Cancellation reaches the host: the awaiting task cancelled directly, by
 * a deadline, and Lua cancelling the future each call the cancel callback
 * once, from the loop; then posts answer ESTATE, and the future no longer
 * keeps the loop alive. */
TEST(cancel_reaches_the_host) {
  static const char *scripts[] = {
      /* the task itself */
      "local tide = require 'tide'\n"
      "local t = tide.spawn(require('host').work)\n"
      "tide.sleep(0.001)\n"
      "t:cancel()\n"
      "local ok, err = pcall(t.await, t)\n"
      "return tide.is_cancelled(err)\n",
      /* a deadline around the await */
      "local tide = require 'tide'\n"
      "local ok, err = pcall(tide.timeout, 0.001, require('host').work)\n"
      "return tide.is_timeout(err)\n",
      /* Lua cancels the future itself */
      "local tide = require 'tide'\n"
      "local f = require('host').make()\n"
      "f:cancel()\n"
      "return f:cancelled()\n"};
  int i;
  for (i = 0; i < 3; i++) {
    tide_runtime_t *rt;
    lua_State *L;
    CHECK_INT(tide_runtime_new(&rt, NULL, NULL), 0);
    L = tide_runtime_lua(rt);
    CHECK_INT(tide_module_add(rt, "host", host_funcs), 0);
    ncancelled = 0;
    cancelled_seen = NULL;
    saved = NULL;
    if (i == 2) {
      /* make() has no callback: set it from C before Lua cancels. */
      CHECK_INT(tide_runtime_spawn_string(rt,
                    "local f = require('host').make()\n"
                    "coroutine.yield = nil\n"
                    "return f\n", "=make", 0), 0);
      CHECK_INT(tide_runtime_run_task(rt, -1), 0);
      lua_pop(L, 1);
      CHECK_INT(tide_future_on_cancel(saved, on_cancel, &ncancelled), 0);
      CHECK_INT(tide_future_push(saved, L), 0);
      lua_setglobal(L, "hostf");
      CHECK_INT(run_string(rt, "local f = hostf f:cancel() "
                               "return f:cancelled()"), 0);
    } else {
      CHECK_INT(run_string(rt, scripts[i]), 0);
    }
    CHECK(lua_toboolean(L, -1));
    lua_settop(L, 0);
    tide_runtime_run(rt, TIDE_RUN_NOWAIT); /* the callback's turn */
    CHECK_INT(ncancelled, 1);
    CHECK(cancelled_seen == saved);
    CHECK_INT(tide_future_state(saved), TIDE_STATE_CANCELLED);
    CHECK_INT(tide_future_post_integer(saved, 1), TIDE_ESTATE);
    lua_pushinteger(L, 1);
    CHECK_INT(tide_future_resolve(saved, L, 1), TIDE_ESTATE);
    CHECK_INT(lua_gettop(L), 0);
    CHECK_INT(tide_runtime_run(rt, TIDE_RUN_NOWAIT), 0); /* not alive */
    tide_runtime_run(rt, TIDE_RUN_NOWAIT);
    CHECK_INT(ncancelled, 1); /* once */
    tide_future_release(saved);
    CHECK_INT(tide_runtime_close(rt), 0);
  }
}

/* C done-callbacks on a host future and on a task. */
static int done_calls, done_state, done_value;
static void on_done(tide_runtime_t *rt, int idx, int state, void *data) {
  lua_State *L = tide_runtime_lua(rt);
  done_calls++;
  done_state = state;
  CHECK(data == &done_calls);
  if (tide_task_state(rt, idx) >= 0 && state == TIDE_STATE_DONE) {
    int n = tide_task_results(rt, idx);
    done_value = (int)lua_tointeger(L, -1);
    lua_pop(L, n);
  }
}

TEST(c_done_callbacks) {
  tide_runtime_t *rt;
  lua_State *L;
  tide_future_t *f;
  CHECK_INT(tide_runtime_new(&rt, NULL, NULL), 0);
  L = tide_runtime_lua(rt);
  done_calls = done_state = done_value = 0;
  CHECK_INT(tide_future_new(L, &f), 0);
  lua_pop(L, 1);
  CHECK_INT(tide_future_add_done(f, on_done, &done_calls), 0);
  CHECK_INT(tide_future_add_done(f, NULL, NULL), TIDE_EINVAL);
  lua_pushinteger(L, 5);
  CHECK_INT(tide_future_resolve(f, NULL, 1), 0);
  CHECK_INT(done_calls, 0); /* from the loop, never inside resolve */
  tide_runtime_run(rt, TIDE_RUN_NOWAIT);
  CHECK_INT(done_calls, 1);
  CHECK_INT(done_state, TIDE_STATE_DONE);
  /* A task: its results are readable in the callback. */
  CHECK_INT(tide_runtime_spawn_string(rt,
                "require('tide').sleep(0.001) return 41 + 1", "=t", 0), 0);
  CHECK_INT(tide_task_add_done(rt, -1, on_done, &done_calls), 0);
  lua_pushinteger(L, 3);
  CHECK_INT(tide_task_add_done(rt, -1, on_done, NULL), TIDE_EINVAL);
  lua_pop(L, 1);
  CHECK_INT(tide_runtime_run_task(rt, -1), 0);
  tide_runtime_run(rt, TIDE_RUN_NOWAIT);
  CHECK_INT(done_calls, 2);
  CHECK_INT(done_value, 42);
  lua_settop(L, 0);
  /* A task the close cancels: called during the close, cancelled. A
   * future that never completes: dropped, never called. */
  CHECK_INT(tide_runtime_spawn_string(rt,
                "require('tide').sleep(3600)", "=t2", 0), 0);
  CHECK_INT(tide_task_add_done(rt, -1, on_done, &done_calls), 0);
  lua_settop(L, 0);
  tide_future_release(f);
  CHECK_INT(tide_future_new(L, &f), 0);
  lua_pop(L, 1);
  CHECK_INT(tide_future_add_done(f, on_done, &done_calls), 0);
  CHECK_INT(tide_runtime_close(rt), 0);
  CHECK_INT(done_calls, 3);
  CHECK_INT(done_state, TIDE_STATE_CANCELLED);
  tide_future_release(f);
}

/* A value posted and the handle released, both on the loop thread: the
 * value is delivered (the release waits behind the post). */
TEST(post_then_release_on_the_loop_thread) {
  tide_runtime_t *rt;
  lua_State *L;
  CHECK_INT(tide_runtime_new(&rt, NULL, NULL), 0);
  L = tide_runtime_lua(rt);
  CHECK_INT(tide_module_add(rt, "host", host_funcs), 0);
  CHECK_INT(tide_runtime_spawn_string(rt,
                "waiting = true\nreturn require('host').get()", "=main", 0),
            0);
  run_until_waiting(rt);
  CHECK_INT(tide_future_post_integer(saved, 42), 0);
  tide_future_release(saved);
  CHECK_INT(tide_runtime_run_task(rt, -1), 0);
  CHECK_INT(tide_task_results(rt, -1), 1);
  CHECK_INT(lua_tointeger(L, -1), 42);
  lua_settop(L, 0);
  CHECK_INT(tide_runtime_close(rt), 0);
}

/* Resolve on a closed runtime pops the host's values. */
TEST(resolve_after_close_pops_values) {
  uv_loop_t loop;
  lua_State *L = luaL_newstate();
  tide_runtime_t *rt;
  tide_future_t *f;
  luaL_openlibs(L);
  CHECK_INT(uv_loop_init(&loop), 0);
  CHECK_INT(tide_runtime_new(&rt, &loop, L), 0);
  CHECK_INT(tide_future_new(L, &f), 0);
  lua_settop(L, 0);
  close_on_host(rt, &loop);
  lua_pushinteger(L, 1);
  lua_pushinteger(L, 2);
  CHECK_INT(tide_future_resolve(f, L, 2), TIDE_ECLOSED);
  CHECK_INT(lua_gettop(L), 0);
  lua_pushstring(L, "e");
  CHECK_INT(tide_future_reject(f, L), TIDE_ECLOSED);
  CHECK_INT(lua_gettop(L), 0);
  tide_future_release(f);
  CHECK_INT(uv_loop_close(&loop), 0);
  lua_close(L);
}

/* Errors of tasks nobody awaited reach the host's handler when
 * tide_runtime_run_task returns, and at the end of tide_runtime_run, not
 * only at a collection. */
TEST(unretrieved_errors_reported_after_runs) {
  tide_runtime_t *rt;
  lua_State *L;
  int n = 0;
  CHECK_INT(tide_runtime_new(&rt, NULL, NULL), 0);
  L = tide_runtime_lua(rt);
  nerrors = 0;
  CHECK_INT(tide_runtime_set_error_handler(rt, collect_errors, &n), 0);
  lua_gc(L, LUA_GCSTOP, 0); /* no collection may be what reports it */
  CHECK_INT(tide_runtime_spawn_string(rt,
                "local tide = require 'tide'\n"
                "keep = tide.spawn(error, 'lost one', 0)\n"
                "tide.sleep(0.001)\n", "=main", 0), 0);
  CHECK_INT(tide_runtime_run_task(rt, -1), 0);
  CHECK_INT(n, 1);
  CHECK(strstr(errors[0], "lost one") != NULL);
  lua_settop(L, 0);
  CHECK_INT(tide_runtime_spawn_string(rt,
                "keep2 = require('tide').spawn(error, 'lost two', 0)",
                "=main2", 0), 0);
  lua_settop(L, 0);
  tide_runtime_run(rt, TIDE_RUN_DEFAULT);
  CHECK_INT(n, 2);
  CHECK(strstr(errors[1], "lost two") != NULL);
  /* The awaited task's own error is the host's to read: not reported. */
  CHECK_INT(tide_runtime_spawn_string(rt, "error('mine', 0)", "=m", 0), 0);
  CHECK_INT(tide_runtime_run_task(rt, -1), TIDE_ELUA);
  CHECK_INT(n, 2);
  CHECK_INT(tide_task_results(rt, -1), -1);
  CHECK_STR(lua_tostring(L, -2), "mine");
  lua_settop(L, 0);
  lua_gc(L, LUA_GCRESTART, 0);
  CHECK_INT(tide_runtime_close(rt), 0);
  CHECK_INT(n, 2);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  RUN(own_loop_and_state);
  RUN(bad_input);
  RUN(error_names);
  RUN(host_loop_and_state);
  RUN(run_modes);
  RUN(spawn_file_and_load_errors);
  RUN(error_handler);
  RUN(future_resolve_from_c);
  RUN(future_reject_and_returned_future);
  RUN(release_pending_future);
  RUN(pending_future_keeps_loop_alive);
  RUN(close_with_pending_work);
  RUN(posts_queued_at_close_run);
  RUN(host_api_in_a_required_runtime);
  RUN(stop_ends_a_run_early);
  RUN(close_bounded_by_grace);
  RUN(cancel_reaches_the_host);
  RUN(c_done_callbacks);
  RUN(post_then_release_on_the_loop_thread);
  RUN(resolve_after_close_pops_values);
  RUN(unretrieved_errors_reported_after_runs);
  return test_summary("test_embed");
}
