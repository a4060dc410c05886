-- wrk script: POST /polls with one poll a request, a different store and time each time.
-- Used by bench/live.py: wrk -c16 -s bench/post_polls.lua --latency URL
local counter = 0
local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  counter = 0
end

function request()
  counter = counter + 1
  local s = counter % 86400
  local body = string.format(
    '{"store_id":"wrk-%d-%d","status":"active","timestamp_utc":"2023-01-25T%02d:%02d:%02dZ"}',
    tid, counter % 500, math.floor(s / 3600), math.floor(s / 60) % 60, s % 60)
  return wrk.format("POST", "/polls", {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  if status >= 300 then
    io.write(string.format("status %d: %s\n", status, body))
  end
end
