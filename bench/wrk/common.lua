-- Shared code for the Coffer/Barbican wrk workloads (loaded with dofile by each workload).
--
-- Arguments after `--` on the wrk command line:
--   1: the project id sent as X-Project-Id
--   2: (read workloads) a file with one secret UUID per line
--
-- Every response whose status is not 2xx is counted per thread (by class, plus the first
-- status line and body seen), and done() prints one machine-readable line:
--   RESULT requests=.. duration_s=.. rps=.. rps_2xx=.. p50_ms=.. p90_ms=.. p99_ms=.. max_ms=.. mean_ms=..
--          non2xx=.. s3xx=.. s4xx=.. s5xx=.. other=.. connect=.. read=.. write=.. timeout=..
--   FIRST_ERROR <status> <first 300 bytes of the body>     (only when non2xx > 0)

bench = {}

local threads = {}

-- Runs in the main Lua state once per thread, before the threads start.
function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

-- Per-thread counters (each thread has its own Lua state).
non2xx, s3xx, s4xx, s5xx, sother = 0, 0, 0, 0, 0
first_error = ""

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if status >= 500 then
      s5xx = s5xx + 1
    elseif status >= 400 then
      s4xx = s4xx + 1
    elseif status >= 300 then
      s3xx = s3xx + 1
    else
      sother = sother + 1
    end
    if first_error == "" then
      local text = (body or ""):sub(1, 300):gsub("[\r\n]+", " ")
      first_error = tostring(status) .. " " .. text
    end
  end
end

-- Common headers (added to wrk.headers, which already holds Host); the project comes from
-- the first script argument, and a Keystone token from BENCH_AUTH_TOKEN when set.
function bench.base_headers(args)
  local project = args[1]
  if project == nil or project == "" then
    error("usage: wrk ... -s SCRIPT URL -- PROJECT [IDFILE]")
  end
  wrk.headers["X-Project-Id"] = project
  -- Keystone mode (bench/keystone.sh): a token; the project then comes from the token.
  local token = os.getenv("BENCH_AUTH_TOKEN")
  if token ~= nil and token ~= "" then
    wrk.headers["X-Auth-Token"] = token
  end
  return wrk.headers
end

-- Read the UUIDs of the seeded secrets (one per line).
function bench.read_ids(path)
  if path == nil then
    error("this workload needs an id file as its second argument")
  end
  local ids = {}
  local f = assert(io.open(path, "r"))
  for line in f:lines() do
    local id = line:match("^%s*(%x[%x-]+%x)%s*$")
    if id then
      table.insert(ids, id)
    end
  end
  f:close()
  if #ids == 0 then
    error("no secret ids in " .. path)
  end
  return ids
end

-- Round-robin over pre-formatted requests; each thread starts at a different offset so the
-- threads do not walk the list in lock-step. The read scripts define a top-level request()
-- that calls bench.next_request(); create and list keep wrk's static request (cheaper).
local rr_requests, rr_next = nil, 0

function bench.round_robin(requests)
  rr_requests = requests
  rr_next = ((thread_index or 0) * 37) % #requests
end

function bench.next_request()
  rr_next = rr_next + 1
  if rr_next > #rr_requests then
    rr_next = 1
  end
  return rr_requests[rr_next]
end

local function ms(us)
  return string.format("%.3f", us / 1000.0)
end

function done(summary, latency, requests)
  local bad, c3, c4, c5, co = 0, 0, 0, 0, 0
  local sample = ""
  for _, t in ipairs(threads) do
    bad = bad + (t:get("non2xx") or 0)
    c3 = c3 + (t:get("s3xx") or 0)
    c4 = c4 + (t:get("s4xx") or 0)
    c5 = c5 + (t:get("s5xx") or 0)
    co = co + (t:get("sother") or 0)
    local fe = t:get("first_error") or ""
    if sample == "" and fe ~= "" then
      sample = fe
    end
  end
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_s=%.3f rps=%.1f rps_2xx=%.1f p50_ms=%s p90_ms=%s p99_ms=%s max_ms=%s mean_ms=%s "
      .. "non2xx=%d s3xx=%d s4xx=%d s5xx=%d other=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, secs, summary.requests / secs, (summary.requests - bad) / secs,
    ms(latency:percentile(50)), ms(latency:percentile(90)), ms(latency:percentile(99)),
    ms(latency.max), ms(latency.mean),
    bad, c3, c4, c5, co, e.connect, e.read, e.write, e.timeout))
  if sample ~= "" then
    io.write("FIRST_ERROR " .. sample .. "\n")
  end
end
