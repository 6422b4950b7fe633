-- The public API, three ways: what the modules export (walked at run time,
-- with real objects for their methods and real option checks), what the
-- LuaLS stubs in types/ declare, and what docs/reference.md documents.
-- Each check goes both ways: a name exported but not declared fails, and
-- so does a name declared that does not exist. spec/api_helper.lua does
-- the walking and the parsing.
local A = require "api_helper"

-- Compares two sets of names; fails listing what each lacks.
local function same(actual, declared, what)
  local missing, extra = {}, {}
  for n in pairs(actual) do
    if not declared[n] then missing[#missing + 1] = n end
  end
  for n in pairs(declared) do
    if not actual[n] then extra[#extra + 1] = n end
  end
  table.sort(missing)
  table.sort(extra)
  local msg = {}
  if #missing > 0 then
    msg[#msg + 1] = ("exported but not in %s (%d): %s"):format(what,
      #missing, table.concat(missing, ", "))
  end
  if #extra > 0 then
    msg[#msg + 1] = ("in %s but not exported (%d): %s"):format(what,
      #extra, table.concat(extra, ", "))
  end
  assert(#msg == 0, table.concat(msg, "\n"))
end

local function count(set)
  local n = 0
  for _ in pairs(set) do n = n + 1 end
  return n
end

describe("the public API", function()
  local actual, options
  setup(function()
    local methods
    methods, options = A.collect()
    actual = A.module_names()
    for n in pairs(A.INTERNAL) do actual[n] = nil end
    for class, ms in pairs(methods) do
      for m in pairs(ms) do actual[class .. ":" .. m] = true end
    end
  end)

  it("is walked from the modules and from real objects", function()
    -- A floor, so that a walk that found nothing cannot pass.
    assert.is_true(count(actual) > 250, "only " .. count(actual) .. " names")
    assert.is_true(actual["tide.tcp.connect"])
    assert.is_true(actual["tide.Stream:read"])
    assert.is_true(actual["tide.repl.run"])
  end)

  it("exports every name the internal list excuses", function()
    local exported = A.module_names()
    local gone = {}
    for n in pairs(A.INTERNAL) do
      if not exported[n] then gone[#gone + 1] = n end
    end
    table.sort(gone)
    assert(#gone == 0, "A.INTERNAL names what is not exported any more " ..
      "(drop them from spec/api_helper.lua): " .. table.concat(gone, ", "))
  end)

  describe("the LuaLS stubs", function()
    it("are valid Lua, and load", function()
      for _, path in ipairs(A.STUBS) do
        local chunk, err = loadfile(path, "t", {})
        assert(chunk, err)
        -- Definitions only: running them defines functions on tables and
        -- returns the module, whose functions are the ones parsed.
        local mod = chunk()
        assert.equal("table", type(mod), path .. " returns no module")
      end
    end)

    it("define, when run, the functions their text declares", function()
      local _, parsed = A.parse_stubs()
      local ran = {}
      local tide = loadfile(A.STUBS[1], "t", {})()
      local repl = loadfile(A.STUBS[2], "t", {})()
      local mods = {tide = tide, ["tide.repl"] = repl}
      for _, m in ipairs(A.MODULES) do
        if not mods[m] then mods[m] = tide[m:match("^tide%.(.+)$")] end
        assert(type(mods[m]) == "table", "the stubs have no module " .. m)
        for k, v in pairs(mods[m]) do
          if type(v) == "function" then ran[m .. "." .. k] = true end
        end
      end
      same(ran, parsed, "the stubs' text (parsed)")
    end)

    it("declare every exported name, and only those", function()
      same(actual, (A.stubs()), "types/ (the stubs)")
    end)

    it("list every option each options table takes, and only those",
      function()
        local classes = A.parse_stubs()
        local wrong = {}
        for class, known in pairs(options) do
          if not classes[class] then
            wrong[#wrong + 1] = class .. ": no such class in the stubs"
          else
            local fields = A.inherited(classes, class, "fields")
            local ok = pcall(same, known, fields, class)
            if not ok then
              local _, err = pcall(same, known, fields, class)
              wrong[#wrong + 1] = tostring(err)
            end
          end
        end
        -- Every options class of the stubs is checked against a real call
        -- (tide.http.get takes request's options but the url).
        for name in pairs(classes) do
          if name:match("Options$") and not options[name] and
              name ~= "tide.http.GetOptions" then
            wrong[#wrong + 1] = name .. ": no real call checks it " ..
              "(add one to A.collect)"
          end
        end
        local get = A.inherited(classes, "tide.http.GetOptions", "fields")
        get.url = true
        local ok, err = pcall(same, options["tide.http.RequestOptions"], get,
          "tide.http.GetOptions (+ url)")
        if not ok then wrong[#wrong + 1] = tostring(err) end
        table.sort(wrong)
        assert(#wrong == 0, table.concat(wrong, "\n"))
      end)
  end)

  describe("docs/reference.md", function()
    it("documents every exported name, and only those", function()
      same(actual, (A.reference()), "docs/reference.md")
    end)

    it("has each name once, with returns, errors and an example that " ..
      "compiles", function()
        local entries = A.parse_reference()
        local seen, wrong = {}, {}
        for _, e in ipairs(entries) do
          local key = (e.class and e.class.name .. " " or "") .. e.heading
          local function bad(why)
            wrong[#wrong + 1] = ("line %d, %s: %s"):format(e.line, e.heading,
              why)
          end
          if seen[key] then bad("documented twice") end
          seen[key] = true
          if not e.body:find("%*%*Returns%*%*") then bad("no **Returns**") end
          if not e.body:find("%*%*Errors%*%*") then bad("no **Errors**") end
          local code = e.body:match("```lua\n(.-)```")
          if not code then
            bad("no ```lua example")
          else
            local fn, err = load(code, "=example", "t")
            if not fn then bad("the example does not compile: " .. err) end
          end
        end
        assert(#wrong == 0, table.concat(wrong, "\n"))
      end)

    it("marks as suspending exactly what the stubs mark ---@async",
      function()
        local _, stub_async = A.stubs()
        local _, ref_async = A.reference()
        same(stub_async, ref_async,
          "docs/reference.md's '- *Suspends*' entries (left: ---@async)")
      end)

    it("links only to headings it has", function()
      -- GitHub's anchors: the heading in lower case, without punctuation
      -- but - and _, spaces as -.
      local text = A.read(A.REFERENCE)
      local anchors, fence = {}, false
      for line in text:gmatch("[^\n]*") do
        if line:match("^```") then fence = not fence end
        local h = not fence and line:match("^#+%s+(.-)%s*$")
        if h then
          anchors[h:lower():gsub("[^%w%s%-_]", ""):gsub("%s", "-")] = true
        end
      end
      local broken = {}
      for target in text:gmatch("%]%(#([^)]+)%)") do
        if not anchors[target] then broken[#broken + 1] = target end
      end
      assert(#broken == 0, "links to no heading: " .. table.concat(broken, ", "))
    end)

    it("is linked from the README", function()
      assert.truthy(A.read("README.md"):find("docs/reference.md", 1, true),
        "README.md does not link docs/reference.md")
    end)
  end)
end)
