-- wrk: POST /api/v1/entries (or the baseline's /entries), each request a new address.
-- RUN (environment) keeps addresses of one run apart from those of the runs before it.
local run = os.getenv("RUN") or tostring(os.time())
local counter = 0
thread_id = 0 -- set per thread by setup()
local threads = 0

function setup(thread)
  thread:set("thread_id", threads)
  threads = threads + 1
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Forwarded-Proto"] = "https"

function request()
  counter = counter + 1
  local body = string.format(
    '{"email":"e%s-%d-%d@example.test","displayName":"bench","consent":true,"locale":"ja"}',
    run, thread_id, counter)
  return wrk.format(nil, nil, nil, body)
end
