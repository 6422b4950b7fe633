-- tide.pipe and tide.stdin()/stdout(): descriptors as streams, tested
-- through the tide command with pipes on both ends.
local tide = require "tide"
local H = require "helper"

local function script(src)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(src)
  f:close()
  return path
end

describe("tide.pipe", function()
  it("reads stdin and writes stdout as streams", function()
    local path = script([[
      local tide = require "tide"
      local input, output = assert(tide.stdin()), assert(tide.stdout())
      assert(tide.stdin() == input) -- the same stream until closed
      local n = 0
      while true do
        local line = input:readline()
        if not line then break end
        n = n + 1
        assert(output:write(line:upper() .. "\n"))
      end
      assert(output:write(("%d lines\n"):format(n)))
      assert(output:drain())
      input:close()
      output:close()
    ]])
    local out, err, code = H.sh("printf 'one\\ntwo\\nthree' | " ..
      H.tide_bin() .. " " .. path .. " | cat")
    os.remove(path)
    assert.equal(0, code, err)
    assert.equal("ONE\nTWO\nTHREE\n3 lines\n", out)
  end)

  it("refuses regular files and bad descriptors", function()
    local path = script([[
      local tide = require "tide"
      print(tide.pipe.kind(1))
      print(select(3, tide.stdout()))
      print((select(2, tide.stdout())))
      print(select(3, tide.pipe.open(999)))
      local ok = pcall(tide.pipe.open, "x")
      print(ok)
    ]])
    local out, err, code = H.sh(H.tide_bin() .. " " .. path)
    os.remove(path)
    assert.equal(0, code, err)
    -- The message says what is wrong (not libuv's "not supported on
    -- socket").
    assert.equal("file\nENOTSUP\nENOTSUP: descriptor 1 is a regular file: a "
      .. "stream needs a pipe, a TTY or a socket (use io or tide.fs for "
      .. "files)\nEBADF\nfalse\n", out)
  end)

  it("does not close the descriptor it was opened on", function()
    H.run(function()
      local s = tide.pipe.open(2) -- stderr: a pipe or a file under busted
      if s then s:close() end
      assert.is_true(io.stderr:write("") ~= nil)
    end)
  end)
end)
