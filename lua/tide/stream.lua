-- Shared by tide.tcp and tide.unix: the task that runs each accepted
-- connection, and server:close(). Stream methods themselves are C
-- (src/lua/lstream.c): they are the hot path.
local core = require "tide.core"
local net = core._net

local current_task, future, is_error = core.current_task, core.future,
  core.is_error
local tostring, type, error = tostring, type, error
local traceback = debug.traceback

local M = {}

-- The options every stream takes (stream:setoptions, and the constructors
-- that make streams: tcp/unix connect and listen, pipe.open).
M.OPTIONS = {read_timeout = true, write_timeout = true, max_line = true,
  high_water = true, low_water = true, nodelay = true}

-- M.known(...) -> the stream options plus the names given: the set of
-- option names a constructor knows, for core.check_options.
function M.known(...)
  local set = {}
  for k in pairs(M.OPTIONS) do set[k] = true end
  for i = 1, select("#", ...) do set[(select(i, ...))] = true end
  return set
end

-- Per server: n running handlers, the runner that starts them (which
-- finds their tasks, net.conn_tasks), a future for close{wait}, the count
-- of failed TLS handshakes.
local states = setmetatable({}, {__mode = "k"})

local function handler_msgh(err)
  if type(err) == "string" then return traceback(err, 2) end
  return err
end

-- A TLS server's connection: the handshake runs in the connection's task
-- first; a failed one never reaches the handler (it is counted, and given
-- to on_handshake_error if the server has one).
local function serve_tls(handler, stream, tls, st)
  local ok, err, name = stream:starttls(tls.ctx, tls.opts)
  if not ok then
    st.handshake_errors = st.handshake_errors + 1
    if tls.on_error then tls.on_error(err, name) end
    return
  end
  return handler(stream)
end

-- What each connection's task runs: handler(stream) in protected mode; the
-- stream is closed afterwards whatever happened (after what the handler
-- wrote has been delivered, when it returned normally). An error is
-- reported (it concerns this connection only: the server goes on); a
-- cancellation is not, and ends the task as cancelled. The frame that
-- wraps the handler is C (net.conn_runner): an idle connection's task
-- holds nothing but the handler's frame and the call it waits in.
local function runner(handler, st, what, tls)
  local function enter()
    st.n = st.n + 1
  end
  local function leave(ok, err, stream)
    if ok then ok, err = pcall(stream.drain, stream) end
    stream:close()
    st.n = st.n - 1
    if st.n == 0 and st.idle then
      local idle = st.idle
      st.idle = nil
      idle:set_result()
    end
    if not ok then
      if is_error(err, "cancelled") then error(err, 0) end
      net.report(("%s: connection handler failed: %s"):format(what,
        tostring(err)))
    end
  end
  local run = handler
  if tls then
    -- A tail call: the handler's frame replaces this one.
    run = function(stream) return serve_tls(handler, stream, tls, st) end
  end
  st.runner = net.conn_runner(run, handler_msgh, enter, leave)
  return st.runner
end

-- Starts a server: listen(runner) makes it (nil, err, name on failure).
-- tls: {ctx =, opts =, on_error =} for a TLS server (tide.tls.server).
function M.serve(handler, what, listen, tls)
  if type(handler) ~= "function" then
    error("bad argument #3 to 'listen' (function expected, got " ..
      type(handler) .. ")", 3)
  end
  local st = {n = 0, handshake_errors = 0}
  local srv, err, name = listen(runner(handler, st, what, tls))
  if not srv then return nil, err, name end
  states[srv] = st
  return srv
end

local SM = net.server_methods

-- server:close([opts]): stops accepting at once (the address is free
-- again). Running connections go on, unless opts.cancel (cancels them);
-- with opts.wait or opts.cancel (or opts == true) the call returns once
-- every connection's handler has finished. Idempotent.
function SM.close(self, opts)
  -- The options are checked first: a bad one stops nothing.
  if opts == true then opts = {wait = true} end
  if opts ~= nil and type(opts) ~= "table" then
    error("bad argument #1 to 'close' (table or true expected)", 2)
  end
  core.check_options(opts, "server:close", {wait = true, cancel = true})
  self:_close()
  local st = states[self]
  if not st then return true end
  if opts and opts.cancel then
    for _, task in ipairs(net.conn_tasks(st.runner)) do
      task:cancel("server closed")
    end
  end
  if opts and (opts.wait or opts.cancel) and st.n > 0 then
    local me = current_task()
    if me and net.conn_tasks(st.runner, me) then
      error("tide: a connection handler cannot wait for its own server", 2)
    end
    st.idle = st.idle or future()
    st.idle:await()
  end
  return true
end

-- server:connections() -> how many handlers are running.
function SM.connections(self)
  local st = states[self]
  return st and st.n or 0
end

-- server:handshake_errors() -> how many TLS handshakes have failed.
function SM.handshake_errors(self)
  local st = states[self]
  return st and st.handshake_errors or 0
end

return M
