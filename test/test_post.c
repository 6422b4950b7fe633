/* Posting from other threads (src/post.c): callbacks, futures completed by
 * worker threads, every kind of posted value, wrong-thread calls, and
 * handles that outlive their runtime. */
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "test.h"
#include "tide.h"

/* ------------------------------------------------------------ calls */

#define NTHREADS 4
#define NPOSTS 2000

static int ncalls; /* only touched on the loop thread */
static void on_call(tide_runtime_t *rt, void *arg) {
  (void)rt;
  (void)arg;
  ncalls++;
}

static void post_many(void *arg) {
  tide_runtime_t *rt = arg;
  int i;
  for (i = 0; i < NPOSTS; i++) CHECK_INT(tide_runtime_post(rt, on_call, 0), 0);
}

TEST(many_threads_post_calls) {
  tide_runtime_t *rt;
  tide_future_t *keepalive;
  uv_thread_t th[NTHREADS];
  int i;
  ncalls = 0;
  CHECK_INT(tide_runtime_new(&rt, NULL, NULL), 0);
  /* A pending host future keeps the loop alive while the posts arrive. */
  CHECK_INT(tide_future_new(tide_runtime_lua(rt), &keepalive), 0);
  lua_pop(tide_runtime_lua(rt), 1);
  for (i = 0; i < NTHREADS; i++)
    CHECK_INT(uv_thread_create(&th[i], post_many, rt), 0);
  while (ncalls < NTHREADS * NPOSTS) tide_runtime_run(rt, TIDE_RUN_ONCE);
  for (i = 0; i < NTHREADS; i++) uv_thread_join(&th[i]);
  CHECK_INT(ncalls, NTHREADS * NPOSTS);
  tide_future_release(keepalive);
  CHECK_INT(tide_runtime_close(rt), 0);
}

/* ------------------------------------------------------------ workers */

/* host.square(x): a worker thread computes x * x and completes the future
 * with it, then releases its handle (both from the worker). */
typedef struct {
  uv_thread_t thread;
  tide_future_t *f;
  lua_Integer x;
} job_t;

static job_t jobs[64];
static int njobs;

static void square_work(void *arg) {
  job_t *j = arg;
  uv_sleep((unsigned)(j->x % 5)); /* finish out of order */
  CHECK_INT(tide_future_post_integer(j->f, j->x * j->x), 0);
  CHECK_INT(tide_future_post_integer(j->f, 0), TIDE_ESTATE); /* once */
  tide_future_release(j->f);
}

static int l_square(lua_State *L) {
  job_t *j = &jobs[njobs++];
  j->x = luaL_checkinteger(L, 1);
  if (tide_future_new(L, &j->f) != 0) return luaL_error(L, "no runtime");
  if (uv_thread_create(&j->thread, square_work, j) != 0)
    return luaL_error(L, "no thread");
  return tide_await(L, -1);
}

/* What each post kind sends; the future is the task's to await. */
static int push_three(lua_State *L, void *arg) {
  if (L == NULL) return 0;
  lua_pushinteger(L, 1);
  lua_pushstring(L, arg);
  lua_pushboolean(L, 1);
  return 3;
}
static int push_fail(lua_State *L, void *arg) {
  (void)arg;
  if (L == NULL) return 0; /* not applied: nothing to free */
  lua_pushstring(L, "failed by push");
  return -1;
}
static int push_raise(lua_State *L, void *arg) {
  (void)arg;
  if (L == NULL) return 0;
  return luaL_error(L, "raised in push");
}

static void post_kinds(void *arg) {
  tide_future_t **f = arg;
  CHECK_INT(tide_future_post_string(f[0], "a\0b", 3), 0);
  CHECK_INT(tide_future_post_number(f[1], 2.5), 0);
  CHECK_INT(tide_future_post_error(f[2], "worker failed"), 0);
  CHECK_INT(tide_future_post(f[3], push_three, "two"), 0);
  CHECK_INT(tide_future_post(f[4], push_fail, NULL), 0);
  CHECK_INT(tide_future_post(f[5], push_raise, NULL), 0);
  tide_future_release(f[6]); /* pending, never completed: fails */
}

static tide_future_t *kind_futures[7];
static uv_thread_t kinds_thread;

/* host.kinds(): seven futures, completed by a thread. */
static int l_kinds(lua_State *L) {
  int i;
  lua_createtable(L, 7, 0);
  for (i = 0; i < 7; i++) {
    if (tide_future_new(L, &kind_futures[i]) != 0)
      return luaL_error(L, "no runtime");
    lua_rawseti(L, -2, i + 1);
  }
  uv_thread_create(&kinds_thread, post_kinds, kind_futures);
  return 1;
}

static const luaL_Reg host_funcs[] = {
    {"square", l_square}, {"kinds", l_kinds}, {NULL, NULL}};

TEST(workers_complete_futures) {
  tide_runtime_t *rt;
  lua_State *L;
  int i;
  njobs = 0;
  CHECK_INT(tide_runtime_new(&rt, NULL, NULL), 0);
  L = tide_runtime_lua(rt);
  CHECK_INT(tide_module_add(rt, "host", host_funcs), 0);
  CHECK_INT(tide_runtime_spawn_string(
                rt,
                "local tide = require 'tide'\n"
                "local host = require 'host'\n"
                "local tasks = {}\n"
                "for i = 1, 32 do\n"
                "  tasks[i] = tide.spawn(host.square, i)\n"
                "end\n"
                "local sum = 0\n"
                "for i = 1, 32 do sum = sum + tasks[i]:await() end\n"
                "return sum\n",
                "=main", 0),
            0);
  /* Nothing but the workers' futures keeps this loop alive. */
  CHECK_INT(tide_runtime_run_task(rt, -1), 0);
  CHECK_INT(tide_task_results(rt, -1), 1);
  CHECK_INT(lua_tointeger(L, -1), 32 * 33 * 65 / 6);
  lua_settop(L, 0);
  for (i = 0; i < njobs; i++) uv_thread_join(&jobs[i].thread);
  CHECK_INT(tide_runtime_close(rt), 0);
}

TEST(every_post_kind) {
  tide_runtime_t *rt;
  lua_State *L;
  int i;
  CHECK_INT(tide_runtime_new(&rt, NULL, NULL), 0);
  L = tide_runtime_lua(rt);
  CHECK_INT(tide_module_add(rt, "host", host_funcs), 0);
  CHECK_INT(tide_runtime_spawn_string(
                rt,
                "local f = require('host').kinds()\n"
                "local out = {}\n"
                "out[1] = f[1]:await()\n"
                "out[2] = f[2]:await()\n"
                "out[3] = select(2, pcall(f[3].await, f[3]))\n"
                "out[4] = table.concat({tostring(select(1, f[4]:await())),\n"
                "  select(2, f[4]:await()), tostring(select(3, "
                "f[4]:await()))}, ',')\n"
                "for i = 5, 7 do out[i] = select(2, pcall(f[i].await, f[i])) "
                "end\n"
                "return out\n",
                "=main", 0),
            0);
  CHECK_INT(tide_runtime_run_task(rt, -1), 0);
  CHECK_INT(tide_task_results(rt, -1), 1);
  lua_rawgeti(L, -1, 1);
  {
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    CHECK(len == 3 && memcmp(s, "a\0b", 3) == 0);
  }
  lua_rawgeti(L, -2, 2);
  CHECK(lua_tonumber(L, -1) == 2.5);
  lua_rawgeti(L, -3, 3);
  CHECK_STR(lua_tostring(L, -1), "worker failed");
  lua_rawgeti(L, -4, 4);
  CHECK_STR(lua_tostring(L, -1), "1,two,true");
  lua_rawgeti(L, -5, 5);
  CHECK_STR(lua_tostring(L, -1), "failed by push");
  lua_rawgeti(L, -6, 6);
  CHECK(strstr(lua_tostring(L, -1), "raised in push") != NULL);
  lua_rawgeti(L, -7, 7);
  CHECK(strstr(lua_tostring(L, -1), "released") != NULL);
  lua_settop(L, 0);
  uv_thread_join(&kinds_thread);
  for (i = 0; i < 6; i++) {
    CHECK(tide_future_state(kind_futures[i]) != TIDE_STATE_PENDING);
    tide_future_release(kind_futures[i]);
  }
  CHECK_INT(tide_runtime_close(rt), 0);
}

/* ------------------------------------------------------------ threads */

typedef struct {
  tide_runtime_t *rt;
  tide_future_t *f;
  int resolve, reject, state, push, module, run, post;
} wrong_t;

static void wrong_thread(void *arg) {
  wrong_t *w = arg;
  w->resolve = tide_future_resolve(w->f, NULL, 0);
  w->reject = tide_future_reject(w->f, NULL);
  w->state = tide_future_state(w->f);
  w->push = tide_future_push(w->f, NULL);
  w->module = tide_module_add(w->rt, "x", host_funcs);
  w->run = tide_runtime_run(w->rt, TIDE_RUN_NOWAIT);
  w->post = tide_future_post_integer(w->f, 5); /* allowed anywhere */
}

TEST(wrong_thread_calls) {
  wrong_t w;
  uv_thread_t th;
  lua_State *L;
  memset(&w, 0, sizeof w);
  CHECK_INT(tide_runtime_new(&w.rt, NULL, NULL), 0);
  L = tide_runtime_lua(w.rt);
  CHECK_INT(tide_future_new(L, &w.f), 0);
  CHECK_INT(uv_thread_create(&th, wrong_thread, &w), 0);
  uv_thread_join(&th);
  CHECK_INT(w.resolve, TIDE_ETHREAD);
  CHECK_INT(w.reject, TIDE_ETHREAD);
  CHECK_INT(w.state, TIDE_ETHREAD);
  CHECK_INT(w.push, TIDE_ETHREAD);
  CHECK_INT(w.module, TIDE_ETHREAD);
  CHECK_INT(w.run, TIDE_ETHREAD);
  CHECK_INT(w.post, 0);
  CHECK_INT(lua_gettop(L), 1); /* nothing touched the stack */
  CHECK_INT(tide_runtime_run(w.rt, TIDE_RUN_DEFAULT), 0);
  CHECK_INT(tide_future_state(w.f), TIDE_STATE_DONE);
  lua_settop(L, 0);
  tide_future_release(w.f);
  CHECK_INT(tide_runtime_close(w.rt), 0);
}

/* ------------------------------------------------------------ close */

#define NRACE 200

typedef struct {
  tide_future_t *f[NRACE];
  int posted, closed;
} race_t;

/* Posts to each future in turn while the runtime closes under it: every
 * post is either queued or refused with ECLOSED, never a crash. */
static void race_posts(void *arg) {
  race_t *r = arg;
  int i, err;
  for (i = 0; i < NRACE; i++) {
    err = tide_future_post_integer(r->f[i], i);
    if (err == 0) r->posted++;
    else if (err == TIDE_ECLOSED) r->closed++;
    tide_future_release(r->f[i]);
    if (i % 16 == 0) uv_sleep(0);
  }
}

TEST(handles_outlive_the_runtime) {
  tide_runtime_t *rt;
  lua_State *L;
  race_t r;
  uv_thread_t th;
  int i;
  memset(&r, 0, sizeof r);
  CHECK_INT(tide_runtime_new(&rt, NULL, NULL), 0);
  L = tide_runtime_lua(rt);
  for (i = 0; i < NRACE; i++) CHECK_INT(tide_future_new(L, &r.f[i]), 0);
  lua_settop(L, 0);
  CHECK_INT(uv_thread_create(&th, race_posts, &r), 0);
  tide_runtime_run(rt, TIDE_RUN_NOWAIT);
  CHECK_INT(tide_runtime_close(rt), 0); /* the thread is still posting */
  uv_thread_join(&th);
  CHECK_INT(r.posted + r.closed, NRACE);
}

static void post_after_close(void *arg) {
  tide_future_t *f = arg;
  CHECK_INT(tide_future_post_number(f, 1), TIDE_ECLOSED);
  CHECK_INT(tide_future_post(f, push_three, "x"), TIDE_ECLOSED);
  tide_future_release(f); /* frees the handle and, last, the hub */
}

TEST(post_after_close_from_thread) {
  tide_runtime_t *rt;
  tide_future_t *f;
  uv_thread_t th;
  CHECK_INT(tide_runtime_new(&rt, NULL, NULL), 0);
  CHECK_INT(tide_future_new(tide_runtime_lua(rt), &f), 0);
  lua_settop(tide_runtime_lua(rt), 0);
  CHECK_INT(tide_runtime_close(rt), 0);
  CHECK_INT(uv_thread_create(&th, post_after_close, f), 0);
  uv_thread_join(&th);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  RUN(many_threads_post_calls);
  RUN(workers_complete_futures);
  RUN(every_post_kind);
  RUN(wrong_thread_calls);
  RUN(handles_outlive_the_runtime);
  RUN(post_after_close_from_thread);
  return test_summary("test_post");
}
