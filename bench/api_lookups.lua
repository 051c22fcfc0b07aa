-- wrk: a metered Smart CNAM lookup on SIPSTACK's route, each request a number drawn from the
-- list the benchmark writes beside this script (one a line), with the token as HTTP Basic.
-- "done" prints what the benchmark reads: requests, seconds, errors, p50 and p99 in µs.
local numbers = {}
local authorization = os.getenv("BENCH_API_AUTHORIZATION")
local path = os.getenv("BENCH_API_PATH")

for line in io.lines(os.getenv("BENCH_API_NUMBERS")) do
  numbers[#numbers + 1] = line
end

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("seed", threads)
end

function init(args)
  math.randomseed(os.time() * 1000 + (seed or 0))
end

function request()
  if path ~= nil and path ~= "" then
    return wrk.format("GET", path)
  end
  local number = numbers[math.random(#numbers)]
  return wrk.format(
    "GET",
    "/v1/b/partner/smart-cnam/phoneNumber/" .. number .. "?type=cnam",
    { ["Authorization"] = authorization }
  )
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d non2xx=%d socket_errors=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50), latency:percentile(99)
  ))
end
