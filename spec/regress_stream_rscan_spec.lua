-- Regression (issue 9): tide__stream_find kept how far it had searched
-- (rscan) across different separators; after a readline/readuntil that
-- ended without consuming (cancelled, timed out, EMSGSIZE), the next
-- separator read skipped buffered bytes: readline returned "one\ntwo..."
-- where "one" was sent first. And readexactly(n) with a huge n allocated
-- about n bytes up front.
local tide = require "tide"
local H = require "helper"

local function pair(fn)
  H.run(function()
    local peer = tide.future()
    local srv = assert(tide.tcp.listen("127.0.0.1", 0, function(c)
      peer:set_result(c)
      tide.sleep(10)
    end))
    local c = assert(tide.tcp.connect(srv:address()))
    local s = peer:await()
    fn(c, s)
    c:close()
    srv:close{cancel = true}
  end)
end

describe("regression: separator reads", function()
  it("a timed-out readuntil does not make readline skip bytes", function()
    pair(function(c, s)
      s:write("one\ntwo")
      tide.sleep(0.02)
      c:setoptions{read_timeout = 0.02}
      local v, err, name = c:readuntil("\n\n")
      assert.is_nil(v)
      assert.equal("ETIMEDOUT", name)
      s:write("\nthree\n")
      assert.equal("one", c:readline())
      assert.equal("two", c:readline())
      assert.equal("three", c:readline())
    end)
  end)

  it("a cancelled readuntil does not either", function()
    pair(function(c, s)
      s:write("ab\ncd")
      tide.sleep(0.02)
      local ok = tide.move_on_after(0.01, c.readuntil, c, "XYZ")
      assert.is_false(ok)
      s:write("ef\n")
      assert.equal("ab", c:readline())
      assert.equal("cdef", c:readline())
    end)
  end)

  it("an EMSGSIZE with a longer separator does not either", function()
    pair(function(c, s)
      c:setoptions{max_line = 8}
      s:write("12345\n67890abcdefghij")
      tide.sleep(0.02)
      local v, err, name = c:readuntil("<END>")
      assert.equal("EMSGSIZE", name)
      assert.equal("12345", c:readline())
    end)
  end)

  it("readexactly with a huge count waits for the bytes, allocating none",
    function()
      pair(function(c, s)
        s:write("abc")
        c:setoptions{read_timeout = 0.05}
        local v, err, name, partial = c:readexactly(1 << 40)
        assert.is_nil(v)
        assert.equal("ETIMEDOUT", name)
        assert.equal("abc", c:readexactly(3))
      end)
    end)
end)
