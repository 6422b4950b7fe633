-- tide.unix: Unix domain sockets, the same streams and servers as TCP.
local tide = require "tide"
local H = require "helper"

local function sockpath()
  local p = os.tmpname()
  os.remove(p)
  return p .. ".sock"
end

describe("tide.unix", function()
  it("serves and connects over a socket file", function()
    H.run(function()
      local path = sockpath()
      local srv = assert(tide.unix.listen(path, function(s)
        while true do
          local line = s:readline()
          if not line then return end
          s:write(line:reverse() .. "\n")
        end
      end))
      assert.equal(path, srv:address())
      local c = assert(tide.unix.connect(path))
      assert.equal(path, c:peername())
      c:write("hello\nworld\n")
      assert.equal("olleh", c:readline())
      assert.equal("dlrow", c:readline())
      c:shutdown()
      assert.is_nil(c:read())
      c:close()
      srv:close{wait = true}
      -- the server removed its socket file
      assert.is_nil(io.open(path))
    end)
  end)

  it("reports failures as nil, err, name", function()
    H.run(function()
      local path = sockpath()
      local c, err, name = tide.unix.connect(path)
      assert.is_nil(c)
      assert.equal("ENOENT", name)
      assert.matches("^ENOENT: ", err)
      local srv = assert(tide.unix.listen(path, function() end))
      local s2, _, name2 = tide.unix.listen(path, function() end)
      assert.is_nil(s2)
      assert.equal("EADDRINUSE", name2)
      srv:close()
      assert.has_error(function() tide.unix.listen(path) end)
      assert.has_error(function() tide.unix.connect(42) end)
    end)
  end)

  it("applies stream options to accepted and connected streams", function()
    H.run(function()
      local path = sockpath()
      local got = tide.future()
      local srv = assert(tide.unix.listen(path, function(s)
        got:set_result(s:readline())
      end, {max_line = 4}))
      local c = assert(tide.unix.connect(path, {read_timeout = 0.01}))
      assert.equal("ETIMEDOUT", select(3, c:read()))
      c:write("too long\n")
      local line, err, name = got:await()
      assert.is_nil(line)
      assert.equal("EMSGSIZE", name)
      c:close()
      srv:close{wait = true}
    end)
  end)
end)
