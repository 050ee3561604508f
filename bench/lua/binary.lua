-- One binary-mode CloudEvent per request (ce-* headers, JSON data), each with its
-- own ce-id so a deduplicating sink stores every one.
-- wrk args: -- <run-id> [path] [max-requests-per-thread]
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
local common = dofile(here .. "common.lua")

setup = common.setup
done = common.done

local path = "/"
local max = 10000000
local next_id, count

function init(args)
  local run = args[1] or "run"
  path = args[2] or path
  max = tonumber(args[3]) or max
  next_id, count = common.id_factory(run, tid)
  request = common.bounded(function()
    local id = next_id()
    return wrk.format("POST", path, {
      ["Content-Type"] = "application/json",
      ["ce-specversion"] = "1.0",
      ["ce-type"] = "user.storeUser",
      ["ce-source"] = "/bench/wrk",
      ["ce-id"] = id,
      ["ce-subject"] = id,
      ["ce-time"] = "2026-11-27T12:00:00Z",
    }, '{"id":"' .. id .. '"}')
  end, count, max)
end
