/* Lua binding of the file system operations on paths: tide.fs.stat,
 * rename, readfile, writefile, mkdir, ... (lua/tide/fs.lua re-exports
 * them). Open files and directory streams are in lfile.c.
 *
 * Every function suspends only the calling task while its job runs in
 * libuv's thread pool. Expected failures return
 *   nil, "ENOENT: no such file or directory: path", "ENOENT"
 * naming the path (both, "a -> b", for rename, symlink and copyfile);
 * misuse raises. A task cancelled while it waits leaves the job to finish
 * (or not start, if it had not) and drops its answer. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../tide_fs.h"
#include "../tide_net.h" /* tide__lua_fail */

/* ------------------------------------------------------------ helpers */

int tide__lua_fs_fail(lua_State *L, int err, const char *path,
                      const char *path2) {
  const char *msg;
  if (path == NULL)
    msg = tide_strerror(err);
  else if (path2 == NULL)
    msg = lua_pushfstring(L, "%s: %s", tide_strerror(err), path);
  else
    msg = lua_pushfstring(L, "%s: %s -> %s", tide_strerror(err), path, path2);
  return tide__lua_fail(L, err, msg);
}

static double fs_time(uv_timespec_t ts) {
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void tide__lua_push_stat(lua_State *L, const uv_stat_t *st) {
  lua_createtable(L, 0, 16);
  lua_pushstring(L, tide__fs_typenames[tide__fs_mode_type(st->st_mode)]);
  lua_setfield(L, -2, "type");
#define FIELD(name, v)                                                         \
  lua_pushinteger(L, (lua_Integer)(v));                                        \
  lua_setfield(L, -2, name)
  FIELD("size", st->st_size);
  FIELD("mode", st->st_mode & 07777);
  FIELD("nlink", st->st_nlink);
  FIELD("uid", st->st_uid);
  FIELD("gid", st->st_gid);
  FIELD("dev", st->st_dev);
  FIELD("ino", st->st_ino);
  FIELD("rdev", st->st_rdev);
  FIELD("blksize", st->st_blksize);
  FIELD("blocks", st->st_blocks);
#undef FIELD
  lua_pushnumber(L, fs_time(st->st_atim));
  lua_setfield(L, -2, "atime");
  lua_pushnumber(L, fs_time(st->st_mtim));
  lua_setfield(L, -2, "mtime");
  lua_pushnumber(L, fs_time(st->st_ctim));
  lua_setfield(L, -2, "ctime");
  lua_pushnumber(L, fs_time(st->st_birthtim));
  lua_setfield(L, -2, "birthtime");
}

static int fs_cmp_entries(const void *a, const void *b) {
  return strcmp(*(const char *const *)a + 1, *(const char *const *)b + 1);
}

/* Pushes the packed listing data[0, len) as {{name=, type=}, ...}, sorted
 * by name as ls lists (readdir's order is the file system's). */
static void fs_push_listing(lua_State *L, const char *data, size_t len) {
  const char *p = data, *end = data + len, *name, **list;
  size_t namelen, n = 0, i;
  int type;
  while (p < end) {
    p = tide__fs_entry(p, &type, &name, &namelen);
    n++;
  }
  list = lua_newuserdatauv(L, (n > 0 ? n : 1) * sizeof(*list), 0);
  for (p = data, i = 0; p < end; i++) {
    list[i] = p;
    p = tide__fs_entry(p, &type, &name, &namelen);
  }
  qsort(list, n, sizeof(*list), fs_cmp_entries);
  lua_createtable(L, (int)n, 0);
  for (i = 0; i < n; i++) {
    tide__fs_entry(list[i], &type, &name, &namelen);
    lua_createtable(L, 0, 2);
    lua_pushlstring(L, name, namelen);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, tide__fs_typenames[type]);
    lua_setfield(L, -2, "type");
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_remove(L, -2);
}

/* Pushes what a finished job answers: its values, or the failure naming
 * the paths (arguments 1 and, for two-path operations, 2). */
static int fs_push(lua_State *L, tide__fs_t *r) {
  int two = r->op == TIDE__FS_RENAME || r->op == TIDE__FS_SYMLINK ||
            r->op == TIDE__FS_COPYFILE;
  if (r->status != 0)
    return tide__lua_fs_fail(L, r->status, lua_tostring(L, 1),
                             two ? lua_tostring(L, 2) : NULL);
  switch (r->op) {
  case TIDE__FS_STAT:
  case TIDE__FS_LSTAT: tide__lua_push_stat(L, &r->st); return 1;
  case TIDE__FS_READFILE:
  case TIDE__FS_REALPATH:
  case TIDE__FS_READLINK:
  case TIDE__FS_MKDTEMP:
    lua_pushlstring(L, r->data, (size_t)r->result);
    return 1;
  case TIDE__FS_SCANDIR:
    fs_push_listing(L, r->data, (size_t)r->result);
    return 1;
  default: lua_pushboolean(L, 1); return 1;
  }
}

static int fs_woken(lua_State *L) {
  return lua_type(L, -1) == LUA_TLIGHTUSERDATA &&
         lua_touserdata(L, -1) == tide__token_wake;
}

static int fs_k(lua_State *L, int status, lua_KContext ctx) {
  tide__fs_t *r = (tide__fs_t *)ctx;
  int n;
  (void)status;
  if (!fs_woken(L)) {
    tide__fs_release(r);
    tide__lua_check_wake(L); /* raises */
  }
  lua_pop(L, 1);
  n = fs_push(L, r);
  tide__fs_release(r);
  return n;
}

/* Starts op on the paths at 1 (and 2) and waits for it. */
static int fs_run(lua_State *L, int op, const char *path2, int flags,
                  int mode) {
  tide_runtime_t *rt = tide__runtime_from(L);
  const char *path = luaL_checkstring(L, 1);
  tide__fs_t *r;
  int err;
  tide__lua_await_begin(L);
  err = tide__fs_path_op(&rt->loop, op, path, path2, flags, mode, &r);
  if (err != 0) return tide__lua_fs_fail(L, err, path, path2);
  return tide__lua_await_yield(L, &r->fut, (lua_KContext)r, fs_k);
}

/* Permission bits at idx: an integer, or a string of octal digits ("755",
 * "0644": Lua has no octal literals). */
int tide__lua_check_perm(lua_State *L, int idx, const char *what) {
  lua_Integer v;
  if (lua_type(L, idx) == LUA_TSTRING) {
    const char *s = lua_tostring(L, idx);
    char *end;
    long m = strtol(s, &end, 8);
    if (*s == '\0' || *end != '\0' || m < 0 || m > 07777)
      return luaL_error(L, "%s: octal permission bits expected, got '%s'",
                        what, s);
    return (int)m;
  }
  if (!lua_isinteger(L, idx))
    return luaL_error(L, "%s: permission bits expected (integer or octal "
                         "string), got %s", what, luaL_typename(L, idx));
  v = lua_tointeger(L, idx);
  if (v < 0 || v > 07777)
    return luaL_error(L, "%s: permission bits out of range", what);
  return (int)v;
}

/* A boolean or integer option of the table at idx (0 or a non-table: the
 * default). */
static int opt_bool(lua_State *L, int idx, const char *key) {
  int v;
  if (!lua_istable(L, idx)) return 0;
  lua_getfield(L, idx, key);
  v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

static int opt_perm(lua_State *L, int idx, const char *key, int dflt,
                    const char *what) {
  int v = dflt;
  if (!lua_istable(L, idx)) return dflt;
  if (lua_getfield(L, idx, key) != LUA_TNIL)
    v = tide__lua_check_perm(L, -1, what);
  lua_pop(L, 1);
  return v;
}

static void check_opts(lua_State *L, int idx, const char *fname,
                       const char *const known[]) {
  if (!lua_isnoneornil(L, idx)) luaL_checktype(L, idx, LUA_TTABLE);
  tide__lua_check_options(L, idx, fname, known);
}

/* ------------------------------------------------------------ functions */

/* The operations that take one path, or two, and no options: each is
 * this function with its operation as upvalue 2 (upvalue 1 is the runtime
 * box):
 *   fs.stat(path) -> {type=, size=, mode=, mtime=, ...} (lstat: of a link
 *     itself)
 *   fs.unlink(path), fs.rename(from, to), fs.symlink(target, path) -> true
 *     (symlink: path becomes a link to target)
 *   fs.realpath(path) -> the absolute path without links, "." or ".."
 *   fs.readlink(path) -> the link's target
 *   fs.mkdtemp(prefix) -> a new directory named prefix and six random
 *     characters (mode 700)
 *   fs.scandir(path) -> {{name=, type=}, ...} sorted by name, without "."
 *     and ".."; type: "file", "directory", "link", "fifo", "socket",
 *     "char", "block" or "unknown"
 *   fs.readfile(path) -> the whole file (one job opens, stats, reads and
 *     closes)
 * Each returns nil, err, name on failure. */
static int l_fs_path_op(lua_State *L) {
  int op = (int)lua_tointeger(L, lua_upvalueindex(2));
  int two = op == TIDE__FS_RENAME || op == TIDE__FS_SYMLINK;
  const char *path2 = two ? luaL_checkstring(L, 2) : NULL;
  luaL_checkstring(L, 1);
  lua_settop(L, two ? 2 : 1);
  return fs_run(L, op, path2, 0, 0);
}

static const struct {
  const char *name;
  int op;
} path_ops[] = {{"stat", TIDE__FS_STAT},         {"lstat", TIDE__FS_LSTAT},
                {"unlink", TIDE__FS_UNLINK},     {"rename", TIDE__FS_RENAME},
                {"symlink", TIDE__FS_SYMLINK},   {"realpath", TIDE__FS_REALPATH},
                {"readlink", TIDE__FS_READLINK}, {"mkdtemp", TIDE__FS_MKDTEMP},
                {"scandir", TIDE__FS_SCANDIR},   {"readfile", TIDE__FS_READFILE},
                {NULL, 0}};

/* fs.mkdir(path [, {parents=, mode=}]) -> true | nil, err, name. parents:
 * make the missing parents too, and succeed if the directory exists (mkdir
 * -p). mode: permission bits before the umask (default "777"). */
static int l_fs_mkdir(lua_State *L) {
  static const char *const known[] = {"parents", "mode", NULL};
  int flags, mode;
  luaL_checkstring(L, 1);
  check_opts(L, 2, "tide.fs.mkdir", known);
  flags = opt_bool(L, 2, "parents") ? TIDE__FS_PARENTS : 0;
  mode = opt_perm(L, 2, "mode", 0777, "tide.fs.mkdir");
  lua_settop(L, 1);
  return fs_run(L, TIDE__FS_MKDIR, NULL, flags, mode);
}

/* fs.rmdir(path [, {recursive=}]) -> true | nil, err, name. recursive:
 * remove everything under it first (rm -r; links are removed, never
 * followed). */
static int l_fs_rmdir(lua_State *L) {
  static const char *const known[] = {"recursive", NULL};
  int flags;
  luaL_checkstring(L, 1);
  check_opts(L, 2, "tide.fs.rmdir", known);
  flags = opt_bool(L, 2, "recursive") ? TIDE__FS_RECURSIVE : 0;
  lua_settop(L, 1);
  return fs_run(L, TIDE__FS_RMDIR, NULL, flags, 0);
}

/* fs.chmod(path, mode) -> true | nil, err, name. mode: 420 or "644". */
static int l_fs_chmod(lua_State *L) {
  int mode;
  luaL_checkstring(L, 1);
  luaL_checkany(L, 2);
  mode = tide__lua_check_perm(L, 2, "tide.fs.chmod");
  lua_settop(L, 1);
  return fs_run(L, TIDE__FS_CHMOD, NULL, 0, mode);
}

/* fs.copyfile(from, to [, {excl=}]) -> true | nil, err, name. excl: fail
 * with EEXIST if to exists. */
static int l_fs_copyfile(lua_State *L) {
  static const char *const known[] = {"excl", NULL};
  const char *to = luaL_checkstring(L, 2);
  int flags;
  luaL_checkstring(L, 1);
  check_opts(L, 3, "tide.fs.copyfile", known);
  flags = opt_bool(L, 3, "excl") ? TIDE__FS_EXCL : 0;
  lua_settop(L, 2);
  return fs_run(L, TIDE__FS_COPYFILE, to, flags, 0);
}

/* fs.access(path [, how]) -> true | nil, err, name. how: a string of "r",
 * "w", "x" (default: exists). */
static int l_fs_access(lua_State *L) {
  const char *how = luaL_optstring(L, 2, "");
  int mode = F_OK;
  luaL_checkstring(L, 1);
  for (; *how; how++) {
    if (*how == 'r') mode |= R_OK;
    else if (*how == 'w') mode |= W_OK;
    else if (*how == 'x') mode |= X_OK;
    else return luaL_argerror(L, 2, "a string of 'r', 'w', 'x' expected");
  }
  lua_settop(L, 1);
  return fs_run(L, TIDE__FS_ACCESS, NULL, 0, mode);
}

/* fs.writefile(path, data [, {append=, mode=, atomic=}]) -> true | nil,
 * err, name. Replaces the file's contents (append: adds to them), creating
 * it with mode (default "666", less the umask). atomic: writes a
 * temporary file in the same directory, syncs it and renames it over path,
 * so a reader sees the old contents or the new, never a part, even if the
 * process dies meanwhile. data is copied: the job owns its bytes. */
static int l_fs_writefile(lua_State *L) {
  static const char *const known[] = {"append", "mode", "atomic", NULL};
  tide_runtime_t *rt = tide__runtime_from(L);
  const char *path = luaL_checkstring(L, 1);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  tide__fs_t *r;
  int flags = 0, mode, err;
  check_opts(L, 3, "tide.fs.writefile", known);
  if (opt_bool(L, 3, "append")) flags |= TIDE__FS_APPEND;
  if (opt_bool(L, 3, "atomic")) flags |= TIDE__FS_ATOMIC;
  if (flags == (TIDE__FS_APPEND | TIDE__FS_ATOMIC))
    return luaL_error(L, "tide.fs.writefile: 'append' and 'atomic' exclude "
                         "each other");
  mode = opt_perm(L, 3, "mode", 0666, "tide.fs.writefile");
  lua_settop(L, 1);
  tide__lua_await_begin(L);
  err = tide__fs_writefile(&rt->loop, path, data, len, flags, mode, &r);
  if (err != 0) return tide__lua_fs_fail(L, err, path, NULL);
  return tide__lua_await_yield(L, &r->fut, (lua_KContext)r, fs_k);
}

static const luaL_Reg funcs[] = {
    {"mkdir", l_fs_mkdir},
    {"rmdir", l_fs_rmdir},
    {"chmod", l_fs_chmod},
    {"copyfile", l_fs_copyfile},
    {"writefile", l_fs_writefile},
    {"access", l_fs_access},
    {NULL, NULL}};

/* Adds the file system functions to module._fs at the top of L; the
 * runtime box is at the top - 1 (lcore.c's open_fs). */
void tide__lua_open_fs(lua_State *L, tide_runtime_t *rt) {
  int i;
  (void)rt;
  lua_pushvalue(L, -2); /* box */
  luaL_setfuncs(L, funcs, 1);
  for (i = 0; path_ops[i].name != NULL; i++) {
    lua_pushvalue(L, -2);
    lua_pushinteger(L, path_ops[i].op);
    lua_pushcclosure(L, l_fs_path_op, 2);
    lua_setfield(L, -2, path_ops[i].name);
  }
}
