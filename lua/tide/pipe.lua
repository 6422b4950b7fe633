-- tide.pipe: descriptors as streams (pipes, TTYs, sockets by fd).
--
--   tide.pipe.open(fd [, opts]) -> stream | nil, err, name
--   tide.pipe.stdin(), .stdout(), .stderr() -> the same stream until it is
--     closed (also as tide.stdin(), tide.stdout(), tide.stderr())
--
-- A stream works on a duplicate of fd: closing it never closes fd itself.
-- libuv makes the descriptor non-blocking, which the original shares: mix
-- io.write and tide.stdout() on a pipe with care. Regular files cannot be
-- streams (ENOTSUP): epoll cannot wait on them.
local core = require "tide.core"
local net = core._net

local pipe = {}

local stream_options = require("tide.stream").OPTIONS

function pipe.open(fd, opts)
  if math.type(fd) ~= "integer" then
    error("bad argument #1 to 'open' (integer descriptor expected)", 2)
  end
  core.check_options(opts, "tide.pipe.open", stream_options)
  return net.pipe_open(fd, opts)
end

-- pipe.kind(fd) -> "tty", "pipe", "tcp", "udp", "file" or "unknown"
pipe.kind = net.guess_handle

local std = {}
local function std_stream(fd)
  return function()
    local s = std[fd]
    if s and not s:closed() then return s end
    local err, name
    s, err, name = net.pipe_open(fd)
    if not s then return nil, err, name end
    std[fd] = s
    return s
  end
end
pipe.stdin = std_stream(0)
pipe.stdout = std_stream(1)
pipe.stderr = std_stream(2)

return pipe
