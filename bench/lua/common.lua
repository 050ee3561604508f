-- Shared by every bench script: per-thread ids, a count bound, and one
-- machine-readable result line that bench/wrk.py parses.
local common = {}

local threads = {}
local next_thread = 0

-- Runs in the main Lua state once per wrk thread, before it starts.
function common.setup(thread)
  next_thread = next_thread + 1
  thread:set("tid", next_thread)
  table.insert(threads, thread)
end

-- Every id this thread produces is "<run>-<thread>-<counter>": unique across
-- threads, and across runs against the same server as long as <run> differs.
function common.id_factory(run, thread_id)
  local counter = 0
  return function()
    counter = counter + 1
    return run .. "-" .. thread_id .. "-" .. counter
  end, function()
    return counter
  end
end

-- wrk stops at -d; this also stops each thread after `max` requests, so a run is
-- bounded in count too (the bound is far above what the duration allows).
function common.bounded(build, count, max)
  return function()
    if count() >= max then
      wrk.thread:stop()
    end
    return build()
  end
end

-- One line, JSON, all times in microseconds (wrk's unit).
function common.done(summary, latency, requests)
  local e = summary.errors
  local p = {}
  for _, q in ipairs({ 50, 75, 90, 99, 99.9 }) do
    table.insert(p, string.format('"%s":%d', tostring(q), latency:percentile(q)))
  end
  io.write(string.format(
    'BENCH-RESULT {"duration_us":%d,"requests":%d,"bytes":%d,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency_us":{"mean":%.1f,"stdev":%.1f,"max":%d,"percentiles":{%s}}}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.max, table.concat(p, ",")
  ))
end

return common
