-- Workload `list`: GET /v1/secrets?limit=10 (first page, always the same request) in a
-- project that holds the seeded secrets.
-- Usage: wrk -s list.lua URL -- PROJECT
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "common.lua")

function init(args)
  wrk.method = "GET"
  wrk.path = "/v1/secrets?limit=10"
  bench.base_headers(args)
  wrk.headers["Accept"] = "application/json"
end
