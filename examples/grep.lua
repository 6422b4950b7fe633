-- examples/grep.lua: search a directory tree for a Lua pattern.
--
--   tide examples/grep.lua PATTERN [DIR]       (DIR: "." by default)
--
-- One task walks the tree (tide.fs.dir, without following links, skipping
-- .git) and queues the regular files it finds; a few reader tasks take
-- them from the queue, read each whole (tide.fs.readfile: one job of the
-- thread pool) and hand the text to tide.offload, so the matching runs on
-- other cores while the loop goes on reading and walking. Matches print as
-- path:line:text, sorted by path, then a summary; files that hold a NUL
-- byte count as binary and are named once.
local tide = require "tide"

local READERS = 8 -- files read and matched at once

local pattern, root = arg[1], arg[2] or "."
if not pattern then
  io.stderr:write("usage: tide examples/grep.lua PATTERN [DIR]\n")
  return
end
if not pcall(string.find, "", pattern) then
  io.stderr:write(("grep.lua: bad pattern '%s'\n"):format(pattern))
  return
end

-- Runs in a worker thread: a plain function, with only what it is given.
local function match_lines(text, pat)
  if text:find("\0", 1, true) then
    return text:find(pat) and "binary" or nil
  end
  local hits, n = {}, 0
  for line in text:gmatch("([^\n]*)\n?") do
    n = n + 1
    if line:find(pat) then hits[#hits + 1] = {n, line} end
    if #hits > 1000 then break end
  end
  return hits
end

-- Queues the regular files under dir, depth first.
local function walk(dir, files)
  for name, kind in tide.fs.dir(dir) do
    local path = dir == "/" and "/" .. name or dir .. "/" .. name
    if kind == "directory" and name ~= ".git" then
      walk(path, files)
    elseif kind == "file" then
      files:put(path)
    end
  end
end

local results, searched, failed = {}, 0, 0

local function reader(files)
  for path in files:items() do
    local text, err = tide.fs.readfile(path)
    if text then
      searched = searched + 1
      local hits = tide.offload(match_lines, text, pattern)
      if hits and (hits == "binary" or #hits > 0) then results[path] = hits end
    else
      failed = failed + 1
      io.stderr:write(("grep.lua: %s\n"):format(err))
    end
  end
end

local t0 = tide.now()
tide.group(function(g)
  local files = tide.Queue(64) -- the walk waits while the readers catch up
  for _ = 1, READERS do g:spawn(reader, files) end
  local ok, err = pcall(walk, root, files)
  if not ok then io.stderr:write(("grep.lua: %s\n"):format(err)) end
  files:close()
end)

local paths, matches = {}, 0
for path in pairs(results) do paths[#paths + 1] = path end
table.sort(paths)
for _, path in ipairs(paths) do
  local hits = results[path]
  if hits == "binary" then
    print(("Binary file %s matches"):format(path))
    matches = matches + 1
  else
    for _, hit in ipairs(hits) do print(("%s:%d:%s"):format(path, hit[1], hit[2])) end
    matches = matches + #hits
  end
end
print(("%d match(es) in %d file(s); %d file(s) searched%s in %.3f s"):format(
  matches, #paths, searched, failed > 0 and (", %d unreadable"):format(failed)
  or "", tide.now() - t0))
