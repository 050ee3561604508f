-- POST /v1/user exactly as the original curl, a new name per request.
-- wrk args: -- <run-id> [max-requests-per-thread]
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
local common = dofile(here .. "common.lua")

setup = common.setup
done = common.done

function init(args)
  local run = args[1] or "run"
  local max = tonumber(args[2]) or 10000000
  local next_id, count = common.id_factory(run, tid)
  local headers = { ["Content-Type"] = "application/json" }
  request = common.bounded(function()
    return wrk.format("POST", "/v1/user", headers,
      '{"name":"bench-' .. next_id() .. '","password":"correct horse battery staple"}')
  end, count, max)
end
