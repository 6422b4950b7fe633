-- The tide command's interactive prompt (lua/tide/repl.lua), driven as a
-- person drives it: through a pseudo-terminal (build/test/pty_run, from
-- test/pty_run.c), typing lines, Ctrl-C ("\3") and Ctrl-D ("\4"), and
-- reading what the terminal shows (the echo of what was typed included,
-- with "\r\n" line ends).
--
-- No assert depends on timing: each step waits for the output it expects
-- (up to a generous deadline), and the output a line prints is computed
-- by the line ("a" .. "b"), so that the terminal's echo of the line never
-- matches it.
local H = require "helper"
local tide = require "tide"

local PTY = (os.getenv("TIDE_BUILD") or "build") .. "/test/pty_run"
local WAIT = 30 -- seconds: a deadline for a failure, never a measure

-- A session: the tide command with no script on a terminal of its own.
local Session = {}
Session.__index = Session

local function session()
  local p = assert(tide.process.spawn{PTY, H.tide_bin(),
    stdin = "pipe", stdout = "pipe"})
  return setmetatable({p = p, out = "", pos = 1}, Session)
end

function Session:type(s)
  assert(self.p.stdin:write(s))
end

-- Waits until the output after the last match contains text (plain);
-- returns the output between the last match and this one.
function Session:expect(text)
  local from = self.pos
  local ok, err = pcall(tide.timeout, WAIT, function()
    while true do
      local a, b = self.out:find(text, self.pos, true)
      if a then
        self.pos = b + 1
        return
      end
      local data = self.p.stdout:read()
      if not data then error("the terminal closed", 0) end
      self.out = self.out .. data
    end
  end)
  if not ok then
    error(("expected %q on the terminal (%s); it showed:\n%s")
      :format(text, tostring(err), self.out:sub(from)), 2)
  end
  return self.out:sub(from, self.pos - 1)
end

-- Types a line once the prompt is there, and waits for its echo.
function Session:line(src)
  self:expect("> ")
  self:type(src .. "\n")
  self:expect(src .. "\r\n")
end

-- The exit status after the terminal closed (reading to its end).
function Session:wait()
  tide.timeout(WAIT, function()
    while self.p.stdout:read() do end
  end)
  return self.p:wait(WAIT)
end

function Session:close()
  if self.p:poll() == nil then self.p:kill("SIGKILL") end
  self.p:wait()
  self.p:close()
end

-- Runs fn(session) under H.run, the session killed whatever happens.
local function with_session(fn)
  H.run(function()
    local s = session()
    local ok, err = pcall(fn, s)
    s:close()
    if not ok then error(err, 0) end
  end)
end

describe("the tide REPL", function()
  it("prints expressions and =expr, runs statements, and keeps globals", function()
    with_session(function(s)
      s:expect("each line runs in a task")
      s:line("1 + 2")
      s:expect("3\r\n")
      s:line("=1, nil, 'x' .. 'y'")
      s:expect("1\tnil\txy\r\n")
      s:line("x = 20 + 1")
      assert.equal("> ", s:expect("> ")) -- a statement prints nothing
      s:type("x * 2\n")
      s:expect("42\r\n")
      s:line("=type(tide.sleep)") -- tide is loaded
      s:expect("function\r\n")
      s:line("_PROMPT = 'tide' .. '> '")
      s:expect("tide> ")
      s:type("\4")
      assert.equal(0, s:wait())
    end)
  end)

  it("takes a multi-line function with the continuation prompt", function()
    with_session(function(s)
      s:line("function twice(v)")
      s:expect(">> ")
      s:type("  return v * 2\n")
      s:expect(">> ")
      s:type("end\n")
      s:line("twice(21)")
      s:expect("42\r\n")
      s:type("\4")
      assert.equal(0, s:wait())
    end)
  end)

  it("awaits at the prompt: tide.sleep", function()
    with_session(function(s)
      s:line("t0 = tide.now(); tide.sleep(0.05); print('slept', tide.now() - t0 >= 0.05)")
      s:expect("slept\ttrue\r\n")
      s:type("\4")
      assert.equal(0, s:wait())
    end)
  end)

  it("runs tasks spawned at the prompt in the background while it waits", function()
    with_session(function(s)
      -- Printed while the prompt waits for input: nothing more is typed.
      s:line("tide.spawn(function() tide.sleep(0.05) print('back' .. 'ground done') end)")
      s:expect("> ")
      s:expect("background done\r\n")
      -- A counter that runs between lines and during them.
      s:type("n = 0; ticker = tide.spawn(function() while true do n = n + 1; tide.sleep(0.001) end end)\n")
      s:line("tide.sleep(0.05)")
      s:line("n > 0")
      s:expect("true\r\n")
      s:line("ticker:cancel()")
      s:expect("true\r\n")
      s:type("\4")
      assert.equal(0, s:wait())
    end)
  end)

  it("connects and reads a line from a server task started at the prompt", function()
    with_session(function(s)
      s:line("srv = tide.tcp.listen('127.0.0.1', 0, function(c) c:write('echo:' .. c:readline() .. '\\n') c:close() end)")
      s:line("c = assert(tide.tcp.connect(srv:address()))")
      s:line("c:write('ping\\n')")
      s:expect("true\r\n")
      s:line("c:readline()")
      s:expect("echo:ping\r\n")
      s:line("c:readline()") -- the server closed: EOF
      s:expect("nil\r\n")
      s:line("c:close(); srv:close()")
      s:type("\4")
      assert.equal(0, s:wait())
    end)
  end)

  it("cancels the running line on Ctrl-C, which runs its cleanup, and goes on", function()
    with_session(function(s)
      s:line("do local _ <close> = setmetatable({}, {__close = function() tide.sleep(0.01) print('clean' .. 'ed up') end}); print('slee' .. 'ping'); tide.sleep(1000) end")
      s:expect("sleeping\r\n")
      s:type("\3")
      s:expect("cleaned up\r\n")
      s:expect("interrupted\r\n")
      s:line("1 + 1")
      s:expect("2\r\n")
      -- A line that never awaits is interrupted too (a hook, as in lua).
      s:line("print('spin' .. 'ning'); while true do end")
      s:expect("spinning\r\n")
      s:type("\3")
      s:expect("interrupted")
      s:line("2 + 2")
      s:expect("4\r\n")
      s:type("\4")
      assert.equal(0, s:wait())
    end)
  end)

  it("drops the line typed so far on Ctrl-C at the prompt", function()
    with_session(function(s)
      s:expect("> ")
      s:type("this is not lua")
      s:expect("this is not lua")
      s:type("\3")
      s:line("3 + 3")
      s:expect("6\r\n")
      -- Also in the middle of a multi-line chunk.
      s:line("for i = 1, 3 do")
      s:expect(">> ")
      s:type("\3")
      s:line("4 + 4")
      s:expect("8\r\n")
      s:type("\4")
      assert.equal(0, s:wait())
    end)
  end)

  it("reports an error in a line, with a traceback, and goes on", function()
    with_session(function(s)
      s:line("local function inner() error('bo' .. 'om') end; inner()")
      s:expect("stdin:1: boom\r\n")
      s:expect("stack traceback:")
      s:expect("in local 'inner'")
      s:line("x = = 1")
      s:expect("unexpected symbol near '='")
      s:line("error(setmetatable({}, {__tostring = function() return 'cus' .. 'tom' end}))")
      s:expect("custom\r\n")
      s:line("5 + 5")
      s:expect("10\r\n")
      s:type("\4")
      assert.equal(0, s:wait())
    end)
  end)

  it("exits 0 on Ctrl-D after cancelling the tasks left running", function()
    with_session(function(s)
      s:line("tide.spawn(function() local _ <close> = setmetatable({}, {__close = function() tide.sleep(0.01) print('left' .. 'over cleaned') end}); tide.sleep(1000) end)")
      s:expect("> ")
      s:type("\4")
      s:expect("leftover cleaned\r\n")
      assert.equal(0, s:wait())
    end)
  end)

  it("ends with 143 on SIGTERM, as a script does", function()
    with_session(function(s)
      s:line("=tide.process.pid")
      local pid = tonumber(s:expect("\r\n"):match("(%d+)"))
      s:line("print('wai' .. 'ting'); tide.sleep(1000)")
      s:expect("waiting\r\n")
      assert(tide.process.kill(pid, "SIGTERM"))
      s:expect("interrupted by SIGTERM")
      assert.equal(143, s:wait())
    end)
  end)

  it("reads its lines from any stream given as stdin (tide.repl.run)", function()
    local out, errs = {}, {}
    local function sink(t)
      return {write = function(self, ...)
        for i = 1, select("#", ...) do t[#t + 1] = tostring((select(i, ...))) end
        return self
      end, flush = function() end}
    end
    H.run(function()
      local p = assert(tide.process.spawn{"printf",
        "return 1 + 2\\ny = 5\\n=y, y * 2\\nfunction g()\\nreturn 7 end\\ng()\\nerror('x')\\nif\\n",
        stdout = "pipe"})
      require("tide.repl").run{stdin = p.stdout, stdout = sink(out),
        stderr = sink(errs), banner = false}
      assert.equal(0, p:wait())
      p:close()
    end)
    assert.equal("> 3\n> > 5\t10\n> >> > 7\n> > >> \n", table.concat(out))
    local e = table.concat(errs)
    assert.matches("^stdin:1: x\nstack traceback:\n", e)
    assert.matches("stdin:1: unexpected symbol near <eof>\n$", e)
  end)

  it("checks its options and that it runs in a task", function()
    H.run(function()
      local ok, err = pcall(require("tide.repl").run, {prompt = "$"})
      assert.is_false(ok)
      assert.matches("tide.repl.run: unknown option 'prompt'", err, 1, true)
    end)
    assert.has_error(function() require("tide.repl").run() end)
  end)

  it("still runs piped stdin as a script", function()
    local out, err, code = H.sh("printf 'local t = require \"tide\"\\nt.sleep(0.001)\\nprint(1 + 1)\\n' | "
      .. H.tide_bin())
    assert.equal(0, code, err)
    assert.equal("2\n", out)
  end)
end)
