/* Open files and directory streams: the queue of jobs of each, the file
 * position and the read-ahead buffer. No Lua here.
 *
 * A file's jobs run one at a time, in the order they were made: the head
 * of f->queue is the one in the thread pool. That is what makes a position
 * meaningful (a write lands where the reads before it stopped) and what
 * lets the running job use the file's state without locks: whatever a job
 * needs from that state (the position it reads at, room in the read-ahead
 * buffer) is fixed on the loop thread when it starts, and its answer is
 * applied on the loop thread when it ends, before the next one starts.
 *
 * Reading goes through the read-ahead buffer: a read job appends what it
 * read to rbuf and the reader takes its bytes from there. A reader
 * cancelled while its job runs therefore loses nothing: the bytes stay
 * buffered for the next read, and the position only moves when a reader
 * takes them. Writes, truncation and seeks drop the buffer (it would be
 * stale); a write at the position lands at f->pos, the first byte nobody
 * has read yet. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tide_fs.h"

#define FILE__DIR_ROOM (16 * 1024)   /* read-ahead room per directory batch */
#define FILE__SHRINK (256 * 1024)    /* give back a buffer this large once
                                        empty */

static void file_free(tide__file_t *f) {
  free(f->rbuf);
  free(f->path);
  free(f);
}

static void file_res_close(tide__resource_t *res) {
  tide__fs_t *r;
  tide__file_close(TIDE__CONTAINER_OF(res, tide__file_t, res), &r);
  if (r != NULL) tide__fs_release(r); /* nobody waits for it */
}

tide__file_t *tide__file_new(tide_runtime_t *rt, const char *dirpath) {
  tide__file_t *f = calloc(1, sizeof(*f));
  if (f == NULL) return NULL;
  if (dirpath != NULL) {
    f->path = strdup(dirpath);
    if (f->path == NULL) {
      free(f);
      return NULL;
    }
    f->is_dir = 1;
  }
  f->loop = &rt->loop;
  f->fd = -1;
  tide__link_init(&f->queue);
  f->res.close = file_res_close;
  tide__link_insert_tail(&rt->resources, &f->res.link);
  return f;
}

void tide__file_drop_buffer(tide__file_t *f) {
  f->rstart = f->rend = f->rscan = 0;
  f->reof = 0;
}

void tide__file_consume(tide__file_t *f, size_t n) {
  f->rstart += n;
  f->pos += (int64_t)n;
  f->rscan = 0;
  if (f->rstart == f->rend) {
    f->rstart = f->rend = 0;
    if (f->rcap > FILE__SHRINK) {
      free(f->rbuf);
      f->rbuf = NULL;
      f->rcap = 0;
    }
  }
}

/* Makes room for n more bytes after rend (compacting, then growing). */
static int file_reserve(tide__file_t *f, size_t n) {
  size_t used = f->rend - f->rstart, cap;
  char *p;
  if (f->rstart > 0 && f->rcap - f->rend < n) {
    memmove(f->rbuf, f->rbuf + f->rstart, used);
    f->rstart = 0;
    f->rend = used;
  }
  if (f->rcap - f->rend >= n) return 0;
  cap = f->rcap ? f->rcap : 4096;
  while (cap - f->rend < n) cap *= 2;
  p = realloc(f->rbuf, cap);
  if (p == NULL) return TIDE_ENOMEM;
  f->rbuf = p;
  f->rcap = cap;
  return 0;
}

/* ------------------------------------------------------------ in the pool */

/* Reads up to len bytes at off (or at the descriptor's position when off <
 * 0, for pipes and terminals, which get one read: they may never send the
 * rest). Returns the count or a negative error. */
static int64_t file_read(int fd, char *dst, size_t len, int64_t off) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = off >= 0 ? pread(fd, dst + got, len - got, (off_t)off + got)
                         : read(fd, dst + got, len - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return got > 0 ? (int64_t)got : uv_translate_sys_error(errno);
    }
    if (n == 0) break;
    got += (size_t)n;
    if (off < 0) break;
  }
  return (int64_t)got;
}

static int file_write(int fd, const char *p, size_t len, int64_t off) {
  while (len > 0) {
    ssize_t n = off >= 0 ? pwrite(fd, p, len, (off_t)off) : write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return uv_translate_sys_error(errno);
    }
    p += n;
    len -= (size_t)n;
    if (off >= 0) off += n;
  }
  return 0;
}

static int file_fstat(int fd, uv_stat_t *st) {
  uv_fs_t req;
  int err = uv_fs_fstat(NULL, &req, fd, NULL);
  if (err == 0) *st = req.statbuf;
  uv_fs_req_cleanup(&req);
  return err;
}

static void file_done(tide__fs_t *r);

/* The work of a file job, in a thread of the pool. */
static int file_work(tide__fs_t *r) {
  tide__file_t *f = r->file;
  int fd = f->fd, err = 0;
  int64_t n;
  switch (r->op) {
  case TIDE__FS_OPEN:
    do fd = open(r->path, r->flags | O_CLOEXEC, r->mode);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) return uv_translate_sys_error(errno);
    err = file_fstat(fd, &r->st);
    /* A directory cannot be read as a file: say so now, not at the first
     * read (as Python's open does). */
    if (err == 0 && tide__fs_mode_type(r->st.st_mode) == TIDE__FT_DIR)
      err = UV_EISDIR;
    if (err != 0) {
      close(fd);
      return err;
    }
    r->result = fd;
    return 0;
  case TIDE__FS_READ:
    n = file_read(fd,
                  (r->flags & TIDE__FS_AHEAD) ? f->rbuf + f->rend : r->data,
                  r->len, r->offset);
    if (n < 0) return (int)n;
    r->result = n;
    return 0;
  case TIDE__FS_WRITE:
    err = file_write(fd, r->data, r->len, r->offset);
    if (err == 0) r->result = (int64_t)r->len;
    if (err == 0 && f->append) r->result = lseek(fd, 0, SEEK_CUR);
    return err;
  case TIDE__FS_FSTAT: return file_fstat(fd, &r->st);
  case TIDE__FS_SYNC:
    return fsync(fd) == 0 ? 0 : uv_translate_sys_error(errno);
  case TIDE__FS_TRUNCATE:
    return ftruncate(fd, (off_t)r->len) == 0 ? 0
                                             : uv_translate_sys_error(errno);
  case TIDE__FS_SEEK:
    err = file_fstat(fd, &r->st);
    if (err != 0) return err;
    r->result = (int64_t)r->st.st_size + r->offset;
    return r->result < 0 ? UV_EINVAL : 0;
  case TIDE__FS_READDIR: {
    size_t len = f->rend;
    if (f->dir == NULL) {
      f->dir = opendir(f->path);
      if (f->dir == NULL) return uv_translate_sys_error(errno);
    }
    err = tide__fs_read_entries(f->dir, f->rbuf, &len, f->rcap);
    r->result = (int64_t)(len - f->rend);
    r->aux = err == 1;
    return err < 0 ? err : 0;
  }
  case TIDE__FS_CLOSE:
    if (f->dir != NULL) err = closedir(f->dir);
    else if (fd >= 0) err = close(fd);
    /* close() reports EINTR with the descriptor closed anyway on Linux. */
    return err != 0 && errno != EINTR ? uv_translate_sys_error(errno) : 0;
  default: return UV_EINVAL;
  }
}

/* ------------------------------------------------------------ on the loop */

static void file_run_queue(tide__file_t *f);

/* Fixes what the head job needs from the file's state, then hands it to
 * the pool. A seek from the start or the position needs no thread: it is
 * done here, and the next job starts. Returns 1 if the job went to the
 * pool, 0 if it is already done. */
static int file_start(tide__file_t *f, tide__fs_t *r) {
  int err = 0;
  switch (r->op) {
  case TIDE__FS_READ:
    if (r->flags & TIDE__FS_AHEAD) {
      err = file_reserve(f, r->len);
      if (f->seekable) r->offset = f->pos + (int64_t)tide__file_buffered(f);
    }
    if (!f->seekable) r->offset = -1;
    break;
  case TIDE__FS_WRITE:
    if (r->flags & TIDE__FS_ATPOS) r->offset = f->pos;
    if (f->append || !f->seekable) r->offset = -1;
    tide__file_drop_buffer(f);
    break;
  case TIDE__FS_TRUNCATE: tide__file_drop_buffer(f); break;
  case TIDE__FS_READDIR: err = file_reserve(f, FILE__DIR_ROOM); break;
  case TIDE__FS_SEEK:
    if (!f->seekable) {
      err = UV_ESPIPE;
    } else if (r->aux != 2) {
      int64_t to = (r->aux == 0 ? 0 : f->pos) + r->offset;
      if (to < 0) {
        err = UV_EINVAL;
      } else {
        if (to != f->pos) tide__file_drop_buffer(f);
        f->pos = r->result = to;
        r->status = 0;
        goto done_here;
      }
    }
    break;
  default: break;
  }
  if (err == 0) {
    r->run = file_work;
    r->after = file_done;
    tide__fs_submit(r);
    return 1;
  }
  r->status = err;
done_here:
  tide__link_remove(&r->link);
  if (r->fut.state == TIDE__PENDING) tide__future_complete(&r->fut, TIDE__DONE);
  tide__fs_unref(r);
  return 0;
}

static void file_run_queue(tide__file_t *f) {
  while (!tide__link_empty(&f->queue)) {
    tide__fs_t *r = TIDE__CONTAINER_OF(f->queue.next, tide__fs_t, link);
    if (r->submitted || file_start(f, r)) return;
  }
}

/* Applies the answer of a successful job to the file. */
static void file_apply(tide__file_t *f, tide__fs_t *r) {
  switch (r->op) {
  case TIDE__FS_OPEN:
    f->fd = (int)r->result;
    f->seekable = (r->st.st_mode & S_IFMT) == S_IFREG ||
                  (r->st.st_mode & S_IFMT) == S_IFBLK;
    break;
  case TIDE__FS_READ:
    if (!(r->flags & TIDE__FS_AHEAD)) break;
    f->rend += (size_t)r->result;
    f->reof = r->result == 0 || (f->seekable && (size_t)r->result < r->len);
    break;
  case TIDE__FS_WRITE:
    if (f->append) f->pos = r->result;
    else if ((r->flags & TIDE__FS_ATPOS) && f->seekable) f->pos += r->result;
    break;
  case TIDE__FS_SEEK: f->pos = r->result; break;
  case TIDE__FS_READDIR:
    f->rend += (size_t)r->result;
    f->reof = r->aux;
    break;
  default: break;
  }
}

/* The after-work step of a file job (fs.c calls it on the loop thread):
 * applies the answer, completes the job's future, starts the next job; the
 * close job frees the file. */
static void file_done(tide__fs_t *r) {
  tide__file_t *f = r->file;
  int abandoned = r->fut.state != TIDE__PENDING;
  tide__link_remove(&r->link);
  if (r->status == 0) file_apply(f, r);
  if (r->fut.state == TIDE__PENDING) tide__future_complete(&r->fut, TIDE__DONE);
  if (r->op == TIDE__FS_CLOSE) {
    file_free(f);
    return;
  }
  if (r->op == TIDE__FS_OPEN && (r->status != 0 || abandoned) &&
      !f->closing) {
    /* Nobody will get this file: close what was opened, if anything (the
     * close job starts at once, or the memory goes now). */
    tide__file_close(f, NULL);
    return;
  }
  file_run_queue(f);
}

/* Queues job r on f and starts it if f is idle. */
static void file_queue(tide__file_t *f, tide__fs_t *r) {
  int idle = tide__link_empty(&f->queue);
  r->file = f;
  tide__link_insert_tail(&f->queue, &r->link);
  if (idle) file_run_queue(f);
}

int tide__file_open(tide_runtime_t *rt, const char *path, int flags, int mode,
                    tide__file_t **file, tide__fs_t **job) {
  tide__file_t *f = tide__file_new(rt, NULL);
  tide__fs_t *r;
  if (f == NULL) return TIDE_ENOMEM;
  r = tide__fs_alloc(f->loop, TIDE__FS_OPEN, path, NULL, 0);
  if (r == NULL) {
    tide__link_remove(&f->res.link);
    file_free(f);
    return TIDE_ENOMEM;
  }
  r->flags = flags;
  r->mode = mode;
  f->append = (flags & O_APPEND) != 0;
  file_queue(f, r);
  *file = f;
  *job = r;
  return 0;
}

int tide__file_op(tide__file_t *f, int op, int64_t offset, size_t len,
                  const char *data, tide__fs_t **out) {
  tide__fs_t *r;
  if (f->closing) return TIDE_ECLOSED;
  r = tide__fs_alloc(f->loop, op, NULL, NULL,
                     op == TIDE__FS_WRITE && len > 0 ? len : 0);
  if (r == NULL) return TIDE_ENOMEM;
  r->offset = offset;
  r->len = len;
  if (op == TIDE__FS_WRITE) {
    if (len > 0) memcpy(r->data, data, len);
    if (offset < 0) r->flags = TIDE__FS_ATPOS;
  } else if (op == TIDE__FS_READ && offset < 0) {
    r->flags = TIDE__FS_AHEAD;
  } else if (op == TIDE__FS_READ) {
    r->data = malloc(len > 0 ? len : 1);
    if (r->data == NULL) {
      free(r);
      return TIDE_ENOMEM;
    }
  }
  file_queue(f, r);
  *out = r;
  return 0;
}

int tide__file_seek(tide__file_t *f, int whence, int64_t offset,
                    tide__fs_t **out) {
  tide__fs_t *r;
  if (f->closing) return TIDE_ECLOSED;
  r = tide__fs_alloc(f->loop, TIDE__FS_SEEK, NULL, NULL, 0);
  if (r == NULL) return TIDE_ENOMEM;
  r->aux = whence;
  r->offset = offset;
  file_queue(f, r);
  *out = r;
  return 0;
}

int tide__file_close(tide__file_t *f, tide__fs_t **out) {
  tide__fs_t *r;
  if (out != NULL) *out = NULL;
  if (f->closing) return 0;
  f->closing = 1;
  if (f->slot != NULL) {
    *f->slot = NULL;
    f->slot = NULL;
  }
  tide__link_remove(&f->res.link);
  if (f->fd < 0 && f->dir == NULL && tide__link_empty(&f->queue)) {
    /* Never opened (a failed open, a directory never read): nothing to
     * close in a thread. */
    file_free(f);
    return 0;
  }
  r = tide__fs_alloc(f->loop, TIDE__FS_CLOSE, NULL, NULL, 0);
  if (r == NULL) {
    /* Out of memory: close here rather than leak the descriptor. Jobs
     * still queued would use a closed descriptor, so only when idle. */
    if (tide__link_empty(&f->queue)) {
      if (f->dir != NULL) closedir(f->dir);
      else close(f->fd);
      file_free(f);
    }
    return TIDE_ENOMEM;
  }
  file_queue(f, r);
  if (out != NULL) *out = r;
  else tide__fs_release(r);
  return 0;
}
