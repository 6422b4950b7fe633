/* An example host whose event loop is not libuv's: a plain poll(2) loop
 * that watches descriptors of its own (here a pipe its ticker thread
 * writes to) and drives tide through three calls, as it would drive a
 * GUI toolkit's or a game's loop:
 *
 *   tide_runtime_backend_fd       a descriptor to poll for reading
 *   tide_runtime_backend_timeout  how long poll may block (ms, -1: no limit)
 *   tide_runtime_step             one loop iteration, never blocking
 *
 * It exposes host.next_tick() to Lua: a future the host completes from its
 * own loop when its pipe says a tick came. The script (script.lua) awaits
 * ticks while it sleeps, exchanges a line over TCP with itself and cancels
 * a tick wait with a deadline (the host's cancel callback sees it); no
 * uv_run is ever called by the host.
 *
 *   usage: embed_poll_host [script.lua]   (default: script.lua beside it)
 *
 * Exit status 0 when the script returned "3 ticks, echo: hello, cancelled
 * wait seen"; 1 otherwise. */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>
#include <tide.h>

static int tick_pipe[2];          /* the ticker thread writes a byte a tick */
static uv_mutex_t stop_mu;
static int ticker_stop;           /* under stop_mu */
static tide_future_t *waiting;    /* the future of host.next_tick(), if any */
static int cancels_seen;

static void ticker(void *arg) {
  int stop = 0;
  (void)arg;
  while (!stop) {
    uv_sleep(5);
    if (write(tick_pipe[1], "t", 1) < 0) break;
    uv_mutex_lock(&stop_mu);
    stop = ticker_stop;
    uv_mutex_unlock(&stop_mu);
  }
}

static void on_cancel(tide_future_t *f, void *data) {
  (void)data;
  cancels_seen++;
  if (f == waiting) waiting = NULL;
  tide_future_release(f);
}

/* host.next_tick() -> the number of ticks the host has seen. */
static int l_next_tick(lua_State *L) {
  int err;
  if (waiting != NULL) return luaL_error(L, "host.next_tick: one at a time");
  err = tide_future_new(L, &waiting);
  if (err != 0) return luaL_error(L, "host.next_tick: %s", tide_strerror(err));
  tide_future_on_cancel(waiting, on_cancel, NULL);
  return tide_await(L, -1);
}

/* host.never(): a wait the host never ends by itself; only a cancellation
 * does (the host's cancel callback then hears of it). */
static int l_never(lua_State *L) {
  tide_future_t *f;
  int err = tide_future_new(L, &f);
  if (err != 0) return luaL_error(L, "host.never: %s", tide_strerror(err));
  tide_future_on_cancel(f, on_cancel, NULL);
  return tide_await(L, -1);
}

/* host.cancels() -> how many waits the host saw cancelled. */
static int l_cancels(lua_State *L) {
  lua_pushinteger(L, cancels_seen);
  return 1;
}

static const luaL_Reg host_funcs[] = {{"next_tick", l_next_tick},
                                      {"never", l_never},
                                      {"cancels", l_cancels},
                                      {NULL, NULL}};

int main(int argc, char **argv) {
  tide_runtime_t *rt;
  lua_State *L;
  uv_thread_t thread;
  const char *script = argc > 1 ? argv[1] : "examples/embed_poll/script.lua";
  long ticks = 0;
  int status = 1, err, state;

  if (pipe(tick_pipe) != 0 || uv_mutex_init(&stop_mu) != 0) return 1;
  err = tide_runtime_new(&rt, NULL, NULL); /* tide's loop, never uv_run */
  if (err != 0) {
    fprintf(stderr, "tide: %s\n", tide_strerror(err));
    return 1;
  }
  L = tide_runtime_lua(rt);
  tide_module_add(rt, "host", host_funcs);
  if (tide_runtime_spawn_file(rt, script, 0) != 0) {
    fprintf(stderr, "%s\n", lua_tostring(L, -1));
    tide_runtime_close(rt);
    return 1;
  }
  uv_thread_create(&thread, ticker, NULL);

  /* The host's loop: poll tide's descriptor and its own pipe. */
  while ((state = tide_task_state(rt, -1)) == TIDE_STATE_PENDING) {
    struct pollfd fds[2] = {
        {tide_runtime_backend_fd(rt), POLLIN, 0},
        {tick_pipe[0], POLLIN, 0}};
    int timeout = tide_runtime_backend_timeout(rt);
    if (poll(fds, 2, timeout) < 0) break;
    if (fds[1].revents & POLLIN) {
      char buf[64];
      ssize_t n = read(tick_pipe[0], buf, sizeof(buf));
      if (n > 0) {
        ticks += n;
        if (waiting != NULL) { /* a Lua task waits for the next tick */
          tide_future_post_integer(waiting, ticks);
          tide_future_release(waiting);
          waiting = NULL;
        }
      }
    }
    if (tide_runtime_step(rt) < 0) break;
  }

  uv_mutex_lock(&stop_mu);
  ticker_stop = 1;
  uv_mutex_unlock(&stop_mu);
  uv_thread_join(&thread);
  uv_mutex_destroy(&stop_mu);
  if (state == TIDE_STATE_DONE && tide_task_results(rt, -1) == 1) {
    const char *r = lua_tostring(L, -1);
    printf("script returned: %s\n", r ? r : "(not a string)");
    status = r != NULL && strcmp(r, "3 ticks, echo: hello, cancelled wait "
                                    "seen") == 0
                 ? 0
                 : 1;
  } else if (state != TIDE_STATE_PENDING) {
    tide_task_results(rt, -1);
    fprintf(stderr, "script failed: %s\n", lua_tostring(L, -2));
  }
  lua_settop(L, 0);
  if (waiting != NULL) tide_future_release(waiting);
  tide_runtime_close(rt);
  close(tick_pipe[0]);
  close(tick_pipe[1]);
  return status;
}
