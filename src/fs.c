/* File system jobs: every operation on a path (and, through file.c, on an
 * open file) is one job of libuv's thread pool making plain system calls.
 * No Lua here.
 *
 * Why one job per operation, including the compound ones: readfile opens,
 * stats, reads and closes in one trip to the pool instead of four (the
 * loop is woken once), mkdir with parents and rmdir with recursive walk the
 * tree in the thread, and writefile with atomic writes a temporary file,
 * syncs it and renames it over the target in one go.
 *
 * Cancelling a job that has not started yet (uv_cancel succeeds) means it
 * never happens; a job already running finishes, and its answer is dropped
 * with it. Either way the after-work callback comes and releases the pool's
 * reference. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tide_fs.h"

const char *const tide__fs_typenames[] = {
    "unknown", "file", "directory", "link", "fifo", "socket", "char", "block"};

int tide__fs_mode_type(uint64_t m) {
  switch (m & S_IFMT) {
  case S_IFREG: return TIDE__FT_FILE;
  case S_IFDIR: return TIDE__FT_DIR;
  case S_IFLNK: return TIDE__FT_LINK;
  case S_IFIFO: return TIDE__FT_FIFO;
  case S_IFSOCK: return TIDE__FT_SOCKET;
  case S_IFCHR: return TIDE__FT_CHAR;
  case S_IFBLK: return TIDE__FT_BLOCK;
  default: return TIDE__FT_UNKNOWN;
  }
}

static int fs_errno(void) {
  return uv_translate_sys_error(errno);
}

/* ------------------------------------------------------------ in the pool */

/* A growable buffer owned by a job, for answers of unknown size. */
static int fs_grow(tide__fs_t *r, size_t need) {
  size_t cap;
  char *p;
  if (need <= r->datalen) return 0;
  cap = r->datalen ? r->datalen : 4096;
  while (cap < need) cap *= 2;
  p = realloc(r->data, cap);
  if (p == NULL) return UV_ENOMEM;
  r->data = p;
  r->datalen = cap;
  return 0;
}

/* Writes all of p to fd (at off, or at its position when off < 0),
 * retrying short writes. Returns 0 or an error. */
static int fs_write_all(int fd, const char *p, size_t len, int64_t off) {
  while (len > 0) {
    ssize_t n = off >= 0 ? pwrite(fd, p, len, (off_t)off) : write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fs_errno();
    }
    p += n;
    len -= (size_t)n;
    if (off >= 0) off += n;
  }
  return 0;
}

/* Reads the whole file at path into r->data (r->result bytes). */
static int fs_do_readfile(tide__fs_t *r) {
  struct stat st;
  size_t got = 0;
  int fd, err = 0;
  do fd = open(r->path, O_RDONLY | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) return fs_errno();
  if (fstat(fd, &st) != 0) {
    err = fs_errno();
    goto done;
  }
  if (S_ISDIR(st.st_mode)) {
    err = UV_EISDIR;
    goto done;
  }
  /* The size is a hint: the file may grow meanwhile, and /proc files say
   * 0. Read until end of file, with room for one more byte so that a file
   * of exactly the size stat gave ends in one extra read of 0 bytes. */
  err = fs_grow(r, (size_t)(S_ISREG(st.st_mode) ? st.st_size : 0) + 1);
  while (err == 0) {
    ssize_t n;
    if (got == r->datalen && (err = fs_grow(r, got * 2)) != 0) break;
    n = read(fd, r->data + got, r->datalen - got);
    if (n < 0) {
      if (errno != EINTR) err = fs_errno();
      continue;
    }
    if (n == 0) break;
    got += (size_t)n;
  }
  r->result = (int64_t)got;
done:
  close(fd);
  return err;
}

/* Writes r->data to path: truncated or appended, or (atomic) into a fresh
 * temporary file beside it that is synced and renamed over path, so that
 * readers see the old contents or the new, never a part. */
static int fs_do_writefile(tide__fs_t *r) {
  char tmp[PATH_MAX];
  const char *target = r->path;
  int fd, err, flags = O_WRONLY | O_CREAT | O_CLOEXEC, attempt;
  if (r->flags & TIDE__FS_ATOMIC) {
    /* O_EXCL on a name unlikely to exist: retry the rare collision. */
    for (attempt = 0;; attempt++) {
      if (snprintf(tmp, sizeof(tmp), "%s.%ld.%llx.tmp", r->path,
                   (long)getpid(),
                   (unsigned long long)(uv_hrtime() + (uintptr_t)r +
                                        (unsigned)attempt)) >= (int)sizeof(tmp))
        return UV_ENAMETOOLONG;
      do fd = open(tmp, flags | O_EXCL, r->mode);
      while (fd < 0 && errno == EINTR);
      if (fd >= 0 || errno != EEXIST || attempt == 10) break;
    }
    target = tmp;
  } else {
    flags |= (r->flags & TIDE__FS_APPEND) ? O_APPEND : O_TRUNC;
    do fd = open(target, flags, r->mode);
    while (fd < 0 && errno == EINTR);
  }
  if (fd < 0) return fs_errno();
  err = fs_write_all(fd, r->data, r->len, -1);
  if (err == 0 && (r->flags & TIDE__FS_ATOMIC) && fsync(fd) != 0)
    err = fs_errno();
  if (close(fd) != 0 && err == 0 && errno != EINTR) err = fs_errno();
  if (r->flags & TIDE__FS_ATOMIC) {
    if (err == 0 && rename(tmp, r->path) != 0) err = fs_errno();
    if (err != 0) unlink(tmp);
  }
  return err;
}

/* mkdir -p: makes each missing directory of the path in turn. */
static int fs_do_mkdir(tide__fs_t *r) {
  char buf[PATH_MAX];
  size_t len = strlen(r->path), i;
  struct stat st;
  if (mkdir(r->path, (mode_t)r->mode) == 0) return 0;
  if (!(r->flags & TIDE__FS_PARENTS)) return fs_errno();
  if (errno == EEXIST)
    return stat(r->path, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : UV_EEXIST;
  if (errno != ENOENT) return fs_errno();
  if (len >= sizeof(buf)) return UV_ENAMETOOLONG;
  memcpy(buf, r->path, len + 1);
  for (i = 1; i <= len; i++) {
    if (buf[i] != '/' && buf[i] != '\0') continue;
    if (buf[i - 1] == '/') continue; /* a run of slashes */
    buf[i] = '\0';
    if (mkdir(buf, (mode_t)r->mode) != 0 &&
        (errno != EEXIST || stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)))
      return errno == EEXIST ? UV_ENOTDIR : fs_errno();
    buf[i] = r->path[i];
  }
  return 0;
}

static int fs_rm_entry(const char *path, const struct stat *st, int flag,
                       struct FTW *ftw) {
  (void)st;
  (void)ftw;
  return (flag == FTW_DP ? rmdir(path) : unlink(path)) != 0 ? -1 : 0;
}

static int fs_do_rmdir(tide__fs_t *r) {
  if (!(r->flags & TIDE__FS_RECURSIVE))
    return rmdir(r->path) == 0 ? 0 : fs_errno();
  /* Depth first, without following links: the tree's own entries only. */
  if (nftw(r->path, fs_rm_entry, 32, FTW_DEPTH | FTW_PHYS) != 0)
    return fs_errno();
  return 0;
}

static int fs_do_readlink(tide__fs_t *r) {
  size_t cap = 256;
  for (;;) {
    ssize_t n;
    int err = fs_grow(r, cap);
    if (err != 0) return err;
    n = readlink(r->path, r->data, r->datalen);
    if (n < 0) return fs_errno();
    if ((size_t)n < r->datalen) {
      r->result = n;
      return 0;
    }
    cap = r->datalen * 2;
  }
}

static int fs_dirent_type(DIR *d, struct dirent *e) {
  struct stat st;
  switch (e->d_type) {
  case DT_REG: return TIDE__FT_FILE;
  case DT_DIR: return TIDE__FT_DIR;
  case DT_LNK: return TIDE__FT_LINK;
  case DT_FIFO: return TIDE__FT_FIFO;
  case DT_SOCK: return TIDE__FT_SOCKET;
  case DT_CHR: return TIDE__FT_CHAR;
  case DT_BLK: return TIDE__FT_BLOCK;
  default:
    /* Some file systems leave the type out: ask. */
    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
      return tide__fs_mode_type(st.st_mode);
    return TIDE__FT_UNKNOWN;
  }
}

const char *tide__fs_entry(const char *p, int *type, const char **name,
                           size_t *namelen) {
  *type = (unsigned char)p[0];
  *name = p + 1;
  *namelen = strlen(p + 1);
  return p + 2 + *namelen;
}

/* Appends the entries of d to dst[*len, cap) as packed entries (type byte,
 * name, NUL), skipping "." and "..", until the directory ends (returns 1)
 * or the room left could not take a longest name (returns 0), or an error
 * (negative). readdir is used by one thread at a time per stream. */
int tide__fs_read_entries(void *dir, char *dst, size_t *len, size_t cap) {
  DIR *d = dir;
  for (;;) {
    struct dirent *e;
    size_t n;
    if (cap - *len < NAME_MAX + 3) return 0;
    errno = 0;
    e = readdir(d);
    if (e == NULL) return errno != 0 ? fs_errno() : 1;
    if (e->d_name[0] == '.' &&
        (e->d_name[1] == '\0' || (e->d_name[1] == '.' && e->d_name[2] == '\0')))
      continue;
    n = strlen(e->d_name);
    dst[*len] = (char)fs_dirent_type(d, e);
    memcpy(dst + *len + 1, e->d_name, n + 1);
    *len += n + 2;
  }
}

static int fs_do_scandir(tide__fs_t *r) {
  DIR *d = opendir(r->path);
  size_t len = 0;
  int err;
  if (d == NULL) return fs_errno();
  for (;;) {
    err = fs_grow(r, len + 16 * 1024);
    if (err != 0) break;
    err = tide__fs_read_entries(d, r->data, &len, r->datalen);
    if (err != 0) break;
  }
  closedir(d);
  r->result = (int64_t)len;
  return err < 0 ? err : 0;
}

/* Copies a file's bytes and permission bits, with copy_file_range where
 * the file systems allow (no trip through user space), read and write
 * otherwise. Copies until the source ends rather than for the size stat
 * gave: a source that shrinks meanwhile must not make the copy spin. A file
 * copied onto itself is left alone. */
static int fs_do_copyfile(tide__fs_t *r) {
  struct stat st, dst_st;
  int in, out, err = 0, fallback = 0;
  char *buf = NULL;
  do in = open(r->path, O_RDONLY | O_CLOEXEC);
  while (in < 0 && errno == EINTR);
  if (in < 0) return fs_errno();
  if (fstat(in, &st) != 0 || S_ISDIR(st.st_mode)) {
    err = S_ISDIR(st.st_mode) ? UV_EISDIR : fs_errno();
    close(in);
    return err;
  }
  do out = open(r->path2, O_WRONLY | O_CREAT | O_CLOEXEC |
                              ((r->flags & TIDE__FS_EXCL) ? O_EXCL : 0),
                st.st_mode & 07777);
  while (out < 0 && errno == EINTR);
  if (out < 0) {
    err = fs_errno();
    close(in);
    return err;
  }
  if (fstat(out, &dst_st) == 0 && dst_st.st_dev == st.st_dev &&
      dst_st.st_ino == st.st_ino)
    goto done;
  if (ftruncate(out, 0) != 0 || fchmod(out, st.st_mode & 07777) != 0) {
    err = fs_errno();
    goto done;
  }
  for (;;) {
    ssize_t n;
    if (!fallback) {
      n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
      if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
                    errno == EOPNOTSUPP || errno == EPERM)) {
        fallback = 1;
        continue;
      }
    } else {
      if (buf == NULL && (buf = malloc(64 * 1024)) == NULL) {
        err = UV_ENOMEM;
        break;
      }
      n = read(in, buf, 64 * 1024);
      if (n > 0 && (err = fs_write_all(out, buf, (size_t)n, -1)) != 0) break;
    }
    if (n == 0) break;
    if (n < 0 && errno != EINTR) {
      err = fs_errno();
      break;
    }
  }
  free(buf);
done:
  close(in);
  if (close(out) != 0 && err == 0 && errno != EINTR) err = fs_errno();
  return err;
}

/* One stat through libuv (statx where the kernel has it: birth times). */
static int fs_do_stat(tide__fs_t *r) {
  uv_fs_t req;
  int err = r->op == TIDE__FS_LSTAT ? uv_fs_lstat(NULL, &req, r->path, NULL)
                                    : uv_fs_stat(NULL, &req, r->path, NULL);
  if (err == 0) r->st = req.statbuf;
  uv_fs_req_cleanup(&req);
  return err;
}

static void fs_work(uv_work_t *w) {
  tide__fs_t *r = TIDE__CONTAINER_OF(w, tide__fs_t, work);
  int err = 0;
  switch (r->op) {
  case TIDE__FS_STAT:
  case TIDE__FS_LSTAT: err = fs_do_stat(r); break;
  case TIDE__FS_RENAME:
    if (rename(r->path, r->path2) != 0) err = fs_errno();
    break;
  case TIDE__FS_UNLINK:
    if (unlink(r->path) != 0) err = fs_errno();
    break;
  case TIDE__FS_MKDIR: err = fs_do_mkdir(r); break;
  case TIDE__FS_RMDIR: err = fs_do_rmdir(r); break;
  case TIDE__FS_REALPATH:
    r->data = realpath(r->path, NULL);
    if (r->data == NULL) err = fs_errno();
    else r->result = (int64_t)strlen(r->data);
    break;
  case TIDE__FS_CHMOD:
    if (chmod(r->path, (mode_t)r->mode) != 0) err = fs_errno();
    break;
  case TIDE__FS_SYMLINK:
    if (symlink(r->path, r->path2) != 0) err = fs_errno();
    break;
  case TIDE__FS_READLINK: err = fs_do_readlink(r); break;
  case TIDE__FS_MKDTEMP:
    err = fs_grow(r, strlen(r->path) + 7);
    if (err != 0) break;
    snprintf(r->data, r->datalen, "%sXXXXXX", r->path);
    if (mkdtemp(r->data) == NULL) err = fs_errno();
    else r->result = (int64_t)strlen(r->data);
    break;
  case TIDE__FS_COPYFILE: err = fs_do_copyfile(r); break;
  case TIDE__FS_SCANDIR: err = fs_do_scandir(r); break;
  case TIDE__FS_READFILE: err = fs_do_readfile(r); break;
  case TIDE__FS_WRITEFILE: err = fs_do_writefile(r); break;
  case TIDE__FS_ACCESS:
    if (access(r->path, r->mode) != 0) err = fs_errno();
    break;
  default: err = r->run != NULL ? r->run(r) : UV_ENOSYS; break;
  }
  r->status = err;
}

/* ------------------------------------------------------------ on the loop */

static void fs_after_work(uv_work_t *w, int status) {
  tide__fs_t *r = TIDE__CONTAINER_OF(w, tide__fs_t, work);
  tide_loop_t *loop = r->loop;
  if (status == UV_ECANCELED) r->status = UV_ECANCELED;
  if (r->after != NULL) {
    /* A file job: applies the answer to the file and starts its next. */
    r->after(r);
  } else if (r->fut.state == TIDE__PENDING) {
    tide__future_complete(&r->fut, TIDE__DONE);
  }
  tide__fs_unref(r);
  tide__loop_handle_closed(loop);
}

/* A waiting task is cancelled: a job not started yet is taken back (it
 * never runs); one running finishes in the pool and its answer is dropped.
 * Either way the future is cancelled now. */
static int fs_on_cancel(tide__future_t *f) {
  tide__fs_t *r = (tide__fs_t *)f;
  if (r->op == TIDE__FS_CLOSE) return 0; /* a close always happens */
  if (r->submitted) {
    uv_cancel((uv_req_t *)&r->work);
  } else if (r->file != NULL) {
    /* Still queued behind another job of its file. */
    tide__link_remove(&r->link);
    tide__fs_unref(r);
  }
  return 0;
}

tide__fs_t *tide__fs_alloc(tide_loop_t *loop, int op, const char *path,
                           const char *path2, size_t datalen) {
  size_t l1 = path ? strlen(path) + 1 : 0, l2 = path2 ? strlen(path2) + 1 : 0;
  tide__fs_t *r = malloc(sizeof(*r) + l1 + l2 + datalen);
  char *p;
  if (r == NULL) return NULL;
  memset(r, 0, sizeof(*r));
  tide__future_init(&r->fut, loop);
  r->fut.cancel = fs_on_cancel;
  r->loop = loop;
  r->op = op;
  r->refs = 2;
  tide__link_init(&r->link);
  p = (char *)(r + 1);
  if (path != NULL) {
    memcpy(p, path, l1);
    r->path = p;
    p += l1;
  }
  if (path2 != NULL) {
    memcpy(p, path2, l2);
    r->path2 = p;
    p += l2;
  }
  if (datalen > 0) r->data = p; /* the caller fills it */
  r->owns_data = datalen == 0;
  return r;
}

void tide__fs_submit(tide__fs_t *r) {
  int err = uv_queue_work(r->loop->uv, &r->work, fs_work, fs_after_work);
  if (err != 0) {
    /* Cannot happen with a valid loop and callbacks; answer at once. */
    r->status = err;
    tide__future_complete(&r->fut, TIDE__DONE);
    tide__fs_unref(r);
    return;
  }
  r->submitted = 1;
  tide__loop_handle_open(r->loop);
}

void tide__fs_unref(tide__fs_t *r) {
  if (--r->refs > 0) return;
  if (r->owns_data) free(r->data);
  free(r);
}

void tide__fs_release(tide__fs_t *r) {
  tide__fs_unref(r);
}

int tide__fs_path_op(tide_loop_t *loop, int op, const char *path,
                     const char *path2, int flags, int mode,
                     tide__fs_t **out) {
  tide__fs_t *r = tide__fs_alloc(loop, op, path, path2, 0);
  if (r == NULL) return TIDE_ENOMEM;
  r->flags = flags;
  r->mode = mode;
  tide__fs_submit(r);
  *out = r;
  return 0;
}

int tide__fs_writefile(tide_loop_t *loop, const char *path, const char *data,
                       size_t len, int flags, int mode, tide__fs_t **out) {
  tide__fs_t *r = tide__fs_alloc(loop, TIDE__FS_WRITEFILE, path, NULL,
                                 len > 0 ? len : 1);
  if (r == NULL) return TIDE_ENOMEM;
  memcpy(r->data, data, len);
  r->len = len;
  r->flags = flags;
  r->mode = mode;
  tide__fs_submit(r);
  *out = r;
  return 0;
}
