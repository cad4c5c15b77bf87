-- wrk script of bench/grpc: GET /lifecycle/rolling/mac=<mac> of a random
-- machine per request (the HTTP read set next to Machines.Get).
--   wrk ... -s rolling.lua URL -- MACS_FILE
-- MACS_FILE holds one MAC a line (colon form); every machine has rolling
-- updates enabled, so each answer should be 200 (wrk counts >= 400 as
-- errors; the answers are not read here).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = dir .. "../api.d/?.lua;" .. package.path
local report = require("report")

local threads = {}

function setup(thread)
    thread:set("tid", #threads)
    threads[#threads + 1] = thread
end

local paths = {}

function init(args)
    for line in io.lines(args[1]) do
        if line ~= "" then
            paths[#paths + 1] = "/lifecycle/rolling/mac=" .. line:gsub(":", "-")
        end
    end
    assert(#paths > 0, "bench/grpc: no MAC in " .. tostring(args[1]))
    math.randomseed(os.time() + 7919 * (tid or 0))
end

function request()
    return wrk.format("GET", paths[math.random(#paths)])
end

function done(summary, latency, requests)
    report.report(summary, latency, threads)
end
