-- The spec helper itself: a spec that leaks fails alone, named, and the
-- specs after it start clean (issue 9, item 7). Checked on a busted run of
-- its own, in a scratch directory, over a spec file made to leak.
local H = require "helper"

local CASCADE = [[
local tide = require "tide"
local H = require "helper"
local function listen() return tide.tcp.listen("127.0.0.1", 0, function() end) end
describe("cascade", function()
  it("clean before", function() H.run(function() tide.sleep(0) end) end)
  it("leaks a server", function() H.run(function() listen() end) end)
  it("clean after a leak", function() H.run(function() tide.sleep(0) end) end)
  it("fails with a server open", function()
    H.run(function()
      local srv = listen()
      error("boom")
    end)
  end)
  it("clean after a failure", function() H.run(function() tide.sleep(0) end) end)
  it("leaks outside H.run", function() tide.run(listen) end)
  it("leaks a task outside H.run", function()
    -- Spawned outside any run: it waits for the next one.
    tide.spawn(function() tide.sleep(10) end)
  end)
  it("clean at the end", function() H.run(function() tide.sleep(0) end) end)
end)
]]

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

describe("spec helper", function()
  it("reports a leaking spec once, by name, and the next specs pass", function()
    local dir = H.sh("mktemp -d"):gsub("%s+$", "")
    local root = H.sh("pwd"):gsub("%s+$", "")
    local build = os.getenv("TIDE_BUILD") or "build"
    if build:sub(1, 1) ~= "/" then build = root .. "/" .. build end
    write(dir .. "/.busted", ([[
return {_all = {lua = "lua5.4",
  lpath = "%s/lua/?.lua;%s/lua/?/init.lua;%s/spec/?.lua",
  cpath = "%s/?.so"}, default = {ROOT = {"cascade_spec.lua"}}}
]]):format(root, root, root, build))
    write(dir .. "/cascade_spec.lua", CASCADE)
    local out, err, code = H.sh("cd " .. dir .. " && busted -o plainTerminal")
    H.sh("rm -rf " .. dir)
    assert.equal(1, code, err)
    -- busted counts a leak found after the spec as an error on top of its
    -- success: every named spec fails once, no other spec fails.
    local failed = {}
    for name in out:gmatch("\n[EF]%a+ %-> [^\n]*\n([^\n]*)") do
      failed[#failed + 1] = name
    end
    assert.same({"cascade leaks a server", "cascade fails with a server open",
      "cascade leaks outside H.run", "cascade leaks a task outside H.run"},
      failed, out)
    assert.matches("spec 'cascade leaks a server': 1 libuv handle%(s%) left "
      .. "open, file descriptors: %d+ before, %d+ after %(%+%d+=socket:%[%d+%]%) "
      .. "%(closed before the next spec%)", out)
    assert.matches("cascade_spec.lua:%d+: boom", out)
    assert.matches("spec 'cascade leaks outside H.run': 1 libuv handle%(s%) "
      .. "left open", out)
    assert.matches("spec 'cascade leaks a task outside H.run': 1 task%(s%) "
      .. "left pending %(closed before the next spec%)", out)
    assert.matches(" 0 failures / 4 errors", out)
  end)
end)
