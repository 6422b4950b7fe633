-- bench/report.lua RAW OUTDIR: tables and chart from bench/run.sh's rows
-- ("workload round runtime key=value ..."). Per workload and runtime: the
-- median over rounds, min-max, and the median's ratio to the C floor's
-- (the first runtime, "c"; a workload without one, cancel, has no ratio).
-- Writes OUTDIR/<workload>.md, OUTDIR/latest.md
-- (machine, versions, date, every table, the targets) and OUTDIR/chart.svg
-- (gnuplot, if installed).
local raw, outdir = arg[1], arg[2]
assert(raw and outdir, "usage: lua5.4 bench/report.lua RAW OUTDIR")

local function thousands(n) -- 10000 -> "10,000"
  local s = tostring(n)
  return (s:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", ""))
end

local W = { -- metric shown first is the one ratios and the chart use
  echo = {title = "echo: 100 connections, 1 KiB messages (bench/echo_load.c)",
    cols = {{"cpu_us_per_msg", "server CPU µs/msg", "%.2f"}, {"msgs_per_s", "msgs/s", "%.0f"}}},
  http = {title = "http: keep-alive hello world, wrk -t1 -c100",
    cols = {{"cpu_us_per_req", "server CPU µs/req", "%.2f"}, {"req_per_s", "req/s", "%.0f"}}},
  ["http-lib"] = {title = "http-lib: keep-alive hello world through tide.http.listen (the HTTP library), wrk -t1 -c100; floor: the raw libuv C responder",
    cols = {{"cpu_us_per_req", "server CPU µs/req", "%.2f"}, {"req_per_s", "req/s", "%.0f"}}},
  ["http-lib-pipe"] = {title = "http-lib-pipe: the same with wrk pipelining 16 requests per connection",
    cols = {{"cpu_us_per_req", "server CPU µs/req", "%.2f"}, {"req_per_s", "req/s", "%.0f"}}},
  ["http-client"] = {title = "http-client: 100,000 requests over 10 keep-alive connections to the C responder; client CPU",
    cols = {{"cpu_us_per_req", "client CPU µs/req", "%.2f"}, {"req_per_s", "req/s", "%.0f"}}},
  spawn = {title = "spawn: create and finish 200,000 tasks",
    cols = {{"ns_per_task", "ns/task", "%.0f"}, {"rss_kb", "peak RSS kB", "%.0f"}}},
  pingpong = {title = "pingpong: 1,000,000 hand-offs between two tasks (-event: over a pair of Events)",
    cols = {{"ns_per_handoff", "ns/hand-off", "%.0f"}}},
  sleepers = {title = "sleepers: 100,000 tasks sleeping random 0-1 s",
    cols = {{"bytes_per_task", "bytes/sleeping task", "%.0f"},
      {"overshoot_ms_mean", "mean overshoot ms", "%.2f"}, {"overshoot_ms_max", "max overshoot ms", "%.1f"}}},
  fanout = {title = "fanout: 100,000 tasks through a Semaphore(100), each yielding once inside",
    cols = {{"ns_per_task", "ns/task", "%.0f"}, {"rss_kb", "peak RSS kB", "%.0f"}}},
  pipeline = {title = "pipeline: 1,000,000 items through 4 stages joined by bounded queues of 64",
    cols = {{"ns_per_item", "ns/item", "%.0f"}}},
  cancel = {title = "cancel: 1,000,000 sleeping tasks cancelled (RSS: before the burst, at its peak, after the collection)",
    cols = {{"ns_per_cancel", "ns/cancel", "%.0f"}, {"after_ratio", "RSS after / before", "%.2f"},
      {"rss_before_kb", "RSS before kB", "%.0f"}, {"rss_peak_kb", "RSS peak kB", "%.0f"},
      {"rss_after_kb", "RSS after kB", "%.0f"}}},
  procs = {title = "procs: spawn /bin/true and wait for it, 2,000 one at a time, then 2,000 with 64 at once",
    cols = {{"seq_us", "µs/child, one at a time", "%.0f"}, {"par_us", "µs/child, 64 at once", "%.0f"}}},
  readfile = {title = "readfile: read a whole 4 KiB file, 10,000 one at a time, then 10,000 with 64 in flight",
    cols = {{"seq_us", "µs/read, one at a time", "%.1f"}, {"par_us", "µs/read, 64 in flight", "%.1f"}}},
  offload = {title = "offload: round trip of a trivial job to a thread, 20,000 one after the other; " ..
    "speedup of 2 threads over 1 on 4 CPU-bound Lua jobs (all CPUs)",
    cols = {{"rt_us", "µs/round trip", "%.1f"}, {"speedup", "speedup, 2 threads / 1", "%.2f"}}},
  workers = {title = "workers: hello world over HTTP under `tide --workers 1` and `--workers 2`, " ..
    "wrk -t2 -c100 on the same 2 CPUs; Jain's index of 10,000 connections over 2 workers",
    cols = {{"cpu_us_per_req", "CPU µs/req (all processes)", "%.2f"}, {"req_per_s", "req/s", "%.0f"},
      {"jain", "Jain's fairness index", "%.4f"}}},
  tls = {title = "tls: TLS 1.3 echo, 100 connections, 1 KiB messages (bench/tls/load.c)",
    cols = {{"cpu_us_per_msg", "server CPU µs/msg", "%.2f"}, {"msgs_per_s", "msgs/s", "%.0f"}}},
  ["tls-handshake"] = {title = "tls-handshake: new connection, full TLS 1.3 handshake, 1-byte echo, close; 100 at a time",
    cols = {{"cpu_us_per_hs", "server CPU µs/handshake", "%.1f"}, {"hs_per_s", "handshakes/s", "%.0f"}}},
  idle = {title = "idle: " .. thousands(os.getenv("IDLE_N") or "10000") ..
    " connections, each echoed one line and now idle (the handler waiting for the next); the server's RSS after minus before, per connection",
    cols = {{"bytes_per_conn", "bytes/idle connection", "%.0f"}, {"rss_before_kb", "RSS before kB", "%.0f"},
      {"rss_after_kb", "RSS after kB", "%.0f"}},
    target = {"tide target (issue 17)", "≤ 2,048"}},
}
local ORDER = {"echo", "http", "http-lib", "http-lib-pipe", "http-client", "spawn", "pingpong",
  "sleepers", "idle", "fanout", "pipeline", "cancel", "procs", "readfile", "offload", "workers", "tls",
  "tls-handshake"}
local FLOORS = {c = true, ["lua-coroutine"] = true} -- baselines, not peers

-- data[w][runtime][key] = {values...}; runtime order as first seen, c first
local data, rorder = {}, {}
for line in io.lines(raw) do
  local w, _, rt, rest = line:match("^(%S+) (%d+) (%S+) (.*)$")
  if w then
    data[w] = data[w] or {}
    rorder[w] = rorder[w] or {}
    if not data[w][rt] then
      data[w][rt] = {}
      table.insert(rorder[w], rt)
    end
    for k, v in rest:gmatch("(%S+)=(%S+)") do
      local t = data[w][rt][k] or {}
      data[w][rt][k] = t
      t[#t + 1] = tonumber(v)
    end
  end
end
for _, rts in pairs(rorder) do -- the floors first, then tide, then as listed
  local pos = {}
  for i, rt in ipairs(rts) do pos[rt] = i end
  table.sort(rts, function(a, b)
    local function rank(x) return x == "c" and 0 or FLOORS[x] and 1 or x:match("^tide") and 2 or 3 end
    if rank(a) ~= rank(b) then return rank(a) < rank(b) end
    return pos[a] < pos[b]
  end)
end

local function stats(t)
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  local n = #s
  local med = n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
  return med, s[1], s[n], n
end

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local s = p and p:read("a") or ""
  if p then p:close() end
  return (s:gsub("%s+$", ""):gsub("\n.*", ""))
end

local med = {} -- med[w][rt] = median of the first metric
local medk = {} -- medk[w][rt][key] = median of every metric
local tables = {}
for _, w in ipairs(ORDER) do
  if data[w] then
    local spec = W[w]
    med[w] = {}
    local key1 = spec.cols[1][1]
    local base = data[w].c and stats(data[w].c[key1])
    local hdr = {"runtime"}
    for _, c in ipairs(spec.cols) do hdr[#hdr + 1] = c[2] .. " median (min-max)" end
    if base then hdr[#hdr + 1] = "× C floor" end
    local rows = {"| " .. table.concat(hdr, " | ") .. " |", "|" .. ("---|"):rep(#hdr)}
    local nrounds = 0
    for _, rt in ipairs(rorder[w]) do
      local cells = {rt == "tide" and "**tide**" or rt}
      for ci, c in ipairs(spec.cols) do
        local vals = data[w][rt][c[1]]
        if vals then
          local m, lo, hi, n = stats(vals)
          nrounds = math.max(nrounds, n)
          if ci == 1 then med[w][rt] = m end
          medk[w] = medk[w] or {}
          medk[w][rt] = medk[w][rt] or {}
          medk[w][rt][c[1]] = m
          cells[#cells + 1] = (c[3] .. " (" .. c[3] .. "-" .. c[3] .. ")"):format(m, lo, hi)
        else
          cells[#cells + 1] = "-"
        end
      end
      if base then cells[#cells + 1] = med[w][rt] and ("%.2fx"):format(med[w][rt] / base) or "-" end
      rows[#rows + 1] = "| " .. table.concat(cells, " | ") .. " |"
    end
    if spec.target then -- the bound a target sets, as a row under the runtimes
      local cells = {"*" .. spec.target[1] .. "*", spec.target[2]}
      for _ = 3, #hdr do cells[#cells + 1] = "" end
      rows[#rows + 1] = "| " .. table.concat(cells, " | ") .. " |"
    end
    local t = ("### %s\n\n%d rounds; lower is better for the first column" ..
      (base and " (the ratio's)" or "") .. ".\n\n%s\n")
      :format(spec.title, nrounds, table.concat(rows, "\n"))
    tables[w] = t
    local f = assert(io.open(outdir .. "/" .. w .. ".md", "w"))
    f:write("# ", t)
    f:close()
  end
end

-- Targets (issue 6: echo, http; issue 13: the rest, and echo's tighter
-- bound; issue 10: tls), checked on the medians of this run; fanout and pipeline have no
-- target, their line compares.
local function peers_of(w)
  local t = {}
  for _, rt in ipairs(rorder[w] or {}) do
    if not FLOORS[rt] and not rt:match("^tide") then t[#t + 1] = rt end
  end
  return t
end
local targets, issues = {}, {}
local function target(issue, text, ok, detail)
  local verdict = ok == nil and "(no target)" or ok and "MET" or "**MISSED**"
  targets[#targets + 1] = ("- %s %s (issue %d): %s"):format(verdict, text, issue, detail)
  issues[issue] = true
end
local function ratio(w) return med[w] and med[w].tide and med[w].c and med[w].tide / med[w].c end
-- tide's median v against the named runtimes' medians; cmp(v, theirs)
-- says whether tide stands where the target wants it. Returns ok (nil
-- when none of them ran) and "name value" for each.
local function against(w, v, names, cmp)
  local ok, parts = nil, {}
  for _, p in ipairs(names) do
    local theirs = med[w] and med[w][p]
    if theirs then
      ok = (ok == nil or ok) and cmp(v, theirs)
      parts[#parts + 1] = ("%s %.0f"):format(p, theirs)
    end
  end
  return ok, table.concat(parts, ", ")
end
local function faster(v, theirs) return v < theirs end

if ratio("echo") then
  target(13, "echo CPU/msg <= 1.10x C", ratio("echo") <= 1.10, ("%.2fx"):format(ratio("echo")))
end
if ratio("http") then
  target(6, "http CPU/req <= 1.3x C", ratio("http") <= 1.3, ("%.2fx"):format(ratio("http")))
  local ng = med.http["nginx-lua"]
  if ng then
    target(6, "http CPU/req ahead of nginx+Lua", med.http.tide < ng,
      ("tide %.2f µs vs nginx-lua %.2f µs"):format(med.http.tide, ng))
  end
end
for _, w in ipairs({"http-lib", "http-lib-pipe"}) do
  if ratio(w) then
    target(12, w .. " CPU/req <= 1.3x the C floor", ratio(w) <= 1.3, ("%.2fx"):format(ratio(w)))
    local ng = med[w]["nginx-lua"]
    if ng then
      target(12, w .. " CPU/req below nginx+Lua", med[w].tide < ng,
        ("tide %.2f µs vs nginx-lua %.2f µs"):format(med[w].tide, ng))
    end
  end
end
if med["http-client"] and med["http-client"].tide then
  local m, ok, parts = med["http-client"], true, {}
  for _, p in ipairs({"node", "go"}) do
    if m[p] then
      parts[#parts + 1] = ("%s %.2f µs"):format(p, m[p])
      if m.tide >= m[p] then ok = false end
    end
  end
  if #parts > 0 then
    target(12, "http-client CPU/req below Node fetch and Go net/http", ok,
      ("tide %.2f µs vs %s"):format(m.tide, table.concat(parts, ", ")))
  end
end
if ratio("tls") then
  target(10, "tls CPU/msg <= 1.15x C", ratio("tls") <= 1.15, ("%.2fx"):format(ratio("tls")))
  local ng = med.tls.nginx
  if ng then
    target(10, "tls CPU/msg below nginx (stream ssl in front of the C echo)", med.tls.tide < ng,
      ("tide %.2f µs vs nginx %.2f µs"):format(med.tls.tide, ng))
  end
end
for _, m in ipairs({{"tide", "Queue(1)"}, {"tide-event", "Event"}}) do
  local v = med.pingpong and med.pingpong[m[1]]
  if v then
    local what = "pingpong over " .. m[2]
    target(13, what .. " <= 200 ns", v <= 200, ("%s %.0f ns"):format(m[1], v))
    local ok, d = against("pingpong", v, {"cqueues", "luv"}, faster)
    if ok ~= nil then target(13, what .. " ahead of cqueues and luv", ok, ("%s %.0f vs %s"):format(m[1], v, d)) end
    ok, d = against("pingpong", v, {"node", "go"}, function(a, b) return a <= 2 * b end)
    if ok ~= nil then target(13, what .. " within 2x of Node and Go", ok, ("%s %.0f vs %s"):format(m[1], v, d)) end
  end
end
if med.spawn and med.spawn.tide then
  local v = med.spawn.tide
  local ok, d = against("spawn", v, {"lua-coroutine"}, function(a, b) return a <= b end)
  if ok ~= nil then
    target(13, "spawn at or below a bare Lua coroutine per task", ok, ("tide %.0f ns vs %s"):format(v, d))
  end
  ok, d = against("spawn", v, {"go"}, faster)
  if ok ~= nil then target(13, "spawn ahead of Go", ok, ("tide %.0f ns vs %s"):format(v, d)) end
end
if med.sleepers and med.sleepers.tide then
  local v = med.sleepers.tide
  target(13, "bytes per sleeping task <= 1,300", v <= 1300, ("tide %.0f B"):format(v))
  local others = {}
  for _, p in ipairs(peers_of("sleepers")) do
    if p ~= "node" then others[#others + 1] = p end
  end
  local ok, d = against("sleepers", v, others, faster)
  if ok ~= nil then
    target(13, "bytes per sleeping task below every peer but Node", ok, ("tide %.0f B vs %s"):format(v, d))
  end
end
if med.cancel and med.cancel.tide then
  local v = med.cancel.tide
  target(13, "cancel <= 1 µs per task", v <= 1000, ("tide %.0f ns"):format(v))
  local after = data.cancel.tide.after_ratio
  if after then
    local r = stats(after)
    target(13, "RSS after the collection <= 1.5x RSS before the burst", r <= 1.5, ("%.2fx"):format(r))
  end
end
for _, w in ipairs({"fanout", "pipeline"}) do
  local v = med[w] and med[w].tide
  if v and #peers_of(w) > 0 then
    local _, d = against(w, v, {"asyncio", "uvloop", "node", "go"}, faster)
    target(13, w .. " against asyncio, uvloop, Node, Go", nil,
      ("tide %.0f ns vs %s%s"):format(v, d, med[w].c and (" (C floor %.0f)"):format(med[w].c) or ""))
  end
end

-- Targets of issue 11 (files, processes, threads), on both columns where
-- a workload has two.
local function mk(w, rt, key) return medk[w] and medk[w][rt] and medk[w][rt][key] end
for _, key in ipairs({"seq_us", "par_us"}) do
  local t, c = mk("procs", "tide", key), mk("procs", "c", key)
  if t and c then
    target(11, ("procs %s <= 1.2x C"):format(key), t <= 1.2 * c, ("%.2fx (%.0f vs %.0f µs)"):format(t / c, t, c))
    local slower = {}
    for _, p in ipairs({"asyncio", "node"}) do
      local v = mk("procs", p, key)
      if v and v <= t then slower[#slower + 1] = ("%s %.0f"):format(p, v) end
    end
    if mk("procs", "asyncio", key) or mk("procs", "node", key) then
      target(11, ("procs %s ahead of asyncio and Node"):format(key), #slower == 0,
        ("tide %.0f µs%s"):format(t, #slower > 0 and "; faster: " .. table.concat(slower, ", ") or ""))
    end
  end
  t = mk("readfile", "tide", key)
  if t and (mk("readfile", "node", key) or mk("readfile", "luv", key)) then
    local slower = {}
    for _, p in ipairs({"node", "luv"}) do
      local v = mk("readfile", p, key)
      if v and v <= t then slower[#slower + 1] = ("%s %.1f"):format(p, v) end
    end
    target(11, ("readfile %s ahead of Node and luv"):format(key), #slower == 0,
      ("tide %.1f µs%s"):format(t, #slower > 0 and "; faster: " .. table.concat(slower, ", ") or ""))
  end
end
do
  local t, l = mk("offload", "tide", "rt_us"), mk("offload", "luv", "rt_us")
  if t and l then
    target(11, "offload round trip ahead of luv's queue_work", t < l, ("tide %.1f µs vs luv %.1f µs"):format(t, l))
  end
  local sp = mk("offload", "tide", "speedup")
  if sp then
    targets[#targets + 1] = ("- offload speedup of 2 threads over 1 (CPU-bound Lua jobs): tide %.2fx%s"):format(sp,
      mk("offload", "luv", "speedup") and (", luv %.2fx"):format(mk("offload", "luv", "speedup")) or "")
  end
end

-- Issue 17: memory per idle connection whose handler waits in readline,
-- without making echo dearer. "Not worse" needs the commit before the
-- change: BASE_RAW names a raw.txt of a run on it (with echo rows), and
-- tide's echo ratio to C here must be within 5% (the run-to-run noise of
-- echo's medians) of the ratio there; without it the line only reports.
if med.idle and med.idle.tide then
  local v = med.idle.tide
  target(17, "bytes per idle connection (handler in readline) <= 2,048", v <= 2048,
    ("tide %.0f B%s"):format(v, med.idle.c and (" (C with a buffer per connection %.0f B)"):format(med.idle.c) or ""))
end
if ratio("echo") and (med.idle or os.getenv("BASE_RAW")) then
  local base_file, base = os.getenv("BASE_RAW"), nil
  if base_file then
    local vals = {c = {}, tide = {}}
    for line in io.lines(base_file) do
      local rt, v = line:match("^echo %d+ (%S+) .*cpu_us_per_msg=(%S+)")
      if vals[rt] then table.insert(vals[rt], tonumber(v)) end
    end
    if #vals.c > 0 and #vals.tide > 0 then base = stats(vals.tide) / stats(vals.c) end
  end
  if base then
    target(17, "echo CPU/msg not worse than before (within 5% of the base run's ratio to C)",
      ratio("echo") <= base * 1.05, ("%.2fx C vs %.2fx in %s"):format(ratio("echo"), base, base_file))
  else
    target(17, "echo CPU/msg not worse than before", nil,
      ("%.2fx C (set BASE_RAW to a raw.txt of the base commit to judge)"):format(ratio("echo")))
  end
end

-- The chart: ratio to the C floor per workload (log scale).
local all_rt, seen = {}, {}
for pass = 1, 2 do -- tide's rows first
  for _, w in ipairs(ORDER) do
    for _, rt in ipairs(rorder[w] or {}) do
      local mine = rt:match("^tide") ~= nil
      if rt ~= "c" and not seen[rt] and (pass == 1) == mine then
        seen[rt] = true
        all_rt[#all_rt + 1] = rt
      end
    end
  end
end
local dat = outdir .. "/chart.dat"
local f = assert(io.open(dat, "w"))
f:write("workload ", table.concat(all_rt, " "), "\n")
for _, w in ipairs(ORDER) do
  if med[w] and med[w].c then
    local row = {w}
    for _, rt in ipairs(all_rt) do
      row[#row + 1] = med[w][rt] and ("%.4f"):format(med[w][rt] / med[w].c) or "?"
    end
    f:write(table.concat(row, " "), "\n")
  end
end
f:close()
local chart = "(no chart: gnuplot not installed)"
if sh("command -v gnuplot") ~= "" then
  local gp = assert(io.open(outdir .. "/chart.gp", "w"))
  gp:write(([[
set terminal svg size 1000,480 font "sans,12" background "white"
set output "%s/chart.svg"
set title "cost relative to the plain libuv C program (1 = C floor; lower is better; log scale)\necho/http/tls: server CPU per message/request/handshake; spawn/pingpong/fanout/pipeline: ns per op; sleepers: bytes per sleeping task; idle: bytes per idle connection" font "sans,11"
set datafile missing "?"
set linetype 9 lc rgb "#8c564b"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.9 border -1
set logscale y 2
set yrange [0.25:*]
set grid ytics
set key outside right top
set ylabel "x C floor"
set xtics nomirror
plot for [i=2:%d] "%s" using i:xtic(1) title columnheader(i)
]]):format(outdir, #all_rt + 1, dat))
  gp:close()
  os.execute(("gnuplot %q"):format(outdir .. "/chart.gp"))
  chart = "![cost relative to the C floor](chart.svg)"
end

local versions = {
  {"machine", sh("uname -srm") .. ", " .. sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'") ..
    ", " .. sh("getconf _NPROCESSORS_ONLN") .. " CPUs, " .. sh("awk '/MemTotal/ {print $2/1024/1024 \" GiB\"}' /proc/meminfo")},
  {"os", sh(". /etc/os-release; echo $PRETTY_NAME")},
  {"tide", (os.getenv("TIDE_REV") or sh("git rev-parse --short HEAD")) .. " (built in " .. (os.getenv("TIDE_BUILD") or "build") .. ")"},
  {"lua", sh("lua5.4 -v")}, {"libuv", sh("pkg-config --modversion libuv")},
  {"luv", sh("lua5.4 -e 'print(require\"luv\".version_string())'")},
  {"cqueues", sh("dpkg-query -W -f='${Version}' lua-cqueues")},
  {"node", sh("node --version")}, {"go", sh("go version")},
  {"python", sh("/usr/bin/python3 --version") .. ", uvloop " ..
    sh("/usr/bin/python3 -c 'import uvloop; print(uvloop.__version__)'")},
  {"nginx", sh("nginx -v") .. ", lua module " .. sh("dpkg-query -W -f='${Version}' libnginx-mod-http-lua") ..
    ", stream module " .. sh("dpkg-query -W -f='${Version}' libnginx-mod-stream")},
  {"openssl", sh("openssl version")},
  {"wrk", sh("wrk -v | head -1")}, {"gcc", sh("cc --version | head -1")},
}
-- Issue 15: the spread of connections across workers, and what a second
-- worker brings (the load generator shares the two CPUs: no target).
do
  local j = mk("workers", "tide-2w", "jain")
  if j then target(15, "Jain's fairness over 10,000 connections, 2 workers >= 0.95", j >= 0.95, ("%.4f"):format(j)) end
  local r1, r2 = mk("workers", "tide-1w", "req_per_s"), mk("workers", "tide-2w", "req_per_s")
  if r1 and r2 then
    target(15, "req/s with 2 workers over 1 (wrk on the same 2 CPUs)", nil,
      ("%.2fx (%.0f vs %.0f req/s; CPU %.2f vs %.2f µs/req)"):format(r2 / r1, r2, r1,
        mk("workers", "tide-2w", "cpu_us_per_req"), mk("workers", "tide-1w", "cpu_us_per_req")))
  end
end

local out = {"# Benchmark results", "",
  "Made by `" .. (os.getenv("CMDLINE") or "bench/run.sh") .. "` on " .. os.date("!%Y-%m-%d %H:%M UTC") ..
  ". Medians of interleaved rounds (runtime order rotated every round); min-max over rounds; " ..
  "× C floor = the median over the plain libuv C program's median in the same run.", ""}
for _, v in ipairs(versions) do
  if v[2] ~= "" then out[#out + 1] = ("- %s: %s"):format(v[1], v[2]) end
end
out[#out + 1] = ""
if #targets > 0 then
  local nums = {}
  for i in pairs(issues) do nums[#nums + 1] = i end
  table.sort(nums)
  local last = table.remove(nums)
  out[#out + 1] = last == nil and "## Targets" or
    "## Targets (issue" .. (#nums > 0 and "s " .. table.concat(nums, ", ") .. " and " or " ") .. last .. ")"
  out[#out + 1] = ""
  for _, t in ipairs(targets) do out[#out + 1] = t end
  out[#out + 1] = ""
end
out[#out + 1] = chart
out[#out + 1] = ""
out[#out + 1] = "## Tables"
out[#out + 1] = ""
for _, w in ipairs(ORDER) do
  if tables[w] then out[#out + 1] = tables[w] end
end
out[#out + 1] = "Method: see bench/README.md. Raw rows: raw.txt."
local text = table.concat(out, "\n") .. "\n"
f = assert(io.open(outdir .. "/latest.md", "w"))
f:write(text)
f:close()
io.stdout:write(text)
