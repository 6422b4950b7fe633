/* An example host: a C program with its own libuv loop and its own timer
 * that embeds tide.
 *
 * It exposes host.compute(x) to Lua: the result (x * x, after a pretend
 * expensive 50 ms) is computed on a worker thread and arrives through a
 * future, so the script simply calls host.compute(21) and its task waits,
 * exactly as it waits for a socket. The script (script.lua) does that
 * alongside a TCP exchange over loopback; the host drives the loop with its
 * own uv_run and its timer ticks all along.
 *
 *   usage: embed_host [script.lua]      (default: script.lua beside it)
 *
 * Exit status 0 when the script returned "441 echo: hello"; 1 otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>
#include <tide.h>

/* ------------------------------------------------------------ host.compute */

typedef struct {
  uv_thread_t thread;
  tide_future_t *future; /* the worker completes and releases it */
  double x;
} job_t;

#define MAX_JOBS 16
static job_t *jobs[MAX_JOBS];
static int njobs;

static void compute_work(void *arg) {
  job_t *job = arg;
  uv_sleep(50); /* the expensive part, off the loop thread */
  tide_future_post_number(job->future, job->x * job->x); /* any thread */
  tide_future_release(job->future);                       /* any thread */
}

/* host.compute(x) -> x * x, computed on a worker thread. */
static int l_compute(lua_State *L) {
  job_t *job;
  int err;
  double x = luaL_checknumber(L, 1);
  if (njobs == MAX_JOBS) return luaL_error(L, "host.compute: too busy");
  job = malloc(sizeof(*job));
  if (job == NULL) return luaL_error(L, "host.compute: out of memory");
  job->x = x;
  err = tide_future_new(L, &job->future); /* pushes the future */
  if (err != 0) {
    free(job);
    return luaL_error(L, "host.compute: %s", tide_strerror(err));
  }
  if (uv_thread_create(&job->thread, compute_work, job) != 0) {
    tide_future_release(job->future); /* fails the future: no hang */
    free(job);
    return luaL_error(L, "host.compute: cannot start a thread");
  }
  if (njobs < MAX_JOBS) jobs[njobs++] = job; /* joined at exit */
  return tide_await(L, -1); /* the caller's task waits here */
}

static const luaL_Reg host_funcs[] = {{"compute", l_compute}, {NULL, NULL}};

/* ------------------------------------------------------------ main */

static int ticks;
static void on_tick(uv_timer_t *timer) {
  (void)timer;
  ticks++;
}

/* Unhandled task errors come here (instead of the default, stderr). */
static void on_error(tide_runtime_t *rt, const char *msg, void *ud) {
  (void)rt;
  (void)ud;
  fprintf(stderr, "embed_host: unhandled error in Lua: %s\n", msg);
}

int main(int argc, char **argv) {
  uv_loop_t loop;
  uv_timer_t tick;
  lua_State *L;
  tide_runtime_t *rt;
  const char *script = argc > 1 ? argv[1] : "script.lua";
  int err, n, status = 1, i;

  /* The host's own loop, state and timer. */
  uv_loop_init(&loop);
  L = luaL_newstate();
  luaL_openlibs(L);
  uv_timer_init(&loop, &tick);
  uv_timer_start(&tick, on_tick, 10, 10);
  uv_unref((uv_handle_t *)&tick); /* a heartbeat: it keeps nothing alive */

  err = tide_runtime_new(&rt, &loop, L);
  if (err != 0) {
    fprintf(stderr, "embed_host: %s\n", tide_strerror(err));
    return 1;
  }
  tide_runtime_set_error_handler(rt, on_error, NULL);
  tide_module_add(rt, "host", host_funcs);

  err = tide_runtime_spawn_file(rt, script, 0); /* pushes the task */
  if (err != 0) {
    fprintf(stderr, "embed_host: %s\n", lua_tostring(L, -1));
    goto done;
  }
  /* The host drives, its own way. uv_run returns once nothing is left:
   * the script has finished (a pending host future, like a socket, keeps
   * the loop alive; the heartbeat does not). */
  uv_run(&loop, UV_RUN_DEFAULT);

  n = tide_task_results(rt, -1);
  if (n == 1 && lua_type(L, -1) == LUA_TSTRING) {
    printf("script returned: %s (host ticks: %s)\n", lua_tostring(L, -1),
           ticks > 0 ? "yes" : "no");
    status = strcmp(lua_tostring(L, -1), "441 echo: hello") == 0 && ticks > 0
                 ? 0
                 : 1;
  } else if (n < 0) {
    fprintf(stderr, "embed_host: script failed: %s\n", lua_tostring(L, -1));
  }

done:
  lua_settop(L, 0);
  if (tide_runtime_close(rt) != 0) status = 1;
  uv_close((uv_handle_t *)&tick, NULL);
  uv_run(&loop, UV_RUN_DEFAULT); /* finishes tide's closes and ours */
  for (i = 0; i < njobs; i++) {
    uv_thread_join(&jobs[i]->thread);
    free(jobs[i]);
  }
  if (uv_loop_close(&loop) != 0) {
    fprintf(stderr, "embed_host: handles left open on the loop\n");
    status = 1;
  }
  lua_close(L); /* the host's state outlived the runtime */
  return status;
}
