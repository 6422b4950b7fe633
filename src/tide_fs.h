/* Internal declarations of tide's file system access: one-shot operations
 * on paths (stat, rename, readfile, ...), open files and directory streams
 * with their queue of operations, and change watchers.
 *
 * fs.c and file.c are free of lua_State. Every operation runs in libuv's
 * thread pool as one job (uv_queue_work) doing plain system calls, and is
 * a tide__fs_t: a future the waiting task binds to, plus the inputs and
 * outputs of the job. The memory a job reads or writes (paths, the bytes
 * to write, the buffer read into) belongs to the job, never to Lua, so a
 * task cancelled while its job runs leaves nothing a thread could write
 * into after it is freed: the job runs to its end and its result is
 * dropped with it.
 *
 * Lifetime of a job: refs counts its two owners, the thread pool (released
 * in the after-work callback, on the loop thread) and the continuation of
 * the task that waits for it (released by tide__fs_release). While a job is
 * in the pool it counts as a handle of the loop, so the runtime's close
 * waits for it and the specs' leak checks see it. */
#ifndef TIDE_FS_H
#define TIDE_FS_H

#include "tide_lua.h"

/* What a job does (its work function in fs.c switches on it). */
enum {
  /* On paths (fs.c). */
  TIDE__FS_STAT = 1,
  TIDE__FS_LSTAT,
  TIDE__FS_RENAME,
  TIDE__FS_UNLINK,
  TIDE__FS_MKDIR,     /* flags: TIDE__FS_PARENTS */
  TIDE__FS_RMDIR,     /* flags: TIDE__FS_RECURSIVE */
  TIDE__FS_REALPATH,
  TIDE__FS_CHMOD,
  TIDE__FS_SYMLINK,   /* path: the target, path2: the link */
  TIDE__FS_READLINK,
  TIDE__FS_MKDTEMP,
  TIDE__FS_COPYFILE,  /* flags: TIDE__FS_EXCL */
  TIDE__FS_SCANDIR,
  TIDE__FS_READFILE,
  TIDE__FS_WRITEFILE, /* flags: TIDE__FS_APPEND, TIDE__FS_ATOMIC */
  TIDE__FS_ACCESS,
  /* On open files and directory streams (file.c): queued per file. */
  TIDE__FS_OPEN,
  TIDE__FS_READ,      /* offset < 0: read ahead at the position */
  TIDE__FS_WRITE,     /* offset < 0: at the position (or appended) */
  TIDE__FS_FSTAT,
  TIDE__FS_SYNC,
  TIDE__FS_TRUNCATE,
  TIDE__FS_SEEK,      /* whence "end": needs the size */
  TIDE__FS_READDIR,   /* the next batch of entries of a directory stream */
  TIDE__FS_CLOSE
};

/* Option bits of jobs (tide__fs_t.flags). */
#define TIDE__FS_PARENTS 0x1   /* mkdir -p */
#define TIDE__FS_RECURSIVE 0x2 /* rm -r */
#define TIDE__FS_EXCL 0x4      /* copyfile: fail if the target exists */
#define TIDE__FS_APPEND 0x8    /* writefile: append */
#define TIDE__FS_ATOMIC 0x10   /* writefile: to a temporary, then rename */
#define TIDE__FS_AHEAD 0x20    /* file read: into the read-ahead buffer */
#define TIDE__FS_ATPOS 0x40    /* file write: at the position */

/* Types of directory entries and stat results, in packed listings. */
enum {
  TIDE__FT_UNKNOWN = 0,
  TIDE__FT_FILE,
  TIDE__FT_DIR,
  TIDE__FT_LINK,
  TIDE__FT_FIFO,
  TIDE__FT_SOCKET,
  TIDE__FT_CHAR,
  TIDE__FT_BLOCK
};
extern const char *const tide__fs_typenames[]; /* indexed by TIDE__FT_* */
int tide__fs_mode_type(uint64_t st_mode);      /* S_IFMT bits -> TIDE__FT_* */

typedef struct tide__file_s tide__file_t;
typedef struct tide__fs_s tide__fs_t;

struct tide__fs_s {
  tide__future_t fut;       /* first; done when the job has run */
  uv_work_t work;           /* the job in libuv's thread pool */
  tide_loop_t *loop;
  tide__file_t *file;       /* file jobs: the file, else NULL */
  tide__link_t link;        /* file jobs: in file->queue, head running */
  int op;                   /* TIDE__FS_* */
  int refs;                 /* the pool, the continuation; freed at 0 */
  int flags;                /* TIDE__FS_* option bits; open: O_* flags */
  int mode;                 /* permission bits (open, mkdir, chmod, ...) */
  int status;               /* the outcome: 0 or a negative error */
  int64_t offset;           /* read/write at; < 0: the file's position.
                               seek: the offset from the end */
  int64_t result;           /* bytes read or written; open: the fd;
                               seek: the new position */
  int aux;                  /* seek: whence (0 set, 1 cur, 2 end);
                               readdir: 1 once the directory has ended */
  size_t len;               /* read: bytes wanted; write: bytes of data */
  const char *path, *path2; /* copies, in this job's own allocation */
  char *data;               /* write: a copy of the bytes (this
                               allocation); the answer of readfile,
                               realpath, readlink, mkdtemp, scandir, a read
                               at an offset (malloc'd, freed with the job) */
  size_t datalen;
  uv_stat_t st;             /* stat answers */
  int (*run)(tide__fs_t *r);   /* file jobs: their work in the pool */
  void (*after)(tide__fs_t *r); /* file jobs: their step on the loop */
  unsigned submitted : 1;   /* handed to the thread pool */
  unsigned owns_data : 1;   /* data is malloc'd apart */
};

/* An open file or a directory stream. Its jobs run one at a time in the
 * order they were made (queue), so the position and the read-ahead buffer
 * are only ever touched by the loop thread or by the one running job. The
 * memory is freed when its close job has run. */
struct tide__file_s {
  tide_loop_t *loop;
  tide__resource_t res;     /* in rt->resources until its close starts */
  void **slot;              /* the Lua object's pointer to us, or NULL */
  int fd;                   /* the descriptor; -1 before open, after close */
  void *dir;                /* directory streams: the DIR *, once opened */
  char *path;               /* directory streams: what to open */
  unsigned append : 1;      /* opened with O_APPEND */
  unsigned seekable : 1;    /* a regular file or block device: pread works */
  unsigned is_dir : 1;      /* a directory stream */
  unsigned reof : 1;        /* the last read-ahead reached end of file */
  unsigned closing : 1;     /* the close job is made: nothing else may be */
  int64_t pos;              /* the position the next read starts at */
  char *rbuf;               /* read ahead: rbuf[rstart, rend) is the file
                               from pos on (directories: packed entries) */
  size_t rstart, rend, rcap;
  size_t rscan;             /* lines: bytes searched without a newline */
  tide__link_t queue;       /* its jobs; the head is the one running */
};

/* fs.c: jobs on paths. Each returns 0 and sets *out to the job (its future
 * may complete at any later turn), or a negative error. path2 may be NULL
 * where the operation takes one path; data/len are the bytes to write
 * (copied). */
int tide__fs_path_op(tide_loop_t *loop, int op, const char *path,
                     const char *path2, int flags, int mode,
                     tide__fs_t **out);
int tide__fs_writefile(tide_loop_t *loop, const char *path, const char *data,
                       size_t len, int flags, int mode, tide__fs_t **out);
/* The continuation is done with the job. */
void tide__fs_release(tide__fs_t *r);

/* Shared with file.c. */
tide__fs_t *tide__fs_alloc(tide_loop_t *loop, int op, const char *path,
                           const char *path2, size_t datalen);
void tide__fs_submit(tide__fs_t *r);
void tide__fs_unref(tide__fs_t *r);
/* Appends packed entries of the DIR * d to dst[*len, cap); 1 at the end
 * of the directory, 0 when out of room, or a negative error. */
int tide__fs_read_entries(void *d, char *dst, size_t *len, size_t cap);
/* Reads the packed entry at p (type byte, name, NUL); returns the next. */
const char *tide__fs_entry(const char *p, int *type, const char **name,
                           size_t *namelen);

/* file.c: files. tide__file_open makes the file and its open job (*job);
 * the file is usable once the job succeeds (its status says). */
tide__file_t *tide__file_new(tide_runtime_t *rt, const char *dirpath);
int tide__file_open(tide_runtime_t *rt, const char *path, int flags, int mode,
                    tide__file_t **file, tide__fs_t **job);
/* Queues a job on the file: READ (len bytes, at offset or, offset < 0,
 * read ahead at the position), WRITE (data, at offset or at the
 * position), FSTAT, SYNC, TRUNCATE (to len), READDIR. TIDE_ECLOSED once
 * the close has started. */
int tide__file_op(tide__file_t *f, int op, int64_t offset, size_t len,
                  const char *data, tide__fs_t **out);
/* Queues a seek: whence 0 (from the start), 1 (from the position), 2 (from
 * the end: needs the size). The first two need no thread: when the file is
 * idle the job is done when this returns. */
int tide__file_seek(tide__file_t *f, int whence, int64_t offset,
                    tide__fs_t **out);
/* Starts closing: the Lua object is detached, jobs already queued still
 * run, then the descriptor closes and the memory is freed. *out (may be
 * NULL) is the close job, to wait for. Idempotent: 0 with *out NULL when
 * the close has already started. */
int tide__file_close(tide__file_t *f, tide__fs_t **out);
static inline size_t tide__file_buffered(const tide__file_t *f) {
  return f->rend - f->rstart;
}
static inline int tide__file_busy(const tide__file_t *f) {
  return !tide__link_empty(&f->queue);
}
/* Takes n bytes off the read-ahead buffer (the position moves on). */
void tide__file_consume(tide__file_t *f, size_t n);
/* Forgets the read-ahead (before a write or a seek). */
void tide__file_drop_buffer(tide__file_t *f);

/* lfile.c: the descriptor of the open tide.file at idx, -1 if the value
 * is not a file (raises if it is a closed one). */
int tide__lua_file_fd(lua_State *L, int idx);

/* ---------------------------------------------------------------- watch */

#define TIDE__WATCH_MAX 1024 /* events queued for a reader, at most */

enum {
  TIDE__WATCH_RENAME = 1, /* a name appeared, went or moved */
  TIDE__WATCH_CHANGE,     /* contents or metadata changed */
  TIDE__WATCH_OVERFLOW    /* events were lost: look again */
};

typedef struct {
  uv_fs_event_t handle;     /* first */
  tide_loop_t *loop;
  tide__resource_t res;     /* in rt->resources until closed */
  void **slot;              /* the Lua object's pointer to us, or NULL */
  struct {
    int kind;
    char *name;             /* malloc'd */
  } *ev;                    /* a ring of TIDE__WATCH_MAX events */
  size_t head, count;
  int err;                  /* an error libuv reported, once */
  tide__future_t rfut;      /* pending exactly while a reader waits */
  tide__timer_t timer;      /* the reader's timeout */
  unsigned overflow : 1;    /* events were dropped since the last take */
  unsigned timedout : 1;
  unsigned closing : 1;
  unsigned woke : 1;        /* the close woke a waiting reader */
} tide__watch_t;

/* watch.c: starts watching path (a file or a directory: changes to the
 * entries in it). */
int tide__watch_start(tide_runtime_t *rt, const char *path,
                      tide__watch_t **out);
/* Takes the oldest event: 1 with *kind and *name (malloc'd, the caller
 * frees it; NULL for an overflow), or 0 if none is queued. */
int tide__watch_take(tide__watch_t *w, int *kind, char **name);
/* Prepares rfut for a reader (timeout_ns 0: none). */
void tide__watch_wait(tide__watch_t *w, uint64_t timeout_ns);
/* Detaches the Lua object, wakes the reader, closes. Idempotent. */
void tide__watch_close(tide__watch_t *w);

#endif
