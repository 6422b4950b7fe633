-- The tide command: tide script.lua [args], -e, -v, exit codes.
local H = require "helper"

local function script(src)
  local path = os.tmpname() .. ".lua"
  local f = assert(io.open(path, "w"))
  f:write(src)
  f:close()
  return path
end

local tide = H.tide_bin()

describe("the tide command", function()
  it("runs a script whose top level awaits, with arg set as lua sets it", function()
    local p = script([[
      local tide = require "tide"
      local t0 = tide.now()
      tide.sleep(0.01)
      local t = tide.spawn(function(x) return x * 2 end, 21)
      print("arg0", arg[0] ~= nil, arg[1], arg[2], #arg, "args", ...)
      print("value", t:await(), tide.now() - t0 >= 0.01)
    ]])
    local out, err, code = H.sh(tide .. " " .. p .. " one two")
    os.remove(p)
    assert.equal(0, code, err)
    assert.equal("arg0\ttrue\tone\ttwo\t2\targs\tone\ttwo\nvalue\t42\ttrue\n", out)
  end)

  it("exits 1 with the error and a readable traceback", function()
    local p = script([[
      local tide = require "tide"
      local function fails() tide.sleep(0); error("it broke") end
      fails()
    ]])
    local out, err, code = H.sh(tide .. " " .. p)
    os.remove(p)
    assert.equal(1, code)
    assert.matches("it broke", err)
    assert.matches("stack traceback:", err)
    assert.matches("fails", err)
  end)

  it("reports a syntax error and exits 1", function()
    local p = script("this is not lua")
    local _, err, code = H.sh(tide .. " " .. p)
    os.remove(p)
    assert.equal(1, code)
    assert.matches("syntax error", err)
  end)

  it("runs -e chunks in the root task, and -v prints versions", function()
    local out, err, code = H.sh(tide .. [[ -e 'local t = require "tide"; t.sleep(0.001); print("e ran")']])
    assert.equal(0, code, err)
    assert.equal("e ran\n", out)
    out, err, code = H.sh(tide .. " -v")
    assert.equal(0, code)
    assert.matches("^tide %d+%.%d+%.%d+ %(Lua 5%.4", out)
  end)

  it("reads the script from stdin with -", function()
    local out, _, code = H.sh("echo 'print(select(\"#\", ...), ...)' | " .. tide .. " - x y")
    assert.equal(0, code)
    assert.equal("2\tx\ty\n", out)
  end)

  it("prints its usage on -h and --help", function()
    for _, o in ipairs({"-h", "--help"}) do
      local out, _, code = H.sh(tide .. " " .. o)
      assert.equal(0, code)
      assert.matches("^usage: .*%-e stat.*%-%-dump%-on", out)
    end
  end)

  it("exits 143 after cleanup on SIGTERM", function()
    local out = H.sh(([[(
      out=$(mktemp)
      %s -e 'local _ <close> = setmetatable({}, {__close = function()
        require("tide").sleep(0.01) print("cleaned up") end})
        print("ready") io.stdout:flush() require("tide").sleep(100)' >$out &
      p=$!
      for i in $(seq 200); do grep -q ready $out && break; sleep 0.05; done
      kill -TERM $p; wait $p; echo "status $?"; cat $out; rm -f $out)]])
      :format(tide))
    assert.equal("status 143\nready\ncleaned up\n", out)
  end)

  it("rejects unknown options", function()
    local _, err, code = H.sh(tide .. " --bogus")
    assert.equal(1, code)
    assert.matches("unrecognized option '%-%-bogus'", err)
  end)

  it("reports a deadlocked script instead of hanging", function()
    local _, err, code = H.sh(tide .. [[ -e 'require("tide").future():await()']])
    assert.equal(1, code)
    assert.matches("deadlock", err)
  end)

  it("reports unobserved task errors, still exits 0 when the script succeeds", function()
    local out, err, code = H.sh(tide .. [[ -e 'local t = require "tide"; t.spawn(function() error("bg boom") end); t.sleep(0.01); print("main done")']])
    assert.equal(0, code)
    assert.equal("main done\n", out)
    assert.matches("bg boom", err)
  end)
end)
