/* The workers' supervisor (supervise.c) and the worker's side of it
 * (worker.c): `tide --workers N`, tide.workers{}, and tcp.listen{reuseport}
 * in a worker. No Lua. */
#ifndef TIDE_SUPERVISE_H
#define TIDE_SUPERVISE_H

#include "tide_int.h"

typedef struct {
  int nworkers;          /* processes to keep running */
  const char *file;      /* the program to run (NULL: argv[0], on PATH) */
  char **argv;           /* each worker's command line */
  double grace;          /* seconds a stopping worker may take */
  const char *progname;  /* for the lines on stderr */
} tide_supervise_opts_t;

/* Runs the workers until SIGTERM/SIGINT has stopped them all; returns the
 * exit status for the supervisor (128 + the signal). Runs a libuv loop of
 * its own: never call it from inside a tide loop. */
int tide__supervise(const tide_supervise_opts_t *o);

/* In a worker (TIDE_SUPERVISOR_FD set): asks the supervisor for this slot's
 * listening socket on host:port; *fd is a listening descriptor of ours,
 * *actual its port. Returns 0, UV_ENOTSUP when not a worker, or an error. */
int tide__worker_listen(const char *host, int port, int backlog, int v6only,
                        int *fd, int *actual);
/* Reads the worker's environment once per process (and removes it, so
 * that programs the worker starts are not taken for workers); made by the
 * runtime's creation. */
void tide__worker_init(void);
/* The worker's number (1..N), or 0 outside workers. */
int tide__worker_id(void);
/* How many workers the supervisor runs (0 outside workers). */
int tide__worker_count(void);
/* The supervisor's grace period in seconds, or -1 (outside workers). */
double tide__worker_grace(void);

#endif
