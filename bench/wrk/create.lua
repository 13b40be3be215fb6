-- Workload `create`: POST /v1/secrets with a 32-byte base64 payload (a durable write).
-- Usage: wrk -s create.lua URL -- PROJECT
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "common.lua")

function init(args)
  wrk.method = "POST"
  wrk.path = "/v1/secrets"
  bench.base_headers(args)
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json"
  wrk.body = '{"payload": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", '
    .. '"payload_content_type": "application/octet-stream", '
    .. '"payload_content_encoding": "base64"}'
end
