/* tide.tcp.connect's timeout, against a peer that never answers.
 *
 * Loopback refuses or accepts at once, so a hanging connect needs a
 * listener whose accept queue is full: this test listens with a backlog of
 * 0 on 127.0.0.1 and never accepts. Linux then drops further SYNs, and a
 * connect with a timeout must give up with ETIMEDOUT, leave nothing open
 * and keep the runtime usable. (In Lua nothing can make such a listener,
 * hence a C test.) */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <lauxlib.h>

#include "test.h"
#include "tide.h"

/* A listening socket on 127.0.0.1 that never accepts; returns its fd and
 * puts its port in *port. */
static int silent_listener(int *port) {
  struct sockaddr_in sa;
  socklen_t len = sizeof(sa);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = 0;
  if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 0) != 0 ||
      getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
    close(fd);
    return -1;
  }
  *port = ntohs(sa.sin_port);
  return fd;
}

TEST(connect_times_out) {
  tide_runtime_t *rt;
  lua_State *L;
  int port, fd = silent_listener(&port), n;
  char code[1024];
  CHECK(fd >= 0);
  if (fd < 0) return;
  CHECK_INT(tide_runtime_new(&rt, NULL, NULL), 0);
  L = tide_runtime_lua(rt);
  /* Fill the accept queue until a connect hangs: that one must time out.
   * The ones that got in are closed at the end. */
  snprintf(code, sizeof code,
           "local tide = require 'tide'\n"
           "local open, t0 = {}, tide.now()\n"
           "for i = 1, 20 do\n"
           "  local s, err, name = tide.tcp.connect('127.0.0.1', %d,\n"
           "                                        {timeout = 0.2})\n"
           "  if not s then\n"
           "    for _, c in ipairs(open) do c:close() end\n"
           "    return name, err, tide.now() - t0, #open\n"
           "  end\n"
           "  open[#open + 1] = s\n"
           "end\n"
           "return 'never timed out'\n",
           port);
  CHECK_INT(tide_runtime_spawn_string(rt, code, "=connect", 0), 0);
  CHECK_INT(tide_runtime_run_task(rt, -1), 0);
  n = tide_task_results(rt, -1);
  CHECK_INT(n, 4);
  if (n == 4) {
    CHECK_STR(lua_tostring(L, -4), "ETIMEDOUT");
    CHECK(strstr(lua_tostring(L, -3), "ETIMEDOUT") != NULL);
    /* It waited for the timeout, not much longer. */
    CHECK(lua_tonumber(L, -2) >= 0.2 && lua_tonumber(L, -2) < 5);
    CHECK(lua_tointeger(L, -1) >= 1);
  }
  lua_settop(L, 0);
  /* Nothing was left behind: the runtime still runs, with no handle open. */
  CHECK_INT(tide_runtime_spawn_string(rt,
                                      "local tide = require 'tide'\n"
                                      "tide.sleep(0.01)\n"
                                      "return tide.stats().handles",
                                      "=after", 0),
            0);
  CHECK_INT(tide_runtime_run_task(rt, -1), 0);
  CHECK_INT(tide_task_results(rt, -1), 1);
  CHECK_INT(lua_tointeger(L, -1), 0);
  lua_settop(L, 0);
  CHECK_INT(tide_runtime_close(rt), 0);
  close(fd);
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  RUN(connect_times_out);
  return test_summary("test_connect");
}
