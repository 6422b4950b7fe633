-- bench/report.lua RAW OUTDIR: tables and chart from bench/run.sh's rows
-- ("workload round runtime key=value ..."). Per workload and runtime: the
-- median over rounds, min-max, and the median's ratio to the C floor's
-- (the first runtime, "c"). Writes OUTDIR/<workload>.md, OUTDIR/latest.md
-- (machine, versions, date, every table, the targets) and OUTDIR/chart.svg
-- (gnuplot, if installed).
local raw, outdir = arg[1], arg[2]
assert(raw and outdir, "usage: lua5.4 bench/report.lua RAW OUTDIR")

local W = { -- metric shown first is the one ratios and the chart use
  echo = {title = "echo: 100 connections, 1 KiB messages (bench/echo_load.c)",
    cols = {{"cpu_us_per_msg", "server CPU µs/msg", "%.2f"}, {"msgs_per_s", "msgs/s", "%.0f"}}},
  http = {title = "http: keep-alive hello world, wrk -t1 -c100",
    cols = {{"cpu_us_per_req", "server CPU µs/req", "%.2f"}, {"req_per_s", "req/s", "%.0f"}}},
  spawn = {title = "spawn: create and finish 200,000 tasks",
    cols = {{"ns_per_task", "ns/task", "%.0f"}, {"rss_kb", "peak RSS kB", "%.0f"}}},
  pingpong = {title = "pingpong: 1,000,000 hand-offs between two tasks",
    cols = {{"ns_per_handoff", "ns/hand-off", "%.0f"}}},
  sleepers = {title = "sleepers: 100,000 tasks sleeping random 0-1 s",
    cols = {{"bytes_per_task", "bytes/sleeping task", "%.0f"},
      {"overshoot_ms_mean", "mean overshoot ms", "%.2f"}, {"overshoot_ms_max", "max overshoot ms", "%.1f"}}},
  tls = {title = "tls: TLS 1.3 echo, 100 connections, 1 KiB messages (bench/tls/load.c)",
    cols = {{"cpu_us_per_msg", "server CPU µs/msg", "%.2f"}, {"msgs_per_s", "msgs/s", "%.0f"}}},
  ["tls-handshake"] = {title = "tls-handshake: new connection, full TLS 1.3 handshake, 1-byte echo, close; 100 at a time",
    cols = {{"cpu_us_per_hs", "server CPU µs/handshake", "%.1f"}, {"hs_per_s", "handshakes/s", "%.0f"}}},
}
local ORDER = {"echo", "http", "spawn", "pingpong", "sleepers", "tls", "tls-handshake"}

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
for _, rts in pairs(rorder) do -- the floor first, then tide, then as listed
  local pos = {}
  for i, rt in ipairs(rts) do pos[rt] = i end
  table.sort(rts, function(a, b)
    local function rank(x) return x == "c" and 0 or x:match("^tide") and 1 or 2 end
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
local tables = {}
for _, w in ipairs(ORDER) do
  if data[w] then
    local spec = W[w]
    med[w] = {}
    local key1 = spec.cols[1][1]
    local base = data[w].c and stats(data[w].c[key1])
    local hdr = {"runtime"}
    for _, c in ipairs(spec.cols) do hdr[#hdr + 1] = c[2] .. " median (min-max)" end
    hdr[#hdr + 1] = "× C floor"
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
          cells[#cells + 1] = (c[3] .. " (" .. c[3] .. "-" .. c[3] .. ")"):format(m, lo, hi)
        else
          cells[#cells + 1] = "-"
        end
      end
      cells[#cells + 1] = base and med[w][rt] and ("%.2fx"):format(med[w][rt] / base) or "-"
      rows[#rows + 1] = "| " .. table.concat(cells, " | ") .. " |"
    end
    local t = ("### %s\n\n%d rounds; lower is better for the first column (the ratio's).\n\n%s\n")
      :format(spec.title, nrounds, table.concat(rows, "\n"))
    tables[w] = t
    local f = assert(io.open(outdir .. "/" .. w .. ".md", "w"))
    f:write("# ", t)
    f:close()
  end
end

-- Targets (issues 6 and 10), checked on the medians of this run.
local function peers_of(w)
  local t = {}
  for _, rt in ipairs(rorder[w] or {}) do
    if rt ~= "c" and not rt:match("^tide") then t[#t + 1] = rt end
  end
  return t
end
local targets = {}
local function target(text, ok, detail)
  targets[#targets + 1] = ("- %s %s: %s"):format(ok and "MET" or "**MISSED**", text, detail)
end
local function ratio(w) return med[w] and med[w].tide and med[w].c and med[w].tide / med[w].c end
if ratio("echo") then
  target("echo CPU/msg <= 1.15x C", ratio("echo") <= 1.15, ("%.2fx"):format(ratio("echo")))
end
if ratio("http") then
  target("http CPU/req <= 1.3x C", ratio("http") <= 1.3, ("%.2fx"):format(ratio("http")))
  local ng = med.http["nginx-lua"]
  if ng then
    target("http CPU/req ahead of nginx+Lua", med.http.tide < ng,
      ("tide %.2f µs vs nginx-lua %.2f µs"):format(med.http.tide, ng))
  end
end
if ratio("tls") then
  target("tls CPU/msg <= 1.15x C", ratio("tls") <= 1.15, ("%.2fx"):format(ratio("tls")))
  local ng = med.tls.nginx
  if ng then
    target("tls CPU/msg below nginx (stream ssl in front of the C echo)", med.tls.tide < ng,
      ("tide %.2f µs vs nginx %.2f µs"):format(med.tls.tide, ng))
  end
end
for _, w in ipairs({"pingpong", "spawn"}) do
  if med[w] and med[w].tide and #peers_of(w) > 0 then
    local beaten = {}
    for _, p in ipairs(peers_of(w)) do
      if med[w][p] and med[w][p] <= med[w].tide then
        beaten[#beaten + 1] = ("%s (%.0f)"):format(p, med[w][p])
      end
    end
    target(w .. " faster than every peer but C", #beaten == 0,
      ("tide %.0f ns%s"):format(med[w].tide, #beaten > 0 and "; faster: " .. table.concat(beaten, ", ") or ""))
  end
end
if med.sleepers and med.sleepers.tide and med.sleepers.go then
  local ok, parts = true, {}
  for _, p in ipairs({"go", "asyncio", "uvloop"}) do
    local v = med.sleepers[p]
    if v then
      parts[#parts + 1] = ("%s %.0f"):format(p, v)
      if med.sleepers.tide >= v then ok = false end
    end
  end
  target("bytes per sleeping task below Go's and asyncio's", ok,
    ("tide %.0f B vs %s"):format(med.sleepers.tide, table.concat(parts, ", ")))
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
set title "cost relative to the plain libuv C program (1 = C floor; lower is better; log scale)\necho/http/tls: server CPU per message/request/handshake; spawn/pingpong: ns per op; sleepers: bytes per sleeping task" font "sans,11"
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
local out = {"# Benchmark results", "",
  "Made by `" .. (os.getenv("CMDLINE") or "bench/run.sh") .. "` on " .. os.date("!%Y-%m-%d %H:%M UTC") ..
  ". Medians of interleaved rounds (runtime order rotated every round); min-max over rounds; " ..
  "× C floor = the median over the plain libuv C program's median in the same run.", ""}
for _, v in ipairs(versions) do
  if v[2] ~= "" then out[#out + 1] = ("- %s: %s"):format(v[1], v[2]) end
end
out[#out + 1] = ""
if #targets > 0 then
  out[#out + 1] = "## Targets (issues 6 and 10)"
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
