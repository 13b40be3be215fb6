-- Workload `get-metadata`: GET /v1/secrets/{id} (Accept: application/json),
-- round-robin over the seeded secrets in the id file.
-- Usage: wrk -s get-metadata.lua URL -- PROJECT IDFILE
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "common.lua")

function init(args)
  local headers = bench.base_headers(args)
  headers["Accept"] = "application/json"
  local reqs = {}
  for _, id in ipairs(bench.read_ids(args[2])) do
    table.insert(reqs, wrk.format("GET", "/v1/secrets/" .. id, headers))
  end
  bench.round_robin(reqs)
end

function request()
  return bench.next_request()
end
