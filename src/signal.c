/* Signal names: one table for tide.on_signal, tide.signal, process:kill
 * and the names of signals that ended a child. No Lua here. */
#include <signal.h>
#include <string.h>

#include "tide_int.h"

/* watch: 1 if a watcher may wait for it. SIGKILL and SIGSTOP cannot be
 * caught at all; SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGTRAP report a
 * fault of the thread that raised them, and a handler that returns makes
 * the faulting instruction run again, forever. */
static const struct {
  const char *name;
  int num;
  int watch;
} signals[] = {
    {"SIGHUP", SIGHUP, 1},       {"SIGINT", SIGINT, 1},
    {"SIGQUIT", SIGQUIT, 1},     {"SIGILL", SIGILL, 0},
    {"SIGTRAP", SIGTRAP, 0},     {"SIGABRT", SIGABRT, 1},
    {"SIGBUS", SIGBUS, 0},       {"SIGFPE", SIGFPE, 0},
    {"SIGKILL", SIGKILL, 0},     {"SIGUSR1", SIGUSR1, 1},
    {"SIGSEGV", SIGSEGV, 0},     {"SIGUSR2", SIGUSR2, 1},
    {"SIGPIPE", SIGPIPE, 1},     {"SIGALRM", SIGALRM, 1},
    {"SIGTERM", SIGTERM, 1},     {"SIGCHLD", SIGCHLD, 1},
    {"SIGCONT", SIGCONT, 1},     {"SIGSTOP", SIGSTOP, 0},
    {"SIGTSTP", SIGTSTP, 1},     {"SIGTTIN", SIGTTIN, 1},
    {"SIGTTOU", SIGTTOU, 1},     {"SIGURG", SIGURG, 1},
    {"SIGXCPU", SIGXCPU, 1},     {"SIGXFSZ", SIGXFSZ, 1},
    {"SIGVTALRM", SIGVTALRM, 1}, {"SIGPROF", SIGPROF, 1},
    {"SIGWINCH", SIGWINCH, 1},   {"SIGIO", SIGIO, 1},
    {"SIGSYS", SIGSYS, 0},
#ifdef SIGPWR
    {"SIGPWR", SIGPWR, 1},
#endif
#ifdef SIGSTKFLT
    {"SIGSTKFLT", SIGSTKFLT, 1},
#endif
    {NULL, 0, 0}};

int tide__signal_number(const char *name, int *watchable) {
  int i;
  for (i = 0; signals[i].name != NULL; i++) {
    if (strcmp(signals[i].name, name) == 0) {
      if (watchable != NULL) *watchable = signals[i].watch;
      return signals[i].num;
    }
  }
  return 0;
}

const char *tide__signal_name(int num) {
  int i;
  for (i = 0; signals[i].name != NULL; i++)
    if (signals[i].num == num) return signals[i].name;
  return NULL;
}

const char *tide__signal_list(int i, int *watchable) {
  if (signals[i].name != NULL && watchable != NULL)
    *watchable = signals[i].watch;
  return signals[i].name;
}
