-- tide.fs: files and directories without blocking the loop. Each call runs
-- one job in libuv's thread pool and suspends only the calling task.
--
--   tide.fs.readfile(path) / tide.fs.writefile(path, data [, opts])
--   tide.fs.open(path [, mode [, perm]]) -> file: read, write, lines, seek,
--     sync, stat, truncate, close (and <close>)
--   tide.fs.stat, lstat, access, exists, rename, unlink, mkdir, rmdir,
--     scandir, dir, realpath, chmod, symlink, readlink, mkdtemp, copyfile,
--     lines, watch
--
-- Failures return nil, "ENOENT: no such file or directory: path", "ENOENT";
-- misuse raises. The iterators (dir, lines, file:lines) raise on failure,
-- as io.lines does. Permission bits are integers or octal strings ("755").
local core = require "tide.core"
local C = core._fs

local fs = {}
for k, v in pairs(C) do fs[k] = v end

-- fs.exists(path) -> true if something is there (a dangling link: false).
function fs.exists(path)
  if type(path) ~= "string" then
    error("bad argument #1 to 'exists' (string expected, got " ..
      type(path) .. ")", 2)
  end
  return C.access(path) == true
end

-- fs.lines(path [, opts]) -> iterator, nil, nil, file: for line in
-- tide.fs.lines(path) do ... end reads the file line by line and closes it
-- when the loop ends or is left. Opening fails raise, as io.lines does.
function fs.lines(path, opts)
  if type(path) ~= "string" then
    error("bad argument #1 to 'lines' (string expected, got " ..
      type(path) .. ")", 2)
  end
  local f, err = C.open(path, "r")
  if not f then error(err, 2) end
  local ok, it = pcall(f.lines, f, opts)
  if not ok then
    f:close()
    error(it, 2)
  end
  return it, nil, nil, f
end

return fs
