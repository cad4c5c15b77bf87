-- wrk script of bench/api: GET of the URL given to wrk (a static request,
-- wrk's fastest mode; answers are not read by Lua, so wrk's own count of
-- answers >= 400 is the error count, checked with curl beforehand).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = dir .. "?.lua;" .. package.path
local report = require("report")

local threads = {}

function setup(thread)
    threads[#threads + 1] = thread
end

function done(summary, latency, requests)
    report.report(summary, latency, threads)
end
