-- wrk script of bench/api: store exactly QUOTA new machines through
-- POST /discovery, then go idle.
--   wrk ... -s fill.lua URL -- FIXTURE PHASE QUOTA THREADS MARKDIR
-- Each thread posts its share of QUOTA; when all its posts are answered it
-- creates MARKDIR/done.<thread> and stops; bench/api then ends wrk (wrk
-- itself always runs for its whole -d).
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
local quota, issued, answered, markdir, finished = 0, 0, 0, nil, false
-- wrk 4 builds one request on thread 0 before starting, to look at it, and
-- never sends it: that one must not use up a machine.
local probe = false

local function finish()
    if not finished then
        finished = true
        local f = io.open(markdir .. "/done." .. tid, "w")
        if f then f:close() end
        wrk.thread:stop()
    end
end

function init(args)
    machine.load(args[1], tonumber(args[2]), tid)
    local total, nthreads = tonumber(args[3]), tonumber(args[4])
    markdir = args[5]
    quota = math.floor(total / nthreads) + ((tid < total % nthreads) and 1 or 0)
    probe = (tid == 0)
    non2xx, new_machines = 0, 0
    if quota == 0 then
        local f = io.open(markdir .. "/done." .. tid, "w")
        if f then f:close() end
        finished = true
    end
end

function delay()
    return issued >= quota and 600000 or 0
end

function request()
    if probe then
        probe = false
        return wrk.format("GET", "/healthz")
    end
    if issued >= quota then -- only after the long delay
        return wrk.format("GET", "/healthz")
    end
    issued = issued + 1
    return wrk.format("POST", "/discovery", headers, machine.body(issued))
end

function response(status, hdrs, body)
    if body:find('"flask"', 1, true) then -- a /healthz answer
        return
    end
    answered = answered + 1
    if status < 200 or status > 299 then
        non2xx = non2xx + 1
        if non2xx <= 3 then
            io.stderr:write(string.format("bench/api: fill: POST /discovery answered %d: %s\n",
                status, (body or ""):sub(1, 300):gsub("%s+", " ")))
        end
    elseif body:find('"new-discovery": true', 1, true) then
        new_machines = new_machines + 1
    end
    if answered >= quota then
        finish()
    end
end

function done(summary, latency, requests)
    report.report(summary, latency, threads)
end
