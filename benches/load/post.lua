-- wrk script: POST the form body in $BODY_FILE to /token, and print the numbers the load script collects.
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"

-- No response() callback: it would make wrk hand every body to Lua, taking CPU from the server it measures.
-- summary.errors.status counts every status above 399, and the script checks one request of each kind
-- for 200 before the runs.
done = function(summary, latency, requests)
  local secs = summary.duration / 1e6
  io.write(string.format("RESULT rps=%.1f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f requests=%d non200=%d socket_errors=%d\n",
    summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
    summary.requests, summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
