/* readfile, C floor: read a whole 4 KiB file N times one at a time, then N
 * times with 64 reads in flight. Each read is one job of libuv's thread
 * pool (uv_queue_work) that opens, stats, reads and closes: the least a
 * "read this file" call can cost on libuv.
 *   usage: readfile_c [N]   prints: result seq_us=... par_us=... check=<reads> */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../lib/bench_uv.h"

typedef struct {
  uv_work_t req;
  char *data;
  ssize_t len;
} read_t;

static uv_loop_t *loop;
static char path[64];
static long n, started, reads;

static void work(uv_work_t *w) {
  read_t *r = (read_t *)w;
  struct stat st;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  r->len = -1;
  if (fd < 0) return;
  if (fstat(fd, &st) == 0) {
    r->data = malloc(st.st_size + 1);
    r->len = read(fd, r->data, st.st_size + 1);
  }
  close(fd);
}

static void start_one(void);

static void after(uv_work_t *w, int status) {
  read_t *r = (read_t *)w;
  if (status == 0 && r->len == 4096) reads++;
  free(r->data);
  free(r);
  if (started < n) start_one();
}

static void start_one(void) {
  read_t *r = calloc(1, sizeof *r);
  uv_queue_work(loop, &r->req, work, after);
  started++;
}

static double phase(int conc) {
  double t0 = now_s();
  started = 0;
  while (started < conc && started < n) start_one();
  uv_run(loop, UV_RUN_DEFAULT);
  return (now_s() - t0) * 1e6 / n;
}

int main(int argc, char **argv) {
  char buf[4096];
  double seq, par;
  FILE *f;
  n = argc > 1 ? atol(argv[1]) : 10000;
  snprintf(path, sizeof path, "/tmp/tide-bench-readfile-%d", (int)getpid());
  memset(buf, 'x', sizeof buf);
  f = fopen(path, "wb");
  fwrite(buf, 1, sizeof buf, f);
  fclose(f);
  loop = uv_default_loop();
  seq = phase(1);
  par = phase(64);
  unlink(path);
  printf("result seq_us=%.2f par_us=%.2f check=%ld\n", seq, par, reads);
  return 0;
}
