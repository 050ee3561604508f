-- Batch mode: one JSON array of N CloudEvents per request, every event with its own id.
-- The body's constant pieces are built once per thread; a request only writes its id
-- prefix into the slots between them and joins them (one table.concat), so the
-- generator stays cheap even at 100 events per request.
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
  local next_id, count = common.id_factory(run, tid)
  -- parts = { const, prefix, const, prefix, ... }: ids are <run>-<thread>-<request>.<i>
  local parts = {}
  local slots = {}
  local function add(const)
    parts[#parts + 1] = const
  end
  local function slot()
    parts[#parts + 1] = ""
    slots[#slots + 1] = #parts
  end
  add("[")
  for i = 1, size do
    add((i > 1 and "," or "") .. '{"specversion":"1.0","type":"user.storeUser",'
      .. '"source":"/bench/wrk","id":"')
    slot()
    add("." .. i .. '","subject":"')
    slot()
    add("." .. i .. '","time":"2026-11-27T12:00:00Z","datacontenttype":"application/json",'
      .. '"data":{"id":"')
    slot()
    add("." .. i .. '"}}')
  end
  add("]")
  local headers = { ["Content-Type"] = "application/cloudevents-batch+json" }
  request = common.bounded(function()
    local prefix = next_id()
    for i = 1, #slots do
      parts[slots[i]] = prefix
    end
    return wrk.format("POST", path, headers, table.concat(parts))
  end, count, max)
end
