/* Lua binding of open files (tide.fs.open) and directory streams
 * (tide.fs.dir).
 *
 * A file object is a userdata holding a pointer to the C file (file.c);
 * the pointer is cleared when the close starts (close(), <close>, __gc, the
 * runtime's close), so methods of a closed file answer ECLOSED and never
 * touch freed memory. Its user value 1 is the path, for error messages.
 *
 * Reads are served from the file's read-ahead buffer when it holds what
 * the reader wants and no job of the file is queued (no thread, no
 * suspension); otherwise a read job is queued. A task cancelled in a read
 * loses nothing: what the job read stays buffered for the next read. */
#include <fcntl.h>
#include <string.h>

#include "../tide_fs.h"
#include "../tide_net.h" /* tide__lua_fail */

#define TIDE__MT_FILE "tide.file"
#define TIDE__MT_DIR "tide.dir"

#define LFILE_CHUNK (64 * 1024)       /* read-ahead per job */
#define LFILE_MAX_LINE (1024 * 1024)  /* lines(): default longest line */

int tide__lua_fs_fail(lua_State *L, int err, const char *path,
                      const char *path2);
void tide__lua_push_stat(lua_State *L, const uv_stat_t *st);
int tide__lua_check_perm(lua_State *L, int idx, const char *what);

typedef struct {
  tide__file_t *f; /* NULL once closing */
} lfile_t;

/* ------------------------------------------------------------ helpers */

static lfile_t *file_check(lua_State *L) {
  return luaL_checkudata(L, 1, TIDE__MT_FILE);
}

/* nil, "ENAME: message: path", "ENAME" for the file at index 1. */
static int file_fail(lua_State *L, int err) {
  const char *path;
  lua_getiuservalue(L, 1, 1);
  path = lua_tostring(L, -1);
  lua_pop(L, 1); /* the path stays anchored in the user value */
  return tide__lua_fs_fail(L, err, path, NULL);
}

static int file_closed(lua_State *L) {
  return tide__lua_fail(L, TIDE_ECLOSED, "file is closed");
}

/* Raises the failure err as an iterator does (a for loop has no place for
 * nil, err). */
static int file_raise(lua_State *L, int err, int box_idx) {
  const char *path = NULL;
  if (lua_getiuservalue(L, box_idx, 1) == LUA_TSTRING)
    path = lua_tostring(L, -1);
  tide__lua_fs_fail(L, err, path, NULL);
  lua_pop(L, 1);
  return lua_error(L); /* the message */
}

static int file_woken(lua_State *L) {
  return lua_type(L, -1) == LUA_TLIGHTUSERDATA &&
         lua_touserdata(L, -1) == tide__token_wake;
}

/* Takes the continuation's token: on anything but a wake-up, releases r
 * and raises (the cancellation). */
static void file_take_token(lua_State *L, tide__fs_t *r) {
  if (!file_woken(L)) {
    tide__fs_release(r);
    tide__lua_check_wake(L);
  }
  lua_pop(L, 1);
}

int tide__lua_file_fd(lua_State *L, int idx) {
  lfile_t *box = luaL_testudata(L, idx, TIDE__MT_FILE);
  if (box == NULL) return -1;
  if (box->f == NULL || box->f->fd < 0) luaL_error(L, "tide: file is closed");
  return box->f->fd;
}

/* ------------------------------------------------------------ open */

/* Parses an io.open mode ("r", "w", "a", "r+", "w+", "a+", "x"/"wx" for
 * create-exclusive; "b" accepted and ignored) into open(2) flags. */
static int file_mode_flags(lua_State *L, const char *mode) {
  int flags, plus = 0, excl = 0;
  const char *p = mode;
  char kind = *p++;
  if (kind == 'x') {
    kind = 'w';
    excl = 1;
  }
  if (kind != 'r' && kind != 'w' && kind != 'a') goto bad;
  for (; *p; p++) {
    if (*p == '+' && !plus) plus = 1;
    else if (*p == 'x' && kind == 'w' && !excl) excl = 1;
    else if (*p != 'b') goto bad;
  }
  switch (kind) {
  case 'r': flags = plus ? O_RDWR : O_RDONLY; break;
  case 'w': flags = (plus ? O_RDWR : O_WRONLY) | O_CREAT | O_TRUNC; break;
  default: flags = (plus ? O_RDWR : O_WRONLY) | O_CREAT | O_APPEND; break;
  }
  return flags | (excl ? O_EXCL : 0);
bad:
  return luaL_argerror(L, 2, lua_pushfstring(L, "invalid mode '%s'", mode));
}

static int open_k(lua_State *L, int status, lua_KContext ctx) {
  tide__fs_t *r = (tide__fs_t *)ctx;
  tide__file_t *f = r->file;
  lfile_t *box;
  int err = r->status;
  (void)status;
  if (!file_woken(L)) {
    /* Cancelled: if the file did open, nobody will have it. */
    if (r->fut.state == TIDE__DONE && err == 0 && !f->closing)
      tide__file_close(f, NULL);
    tide__fs_release(r);
    tide__lua_check_wake(L); /* raises */
  }
  lua_pop(L, 1);
  tide__fs_release(r);
  if (err != 0) return tide__lua_fs_fail(L, err, lua_tostring(L, 1), NULL);
  if (f->closing) return file_closed(L); /* the runtime is closing */
  box = lua_newuserdatauv(L, sizeof(*box), 1);
  box->f = f;
  f->slot = (void **)&box->f;
  luaL_setmetatable(L, TIDE__MT_FILE);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  return 1;
}

/* fs.open(path [, mode [, perm]]) -> file | nil, err, name. mode as
 * io.open's (default "r"; "x" or "wx": create, failing if it exists);
 * perm: permission bits of a new file (default "666", less the umask). A
 * directory fails with EISDIR. */
static int l_fs_open(lua_State *L) {
  tide_runtime_t *rt = tide__runtime_from(L);
  const char *path = luaL_checkstring(L, 1);
  int flags = file_mode_flags(L, luaL_optstring(L, 2, "r"));
  int perm = lua_isnoneornil(L, 3) ? 0666
                                   : tide__lua_check_perm(L, 3, "tide.fs.open");
  tide__file_t *f;
  tide__fs_t *r;
  int err;
  lua_settop(L, 1);
  tide__lua_await_begin(L);
  err = tide__file_open(rt, path, flags, perm, &f, &r);
  if (err != 0) return tide__lua_fs_fail(L, err, path, NULL);
  return tide__lua_await_yield(L, &r->fut, (lua_KContext)r, open_k);
}

/* ------------------------------------------------------------ reading */

/* Serves a read of n bytes (n < 0: everything to the end) from the
 * read-ahead buffer: returns the count of values pushed, or -1 when a job
 * must read more first. */
static int file_serve(lua_State *L, tide__file_t *f, lua_Integer n) {
  size_t b = tide__file_buffered(f), len;
  const char *base = f->rbuf + f->rstart;
  if (n < 0) {
    if (!f->reof) return -1;
    lua_pushlstring(L, base, b);
    tide__file_consume(f, b);
    f->reof = 0;
    return 1;
  }
  if (n == 0) {
    lua_pushliteral(L, "");
    return 1;
  }
  if (b >= (size_t)n || (b > 0 && (f->reof || !f->seekable))) {
    len = b < (size_t)n ? b : (size_t)n;
    lua_pushlstring(L, base, len);
    tide__file_consume(f, len);
    return 1;
  }
  if (b == 0 && f->reof) {
    /* End of file, once: a later read looks again (the file may grow). */
    f->reof = 0;
    lua_pushnil(L);
    return 1;
  }
  return -1;
}

static int read_pos(lua_State *L);

static int read_k(lua_State *L, int status, lua_KContext ctx) {
  tide__fs_t *r = (tide__fs_t *)ctx;
  lfile_t *box = lua_touserdata(L, 1);
  int err = r->status, ahead = (r->flags & TIDE__FS_AHEAD) != 0;
  (void)status;
  file_take_token(L, r);
  if (!ahead) {
    /* A read at an offset, into its own buffer. */
    if (err == 0 && r->result == 0 && r->len > 0) lua_pushnil(L);
    else if (err == 0) lua_pushlstring(L, r->data, (size_t)r->result);
    tide__fs_release(r);
    return err != 0 ? file_fail(L, err) : 1;
  }
  tide__fs_release(r);
  if (err != 0) return file_fail(L, err);
  if (box->f == NULL) return file_closed(L);
  return read_pos(L);
}

/* A read at the position (arguments: file, n or "a"). */
static int read_pos(lua_State *L) {
  lfile_t *box = lua_touserdata(L, 1);
  tide__file_t *f = box->f;
  lua_Integer n = lua_isinteger(L, 2) ? lua_tointeger(L, 2) : -1;
  size_t b = tide__file_buffered(f), want;
  tide__fs_t *r;
  int k, err;
  if (!tide__file_busy(f) && (k = file_serve(L, f, n)) >= 0) return k;
  tide__lua_await_begin(L);
  if (n < 0) want = b > LFILE_CHUNK ? b : LFILE_CHUNK; /* doubling */
  else want = (size_t)n > b + LFILE_CHUNK ? (size_t)n - b : LFILE_CHUNK;
  err = tide__file_op(f, TIDE__FS_READ, -1, want, NULL, &r);
  if (err != 0) return file_fail(L, err);
  return tide__lua_await_yield(L, &r->fut, (lua_KContext)r, read_k);
}

/* file:read(n [, offset]) -> up to n bytes (fewer only at the end of the
 * file; for a pipe or terminal, what one read gives), nil at the end of
 * the file. n = "a": everything to the end ("" there). With offset: at
 * that offset, leaving the position alone. */
static int l_file_read(lua_State *L) {
  lfile_t *box = file_check(L);
  lua_Integer off = luaL_optinteger(L, 3, -1);
  tide__fs_t *r;
  int err;
  if (lua_type(L, 2) == LUA_TSTRING) {
    const char *s = lua_tostring(L, 2);
    if (strcmp(s, "a") != 0 && strcmp(s, "*a") != 0)
      return luaL_argerror(L, 2, "byte count or \"a\" expected");
    luaL_argcheck(L, lua_isnoneornil(L, 3), 3, "\"a\" reads at the position");
  } else {
    luaL_argcheck(L, luaL_checkinteger(L, 2) >= 0, 2, "negative count");
  }
  luaL_argcheck(L, lua_isnoneornil(L, 3) || off >= 0, 3, "negative offset");
  lua_settop(L, 3);
  if (box->f == NULL) return file_closed(L);
  if (off < 0) {
    lua_settop(L, 2);
    return read_pos(L);
  }
  tide__lua_await_begin(L);
  err = tide__file_op(box->f, TIDE__FS_READ, off, (size_t)lua_tointeger(L, 2),
                      NULL, &r);
  if (err != 0) return file_fail(L, err);
  lua_settop(L, 3); /* three arguments: read_k knows an offset read */
  return tide__lua_await_yield(L, &r->fut, (lua_KContext)r, read_k);
}

/* lines: upvalues 1 runtime box, 2 file, 3 keep, 4 max_line. */
static int lines_step(lua_State *L);
static int dir_step(lua_State *L);

/* The continuation of the iterators (lines, dir): after their read job,
 * the next step (the object at index 1). */
static int iter_k(lua_State *L, int status, lua_KContext ctx) {
  tide__fs_t *r = (tide__fs_t *)ctx;
  int err = r->status, op = r->op;
  (void)status;
  file_take_token(L, r);
  tide__fs_release(r);
  if (err != 0) return file_raise(L, err, 1);
  return op == TIDE__FS_READDIR ? dir_step(L) : lines_step(L);
}

static int lines_step(lua_State *L) {
  lfile_t *box = lua_touserdata(L, 1);
  tide__file_t *f = box->f;
  size_t b, max_line = (size_t)lua_tointeger(L, lua_upvalueindex(4));
  const char *base, *nl;
  tide__fs_t *r;
  int err;
  if (f == NULL) return luaL_error(L, "tide: file is closed");
  b = tide__file_buffered(f);
  base = f->rbuf + f->rstart;
  if (!tide__file_busy(f)) {
    nl = f->rscan < b ? memchr(base + f->rscan, '\n', b - f->rscan) : NULL;
    if (nl != NULL) {
      size_t len = (size_t)(nl - base);
      if (len > max_line) goto too_long;
      lua_pushlstring(L, base, len + (lua_toboolean(L, lua_upvalueindex(3))));
      tide__file_consume(f, len + 1);
      return 1;
    }
    f->rscan = b;
    if (b > max_line) goto too_long;
    if (f->reof) {
      /* The last line may lack its newline, as with io.lines. */
      if (b > 0) lua_pushlstring(L, base, b);
      else lua_pushnil(L);
      tide__file_consume(f, b);
      f->reof = 0;
      return 1;
    }
  }
  tide__lua_await_begin(L);
  err = tide__file_op(f, TIDE__FS_READ, -1, LFILE_CHUNK, NULL, &r);
  if (err != 0) return file_raise(L, err, 1);
  return tide__lua_await_yield(L, &r->fut, (lua_KContext)r, iter_k);
too_long:
  return luaL_error(L, "tide: line longer than %d bytes (lines' max_line)",
                    (int)max_line);
}

static int l_lines_iter(lua_State *L) {
  lua_settop(L, 0);
  lua_pushvalue(L, lua_upvalueindex(2));
  return lines_step(L);
}

/* file:lines([{keep=, max_line=}]) -> an iterator over the lines from the
 * position on, without their "\n" (with it if keep); each call may
 * suspend the task. A line longer than max_line (default 1 MiB) or a read
 * error raises, as io.lines does. */
static int l_file_lines(lua_State *L) {
  static const char *const known[] = {"keep", "max_line", NULL};
  lua_Integer max_line = LFILE_MAX_LINE;
  int keep = 0;
  file_check(L);
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    tide__lua_check_options(L, 2, "file:lines", known);
    lua_getfield(L, 2, "keep");
    keep = lua_toboolean(L, -1);
    if (lua_getfield(L, 2, "max_line") != LUA_TNIL) {
      max_line = luaL_checkinteger(L, -1);
      luaL_argcheck(L, max_line > 0 && max_line < 0x7fffffff, 2,
                    "max_line out of range");
    }
    lua_pop(L, 2);
  }
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, 1);
  lua_pushboolean(L, keep);
  lua_pushinteger(L, max_line);
  lua_pushcclosure(L, l_lines_iter, 4);
  return 1;
}

/* ------------------------------------------------------------ the rest */

/* Pushes the answer of a finished job whose answer is true, a position or
 * a stat, and releases it. */
static int op_finish(lua_State *L, tide__fs_t *r) {
  int err = r->status;
  if (err == 0) {
    if (r->op == TIDE__FS_FSTAT) tide__lua_push_stat(L, &r->st);
    else if (r->op == TIDE__FS_SEEK) lua_pushinteger(L, (lua_Integer)r->result);
    else lua_pushboolean(L, 1);
  }
  tide__fs_release(r);
  return err != 0 ? file_fail(L, err) : 1;
}

static int op_k(lua_State *L, int status, lua_KContext ctx) {
  tide__fs_t *r = (tide__fs_t *)ctx;
  (void)status;
  file_take_token(L, r);
  return op_finish(L, r);
}

/* Waits for the job r just queued on the file at index 1 (err: it could
 * not be queued). A seek may be done already. */
static int file_wait(lua_State *L, int err, tide__fs_t *r) {
  if (err != 0) return file_fail(L, err);
  lua_settop(L, 1);
  if (r->fut.state != TIDE__PENDING) return op_finish(L, r);
  return tide__lua_await_yield(L, &r->fut, (lua_KContext)r, op_k);
}

/* file:write(data [, offset]) -> true | nil, err, name: at the position
 * (which moves past it), at the end in append mode, or at offset (the
 * position stays). data is copied: the job owns its bytes. */
static int l_file_write(lua_State *L) {
  lfile_t *box = file_check(L);
  size_t len;
  const char *p = luaL_checklstring(L, 2, &len);
  lua_Integer off = luaL_optinteger(L, 3, -1);
  tide__fs_t *r = NULL;
  int err;
  luaL_argcheck(L, lua_isnoneornil(L, 3) || off >= 0, 3, "negative offset");
  if (box->f == NULL) return file_closed(L);
  tide__lua_await_begin(L);
  err = tide__file_op(box->f, TIDE__FS_WRITE, off, len, p, &r);
  return file_wait(L, err, r);
}

/* file:seek([whence [, offset]]) -> the new position. whence: "set",
 * "cur" (default) or "end", as io's seek. */
static int l_file_seek(lua_State *L) {
  static const char *const names[] = {"set", "cur", "end", NULL};
  lfile_t *box = file_check(L);
  int whence = luaL_checkoption(L, 2, "cur", names);
  lua_Integer off = luaL_optinteger(L, 3, 0);
  tide__fs_t *r = NULL;
  int err;
  if (box->f == NULL) return file_closed(L);
  tide__lua_await_begin(L);
  err = tide__file_seek(box->f, whence, off, &r);
  return file_wait(L, err, r);
}

static int file_simple(lua_State *L, int op, size_t len) {
  lfile_t *box = file_check(L);
  tide__fs_t *r = NULL;
  int err;
  if (box->f == NULL) return file_closed(L);
  tide__lua_await_begin(L);
  err = tide__file_op(box->f, op, -1, len, NULL, &r);
  return file_wait(L, err, r);
}

/* file:sync() -> true: its data and metadata are on disk (fsync). */
static int l_file_sync(lua_State *L) {
  return file_simple(L, TIDE__FS_SYNC, 0);
}

/* file:stat() -> the stat table of the open file. */
static int l_file_stat(lua_State *L) {
  return file_simple(L, TIDE__FS_FSTAT, 0);
}

/* file:truncate([size]) -> true: cuts (or extends) the file to size bytes
 * (default 0). The position stays. */
static int l_file_truncate(lua_State *L) {
  lua_Integer size = luaL_optinteger(L, 2, 0);
  luaL_argcheck(L, size >= 0, 2, "negative size");
  return file_simple(L, TIDE__FS_TRUNCATE, (size_t)size);
}

static int close_k(lua_State *L, int status, lua_KContext ctx) {
  tide__fs_t *r = (tide__fs_t *)ctx;
  int err = r->status;
  (void)status;
  file_take_token(L, r);
  tide__fs_release(r);
  if (err != 0) return file_fail(L, err);
  lua_pushboolean(L, 1);
  return 1;
}

/* file:close() -> true | nil, err, name (also <close>): jobs already
 * queued run first, then the descriptor closes; waits for that inside a
 * task, closes in the background elsewhere (and from __gc). Closing twice
 * is fine. */
static int l_file_close(lua_State *L) {
  lfile_t *box = file_check(L);
  tide_runtime_t *rt;
  tide__fs_t *r;
  if (box->f == NULL) {
    lua_pushboolean(L, 1);
    return 1;
  }
  rt = tide__runtime_from(L);
  tide__file_close(box->f, &r);
  if (r == NULL || rt->current == NULL || !lua_isyieldable(L) ||
      r->fut.state != TIDE__PENDING) {
    if (r != NULL) tide__fs_release(r);
    lua_pushboolean(L, 1);
    return 1;
  }
  /* The close has started whatever happens next: give up our reference
   * while await_begin may raise (a pending cancellation), take it back
   * once we know we wait. The pool holds the job meanwhile (it is pending:
   * its after-work callback has not run, and cannot during this call). */
  tide__fs_release(r);
  tide__lua_await_begin(L);
  r->refs++;
  lua_settop(L, 1);
  return tide__lua_await_yield(L, &r->fut, (lua_KContext)r, close_k);
}

/* __gc: closes in the background (the close waits for the jobs still
 * queued; each job owns its memory). */
static int l_file_gc(lua_State *L) {
  lfile_t *box = lua_touserdata(L, 1);
  void **rtbox = lua_touserdata(L, lua_upvalueindex(1));
  if (box->f != NULL && rtbox != NULL && *rtbox != NULL)
    tide__file_close(box->f, NULL);
  return 0;
}

static int l_file_closed(lua_State *L) {
  lua_pushboolean(L, file_check(L)->f == NULL);
  return 1;
}

/* file:buffered() -> bytes read ahead and not yet taken. */
static int l_file_buffered(lua_State *L) {
  lfile_t *box = file_check(L);
  lua_pushinteger(L, box->f ? (lua_Integer)tide__file_buffered(box->f) : 0);
  return 1;
}

static int l_file_tostring(lua_State *L) {
  lfile_t *box = lua_touserdata(L, 1);
  lua_getiuservalue(L, 1, 1);
  lua_pushfstring(L, "tide.file (%s): %p%s", luaL_optstring(L, -1, "?"),
                  (void *)box, box->f ? "" : " (closed)");
  return 1;
}

/* ------------------------------------------------------------ directories */

/* dir iterator: upvalues 1 runtime box, 2 the directory stream. */
static int dir_step(lua_State *L) {
  lfile_t *box = lua_touserdata(L, 1);
  tide__file_t *f = box->f;
  tide__fs_t *r;
  int err;
  if (f == NULL) return luaL_error(L, "tide: directory stream is closed");
  if (!tide__file_busy(f)) {
    if (tide__file_buffered(f) > 0) {
      const char *name, *p = f->rbuf + f->rstart;
      size_t namelen;
      int type;
      tide__fs_entry(p, &type, &name, &namelen);
      lua_pushlstring(L, name, namelen);
      lua_pushstring(L, tide__fs_typenames[type]);
      tide__file_consume(f, namelen + 2);
      return 2;
    }
    if (f->reof) return 0;
  }
  tide__lua_await_begin(L);
  err = tide__file_op(f, TIDE__FS_READDIR, -1, 0, NULL, &r);
  if (err != 0) return file_raise(L, err, 1);
  return tide__lua_await_yield(L, &r->fut, (lua_KContext)r, iter_k);
}

static int l_dir_iter(lua_State *L) {
  lua_settop(L, 0);
  lua_pushvalue(L, lua_upvalueindex(2));
  return dir_step(L);
}

/* fs.dir(path) -> iterator, nil, nil, stream: for name, type in
 * tide.fs.dir(path) do ... end reads the directory in batches (any size,
 * in little memory), in the file system's order, without "." and "..";
 * the for loop closes the stream when it ends or is left. Opening happens
 * at the first step: a missing directory raises there. */
static int l_fs_dir(lua_State *L) {
  tide_runtime_t *rt = tide__runtime_from(L);
  const char *path = luaL_checkstring(L, 1);
  lfile_t *box;
  tide__file_t *f;
  lua_settop(L, 1);
  box = lua_newuserdatauv(L, sizeof(*box), 1); /* 2 */
  box->f = NULL;
  luaL_setmetatable(L, TIDE__MT_DIR);
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, 2, 1);
  f = tide__file_new(rt, path);
  if (f == NULL) return luaL_error(L, "tide.fs.dir: not enough memory");
  box->f = f;
  f->slot = (void **)&box->f;
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, 2);
  lua_pushcclosure(L, l_dir_iter, 2);
  lua_pushnil(L);
  lua_pushnil(L);
  lua_pushvalue(L, 2);
  return 4;
}

/* stream:close(), <close>, __gc: stops reading the directory. */
static int l_dir_close(lua_State *L) {
  lfile_t *box = luaL_checkudata(L, 1, TIDE__MT_DIR);
  void **rtbox = lua_touserdata(L, lua_upvalueindex(1));
  if (box->f != NULL && rtbox != NULL && *rtbox != NULL)
    tide__file_close(box->f, NULL);
  return 0;
}

/* ------------------------------------------------------------ opening */

static const luaL_Reg file_methods[] = {
    {"read", l_file_read},
    {"write", l_file_write},
    {"lines", l_file_lines},
    {"seek", l_file_seek},
    {"sync", l_file_sync},
    {"stat", l_file_stat},
    {"truncate", l_file_truncate},
    {"close", l_file_close},
    {"closed", l_file_closed},
    {"buffered", l_file_buffered},
    {NULL, NULL}};

/* Registers the metatables and adds open and dir to the _fs table at the
 * top; the runtime box is at the top - 1. */
void tide__lua_open_file(lua_State *L, tide_runtime_t *rt) {
  (void)rt;
  luaL_newmetatable(L, TIDE__MT_FILE);
  lua_newtable(L);
  lua_pushvalue(L, -4);
  luaL_setfuncs(L, file_methods, 1);
  lua_setfield(L, -2, "__index");
  lua_pushvalue(L, -3);
  lua_pushcclosure(L, l_file_close, 1);
  lua_setfield(L, -2, "__close");
  lua_pushvalue(L, -3);
  lua_pushcclosure(L, l_file_gc, 1);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, l_file_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);

  luaL_newmetatable(L, TIDE__MT_DIR);
  lua_newtable(L);
  lua_pushvalue(L, -4);
  lua_pushcclosure(L, l_dir_close, 1);
  lua_setfield(L, -2, "close");
  lua_setfield(L, -2, "__index");
  lua_pushvalue(L, -3);
  lua_pushcclosure(L, l_dir_close, 1);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "__close");
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);

  lua_pushvalue(L, -2);
  lua_pushcclosure(L, l_fs_open, 1);
  lua_setfield(L, -2, "open");
  lua_pushvalue(L, -2);
  lua_pushcclosure(L, l_fs_dir, 1);
  lua_setfield(L, -2, "dir");
}
