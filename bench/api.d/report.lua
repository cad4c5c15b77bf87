-- done() of bench/api's wrk scripts: one machine-readable line on stdout,
--   RESULT requests=.. duration_us=.. bytes=.. p50_us=.. p90_us=.. p99_us=..
--          max_us=.. connect=.. read=.. write=.. timeout=.. status=..
--          non2xx=.. new=..
-- status is wrk's own count (answers >= 400); non2xx and new are the
-- scripts' counts (-1 when the script does not look at answers).
local M = {}

function M.report(summary, latency, threads)
    local non2xx, new, looked = 0, 0, false
    for _, t in ipairs(threads) do
        local n = t:get("non2xx")
        if n then
            looked = true
            non2xx = non2xx + n
            new = new + (t:get("new_machines") or 0)
        end
    end
    if not looked then
        non2xx, new = -1, -1
    end
    local e = summary.errors
    io.write(string.format(
        "RESULT requests=%d duration_us=%d bytes=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d " ..
        "connect=%d read=%d write=%d timeout=%d status=%d non2xx=%d new=%d\n",
        summary.requests, summary.duration, summary.bytes,
        latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
        e.connect, e.read, e.write, e.timeout, e.status, non2xx, new))
end

return M
