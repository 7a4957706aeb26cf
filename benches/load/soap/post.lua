-- wrk script: POST the SOAP 1.2 message in $BODY_FILE (with $AUTHORIZATION as the Authorization header when
-- set), and print the numbers the load scripts collect (the RESULT line of benches/load/post.lua).
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = os.getenv("CONTENT_TYPE") or "application/soap+xml; charset=UTF-8"
local auth = os.getenv("AUTHORIZATION")
if auth and auth ~= "" then wrk.headers["Authorization"] = auth end

-- No response() callback (it would hand every body to Lua); summary.errors.status counts statuses above 399.
done = function(summary, latency, requests)
  local secs = summary.duration / 1e6
  io.write(string.format("RESULT rps=%.1f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f requests=%d non200=%d socket_errors=%d\n",
    summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
    summary.requests, summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
