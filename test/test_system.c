/* What the runtime's close does with the system parts still busy: children
 * still running (SIGTERM, then SIGKILL after their grace period; reaped
 * before the loop closes), file jobs in libuv's pool, open files, offloaded
 * jobs running (interrupted, threads joined), on tide's own loop and on a
 * host's. Under make asan and make valgrind: nothing may leak. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <lauxlib.h>

#include "test.h"
#include "tide.h"

/* Starts children and leaves jobs in flight, then returns their pids: a
 * polite child, one that ignores SIGTERM (grace 0.2 s), and one
 * detached (left running: killed here by the test afterwards). */
static const char *script =
    "local tide = require 'tide'\n"
    "local polite = assert(tide.process.spawn{'sleep', '30'})\n"
    "local stubborn = assert(tide.process.spawn{'sh', '-c',\n"
    "  \"trap '' TERM; echo ready; while :; do sleep 0.05; done\",\n"
    "  stdout = 'pipe', grace = 0.2})\n"
    "assert(stubborn.stdout:readline() == 'ready')\n"
    "local free = assert(tide.process.spawn{'sleep', '30', detached = true})\n"
    "local dir = assert(tide.fs.mkdtemp('/tmp/tide-test-system-'))\n"
    "assert(tide.fs.writefile(dir .. '/big', ('x'):rep(4 << 20)))\n"
    "local f = assert(tide.fs.open(dir .. '/big'))\n"
    "tide.spawn(f.read, f, 1 << 20)\n"
    "tide.spawn(tide.fs.readfile, dir .. '/big')\n"
    "tide.spawn(tide.offload, function() while true do end end)\n"
    "tide.sleep(0.05)\n"
    "return polite.pid, stubborn.pid, free.pid, dir\n";

static int alive(int pid) {
  return kill(pid, 0) == 0 || errno != ESRCH;
}

static void run_and_close(uv_loop_t *host) {
  tide_runtime_t *rt;
  lua_State *L;
  int pids[3], i;
  char dir[256] = "";
  CHECK_INT(tide_runtime_new(&rt, host, NULL), 0);
  L = tide_runtime_lua(rt);
  CHECK_INT(tide_runtime_spawn_string(rt, script, "=script", 0), 0);
  CHECK_INT(tide_runtime_run_task(rt, -1), 0);
  if (tide_task_results(rt, -1) != 4) {
    fprintf(stderr, "script failed: %s\n", lua_tostring(L, -2));
    CHECK(0);
    tide_runtime_close(rt);
    return;
  }
  for (i = 0; i < 3; i++) pids[i] = (int)lua_tointeger(L, -4 + i);
  snprintf(dir, sizeof(dir), "%s", lua_tostring(L, -1));
  lua_settop(L, 0);
  CHECK_INT(tide_runtime_close(rt), 0);
  if (host != NULL) {
    /* The host's loop finishes what the close started. */
    uv_run(host, UV_RUN_DEFAULT);
  }
  /* Reaped (not zombies: kill(pid, 0) fails with ESRCH once reaped). */
  CHECK(!alive(pids[0]));
  CHECK(!alive(pids[1]));
  /* The detached child was left running. */
  CHECK(alive(pids[2]));
  kill(pids[2], SIGKILL);
  if (dir[0] != '\0') {
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    CHECK_INT(system(cmd), 0);
  }
}

TEST(close_on_its_own_loop) {
  run_and_close(NULL);
}

TEST(close_on_a_hosts_loop) {
  uv_loop_t host;
  CHECK_INT(uv_loop_init(&host), 0);
  run_and_close(&host);
  CHECK_INT(uv_loop_close(&host), 0);
}

int main(void) {
  /* The detached child is reparented to init when we exit; until then it
   * is ours, and the reaping above is checked with it killed by hand. */
  RUN(close_on_its_own_loop);
  RUN(close_on_a_hosts_loop);
  return test_summary("test_system");
}
