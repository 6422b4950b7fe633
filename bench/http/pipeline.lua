-- wrk script: each connection sends `depth` requests at a time (HTTP
-- pipelining), as in the TechEmpower plaintext test.
--   wrk -t1 -c100 -s bench/http/pipeline.lua http://127.0.0.1:PORT/ -- 16
local req
function init(args)
  local depth = tonumber(args[1]) or 16
  local r = {}
  for i = 1, depth do r[i] = wrk.format() end
  req = table.concat(r)
end
function request() return req end
