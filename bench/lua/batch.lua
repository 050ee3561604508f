-- Batch mode: one JSON array of N CloudEvents per request, every event with its own id.
-- wrk args: -- <run-id> [events-per-request] [path] [max-requests-per-thread]
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
local common = dofile(here .. "common.lua")

setup = common.setup
done = common.done

function init(args)
  local run = args[1] or "run"
  local size = tonumber(args[2]) or 100
  local path = args[3] or "/"
  local max = tonumber(args[4]) or 10000000
  local next_id, _ = common.id_factory(run, tid)
  local requests = 0
  local headers = { ["Content-Type"] = "application/cloudevents-batch+json" }
  request = common.bounded(function()
    requests = requests + 1
    local events = {}
    for i = 1, size do
      local id = next_id()
      events[i] = '{"specversion":"1.0","type":"user.storeUser","source":"/bench/wrk",'
        .. '"id":"' .. id .. '","subject":"' .. id .. '","time":"2026-11-27T12:00:00Z",'
        .. '"datacontenttype":"application/json","data":{"id":"' .. id .. '"}}'
    end
    return wrk.format("POST", path, headers, "[" .. table.concat(events, ",") .. "]")
  end, function() return requests end, max)
end
