-- http_search.lua -- wrk script for bench/http_bench.sh: POSTs searches to /v1/search,
-- cycling through a query file (one search request JSON per line), and prints the
-- figures on one machine-readable line.
--   wrk -s bench/http_search.lua URL -- QUERY_FILE TOKEN [PROFILE] [PURPOSE]
-- Every wrk thread starts at a different offset in the query file.

local queries = {}
local token, profile, purpose
local idx = 1
local counter = 0
local threads = {}

function setup(thread)
   counter = counter + 1
   thread:set("thread_no", counter)
   table.insert(threads, thread)
end

function init(args)
   local path = args[1]
   token = args[2]
   profile = args[3]
   purpose = args[4] or "http benchmark"
   if not path or not token then
      error("usage: wrk -s http_search.lua URL -- QUERY_FILE TOKEN [PROFILE] [PURPOSE]")
   end
   local f = assert(io.open(path, "r"))
   for line in f:lines() do
      if line:match("%S") then table.insert(queries, line) end
   end
   f:close()
   if #queries == 0 then error(path .. ": no queries") end
   idx = ((thread_no or 1) * 7919) % #queries + 1
   wrk.method = "POST"
   wrk.path = "/v1/search"
   wrk.headers["Content-Type"] = "application/json"
   wrk.headers["Authorization"] = "Bearer " .. token
   wrk.headers["X-Interop-Purpose"] = purpose
   if profile and profile ~= "" then wrk.headers["X-Interop-Profile"] = profile end
end

function request()
   local body = queries[idx]
   idx = idx + 1
   if idx > #queries then idx = 1 end
   return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
   local secs = summary.duration / 1e6
   local e = summary.errors
   io.write(string.format(
      "RESULT requests=%d seconds=%.3f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f " ..
      "connect_err=%d read_err=%d write_err=%d timeout=%d non2xx=%d\n",
      summary.requests, secs, summary.requests / secs,
      latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
      latency.max / 1000, e.connect, e.read, e.write, e.timeout, e.status))
end
