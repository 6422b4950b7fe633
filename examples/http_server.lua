-- examples/http_server.lua: a small JSON API on tide.http.
--
--   tide examples/http_server.lua [port]     (default 0: the system picks)
--
--   GET    /items          the list            POST /items  {"name": "..."}
--   GET    /items/ID       one item            DELETE /items/ID
--   GET    /stream         five JSON lines, one every 50 ms (streamed,
--                          chunked: curl -N shows them as they come)
--
-- Try: curl -s localhost:PORT/items -d '{"name":"tea"}'; curl -s
-- localhost:PORT/items. Stops on Ctrl-C or SIGTERM, letting requests in
-- flight finish.
local tide = require "tide"

io.stdout:setvbuf("line")
local port = tonumber(arg and arg[1]) or 0

-- A JSON encoder and a decoder for the flat objects this API takes.
local function encode(v)
  local t = type(v)
  if t == "table" then
    local out = {}
    if #v > 0 or next(v) == nil then
      for i = 1, #v do out[i] = encode(v[i]) end
      return "[" .. table.concat(out, ",") .. "]"
    end
    for k, x in pairs(v) do out[#out + 1] = encode(tostring(k)) .. ":" .. encode(x) end
    table.sort(out)
    return "{" .. table.concat(out, ",") .. "}"
  elseif t == "string" then
    return '"' .. v:gsub('[%c"\\]', function(c)
      return ("\\u%04x"):format(c:byte())
    end) .. '"'
  end
  return tostring(v)
end

local function decode_object(s)
  local obj = {}
  if not s:match("^%s*{.*}%s*$") then return nil end
  for k, v in s:gmatch('"([^"]*)"%s*:%s*"([^"]*)"') do obj[k] = v end
  return obj
end

local JSON = {["Content-Type"] = "application/json"}
local items, next_id = {}, 1

local function reply(status, value)
  return status, JSON, encode(value) .. "\n"
end

local routes = {}

function routes.GET_items() 
  local list = {}
  for id = 1, next_id - 1 do list[#list + 1] = items[id] end
  return reply(200, list)
end

function routes.POST_items(req)
  local body, err = req:body()
  if not body then return reply(413, {error = err}) end
  local obj = decode_object(body)
  if not obj or not obj.name then return reply(400, {error = "name expected"}) end
  local item = {id = next_id, name = obj.name}
  items[next_id], next_id = item, next_id + 1
  return reply(201, item)
end

function routes.GET_item(req, id)
  if not items[id] then return reply(404, {error = "no such item"}) end
  return reply(200, items[id])
end

function routes.DELETE_item(req, id)
  if not items[id] then return reply(404, {error = "no such item"}) end
  items[id] = nil
  return 204
end

function routes.GET_stream(req, res)
  res:header("Content-Type", "application/x-ndjson")
  for i = 1, 5 do
    res:write(encode({n = i, at = ("%.3f"):format(tide.now())}) .. "\n")
    tide.sleep(0.05)
  end
  res:finish()
end

local server = assert(tide.http.listen("127.0.0.1", port, function(req, res)
  local name, id = req.path:match("^/(%a+)/?(%d*)$")
  local route = name and routes[req.method .. "_" .. (id ~= "" and "item" or name)]
  print(("%s %s"):format(req.method, req.target))
  if not route then return reply(404, {error = "not found"}) end
  return route(req, id ~= "" and tonumber(id) or res)
end))

local host, p = server:address()
print(("listening on %s:%d"):format(host, p))

local stop = tide.future()
local function on_stop() if not stop:done() then stop:set_result() end end
local w1, w2 = tide.on_signal("SIGINT", on_stop), tide.on_signal("SIGTERM", on_stop)
stop:await()
w1:close()
w2:close()
server:close{wait = 5}
print("http server stopped")
