-- Workload `get-payload`: GET /v1/secrets/{id}/payload (Accept: application/octet-stream),
-- round-robin over the seeded secrets in the id file (decrypts on every request).
-- Usage: wrk -s get-payload.lua URL -- PROJECT IDFILE
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "common.lua")

function init(args)
  local headers = bench.base_headers(args)
  headers["Accept"] = "application/octet-stream"
  local reqs = {}
  for _, id in ipairs(bench.read_ids(args[2])) do
    table.insert(reqs, wrk.format("GET", "/v1/secrets/" .. id .. "/payload", headers))
  end
  bench.round_robin(reqs)
end

function request()
  return bench.next_request()
end
