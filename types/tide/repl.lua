---@meta tide.repl
-- Type stubs of tide for lua-language-server: require "tide.repl", the
-- interactive prompt of the tide command (see types/tide.lua).

---@class tide.repl
local repl = {}

---@class tide.repl.Options
---@field stdin? tide.Stream where lines are read (default tide.stdin())
---@field stdout? file*|{write: fun(self, ...), flush: fun(self)} prompts and values (default io.stdout)
---@field stderr? file*|{write: fun(self, ...), flush: fun(self)} errors (default io.stderr)
---@field banner? boolean false: print no banner

--- The prompt: each line runs in a task of its own (it may await); "=expr"
--- and expressions print their values; Ctrl-C cancels the running line;
--- returns at EOF (Ctrl-D). Must run in a task.
---@async
---@param opts? tide.repl.Options
function repl.run(opts) end

return repl
