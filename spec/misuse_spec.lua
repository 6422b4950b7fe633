-- Misuse never crashes: every function and method of tide, called with
-- arguments of every wrong kind, inside and outside tasks, raises a Lua
-- error or returns; the process survives and nothing is left behind.
local tide = require "tide"
local H = require "helper"

local bad = {
  n = 9,
  nil, 42, -1, 0 / 0, "", {}, true, function() end, coroutine.create(print),
}

-- Functions whose valid forms would block, run a loop or change global
-- behaviour: called only with arguments they must reject.
local skip = {
  run = true, virtual_clock = true, set_error_handler = true, sleep = true,
  on_signal = true, stdin = true, stdout = true, stderr = true, dump = true,
  tasks = true, stats = true, yield = true, current_task = true, now = true,
  remaining = true,
}

-- Modules that open sockets: a wrong argument could be a valid address
-- (and this spec only ever talks to 127.0.0.1); those that touch files: a
-- wrong argument (42, "") could be a valid path in the working directory.
-- Their misuse is specced in their own files.
local skip_modules = {tcp = true, unix = true, udp = true, dns = true,
                      pipe = true, fs = true}

local function each_function(tbl, prefix, out)
  for k, v in pairs(tbl) do
    if type(v) == "function" and not skip[k] and not k:match("^_") then
      out[#out + 1] = {prefix .. k, v}
    elseif type(v) == "table" and prefix == "tide." and not k:match("^_")
        and not skip_modules[k] then
      each_function(v, "tide." .. k .. ".", out)
    end
  end
  return out
end

-- Methods left out: await and close end the objects the loop needs; the
-- address-taking ones of sockets could be given a valid address.
local skip_methods = {
  await = true, close = true, bind = true, connect = true, sendto = true,
  join = true, leave = true, setmulticastinterface = true,
}

-- Calls fn with every pair of bad arguments, each call in its own task so
-- that one that waits (a valid form we did not foresee) is cancelled
-- instead of hanging the spec.
local function hammer(name, fn, self)
  local tasks = {}
  for i = 1, bad.n do
    for j = 1, bad.n do
      tasks[#tasks + 1] = tide.spawn(function()
        if self ~= nil then
          return pcall(fn, self, bad[i], bad[j])
        end
        return pcall(fn, bad[i], bad[j])
      end)
    end
  end
  tide.sleep(0.01)
  for _, t in ipairs(tasks) do t:cancel() end
  for _, t in ipairs(tasks) do pcall(t.await, t) end
end

describe("misuse", function()
  it("of every module function raises or returns, never crashes", function()
    local list = each_function(tide, "tide.", {})
    assert.is_true(#list > 20, tostring(#list))
    H.run(function()
      for _, f in ipairs(list) do hammer(f[1], f[2]) end
      collectgarbage()
    end)
  end)

  it("of every method, on live and on finished objects, never crashes", function()
    H.run(function()
      local srv = assert(tide.tcp.listen("127.0.0.1", 0, function(s) s:read() end))
      local stream = assert(tide.tcp.connect(srv:address()))
      local closed = assert(tide.tcp.connect(srv:address()))
      closed:close()
      local objects = {
        tide.future(), tide.spawn(function() end), tide.Queue(1),
        tide.Lock(), tide.Event(), tide.Semaphore(1), stream, closed,
        assert(tide.udp.bind("127.0.0.1", 0)),
      }
      tide.yield()
      for _, obj in ipairs(objects) do
        local methods = getmetatable(obj).__index
        if type(methods) == "table" then
          for name, m in pairs(methods) do
            if type(m) == "function" and not skip_methods[name] then
              hammer(name, m, obj)
            end
          end
        end
      end
      stream:close()
      objects[9]:close()
      srv:close{cancel = true}
    end)
  end)

  it("outside any task raises clear errors", function()
    for _, name in ipairs({"sleep", "yield"}) do
      local ok, err = pcall(tide[name], 0)
      assert.is_false(ok)
      assert.matches("await outside a task", err)
    end
    local f = tide.future()
    assert.matches("await outside a task", select(2, pcall(f.await, f)))
    f:cancel()
  end)
end)
