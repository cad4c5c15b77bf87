-- wrk script of bench/api: POST /discovery, each request a new machine.
--   wrk ... -s discovery.lua URL -- FIXTURE PHASE
-- Counts answers that are not 2xx (the first few are printed on stderr)
-- and the answers saying {"new-discovery": true}.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
package.path = dir .. "?.lua;" .. package.path
local machine = require("machine")
local report = require("report")

local threads = {}

function setup(thread)
    thread:set("tid", #threads)
    threads[#threads + 1] = thread
end

local headers = { ["Content-Type"] = "application/json" }
local n = 0

function init(args)
    machine.load(args[1], tonumber(args[2]), tid)
    non2xx, new_machines = 0, 0
end

function request()
    n = n + 1
    return wrk.format("POST", "/discovery", headers, machine.body(n))
end

function response(status, hdrs, body)
    if status < 200 or status > 299 then
        non2xx = non2xx + 1
        if non2xx <= 3 then
            io.stderr:write(string.format("bench/api: POST /discovery answered %d: %s\n",
                status, (body or ""):sub(1, 300):gsub("%s+", " ")))
        end
    elseif body:find('"new-discovery": true', 1, true) then
        new_machines = new_machines + 1
    end
end

function done(summary, latency, requests)
    report.report(summary, latency, threads)
end
