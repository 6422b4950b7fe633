-- spawn, bare Lua coroutines (no scheduler): the floor of a task in Lua.
-- Creates N coroutines (all alive at once, as spawned tasks are), then
-- resumes each to its end and sums the results.
--   lua5.4 bench/spawn/lua.lua [N]
-- prints: result ns_per_task=... rss_kb=<peak> check=<sum of results>
-- Plain Lua has no monotonic clock, so the loop runs inside one tide.run for
-- tide.now() alone; the coroutines are created and resumed with the standard
-- library's functions (taken before tide is loaded; tide replaces
-- coroutine.resume for its "yield from" tunnel). The collector runs in
-- generational mode, as under build/bin/tide (src/main.c), so this and
-- bench/spawn/tide.lua differ only by what tide adds to a coroutine.
local create, resume = coroutine.create, coroutine.resume
local B = dofile((arg[0]:match("^(.*)/[^/]*/[^/]*$") or ".") .. "/lib/tide_env.lua")
local tide = B.tide
local N = tonumber(arg[1]) or 200000
collectgarbage("generational")

local function work(i) return i end

B.main(function()
  local t0 = tide.now()
  local cos = {}
  for i = 1, N do cos[i] = create(work) end
  local sum = 0
  for i = 1, N do
    local ok, r = resume(cos[i], i)
    if not ok then error(r) end
    sum = sum + r
  end
  local dt = tide.now() - t0
  assert(sum == N * (N + 1) // 2, "wrong sum")
  print(("result ns_per_task=%.1f rss_kb=%d check=%d"):format(dt * 1e9 / N, B.status_kb("VmHWM"), sum))
end)
