-- The README's first example must run as written, under plain lua5.4 and
-- under the tide command.
local H = require "helper"

local function readme_example()
  local f = assert(io.open("README.md"))
  local text = f:read("a")
  f:close()
  local code = text:match("```lua\n(.-)```")
  assert(code, "no lua example in README.md")
  return code
end

describe("the README example", function()
  local path
  setup(function()
    path = os.tmpname() .. ".lua"
    local f = assert(io.open(path, "w"))
    f:write(readme_example())
    f:close()
  end)
  teardown(function() os.remove(path) end)

  it("runs under the tide command", function()
    local out, err, code = H.sh(H.tide_bin() .. " " .. path)
    assert.equal(0, code, err)
    assert.equal("HELLO\n", out)
  end)

  it("runs under plain lua5.4", function()
    local build = os.getenv("TIDE_BUILD") or "build"
    local out, err, code = H.sh(("lua5.4 -e 'package.path=\"lua/?.lua;lua/?/init.lua;\"..package.path " ..
      "package.cpath=\"%s/?.so;\"..package.cpath' %s"):format(build, path))
    assert.equal(0, code, err)
    assert.equal("HELLO\n", out)
  end)
end)
