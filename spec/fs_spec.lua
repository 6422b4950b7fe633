-- tide.fs: files, directories and watchers through libuv's thread pool.
local tide = require "tide"
local H = require "helper"

local fs = tide.fs

-- Runs fn(dir) in a task with a fresh temporary directory, removed after.
local function in_tmp(fn)
  return H.run(function() return H.with_tmpdir(fn, "tide-fs-spec-") end)
end

describe("tide.fs", function()
  describe("readfile and writefile", function()
    it("round-trip any bytes, empty and large files", function()
      in_tmp(function(dir)
        local p = dir .. "/a"
        local bin = "a\0b\r\n\255" .. ("x"):rep(100)
        assert.is_true(fs.writefile(p, bin))
        assert.equal(bin, fs.readfile(p))
        assert.is_true(fs.writefile(p, ""))
        assert.equal("", fs.readfile(p))
        local big = ("0123456789abcdef"):rep(10 * 65536) -- 10 MiB
        assert.is_true(fs.writefile(p, big))
        assert.equal(#big, fs.stat(p).size)
        assert.equal(big, fs.readfile(p))
      end)
    end)

    it("append, mode and atomic", function()
      in_tmp(function(dir)
        local p = dir .. "/a"
        assert.is_true(fs.writefile(p, "one\n", {mode = "600"}))
        assert.is_true(fs.writefile(p, "two\n", {append = true}))
        assert.equal("one\ntwo\n", fs.readfile(p))
        assert.equal(tonumber("600", 8), fs.stat(p).mode)
        assert.is_true(fs.writefile(p, "new", {atomic = true, mode = 420}))
        assert.equal("new", fs.readfile(p))
        assert.equal(420, fs.stat(p).mode & tonumber("644", 8))
        -- Nothing but the target is left in the directory.
        local names = {}
        for _, e in ipairs(fs.scandir(dir)) do names[#names + 1] = e.name end
        assert.same({"a"}, names)
        -- An atomic write that fails leaves the old contents and no
        -- temporary file.
        local ok, err, name = fs.writefile(dir .. "/none/a", "x",
          {atomic = true})
        assert.is_nil(ok)
        assert.equal("ENOENT", name)
        assert.matches("^ENOENT: no such file or directory: .*/none/a$", err)
      end)
    end)

    it("read /proc files whose size stat gives as 0", function()
      H.run(function()
        local s = assert(fs.readfile("/proc/self/status"))
        assert.matches("Pid:", s)
      end)
    end)

    it("fail with the errno name and the path", function()
      in_tmp(function(dir)
        local ok, err, name = fs.readfile(dir .. "/missing")
        assert.is_nil(ok)
        assert.equal("ENOENT", name)
        assert.equal("ENOENT: no such file or directory: " .. dir ..
          "/missing", err)
        ok, err, name = fs.readfile(dir)
        assert.is_nil(ok)
        assert.equal("EISDIR", name)
        assert.matches("^EISDIR: illegal operation on a directory: ", err)
        assert.is_true(fs.writefile(dir .. "/f", "x"))
        ok, err, name = fs.readfile(dir .. "/f/g")
        assert.equal("ENOTDIR", name)
        ok, err, name = fs.writefile(dir, "x")
        assert.equal("EISDIR", name)
      end)
    end)

    it("check their arguments and options", function()
      H.run(function()
        assert.has_error(function() fs.readfile(nil) end)
        assert.has_error(function() fs.writefile("/tmp/x", {}) end)
        assert.has_error(function()
          fs.writefile("/tmp/x", "", {apend = true})
        end, "tide.fs.writefile: unknown option 'apend' (known: append, mode, atomic)")
        assert.has_error(function()
          fs.writefile("/tmp/x", "", {append = true, atomic = true})
        end)
        assert.has_error(function()
          fs.writefile("/tmp/x", "", {mode = "999"})
        end)
      end)
      local ok, err = pcall(fs.readfile, "/etc/hostname")
      assert.is_false(ok)
      assert.matches("await outside a task", err)
    end)
  end)

  describe("paths", function()
    it("stat, lstat, symlink, readlink, realpath", function()
      in_tmp(function(dir)
        assert.is_true(fs.writefile(dir .. "/f", "12345"))
        local st = assert(fs.stat(dir .. "/f"))
        assert.equal("file", st.type)
        assert.equal(5, st.size)
        assert.is_number(st.mtime)
        assert.is_true(math.abs(st.mtime - os.time()) < 120)
        assert.equal("directory", fs.stat(dir).type)
        assert.is_true(fs.symlink("f", dir .. "/ln"))
        assert.equal("file", fs.stat(dir .. "/ln").type)
        assert.equal("link", fs.lstat(dir .. "/ln").type)
        assert.equal("f", fs.readlink(dir .. "/ln"))
        local real = assert(fs.realpath(dir .. "/ln"))
        assert.equal(assert(fs.realpath(dir)) .. "/f", real)
        local _, _, name = fs.readlink(dir .. "/f")
        assert.equal("EINVAL", name)
        assert.is_true(fs.symlink(dir .. "/loop", dir .. "/loop"))
        _, _, name = fs.stat(dir .. "/loop")
        assert.equal("ELOOP", name)
      end)
    end)

    it("rename, unlink, copyfile, chmod, access, exists", function()
      in_tmp(function(dir)
        assert.is_true(fs.writefile(dir .. "/a", "data"))
        assert.is_true(fs.copyfile(dir .. "/a", dir .. "/b"))
        assert.equal("data", fs.readfile(dir .. "/b"))
        local ok, err, name = fs.copyfile(dir .. "/a", dir .. "/b",
          {excl = true})
        assert.is_nil(ok)
        assert.equal("EEXIST", name)
        assert.equal("EEXIST: file already exists: " .. dir .. "/a -> " ..
          dir .. "/b", err)
        assert.is_true(fs.rename(dir .. "/b", dir .. "/c"))
        assert.is_false(fs.exists(dir .. "/b"))
        assert.is_true(fs.exists(dir .. "/c"))
        ok, err, name = fs.rename(dir .. "/b", dir .. "/d")
        assert.equal("ENOENT", name)
        assert.matches("/b %-> .*/d$", err)
        assert.is_true(fs.chmod(dir .. "/c", "640"))
        assert.equal(tonumber("640", 8), fs.stat(dir .. "/c").mode)
        assert.is_true(fs.chmod(dir .. "/c", 384))
        assert.equal(384, fs.stat(dir .. "/c").mode)
        assert.is_true(fs.access(dir .. "/c", "rw"))
        -- No execute bit: EACCES, for root as well.
        ok, err, name = fs.access(dir .. "/c", "x")
        assert.is_nil(ok)
        assert.equal("EACCES", name)
        assert.equal("EACCES: permission denied: " .. dir .. "/c", err)
        assert.is_true(fs.unlink(dir .. "/c"))
        _, _, name = fs.unlink(dir .. "/c")
        assert.equal("ENOENT", name)
        _, _, name = fs.unlink(dir)
        assert.equal("EISDIR", name)
        assert.has_error(function() fs.access(dir, "q") end)
        assert.has_error(function() fs.chmod(dir, "rwx") end)
      end)
    end)

    it("copyfile: large files, modes, itself, a shrinking source", function()
      in_tmp(function(dir)
        local big = ("0123456789"):rep(300000)
        assert(fs.writefile(dir .. "/big", big, {mode = "640"}))
        assert.is_true(fs.copyfile(dir .. "/big", dir .. "/copy"))
        assert.equal(big, fs.readfile(dir .. "/copy"))
        assert.equal(tonumber("640", 8), fs.stat(dir .. "/copy").mode)
        assert.is_true(fs.copyfile(dir .. "/big", dir .. "/big"))
        assert.equal(big, fs.readfile(dir .. "/big"))
        local _, _, name = fs.copyfile(dir, dir .. "/d")
        assert.equal("EISDIR", name)
        -- A source cut short while it is copied: the copy ends, shorter.
        for _ = 1, 20 do
          local t = tide.spawn(fs.writefile, dir .. "/big", "short")
          assert(fs.copyfile(dir .. "/big", dir .. "/copy"))
          assert(t:await())
          assert(fs.writefile(dir .. "/big", big))
        end
      end)
    end)

    it("mkdir (with parents), rmdir (recursive), mkdtemp", function()
      in_tmp(function(dir)
        assert.is_true(fs.mkdir(dir .. "/a"))
        local _, _, name = fs.mkdir(dir .. "/a")
        assert.equal("EEXIST", name)
        _, _, name = fs.mkdir(dir .. "/x/y")
        assert.equal("ENOENT", name)
        assert.is_true(fs.mkdir(dir .. "/x//y/z/", {parents = true}))
        assert.is_true(fs.mkdir(dir .. "/x/y/z", {parents = true}))
        assert.equal("directory", fs.stat(dir .. "/x/y/z").type)
        assert.is_true(fs.writefile(dir .. "/file", ""))
        _, _, name = fs.mkdir(dir .. "/file/sub", {parents = true})
        assert.equal("ENOTDIR", name)
        _, _, name = fs.mkdir(dir .. "/file", {parents = true})
        assert.equal("EEXIST", name)
        assert.is_true(fs.mkdir(dir .. "/m", {mode = "700"}))
        assert.equal(tonumber("700", 8), fs.stat(dir .. "/m").mode)
        -- rm -r removes links, never what they point to.
        assert.is_true(fs.writefile(dir .. "/x/y/z/f", "1"))
        assert.is_true(fs.symlink(dir .. "/a", dir .. "/x/y/ln"))
        _, _, name = fs.rmdir(dir .. "/x")
        assert.equal("ENOTEMPTY", name)
        assert.is_true(fs.rmdir(dir .. "/x", {recursive = true}))
        assert.is_false(fs.exists(dir .. "/x"))
        assert.equal("directory", fs.stat(dir .. "/a").type)
        local t = assert(fs.mkdtemp(dir .. "/tmp-"))
        assert.matches("/tmp%-......$", t)
        assert.equal(tonumber("700", 8), fs.stat(t).mode)
        assert.has_error(function() fs.mkdir(dir, {parent = true}) end)
      end)
    end)

    it("scandir sorts and types the entries", function()
      in_tmp(function(dir)
        assert.is_true(fs.writefile(dir .. "/b", ""))
        assert.is_true(fs.mkdir(dir .. "/a"))
        assert.is_true(fs.symlink("b", dir .. "/c"))
        assert.same({
          {name = "a", type = "directory"},
          {name = "b", type = "file"},
          {name = "c", type = "link"},
        }, fs.scandir(dir))
        assert.same({}, fs.scandir(dir .. "/a"))
        local _, _, name = fs.scandir(dir .. "/b")
        assert.equal("ENOTDIR", name)
      end)
    end)
  end)

  describe("dir", function()
    it("iterates a large directory in batches and closes its stream", function()
      in_tmp(function(dir)
        local n = 3000
        local names = {}
        for i = 1, n do
          names[i] = ("entry-with-a-long-name-%05d"):format(i)
          assert(fs.writefile(dir .. "/" .. names[i], ""))
        end
        local seen, count = {}, 0
        for name, kind in fs.dir(dir) do
          assert.equal("file", kind)
          assert.is_nil(seen[name])
          seen[name] = true
          count = count + 1
        end
        assert.equal(n, count)
        -- Leaving the loop early closes the stream (the fd check of
        -- H.run would see it otherwise).
        for _ in fs.dir(dir) do break end
        local _, s = pcall(function()
          for _ in fs.dir(dir) do error("stop") end
        end)
        assert.matches("stop", s)
      end)
    end)

    it("raises at the first step on a missing directory", function()
      in_tmp(function(dir)
        local ok, err = pcall(function()
          for _ in fs.dir(dir .. "/missing") do end
        end)
        assert.is_false(ok)
        assert.matches("ENOENT: no such file or directory: .*/missing", err)
      end)
    end)
  end)

  describe("files", function()
    it("read, write, seek and append like io's files", function()
      in_tmp(function(dir)
        local p = dir .. "/f"
        local f = assert(fs.open(p, "w+"))
        assert.is_true(f:write("hello "))
        assert.is_true(f:write("world"))
        assert.equal(11, f:seek())
        assert.equal(0, f:seek("set"))
        assert.equal("hello", f:read(5))
        assert.equal(" world", f:read(100))
        assert.is_nil(f:read(1))
        assert.equal("", f:read(0))
        assert.is_true(f:write("XY", 0)) -- at an offset: position stays
        assert.equal(11, f:seek())
        assert.equal("XYllo", f:read(5, 0))
        assert.is_nil(f:read(5, 100))
        assert.equal(6, f:seek("end", -5))
        assert.equal("world", f:read("a"))
        assert.equal("", f:read("a"))
        assert.equal(11, f:stat().size)
        assert.is_true(f:truncate(5))
        assert.is_true(f:sync())
        assert.equal(5, f:seek("end"))
        local _, _, name = f:seek("set", -1)
        assert.equal("EINVAL", name)
        assert.is_true(f:close())
        assert.is_true(f:close())
        assert.is_true(f:closed())
        local ok, err, ename = f:read(1)
        assert.is_nil(ok)
        assert.equal("ECLOSED", ename)
        assert.equal("ECLOSED: file is closed", err)
        assert.equal("XYllo", fs.readfile(p))

        f = assert(fs.open(p, "a"))
        assert.is_true(f:write("++"))
        assert.equal(7, f:seek())
        assert.is_true(f:close())
        assert.equal("XYllo++", fs.readfile(p))
        f = assert(fs.open(p, "r"))
        local _, _, wname = f:write("no")
        assert.equal("EBADF", wname)
        assert.is_true(f:close())
      end)
    end)

    it("reads a write made before it at the position", function()
      in_tmp(function(dir)
        local f <close> = assert(fs.open(dir .. "/f", "w+"))
        assert.is_true(f:write("abcdef"))
        assert.equal(0, f:seek("set"))
        assert.equal("ab", f:read(2))
        -- The read-ahead buffer holds "cdef"; a write at the position
        -- lands at 2 and drops it.
        assert.is_true(f:write("XY"))
        assert.equal("ef", f:read(10))
        assert.equal(0, f:seek("set"))
        assert.equal("abXYef", f:read("a"))
      end)
    end)

    it("open modes, exclusive create and errors", function()
      in_tmp(function(dir)
        local p = dir .. "/f"
        local f = assert(fs.open(p, "x"))
        assert.is_true(f:close())
        local ok, err, name = fs.open(p, "wx")
        assert.is_nil(ok)
        assert.equal("EEXIST", name)
        assert.equal("EEXIST: file already exists: " .. p, err)
        _, _, name = fs.open(dir .. "/missing")
        assert.equal("ENOENT", name)
        _, err, name = fs.open(dir)
        assert.equal("EISDIR", name)
        assert.matches("EISDIR: illegal operation on a directory: ", err)
        f = assert(fs.open(dir .. "/g", "w", "600"))
        assert.is_true(f:close())
        assert.equal(tonumber("600", 8), fs.stat(dir .. "/g").mode)
        for _, bad in ipairs({"", "rw", "r++", "q", "ax", "w+b+"}) do
          assert.has_error(function() fs.open(p, bad) end)
        end
        assert.has_error(function() fs.open(p, "r", "abc") end)
        f = assert(fs.open(p, "rb"))
        assert.has_error(function() f:read(-1) end)
        assert.has_error(function() f:read("l") end)
        assert.has_error(function() f:read(1, -1) end)
        assert.has_error(function() f:seek("here") end)
        assert.is_true(f:close())
      end)
    end)

    it("lines: with and without newlines, CRLF kept, long lines", function()
      in_tmp(function(dir)
        local p = dir .. "/f"
        assert(fs.writefile(p, "one\ntwo\r\n\nlast"))
        local got = {}
        for line in fs.lines(p) do got[#got + 1] = line end
        assert.same({"one", "two\r", "", "last"}, got)
        got = {}
        for line in fs.lines(p, {keep = true}) do got[#got + 1] = line end
        assert.same({"one\n", "two\r\n", "\n", "last"}, got)
        -- Many lines across many read-ahead jobs.
        local parts = {}
        for i = 1, 20000 do parts[i] = ("line %d"):format(i) end
        assert(fs.writefile(p, table.concat(parts, "\n") .. "\n"))
        local i = 0
        for line in fs.lines(p) do
          i = i + 1
          assert.equal(parts[i], line)
        end
        assert.equal(20000, i)
        -- A line past max_line raises; the file is still closed.
        assert(fs.writefile(p, ("x"):rep(5000) .. "\n"))
        local ok, err = pcall(function()
          for _ in fs.lines(p, {max_line = 1000}) do end
        end)
        assert.is_false(ok)
        assert.matches("line longer than 1000 bytes", err)
        assert.has_error(function() fs.lines(p, {maxline = 1}) end)
        assert.has_error(function() fs.lines(dir .. "/missing") end)
        -- Mixing read and lines on an open file.
        assert(fs.writefile(p, "ab\ncd\nef\n"))
        local f <close> = assert(fs.open(p))
        assert.equal("a", f:read(1))
        local it = f:lines()
        assert.equal("b", it())
        assert.equal("cd", it())
        assert.equal("e", f:read(1))
        assert.equal("f", it())
        assert.is_nil(it())
      end)
    end)

    it("close on <close> and on collection", function()
      local fds = H.fds()
      in_tmp(function(dir)
        do
          local f <close> = assert(fs.open(dir .. "/f", "w"))
          f:write("x")
        end
        assert.equal("x", fs.readfile(dir .. "/f"))
        local f = assert(fs.open(dir .. "/f"))
        assert.matches("tide.file %(.*/f%)", tostring(f))
        f = nil -- luacheck: ignore
        collectgarbage()
        collectgarbage()
        -- The background close is a job: wait for it.
        for _ = 1, 500 do
          if tide.stats().handles == 0 then break end
          tide.sleep(0.002)
        end
      end)
      assert.equal(fds, H.fds())
    end)

    it("a cancelled read loses no bytes (reads racing cancellation)", function()
      in_tmp(function(dir)
        local parts = {}
        for i = 1, 30000 do parts[i] = ("%06d\n"):format(i) end
        local content = table.concat(parts)
        assert(fs.writefile(dir .. "/f", content))
        local f <close> = assert(fs.open(dir .. "/f"))
        local got = {}
        local seed, cancelled = 7, 0
        while true do
          local chunk
          local t = tide.spawn(function()
            chunk = f:read(1000 + seed % 3000)
            return chunk
          end)
          seed = (seed * 1103515245 + 12345) % 2147483648
          for _ = 1, seed % 3 do tide.yield() end
          if t:cancel() then
            local ok = pcall(t.await, t)
            if not ok then cancelled = cancelled + 1 end
          end
          if t:done() and t:state() == "done" then
            if chunk == nil then break end
            got[#got + 1] = chunk
          end
        end
        assert.equal(#content, #table.concat(got))
        assert.equal(content, table.concat(got))
        assert.is_true(cancelled > 0)
      end)
    end)

    it("cancelled opens and readfiles leave nothing behind", function()
      in_tmp(function(dir)
        assert(fs.writefile(dir .. "/f", ("y"):rep(100000)))
        for round = 1, 200 do
          local t = tide.spawn(function()
            if round % 2 == 0 then
              local f = fs.open(dir .. "/f")
              if f then f:close() end
            else
              fs.readfile(dir .. "/f")
            end
          end)
          for _ = 1, round % 4 do tide.yield() end
          t:cancel()
          pcall(t.await, t)
        end
        for _ = 1, 1000 do
          if tide.stats().handles == 0 then break end
          tide.sleep(0.002)
        end
      end)
    end)

    it("1000 readfiles at once", function()
      in_tmp(function(dir)
        for i = 1, 10 do assert(fs.writefile(dir .. "/" .. i, ("%d"):format(i))) end
        local tasks = {}
        for i = 1, 1000 do
          tasks[i] = tide.spawn(fs.readfile, dir .. "/" .. (i % 10 + 1))
        end
        for i = 1, 1000 do
          assert.equal(tostring(i % 10 + 1), tasks[i]:await())
        end
      end)
    end)

    it("jobs on one file run in order, from several tasks", function()
      in_tmp(function(dir)
        local f <close> = assert(fs.open(dir .. "/f", "w+"))
        local tasks = {}
        for i = 1, 50 do
          tasks[i] = tide.spawn(function() return f:write(("%02d"):format(i)) end)
        end
        for i = 1, 50 do assert.is_true(tasks[i]:await()) end
        local want = {}
        for i = 1, 50 do want[i] = ("%02d"):format(i) end
        assert.equal(table.concat(want), f:read(1000, 0))
      end)
    end)
  end)

  describe("watch", function()
    -- libuv opens one inotify descriptor per loop at the first watcher and
    -- keeps it until the loop closes: make it before the specs count
    -- descriptors.
    setup(function()
      tide.run(function()
        fs.watch("/tmp"):close()
        tide.sleep(0.001)
      end)
    end)

    it("reports entries made and changed, with a timeout and close", function()
      in_tmp(function(dir)
        local w <close> = assert(fs.watch(dir))
        local _, err, name = w:next(0.05)
        assert.equal("ETIMEDOUT", name)
        assert.matches("ETIMEDOUT", err)
        assert(fs.writefile(dir .. "/new", "x"))
        local n, kind = w:next(5)
        assert.equal("new", n)
        assert.equal("rename", kind)
        -- The rest of that write may follow as changes; drain them.
        while w:next(0.05) do end
        local ff = assert(fs.open(dir .. "/new", "a"))
        assert(ff:write("more"))
        assert(ff:close())
        n, kind = w:next(5)
        assert.equal("new", n)
        assert.equal("change", kind)
        -- Closing wakes a reader in a for loop, which then ends.
        local t = tide.spawn(function()
          local count = 0
          for _ in w do count = count + 1 end
          return count
        end)
        tide.sleep(0.01)
        w:close()
        assert.is_number(t:await())
        local _, _, cname = w:next()
        assert.equal("ECLOSED", cname)
      end)
    end)

    it("fails on a missing path, and refuses a second reader", function()
      in_tmp(function(dir)
        local ok, err, name = fs.watch(dir .. "/missing")
        assert.is_nil(ok)
        assert.equal("ENOENT", name)
        assert.matches("missing$", err)
        local w = assert(fs.watch(dir))
        local t = tide.spawn(function() return w:next() end)
        tide.yield()
        assert.has_error(function() w:next() end,
          "tide: another task is already reading this watcher")
        t:cancel()
        pcall(t.await, t)
        w:close()
      end)
    end)
  end)
end)
