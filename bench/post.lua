-- wrk script for bench/ingest.py: POST the payload named by the BODY environment variable, each request a
-- new alert event (its startsAt changed), so amtriage's delivery does real work instead of deduplicating.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open(os.getenv("BODY"), "rb"))
local template = f:read("*a")
f:close()
local counter = 0

request = function()
  counter = counter + 1
  local stamp = string.format("2026-11-%02dT%02d:%02d:%02d.%06dZ", 1 + counter % 28, counter % 24,
                              counter % 60, math.floor(counter / 60) % 60, counter)
  local body = template:gsub('"startsAt": "[^"]*"', '"startsAt": "' .. stamp .. '"')
  return wrk.format("POST", nil, wrk.headers, body)
end
